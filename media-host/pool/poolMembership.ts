import { EventEmitter } from "node:events";
import { performance } from "node:perf_hooks";
import type { LeaseGrant, LeaseRequest } from "../../shared/domain/pool.js";
import type { LeaseAnswer } from "../controlPlane/controlPlaneClient.js";

export interface PoolRegistry {
  renewLease(request: LeaseRequest, options?: { abortSignal?: AbortSignal }): Promise<LeaseAnswer>;
  releaseLease(epoch: number, options?: { abortSignal?: AbortSignal }): Promise<void>;
}

/** What the host reports with each renewal. */
export interface HostReport {
  readonly sipUri: string;
  readonly capacity: number;
  readonly version: string;
  activeCalls(): number;
  /** CPU in use, 0–1. */
  load(): number;
}

export interface PoolMembershipOptions {
  readonly registry: PoolRegistry;
  readonly report: HostReport;
  /** Monotonic milliseconds (it keeps counting while the process is stopped, which is the point). */
  readonly clock?: () => number;
  /** How often the lease is checked for lapsing (default 250 ms). */
  readonly checkIntervalInMs?: number;
  /** How long to wait between registration attempts the registry gave no Retry-After for (default 1 s). */
  readonly retryInMs?: number;
  readonly onError?: (error: Error) => void;
}

export interface PoolMembershipEvents {
  /** A lease was taken: the host serves from now, as `epoch`. */
  registered: [epoch: number];
  /**
   * The lease lapsed or the registry refused it: the host must end every call it carries
   * now (the control plane has declared it, or is about to declare it, dead) and takes no
   * new one until it has registered again.
   */
  fenced: [reason: string];
  /** The host is to drain (deadline) or no longer (null): from the registry, or its own request. */
  drain: [deadline: Date | null];
  /** A renewal came back granted, after `latencyInMs` (slow ones are worth a warning: the lease is only 6 s). */
  renewed: [latencyInMs: number];
}

/** Renewals in flight at once at most: a slow one does not hold up the next, a dead control plane does not pile them up. */
const MAX_RENEWALS_IN_FLIGHT = 3;

/**
 * A media host's place in the pool: it takes a lease from the control plane's registry,
 * renews it every couple of seconds with its load, and fences itself the moment the lease
 * could have lapsed — measured on its own monotonic clock from when it *sent* the last
 * successful renewal, so it always gives up before the control plane can declare it dead.
 * A host paused (SIGSTOP, a VM freeze) or cut off from the control plane thus never serves a
 * call the control plane has already ended for it. After fencing it registers again, as a
 * new epoch.
 */
export class PoolMembership extends EventEmitter<PoolMembershipEvents> {
  readonly #options: PoolMembershipOptions;
  readonly #clock: () => number;
  #epoch: number | undefined;
  /** On the monotonic clock: until when the current lease surely holds. */
  #validUntil = 0;
  #grant: LeaseGrant | undefined;
  #selfDrainDeadline: Date | undefined;
  #drainDeadline: string | null = null;
  /** When the request behind the lease state we hold was sent: an older answer arriving late changes nothing. */
  #grantSentAt = Number.NEGATIVE_INFINITY;
  #renewTimer: NodeJS.Timeout | undefined;
  #checkTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #renewals = new Set<Promise<void>>();
  #abort = new AbortController();

  constructor(options: PoolMembershipOptions) {
    super();
    this.#options = options;
    this.#clock = options.clock ?? (() => performance.now());
  }

  /** The epoch of the lease held now (undefined while not registered). */
  get epoch(): number | undefined {
    return this.serving ? this.#epoch : undefined;
  }

  /** Whether the host holds a lease that has surely not lapsed: only then does it take or keep calls. */
  get serving(): boolean {
    return this.#epoch !== undefined && this.#clock() < this.#validUntil;
  }

  get lease(): LeaseGrant | undefined {
    return this.#grant;
  }

  /** Registers (retrying until the registry grants a lease), then keeps the lease. */
  async start(): Promise<number> {
    this.#stopped = false;
    const epoch = await this.#register();
    this.#checkTimer = setInterval(() => this.#check(), this.#options.checkIntervalInMs ?? 250);
    this.#scheduleRenewal();
    return epoch;
  }

  /** The host drains itself (SIGTERM): no new calls; the registry and the edge hear it at once. */
  async drainSelf(deadline: Date): Promise<void> {
    this.#selfDrainDeadline = deadline;
    await this.renewNow();
  }

