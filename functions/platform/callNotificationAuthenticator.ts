import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from "jose";
import { AuthenticationError } from "../../shared/errors.js";
import { TokenValidationUnavailableError } from "./bearerTokenAuthenticator.js";
import { VerifiedTokenCache } from "./verifiedTokenCache.js";

export interface CallNotificationAuthenticatorOptions {
  /** The calling platform's OpenID configuration (its jwks_uri has the signing keys). */
  readonly openIdConfigurationUrl: string;
  readonly issuers: readonly string[];
  /** Our bot's app id: Microsoft signs call notifications for it. */
  readonly audience: string;
}

/**
 * Checks the JWT Microsoft's calling platform puts on every call notification:
 * signature by a key of its published configuration, issuer, audience = our bot,
 * lifetime, and a tenant (`tid`) — which is what the notification may touch.
 */
export class CallNotificationAuthenticator {
  readonly #options: CallNotificationAuthenticatorOptions;
  #keys: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  readonly #verified = new VerifiedTokenCache<{ tenantId: string }>();

  constructor(options: CallNotificationAuthenticatorOptions) {
    this.#options = options;
  }

  /** Returns the tenant the notification is for. */
  async authenticate(authorization: string | null): Promise<{ tenantId: string }> {
    const match = /^Bearer[ ]+([A-Za-z0-9._~+/=-]+)$/i.exec(authorization?.trim() ?? "");
    if (!match?.[1]) throw new AuthenticationError("call notifications must carry the calling platform's bearer token");
    const known = this.#verified.get(match[1]);
    if (known) return known;
    const keys = await this.#signingKeys();
    try {
      const { payload } = await jwtVerify(match[1], keys, {
        issuer: [...this.#options.issuers],
        audience: this.#options.audience,
        algorithms: ["RS256"],
        clockTolerance: 300,
        requiredClaims: ["exp", "tid"],
      });
      if (typeof payload.tid !== "string") throw new AuthenticationError("the token names no tenant");
      const verified = { tenantId: payload.tid.toLowerCase() };
      this.#verified.set(match[1], verified, payload.exp);
      return verified;
    } catch (e) {
      if (e instanceof AuthenticationError) throw e;
      if (e instanceof joseErrors.JWTExpired) throw new AuthenticationError("the call notification token has expired");
      if (e instanceof joseErrors.JWTClaimValidationFailed)
        throw new AuthenticationError(`the call notification token's ${e.claim} claim is not accepted`);
      if (e instanceof joseErrors.JOSEError && !(e instanceof joseErrors.JWKSTimeout))
        throw new AuthenticationError("the call notification token is not valid");
      throw new TokenValidationUnavailableError("the calling platform's signing keys could not be fetched");
    }
  }

  #signingKeys(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    this.#keys ??= (async () => {
      const response = await fetch(this.#options.openIdConfigurationUrl, { signal: AbortSignal.timeout(5000) });
      if (!response.ok) throw new TokenValidationUnavailableError(`the calling platform's OpenID configuration answered ${response.status}`);
      const { jwks_uri: jwksUri } = (await response.json()) as { jwks_uri?: string };
      if (!jwksUri) throw new TokenValidationUnavailableError("the calling platform's OpenID configuration has no jwks_uri");
      return createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: 5000, cooldownDuration: 30_000 });
    })().catch((e) => {
      this.#keys = undefined; // try again on the next notification
      throw e instanceof TokenValidationUnavailableError
        ? e
        : new TokenValidationUnavailableError("the calling platform's OpenID configuration could not be fetched");
    });
    return this.#keys;
  }
}
