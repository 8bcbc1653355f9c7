import { z } from "zod";

/**
 * The pool of media hosts, as the control plane's host registry keeps it. Each host holds
 * a lease it renews every couple of seconds; a host whose lease lapsed is declared dead
 * (once, by whoever claims it first) and its calls are ended for it. Pure: every
 * transition takes the current record and `now` and says what the next one is.
 */

/** How long a lease lasts, and how often hosts renew it (three renewals per lease: one lost renewal is not a death). */
export const LEASE_DURATION_IN_MS = 6000;
export const LEASE_RENEW_INTERVAL_IN_MS = 2000;
/** A dead host's record is kept this long (the operator sees what died, and why), then dropped. */
export const DEAD_HOST_RETENTION_IN_MS = 24 * 3600_000;
/** A drain without a deadline of its own lasts this long. */
export const DEFAULT_DRAIN_IN_MINUTES = 60;
/** Why the control plane ended the calls of a host: the words the call records and the devices get. */
export const MEDIA_HOST_LOST = "media host lost";
export const MEDIA_HOST_LEFT = "media host left the pool";
/** The one pool today (the partition of the registry); named so a second region can have its own. */
export const DEFAULT_POOL = "default";

export type HostState = "active" | "draining" | "dead";

export interface HostDrain {
  readonly requestedAt: string;
  /** At this time the host ends the calls it still carries (bots leave, devices get a BYE) and leaves the pool. */
  readonly deadline: string;
  /** The operator (admin API) or the host itself (SIGTERM, scale-in). */
  readonly by: "operator" | "host";
}

export interface HostDeath {
  readonly at: string;
  readonly reason: string;
  /** When every call of the dead epoch had been ended (bots out of their meetings, records closed). */
  readonly callsEndedAt: string | null;
  /** When what was left in the host's queue had been dead-lettered. */
  readonly queueClearedAt: string | null;
}

export interface MediaHostRecord {
  readonly hostId: string;
  readonly pool: string;
  /** Counts the host's registrations: calls are owned by (host, epoch), so a host that comes back never owns the calls of its past life. */
  readonly epoch: number;
  readonly state: HostState;
  /** Where the SIP edge sends the host's calls, e.g. sip:10.0.0.5:5060;transport=udp. */
  readonly sipUri: string;
  readonly version: string;
  /** Calls the host takes at most. */
  readonly capacity: number;
  /** As the host reported them at its last renewal. */
  readonly activeCalls: number;
  /** CPU in use, 0–1, as reported. */
  readonly load: number;
  readonly registeredAt: string;
  readonly renewedAt: string;
  readonly leaseUntil: string;
  readonly drain: HostDrain | null;
  readonly death: HostDeath | null;
}

const HOST_ID = /^[A-Za-z0-9._-]{1,128}$/;
export const hostIdSchema = z.string().regex(HOST_ID, "a host id is 1-128 letters, digits, . _ or -");

/** What a host says each time it renews (or takes) its lease. */
export const leaseRequestSchema = z.strictObject({
  /** The epoch the host holds; null to register (at start, or after it fenced itself). */
  epoch: z.number({ error: "epoch must be a number or null" }).int().min(1).nullable(),
  sipUri: z
    .string({ error: "sipUri is required" })
    .max(256)
    .regex(/^sips?:[A-Za-z0-9.:[\]-]+(?::\d{1,5})?(?:;transport=(?:udp|tcp|tls))?$/i, "sipUri must be sip:<host>:<port>[;transport=udp|tcp|tls]"),
  capacity: z.number({ error: "capacity is required" }).int().min(1, "capacity must be at least 1").max(100_000),
  activeCalls: z.number({ error: "activeCalls is required" }).int().min(0),
  load: z.number().min(0).max(1).default(0),
  version: z.string().max(64).default(""),
  /** The host drains itself (SIGTERM, scale-in): no new calls, its calls end by `deadline` at the latest. */
  draining: z.strictObject({ deadline: z.iso.datetime({ error: "draining.deadline must be an ISO 8601 date-time" }) }).optional(),
});
export type LeaseRequest = z.output<typeof leaseRequestSchema>;

/** What a host is told when its lease is granted or renewed. */
export interface LeaseGrant {
  readonly hostId: string;
  readonly epoch: number;
  readonly state: "active" | "draining";
  readonly leaseUntil: string;
  readonly leaseDurationInMs: number;
  readonly renewIntervalInMs: number;
  /** Set while draining: when the host must have ended its calls. */
  readonly drainDeadline: string | null;
}

export type LeaseOutcome =
  | { readonly kind: "granted"; readonly record: MediaHostRecord }
  | {
      readonly kind: "refused";
      /** lease-lost: the host must fence itself (end its calls) and register again; host-id-in-use: wait and retry. */
      readonly code: "lease-lost" | "host-id-in-use";
      readonly reason: string;
      readonly retryAfterInMs: number;
    };

const at = (now: Date, offsetInMs = 0) => new Date(now.getTime() + offsetInMs).toISOString();
const lapsed = (record: MediaHostRecord, now: Date) => Date.parse(record.leaseUntil) < now.getTime();