  /** Renews at once (e.g. to spread news of a drain), then on the usual interval. */
  async renewNow(): Promise<void> {
    clearTimeout(this.#renewTimer);
    const renewal = this.#renew();
    this.#scheduleRenewal();
    await renewal;
  }

  /** Leaves the pool: stops renewing and gives the lease back (the host has no calls left). */
  async leave(): Promise<void> {
    await this.stop();
    const epoch = this.#epoch;
    this.#epoch = undefined;
    if (epoch !== undefined) await this.#options.registry.releaseLease(epoch);
  }

  /** Stops renewing without leaving (the lease lapses by itself; the control plane reaps). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    clearTimeout(this.#renewTimer);
    clearInterval(this.#checkTimer);
    await Promise.allSettled([...this.#renewals]);
    this.#abort = new AbortController();
  }

  #request(epoch: number | null): LeaseRequest {
    const { report } = this.#options;
    return {
      epoch,
      sipUri: report.sipUri,
      capacity: report.capacity,
      activeCalls: report.activeCalls(),
      load: Math.min(1, Math.max(0, report.load())),
      version: report.version,
      ...(this.#selfDrainDeadline ? { draining: { deadline: this.#selfDrainDeadline.toISOString() } } : {}),
    };
  }

  async #register(): Promise<number> {
    for (;;) {
      if (this.#stopped) throw new Error("the pool membership was stopped before it registered");
      const sentAt = this.#clock();
      let answer: LeaseAnswer | undefined;
      try {
        answer = await this.#options.registry.renewLease(this.#request(null), { abortSignal: this.#abort.signal });
      } catch (e) {
        this.#report(e);
      }
      if (answer?.kind === "granted") {
        this.#take(answer.grant, sentAt);
        this.emit("registered", answer.grant.epoch);
        return answer.grant.epoch;
      }
      const wait = answer?.kind === "refused" ? answer.retryAfterInMs : (this.#options.retryInMs ?? 1000);
      await new Promise((resolve) => setTimeout(resolve, Math.max(100, wait)));
    }
  }

  /**
   * One renewal. Each runs on its own (a slow answer does not hold up the next one, which may
   * get through first) and gives up after a lease's length, when it could no longer help.
   */
  #renew(): Promise<void> {
    const epoch = this.#epoch;
    if (epoch === undefined || this.#stopped || this.#renewals.size >= MAX_RENEWALS_IN_FLIGHT) return Promise.resolve();
    const sentAt = this.#clock();
    const abortSignal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#grant?.leaseDurationInMs ?? 6000)]);
    const renewal: Promise<void> = this.#options.registry
      .renewLease(this.#request(epoch), { abortSignal })
      .then(
        (answer) => {
          if (this.#epoch !== epoch) return;
          if (answer.kind === "refused") {
            this.#fence(answer.reason);
            return;
          }
          this.emit("renewed", this.#clock() - sentAt);
          this.#take(answer.grant, sentAt);
        },
        // Unreachable control plane: keep trying; the lease lapsing fences the host.
        (e: unknown) => this.#report(e),
      )
      .finally(() => this.#renewals.delete(renewal));
    this.#renewals.add(renewal);
    return renewal;
  }

  #take(grant: LeaseGrant, sentAt: number): void {
    if (grant.epoch === this.#epoch && sentAt < this.#grantSentAt) return;
    this.#grantSentAt = sentAt;
    this.#epoch = grant.epoch;
    this.#grant = grant;
    this.#validUntil = sentAt + grant.leaseDurationInMs;
    if (grant.drainDeadline !== this.#drainDeadline) {
      this.#drainDeadline = grant.drainDeadline;
      this.emit("drain", grant.drainDeadline ? new Date(grant.drainDeadline) : null);
    }
  }

  #scheduleRenewal(): void {
    if (this.#stopped) return;
    clearTimeout(this.#renewTimer);
    this.#renewTimer = setTimeout(() => {
      void this.#renew();
      this.#scheduleRenewal();
    }, this.#grant?.renewIntervalInMs ?? 2000);
  }

  #check(): void {
    if (this.#epoch !== undefined && !this.serving) this.#fence("the lease lapsed (no renewal reached the control plane in time)");
  }

  #fence(reason: string): void {
    if (this.#epoch === undefined || this.#stopped) return;
    this.#epoch = undefined;
    this.#grant = undefined;
    this.#grantSentAt = Number.NEGATIVE_INFINITY;
    this.emit("fenced", reason);
    // Back into the pool as a new epoch, once the control plane has ended the old one's calls.
    void this.#register().then(
      () => {},
      (e: unknown) => this.#report(e),
    );
  }

  #report(e: unknown): void {
    this.#options.onError?.(e instanceof Error ? e : new Error(String(e)));
  }
}
