import { z } from "zod";
import type { MessageTakeover } from "../../shared/bus/messageBus.js";
import {
  DEAD_HOST_RETENTION_IN_MS,
  DEFAULT_DRAIN_IN_MINUTES,
  drainHost,
  expireLease,
  type HostView,
  hostIdSchema,
  hostView,
  type LeaseGrant,
  leaseGrant,
  leaseRequestSchema,
  MEDIA_HOST_LEFT,
  MEDIA_HOST_LOST,
  type MediaHostRecord,
  requestLease,
  undrainHost,
} from "../../shared/domain/pool.js";
import { parseOrThrow } from "../../shared/domain/validation.js";
import { ConflictError, NotFoundError } from "../../shared/errors.js";
import type { MediaHostRepository } from "../ports.js";
import type { CallService } from "./callService.js";

export interface PoolServiceOptions {
  readonly now: () => Date;
  readonly log: (line: string) => void;
}

const drainSchema = z
  .strictObject({
    deadline: z.iso.datetime({ error: "deadline must be an ISO 8601 date-time" }).optional(),
    deadlineInMinutes: z
      .number({ error: "deadlineInMinutes must be a number" })
      .min(0, "deadlineInMinutes must not be negative")
      .max(7 * 24 * 60, "deadlineInMinutes must be at most a week")
      .optional(),
  })
  .refine((d) => !(d.deadline && d.deadlineInMinutes !== undefined), { message: "give deadline or deadlineInMinutes, not both" });

/** One reaper round, for the logs and the tests. */
export interface ReapReport {
  readonly declaredDead: readonly string[];
  readonly callsEnded: number;
  readonly callsPending: number;
  readonly queuesCleared: readonly string[];
  readonly forgotten: readonly string[];
}

/**
 * The pool of media hosts: their leases (register, renew, leave), the operator's drain and
 * undrain, and the reaper that declares a host whose lease lapsed dead, ends its calls for
 * it (bots out of their meetings, records closed "media host lost") and dead-letters what
 * it left in its queue. Every step is a conditional write, so it is safe with any number
 * of control-plane instances at once, and a round that fails half-way is finished by the next.
 */
export class PoolService {
  readonly #hosts: MediaHostRepository;
  readonly #calls: Pick<CallService, "endCallsLeftBehind">;
  readonly #bus: MessageTakeover;
  readonly #options: PoolServiceOptions;

  constructor(hosts: MediaHostRepository, calls: Pick<CallService, "endCallsLeftBehind">, bus: MessageTakeover, options: PoolServiceOptions) {
    this.#hosts = hosts;
    this.#calls = calls;
    this.#bus = bus;
    this.#options = options;
  }