/**
 * A lease request: registration (epoch null) or renewal (the epoch the host holds). A
 * registration over a live lease is refused (two processes with one id, or a restart
 * faster than the old lease lapsed: it waits); over a dead host, once its calls are ended,
 * it starts the next epoch. A renewal of a lapsed or superseded lease is refused: the
 * host was (or is about to be) declared dead and must not serve its calls any longer.
 */
export function requestLease(current: MediaHostRecord | undefined, hostId: string, request: LeaseRequest, now: Date): LeaseOutcome {
  const reported = {
    sipUri: request.sipUri,
    capacity: request.capacity,
    activeCalls: request.activeCalls,
    load: request.load,
    version: request.version,
    renewedAt: at(now),
    leaseUntil: at(now, LEASE_DURATION_IN_MS),
  };
  const selfDrain = (drain: HostDrain | null): HostDrain | null =>
    request.draining && !drain ? { requestedAt: at(now), deadline: request.draining.deadline, by: "host" } : drain;
  if (request.epoch === null) {
    if (current && current.state !== "dead") {
      const wait = Math.max(0, Date.parse(current.leaseUntil) - now.getTime());
      return {
        kind: "refused",
        code: "host-id-in-use",
        reason: lapsed(current, now)
          ? `host ${hostId} (epoch ${current.epoch}) stopped renewing its lease and is being declared dead; register again in a moment`
          : `host ${hostId} holds a live lease (epoch ${current.epoch}) until ${current.leaseUntil}: another process with this id, or a restart within the lease`,
        retryAfterInMs: Math.max(1000, wait),
      };
    }
    if (current?.death && current.death.callsEndedAt === null) {
      return {
        kind: "refused",
        code: "host-id-in-use",
        reason: `the calls of host ${hostId}'s epoch ${current.epoch} are still being ended; register again in a moment`,
        retryAfterInMs: 1000,
      };
    }
    const drain = selfDrain(null);
    return {
      kind: "granted",
      record: {
        hostId,
        pool: DEFAULT_POOL,
        epoch: (current?.epoch ?? 0) + 1,
        state: drain ? "draining" : "active",
        ...reported,
        registeredAt: at(now),
        drain,
        death: null,
      },
    };
  }
  if (!current || current.epoch !== request.epoch || current.state === "dead" || lapsed(current, now)) {
    const why = !current
      ? "the host is not registered"
      : current.epoch !== request.epoch
        ? `epoch ${request.epoch} was superseded by epoch ${current.epoch}`
        : current.state === "dead"
          ? `epoch ${current.epoch} was declared dead at ${current.death?.at} (${current.death?.reason})`
          : `the lease lapsed at ${current.leaseUntil}`;
    return { kind: "refused", code: "lease-lost", reason: `host ${hostId} lost its lease: ${why}`, retryAfterInMs: 0 };
  }
  const drain = selfDrain(current.drain);
  return { kind: "granted", record: { ...current, ...reported, state: drain ? "draining" : "active", drain } };
}

export function leaseGrant(record: MediaHostRecord): LeaseGrant {
  return {
    hostId: record.hostId,
    epoch: record.epoch,
    state: record.state === "draining" ? "draining" : "active",
    leaseUntil: record.leaseUntil,
    leaseDurationInMs: LEASE_DURATION_IN_MS,
    renewIntervalInMs: LEASE_RENEW_INTERVAL_IN_MS,
    drainDeadline: record.drain?.deadline ?? null,
  };
}

/** The reaper's first step: a host whose lease lapsed is dead (unchanged otherwise). */
export function expireLease(record: MediaHostRecord, now: Date): MediaHostRecord {
  if (record.state === "dead" || !lapsed(record, now)) return record;
  return {
    ...record,
    state: "dead",
    death: { at: at(now), reason: `no lease renewal since ${record.renewedAt}`, callsEndedAt: null, queueClearedAt: null },
  };
}

export type DrainOutcome = { readonly kind: "changed" | "unchanged"; readonly record: MediaHostRecord } | { readonly kind: "dead" };

/** An operator's drain: no new calls from now, the current ones until `deadline`. A later drain moves the deadline. */
export function drainHost(record: MediaHostRecord, deadline: Date, now: Date): DrainOutcome {
  if (record.state === "dead") return { kind: "dead" };
  const drain: HostDrain = { requestedAt: record.drain?.requestedAt ?? at(now), deadline: deadline.toISOString(), by: "operator" };
  if (record.state === "draining" && record.drain?.deadline === drain.deadline) return { kind: "unchanged", record };
  return { kind: "changed", record: { ...record, state: "draining", drain } };
}

/** Back into rotation; a host that is not draining stays as it is. */
export function undrainHost(record: MediaHostRecord): DrainOutcome {
  if (record.state === "dead") return { kind: "dead" };
  if (record.state === "active") return { kind: "unchanged", record };
  return { kind: "changed", record: { ...record, state: "active", drain: null } };
}

/** What the admin API shows of a host: the record, and whether its lease has lapsed though nobody declared it dead yet. */
export interface HostView extends Omit<MediaHostRecord, "pool"> {
  /** active, draining, unresponsive (lease lapsed, being declared dead) or dead. */
  readonly status: HostState | "unresponsive";
}

export function hostView(record: MediaHostRecord, now: Date): HostView {
  const { pool: _pool, ...rest } = record;
  return { ...rest, status: record.state !== "dead" && lapsed(record, now) ? "unresponsive" : record.state };
}
