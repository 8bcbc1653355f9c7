/**
 * Slows, then refuses, a source that keeps dialing IDs that lead nowhere (a scanner
 * guessing tenant keys or VTC IDs), without getting in the way of a person who
 * mistypes now and then.
 *
 * Per source (an IPv4 address, or an IPv6 /64 — one host's whole prefix), failures
 * are counted over a sliding window:
 * - up to `freeFailures` of them cost nothing;
 * - beyond that, each further attempt is delayed: `baseDelayMs` doubling per extra
 *   failure, up to `maxDelayMs` (the SIP side waits that long before answering);
 * - at `blockAfterFailures` the source is refused for a cool-down, which doubles with
 *   each repeated block ("strike") up to `maxCoolDownMs`, strikes being forgotten
 *   once `strikeMemoryMs` pass after the end of a block without a new one.
 * A success forgives the older half of the failures in the window, never a block or a
 * strike: a scanner that slips a known-good ID between guesses still climbs (its count
 * settles at twice the guesses between two successes).
 *
 * Memory is bounded: at most `maxTrackedSources` sources, least recently active
 * forgotten first; sources with nothing left to remember are dropped as they are met.
 * Sources are only tracked once they fail, so checks and successes of unknown sources
 * allocate nothing. Time is an argument (any monotonic clock in ms): no timers.
 */
export interface FailedAttemptPolicy {
  readonly windowMs: number;
  readonly freeFailures: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly blockAfterFailures: number;
  readonly coolDownMs: number;
  readonly maxCoolDownMs: number;
  readonly strikeMemoryMs: number;
  readonly maxTrackedSources: number;
}

export const DEFAULT_FAILED_ATTEMPT_POLICY: FailedAttemptPolicy = {
  windowMs: 10 * 60_000,
  freeFailures: 5,
  baseDelayMs: 500,
  maxDelayMs: 16_000,
  blockAfterFailures: 20,
  coolDownMs: 15 * 60_000,
  maxCoolDownMs: 24 * 60 * 60_000,
  strikeMemoryMs: 24 * 60 * 60_000,
  maxTrackedSources: 50_000,
};

export type AttemptDecision = { readonly allowed: true; readonly delayMs: number } | { readonly allowed: false; readonly retryAfterSeconds: number };

interface SourceEntry {
  /** Failure times within the window, oldest first (never more than blockAfterFailures). */
  failures: number[];
  /** The end of the latest block (-Infinity: never blocked). */
  blockedUntil: number;
  /** Blocks in a row, none more than strikeMemoryMs after the end of the one before. */
  strikes: number;
  /** The latest time seen for this source: time never runs backwards for an entry. */
  lastSeen: number;
}

/** How many of the least recently active sources each new one inspects for expiry. */
const SWEEP_PER_INSERT = 4;

export class FailedAttemptLimiter {
  readonly policy: FailedAttemptPolicy;
  /** In least-recently-active-first order (a Map keeps insertion order; touching re-inserts). */
  private readonly sources = new Map<string, SourceEntry>();

  constructor(policy: Partial<FailedAttemptPolicy> = {}) {
    this.policy = { ...DEFAULT_FAILED_ATTEMPT_POLICY, ...policy };
    const p = this.policy;
    if (!(p.freeFailures >= 0 && p.blockAfterFailures > p.freeFailures && p.maxTrackedSources >= 1 && p.windowMs > 0)) {
      throw new RangeError("FailedAttemptPolicy needs 0 <= freeFailures < blockAfterFailures, windowMs > 0 and maxTrackedSources >= 1");
    }
  }

  /** Sources currently tracked. */
  get size(): number {
    return this.sources.size;
  }

  /** Before an attempt (an INVITE to resolve, an IVR entry): go ahead after `delayMs`, or refuse. */
  check(address: string, nowMs: number): AttemptDecision {
    const key = sourceKey(address);
    const entry = this.sources.get(key);
    if (!entry) return { allowed: true, delayMs: 0 };
    const now = this.advance(key, entry, nowMs);
    return this.decide(entry, now);
  }

  /** An attempt from this source led nowhere. Returns the decision for its next attempt. */
  recordFailure(address: string, nowMs: number): AttemptDecision {
    const key = sourceKey(address);
    let entry = this.sources.get(key);
    if (!entry) {
      entry = { failures: [], blockedUntil: Number.NEGATIVE_INFINITY, strikes: 0, lastSeen: nowMs };
      this.insert(key, entry, nowMs);
    }
    const now = this.advance(key, entry, nowMs);
    // Attempts let through before a block began and failing after it add nothing.
    if (entry.blockedUntil <= now) {
      entry.failures.push(now);
      if (entry.failures.length >= this.policy.blockAfterFailures) this.block(entry, now);
    }
    return this.decide(entry, now);
  }

  /** An attempt from this source reached a meeting. */
  recordSuccess(address: string, nowMs: number): void {
    const key = sourceKey(address);
    const entry = this.sources.get(key);
    if (!entry) return;
    this.advance(key, entry, nowMs);
    entry.failures = entry.failures.slice(entry.failures.length - Math.floor(entry.failures.length / 2));
  }

