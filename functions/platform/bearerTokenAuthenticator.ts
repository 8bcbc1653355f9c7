import { createRemoteJWKSet, errors as joseErrors, type JWTPayload, jwtVerify } from "jose";
import { AuthenticationError, AuthorizationError } from "../../shared/errors.js";
import { VerifiedTokenCache } from "./verifiedTokenCache.js";

export interface BearerTokenAuthenticatorOptions {
  readonly issuer: string;
  readonly jwksUri: string;
  readonly audience: string;
  /** The app role (Entra `roles` claim) a caller must hold unless an operation names another. */
  readonly requiredRole: string;
}

export interface Principal {
  /** Who called: the token's `oid`, else `sub`, else its client (`azp`/`appid`). */
  readonly id: string;
  readonly roles: readonly string[];
  readonly claims: JWTPayload;
}

/** Thrown when the token cannot be checked at all (issuer's keys unreachable): not the caller's fault. */
export class TokenValidationUnavailableError extends Error {
  override readonly name = "TokenValidationUnavailableError";
}

/**
 * Validates `Authorization: Bearer <JWT>` the way Entra ID tokens are checked: RS256
 * signature against the issuer's JWKS (fetched and cached, refreshed on an unknown
 * `kid`), issuer, audience, lifetime, then the required app role.
 */
export class BearerTokenAuthenticator {
  readonly #options: BearerTokenAuthenticatorOptions;
  readonly #keys: ReturnType<typeof createRemoteJWKSet>;
  readonly #verified = new VerifiedTokenCache<JWTPayload>();

  constructor(options: BearerTokenAuthenticatorOptions) {
    this.#options = options;
    this.#keys = createRemoteJWKSet(new URL(options.jwksUri), { timeoutDuration: 5000, cooldownDuration: 30_000 });
  }

  /** `requiredRole`: the role the caller must hold, or a list of which it must hold one. */
  async authenticate(authorization: string | null, requiredRole: string | readonly string[] = this.#options.requiredRole): Promise<Principal> {
    const match = /^Bearer[ ]+([A-Za-z0-9._~+/=-]+)$/i.exec(authorization?.trim() ?? "");
    if (!match?.[1]) throw new AuthenticationError("an Authorization: Bearer <token> header is required");
    let claims = this.#verified.get(match[1]);
    if (!claims) {
      try {
        ({ payload: claims } = await jwtVerify(match[1], this.#keys, {
          issuer: this.#options.issuer,
          audience: this.#options.audience,
          algorithms: ["RS256"],
          clockTolerance: 60,
          requiredClaims: ["exp"],
        }));
      } catch (e) {
        throw tokenError(e);
      }
      this.#verified.set(match[1], claims, claims.exp);
    }
    const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === "string") : [];
    const accepted = typeof requiredRole === "string" ? [requiredRole] : requiredRole;
    if (!accepted.some((role) => roles.includes(role))) throw new AuthorizationError(`the token lacks the app role ${accepted.join(" or ")}`);
    const id = [claims.oid, claims.sub, claims.azp, claims.appid].find((v): v is string => typeof v === "string") ?? "unknown";
    return { id, roles, claims };
  }
}

function tokenError(e: unknown): Error {
  if (e instanceof joseErrors.JWTExpired) return new AuthenticationError("the token has expired");
  if (e instanceof joseErrors.JWTClaimValidationFailed) return new AuthenticationError(`the token's ${e.claim} claim is not accepted`);
  if (e instanceof joseErrors.JWKSTimeout) return new TokenValidationUnavailableError("the token issuer's signing keys could not be fetched in time");
  if (e instanceof joseErrors.JOSEError) return new AuthenticationError("the token is not valid (signature, key or format)");
  // Anything else is a failed fetch of the issuer's keys (network, TLS): our problem, not the caller's.
  return new TokenValidationUnavailableError("the token issuer's signing keys could not be fetched");
}
