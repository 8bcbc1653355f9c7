/**
 * Stalls of rtpengine seen by a probe stream through it: each probe's relay delay (send to
 * receive, less the time this process itself was blocked meanwhile, which delays the
 * receiving but is no fault of rtpengine's). A stall starts with the first probe later than
 * the threshold or not relayed at all, and ends with the next one on time.
 */

export interface ProbeStallsPolicy {
  /** A probe slower than this is late (default 50 ms: rtpengine relays in well under 1 ms). */
  readonly thresholdInMs: number;
  /** A probe not back after this long is lost (default 1 s). */
  readonly lostAfterInMs: number;
}

export interface Stall {
  /** When the first late or lost probe of the stall was sent (ms, the caller's clock). */
  readonly startedAt: number;
  /** When the first probe on time again came back. */
  readonly endedAt: number;
  /** The longest relay delay of the stall (a lost probe counts for as long as it was awaited). */
  readonly longestDelayInMs: number;
  readonly lateProbes: number;
  readonly lostProbes: number;
}

interface Open {
  startedAt: number;
  longestDelayInMs: number;
  lateProbes: number;
  lostProbes: number;
}

export const DEFAULT_PROBE_STALLS_POLICY: ProbeStallsPolicy = { thresholdInMs: 50, lostAfterInMs: 1000 };

export class ProbeStalls {
  readonly #policy: ProbeStallsPolicy;
  /** Probes out, by sequence number: when each was sent. */
  readonly #outstanding = new Map<number, number>();
  #open: Open | undefined;
  #lastRelayedAt: number | undefined;

  constructor(policy: Partial<ProbeStallsPolicy> = {}) {
    this.#policy = { ...DEFAULT_PROBE_STALLS_POLICY, ...policy };
  }

  sent(sequence: number, atMs: number): void {
    this.#outstanding.set(sequence, atMs);
  }

  /**
   * A probe came back at `atMs`; `blockedInMs` is how long this process was itself blocked
   * since it was sent. Returns its relay delay, and the stall this probe ended, if any.
   */
  received(sequence: number, atMs: number, blockedInMs = 0): { delayInMs: number; ended: Stall | undefined } | undefined {
    const sentAt = this.#outstanding.get(sequence);
    if (sentAt === undefined) return undefined; // a duplicate, or counted lost already
    this.#outstanding.delete(sequence);
    this.#lastRelayedAt = atMs;
    const delayInMs = Math.max(0, atMs - sentAt - blockedInMs);
    if (delayInMs > this.#policy.thresholdInMs) {
      this.#late(sentAt, delayInMs, false);
      return { delayInMs, ended: undefined };
    }
    const open = this.#open;
    this.#open = undefined;
    return { delayInMs, ended: open ? { ...open, endedAt: atMs } : undefined };
  }

  /** Counts probes not back after `lostAfterInMs` as lost (call it every probe interval or so). */
  tick(nowMs: number): void {
    for (const [sequence, sentAt] of this.#outstanding) {
      if (nowMs - sentAt < this.#policy.lostAfterInMs) continue;
      this.#outstanding.delete(sequence);
      this.#late(sentAt, nowMs - sentAt, true);
    }
  }

  /** Whether a stall is going on (a late or lost probe, none on time since). */
  get stalled(): boolean {
    return this.#open !== undefined;
  }

  /** How long since a probe last came back (undefined: none yet). */
  silentForInMs(nowMs: number): number | undefined {
    return this.#lastRelayedAt === undefined ? undefined : nowMs - this.#lastRelayedAt;
  }

  /** Forgets the probes out (the probe call was re-created, e.g. after rtpengine restarted). */
  reset(): void {
    this.#outstanding.clear();
    this.#open = undefined;
    this.#lastRelayedAt = undefined;
  }

  #late(sentAt: number, delayInMs: number, lost: boolean): void {
    this.#open ??= { startedAt: sentAt, longestDelayInMs: 0, lateProbes: 0, lostProbes: 0 };
    const open = this.#open;
    open.startedAt = Math.min(open.startedAt, sentAt);
    open.longestDelayInMs = Math.max(open.longestDelayInMs, delayInMs);
    if (lost) open.lostProbes++;
    else open.lateProbes++;
  }
}