  /** Drops every source with nothing left to remember (optional housekeeping; memory is bounded without it). */
  prune(nowMs: number): void {
    for (const [key, entry] of this.sources) {
      if (this.isIdle(entry, Math.max(nowMs, entry.lastSeen))) this.sources.delete(key);
    }
  }

  private decide(entry: SourceEntry, now: number): AttemptDecision {
    if (entry.blockedUntil > now) return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((entry.blockedUntil - now) / 1000)) };
    const extra = entry.failures.length - this.policy.freeFailures;
    if (extra < 0) return { allowed: true, delayMs: 0 };
    return { allowed: true, delayMs: Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** extra) };
  }

  private block(entry: SourceEntry, now: number): void {
    const p = this.policy;
    entry.strikes = now - entry.blockedUntil > p.strikeMemoryMs ? 1 : entry.strikes + 1;
    entry.blockedUntil = now + Math.min(p.maxCoolDownMs, p.coolDownMs * 2 ** (entry.strikes - 1));
    // The block answers for these failures; after it the source starts from the free allowance again, with a longer next block.
    entry.failures = [];
  }

  /** Marks the source as most recently active, expires its old failures; returns the effective time. */
  private advance(key: string, entry: SourceEntry, nowMs: number): number {
    const now = Math.max(nowMs, entry.lastSeen);
    entry.lastSeen = now;
    const horizon = now - this.policy.windowMs;
    let expired = 0;
    while (expired < entry.failures.length && (entry.failures[expired] ?? now) <= horizon) expired++;
    if (expired > 0) entry.failures = entry.failures.slice(expired);
    this.sources.delete(key);
    this.sources.set(key, entry);
    return now;
  }

  private insert(key: string, entry: SourceEntry, nowMs: number): void {
    // Amortized expiry: look at a few of the least recently active sources.
    let inspected = 0;
    for (const [oldKey, old] of this.sources) {
      if (inspected++ >= SWEEP_PER_INSERT) break;
      if (this.isIdle(old, Math.max(nowMs, old.lastSeen))) this.sources.delete(oldKey);
    }
    while (this.sources.size >= this.policy.maxTrackedSources) {
      const oldest = this.sources.keys().next();
      if (oldest.done) break;
      this.sources.delete(oldest.value);
    }
    this.sources.set(key, entry);
  }

  private isIdle(entry: SourceEntry, now: number): boolean {
    const lastFailure = entry.failures[entry.failures.length - 1];
    return (
      entry.blockedUntil <= now &&
      (lastFailure === undefined || lastFailure <= now - this.policy.windowMs) &&
      (entry.strikes === 0 || now - entry.blockedUntil > this.policy.strikeMemoryMs)
    );
  }
}

/**
 * The source an address is counted under: an IPv4 address as itself (/32), an IPv6
 * address by its /64 (a host controls its whole prefix), IPv4-mapped IPv6 as IPv4.
 * Brackets, a port after brackets and a zone (`%eth0`) are ignored. Anything that is
 * not an IP address is counted under its own (lower-cased, truncated) text.
 */
export function sourceKey(address: string): string {
  let a = address.trim().toLowerCase();
  if (a.startsWith("[")) {
    const close = a.indexOf("]");
    if (close > 0) a = a.slice(1, close);
  }
  const zone = a.indexOf("%");
  if (zone >= 0) a = a.slice(0, zone);
  const v4 = parseIpv4(a);
  if (v4) return `v4:${v4.join(".")}`;
  const v6 = parseIpv6(a);
  if (v6) {
    const isMapped = v6.slice(0, 5).every((h) => h === 0) && v6[5] === 0xffff;
    if (isMapped) {
      const hi = v6[6] ?? 0;
      const lo = v6[7] ?? 0;
      return `v4:${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
    }
    return `v6:${v6
      .slice(0, 4)
      .map((h) => h.toString(16))
      .join(":")}::/64`;
  }
  return `other:${a.slice(0, 64)}`;
}

function parseIpv4(s: string): number[] | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const octets: number[] = [];
  for (const part of parts) {
    if (!/^[0-9]{1,3}$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    octets.push(n);
  }
  return octets;
}

function parseIpv6(s: string): number[] | undefined {
  if (!s.includes(":")) return undefined;
  let text = s;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  const last = text.slice(lastColon + 1);
  if (last.includes(".")) {
    const v4 = parseIpv4(last);
    if (!v4) return undefined;
    tail.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
    text = text.slice(0, lastColon + 1);
    // "::1.2.3.4" leaves "::", "64:ff9b::1.2.3.4" leaves "64:ff9b::", "a:…:f:1.2.3.4" leaves "a:…:f:".
    if (text.endsWith(":") && !text.endsWith("::")) text = text.slice(0, -1);
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    for (const h of part.split(":")) {
      if (!/^[0-9a-f]{1,4}$/.test(h)) return undefined;
      out.push(Number.parseInt(h, 16));
    }
    return out;
  };
  const head = parse(halves[0] ?? "");
  const rest = halves.length === 2 ? parse(halves[1] ?? "") : [];
  if (!head || !rest) return undefined;
  const given = head.length + rest.length + tail.length;
  if (halves.length === 2) {
    if (given > 7) return undefined;
    return [...head, ...new Array<number>(8 - given).fill(0), ...rest, ...tail];
  }
  return given === 8 ? [...head, ...tail] : undefined;
}
