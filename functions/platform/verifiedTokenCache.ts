/**
 * Tokens whose signature and claims were checked, remembered until they expire (at most
 * `maxAgeInMs`), so a caller's repeated requests with the same token skip the RSA check.
 * Only successful checks are remembered: a forged or expired token is never a hit. The
 * tokens stay in memory only; nothing here is logged.
 */
export class VerifiedTokenCache<T> {
  readonly #entries = new Map<string, { readonly value: T; readonly validUntil: number }>();
  readonly #maxEntries: number;
  readonly #maxAgeInMs: number;
  readonly #now: () => number;

  constructor(options: { maxEntries?: number; maxAgeInMs?: number; now?: () => number } = {}) {
    this.#maxEntries = options.maxEntries ?? 2000;
    // Short enough that a removed signing key stops being honoured soon.
    this.#maxAgeInMs = options.maxAgeInMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  get(token: string): T | undefined {
    const entry = this.#entries.get(token);
    if (!entry) return undefined;
    if (entry.validUntil <= this.#now()) {
      this.#entries.delete(token);
      return undefined;
    }
    return entry.value;
  }

  /** `expiresAt` is the token's `exp` (seconds since the epoch). */
  set(token: string, value: T, expiresAt: number | undefined): void {
    if (expiresAt === undefined) return;
    const validUntil = Math.min(expiresAt * 1000, this.#now() + this.#maxAgeInMs);
    if (validUntil <= this.#now()) return;
    // Oldest first out: a Map iterates in insertion order.
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(token, { value, validUntil });
  }
}