  /**
   * A host takes (epoch null) or renews its lease. A refusal is a ConflictError whose code says
   * what the host must do: "lease-lost" (fence itself, register again) or "host-id-in-use" (wait).
   */
  async lease(hostIdInput: string, input: unknown): Promise<LeaseGrant> {
    const hostId = parseOrThrow(hostIdSchema, hostIdInput);
    const request = parseOrThrow(leaseRequestSchema, input);
    const now = this.#options.now();
    let outcome: ReturnType<typeof requestLease> | undefined;
    await this.#hosts.transition(hostId, (current) => {
      outcome = requestLease(current, hostId, request, now);
      return outcome.kind === "granted" ? { write: outcome.record } : undefined;
    });
    if (!outcome) throw new Error("the lease was not decided");
    if (outcome.kind === "refused") throw new ConflictError(outcome.reason, { code: outcome.code, retryAfterInMs: outcome.retryAfterInMs });
    if (request.epoch === null) this.#options.log(`media host ${hostId} joined the pool (epoch ${outcome.record.epoch}, ${request.sipUri})`);
    return leaseGrant(outcome.record);
  }

  /**
   * A host leaves the pool (drained, shut down): its record goes. Calls it still owned are
   * ended for it, so a host that left with calls (a bug, a crash mid-exit) leaves no bot behind.
   */
  async release(hostIdInput: string, epoch: number): Promise<void> {
    const hostId = parseOrThrow(hostIdSchema, hostIdInput);
    let refused: string | undefined;
    await this.#hosts.transition(hostId, (current) => {
      refused = undefined;
      if (!current) return undefined;
      if (current.epoch !== epoch) {
        refused = `host ${hostId} is at epoch ${current.epoch}, not ${epoch}`;
        return undefined;
      }
      return { remove: true };
    });
    if (refused) throw new ConflictError(refused);
    const { ended } = await this.#calls.endCallsLeftBehind(hostId, epoch, MEDIA_HOST_LEFT);
    this.#options.log(`media host ${hostId} left the pool${ended > 0 ? ` (${ended} call(s) it left were ended)` : ""}`);
  }

  async list(): Promise<HostView[]> {
    const now = this.#options.now();
    return (await this.#hosts.list()).map((record) => hostView(record, now));
  }

  async get(hostIdInput: string): Promise<HostView> {
    return hostView(await this.#require(hostIdInput), this.#options.now());
  }

  /** Whether the host holds a live lease at this epoch: only then may it put a bot in a meeting. */
  async isServing(hostId: string, epoch: number): Promise<boolean> {
    const record = await this.#hosts.get(hostId);
    return (
      record !== undefined && record.epoch === epoch && record.state !== "dead" && Date.parse(record.leaseUntil) >= this.#options.now().getTime()
    );
  }

  /** No new calls for the host from now; its calls go on until they end or the deadline (default an hour). */
  async drain(hostIdInput: string, input: unknown): Promise<HostView> {
    const hostId = parseOrThrow(hostIdSchema, hostIdInput);
    const request = parseOrThrow(drainSchema, input ?? {});
    const now = this.#options.now();
    const deadline = request.deadline
      ? new Date(request.deadline)
      : new Date(now.getTime() + (request.deadlineInMinutes ?? DEFAULT_DRAIN_IN_MINUTES) * 60_000);
    const record = await this.#change(hostId, (current) => drainHost(current, deadline, now), "drained");
    this.#options.log(`media host ${hostId} drains until ${deadline.toISOString()}`);
    return hostView(record, now);
  }

  async undrain(hostIdInput: string): Promise<HostView> {
    const hostId = parseOrThrow(hostIdSchema, hostIdInput);
    const record = await this.#change(hostId, undrainHost, "undrained");
    return hostView(record, this.#options.now());
  }

  /**
   * One reaper round. A host whose lease lapsed is declared dead (one instance wins the
   * conditional write); then, host by host, what its death leaves is cleaned up, each step
   * recorded once done: its calls ended (bots out, records "media host lost"), then its
   * queue dead-lettered (once Service Bus lets go of the dead host's session lock). A dead
   * host's record goes after a day.
   */
  async reap(): Promise<ReapReport> {
    const now = this.#options.now();
    const declaredDead: string[] = [];
    const queuesCleared: string[] = [];
    const forgotten: string[] = [];
    let callsEnded = 0;
    let callsPending = 0;
    for (const listed of await this.#hosts.list()) {
      let host: MediaHostRecord | undefined = listed;
      if (host.state !== "dead") {
        let declared = false;
        host = await this.#hosts.transition(host.hostId, (current) => {
          declared = false;
          if (!current) return undefined;
          const next = expireLease(current, now);
          if (next === current) return undefined;
          declared = true;
          return { write: next };
        });
        if (declared && host) {
          declaredDead.push(host.hostId);
          this.#options.log(`media host ${host.hostId} (epoch ${host.epoch}) is dead: ${host.death?.reason}`);
        }
      }
      if (!host?.death) continue;
      const death = host.death;
      if (death.callsEndedAt === null) {
        const result = await this.#calls.endCallsLeftBehind(host.hostId, host.epoch, MEDIA_HOST_LOST);
        callsEnded += result.ended;
        callsPending += result.pending;
        if (result.pending === 0) await this.#recordDeath(host, { callsEndedAt: this.#options.now().toISOString() });
      } else if (death.queueClearedAt === null) {
        const taken = await this.#bus.takeOver(host.hostId, { deadLetterReason: MEDIA_HOST_LOST });
        if (taken.kind === "taken") {
          await this.#recordDeath(host, { queueClearedAt: this.#options.now().toISOString() });
          queuesCleared.push(host.hostId);
        }
      } else if (now.getTime() - Date.parse(death.at) > DEAD_HOST_RETENTION_IN_MS) {
        await this.#hosts.transition(host.hostId, (current) =>
          current?.epoch === host.epoch && current.state === "dead" ? { remove: true } : undefined,
        );
        forgotten.push(host.hostId);
      }
    }
    return { declaredDead, callsEnded, callsPending, queuesCleared, forgotten };
  }

  /** Records a finished clean-up step of the host's death (unless it has registered again meanwhile). */
  async #recordDeath(host: MediaHostRecord, step: { callsEndedAt?: string; queueClearedAt?: string }): Promise<void> {
    await this.#hosts.transition(host.hostId, (current) => {
      if (!current?.death || current.epoch !== host.epoch) return undefined;
      return { write: { ...current, death: { ...current.death, ...step } } };
    });
  }

  async #require(hostIdInput: string): Promise<MediaHostRecord> {
    const hostId = parseOrThrow(hostIdSchema, hostIdInput);
    const record = await this.#hosts.get(hostId);
    if (!record) throw new NotFoundError(`no media host ${hostId} in the pool`);
    return record;
  }

  async #change(hostId: string, change: (current: MediaHostRecord) => ReturnType<typeof drainHost>, what: string): Promise<MediaHostRecord> {
    let dead = false;
    let found = true;
    const record = await this.#hosts.transition(hostId, (current) => {
      dead = false;
      found = current !== undefined;
      if (!current) return undefined;
      const outcome = change(current);
      if (outcome.kind === "dead") {
        dead = true;
        return undefined;
      }
      return outcome.kind === "changed" ? { write: outcome.record } : undefined;
    });
    if (!found || !record) throw new NotFoundError(`no media host ${hostId} in the pool`);
    if (dead)
      throw new ConflictError(`media host ${hostId} is dead (${record.death?.reason}): it cannot be ${what}; it comes back by registering again`);
    return record;
  }
}
