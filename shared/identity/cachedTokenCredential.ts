import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/identity";

export interface CachedTokenCredentialOptions {
  /** Fetch a new token this long before the cached one expires. */
  readonly refreshBeforeExpiryInMs?: number;
  readonly now?: () => number;
}

/**
 * Hands out the last token until shortly before it expires, one fetch at a time. The
 * Graph SDK and our clients ask for a token on every request, and MSAL's own cache
 * look-up costs milliseconds each time: at tens of calls a second that is real CPU.
 */
export class CachedTokenCredential implements TokenCredential {
  readonly #inner: TokenCredential;
  readonly #refreshBeforeExpiryInMs: number;
  readonly #now: () => number;
  readonly #tokens = new Map<string, AccessToken>();
  readonly #inFlight = new Map<string, Promise<AccessToken | null>>();

  constructor(inner: TokenCredential, options: CachedTokenCredentialOptions = {}) {
    this.#inner = inner;
    this.#refreshBeforeExpiryInMs = options.refreshBeforeExpiryInMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    // Claims challenges and per-tenant requests are rare and must not get a cached answer.
    if (options?.claims || options?.tenantId) return this.#inner.getToken(scopes, options);
    const key = (Array.isArray(scopes) ? scopes : [scopes]).join(" ");
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresOnTimestamp - this.#refreshBeforeExpiryInMs > this.#now()) return cached;
    let pending = this.#inFlight.get(key);
    if (!pending) {
      pending = this.#inner.getToken(scopes, options).then(
        (token) => {
          this.#inFlight.delete(key);
          if (token) this.#tokens.set(key, token);
          else this.#tokens.delete(key);
          return token;
        },
        (e: unknown) => {
          this.#inFlight.delete(key);
          this.#tokens.delete(key);
          throw e;
        },
      );
      this.#inFlight.set(key, pending);
    }
    return pending;
  }
}
