import { createRemoteJWKSet, errors as joseErrors, type JWTPayload, jwtVerify } from "jose";
import { isGuid } from "../../shared/domain/ids.js";
import { AuthenticationError, AuthorizationError } from "../../shared/errors.js";
import { VerifiedTokenCache } from "./verifiedTokenCache.js";

export interface BearerTokenAuthenticatorOptions {
  readonly issuer: string;
  readonly jwksUri: string;
  readonly audience: string;
  /** The app role (Entra `roles` claim) a caller must hold unless an operation names another. */
  readonly requiredRole: string;
  /** Tokens from onboarded tenants' own issuers (their admins signing in from their tenant); absent: the operator's issuer only. */
  readonly tenantAdmins?: TenantAdminTokenOptions;
}

export interface TenantAdminTokenOptions {
  /** The issuer of a tenant's tokens with `{tenantid}` for its id, e.g. https://login.microsoftonline.com/{tenantid}/v2.0. */
  readonly issuerTemplate: string;
  /**
   * The one role honoured in such a token. A tenant's admins assign our app's roles in their
   * own tenant, so any other role there (CVI.Admin, CVI.MediaHost) is theirs to invent: dropped.
   */
  readonly role: string;
  /** Whether the tenant is onboarded with this service; asked on every request, so removing a tenant shuts its admins out at once. */
  isOnboarded(tenantId: string): Promise<boolean>;
}

export interface Principal {
  /** Who called: the token's `oid`, else `sub`, else its client (`azp`/`appid`). */
  readonly id: string;
  /** The roles it holds here: for a token of another tenant than the operator's, only the tenant-admin role. */
  readonly roles: readonly string[];
  readonly claims: JWTPayload;
  /** Set for a token of an onboarded tenant's own issuer (a tenant admin): that tenant's id. */
  readonly homeTenantId?: string;
}

/** Thrown when the token cannot be checked at all (issuer's keys unreachable): not the caller's fault. */
export class TokenValidationUnavailableError extends Error {
  override readonly name = "TokenValidationUnavailableError";
}

/**
 * Validates `Authorization: Bearer <JWT>` the way Entra ID tokens are checked: RS256
 * signature against the issuer's JWKS (fetched and cached, refreshed on an unknown
 * `kid`), issuer, audience, lifetime, then the required app role. The issuer is the
 * operator's tenant, or (multi-tenant, as Entra's own guidance does it) the `tid` claim put
 * into the tenant issuer template — accepted only for a tenant onboarded here.
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
          audience: this.#options.audience,
          algorithms: ["RS256"],
          clockTolerance: 60,
          requiredClaims: ["exp", "iss"],
        }));
      } catch (e) {
        throw tokenError(e);
      }
      if (claims.iss !== this.#options.issuer && this.#tenantOf(claims) === undefined)
        throw new AuthenticationError("the token's iss claim is not accepted");
      this.#verified.set(match[1], claims, claims.exp);
    }
    let roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === "string") : [];
    const tenantAdmins = this.#options.tenantAdmins;
    const tenantId = claims.iss === this.#options.issuer ? undefined : this.#tenantOf(claims);
    if (tenantAdmins && tenantId !== undefined) {
      roles = roles.filter((r) => r === tenantAdmins.role);
      if (!(await tenantAdmins.isOnboarded(tenantId)))
        throw new AuthenticationError(`the token's tenant ${tenantId} is not onboarded with this service`);
    }
    const accepted = typeof requiredRole === "string" ? [requiredRole] : requiredRole;
    if (!accepted.some((role) => roles.includes(role))) throw new AuthorizationError(`the token lacks the app role ${accepted.join(" or ")}`);
    const id = [claims.oid, claims.sub, claims.azp, claims.appid].find((v): v is string => typeof v === "string") ?? "unknown";
    return { id, roles, claims, ...(tenantAdmins && tenantId !== undefined ? { homeTenantId: tenantId } : {}) };
  }

  /** The tenant whose own issuer signed the token (its `tid` in the template), if tenant admins are accepted at all. */
  #tenantOf(claims: JWTPayload): string | undefined {
    const template = this.#options.tenantAdmins?.issuerTemplate;
    const tid = claims.tid;
    if (!template || typeof tid !== "string" || !isGuid(tid)) return undefined;
    return claims.iss === template.replaceAll("{tenantid}", tid) ? tid.toLowerCase() : undefined;
  }
}

/**
 * The tenant issuer template of an operator's issuer: its tenant id becomes `{tenantid}`
 * (https://login.microsoftonline.com/<operator tid>/v2.0 → …/{tenantid}/v2.0); none if it names no tenant id.
 */
export function tenantIssuerTemplate(operatorIssuer: string): string | undefined {
  const guid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
  return guid.test(operatorIssuer) ? operatorIssuer.replace(guid, "{tenantid}") : undefined;
}

function tokenError(e: unknown): Error {
  if (e instanceof joseErrors.JWTExpired) return new AuthenticationError("the token has expired");
  if (e instanceof joseErrors.JWTClaimValidationFailed) return new AuthenticationError(`the token's ${e.claim} claim is not accepted`);
  if (e instanceof joseErrors.JWKSTimeout) return new TokenValidationUnavailableError("the token issuer's signing keys could not be fetched in time");
  if (e instanceof joseErrors.JOSEError) return new AuthenticationError("the token is not valid (signature, key or format)");
  // Anything else is a failed fetch of the issuer's keys (network, TLS): our problem, not the caller's.
  return new TokenValidationUnavailableError("the token issuer's signing keys could not be fetched");
}
