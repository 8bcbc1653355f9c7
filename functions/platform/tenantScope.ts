import { isGuid } from "../../shared/domain/ids.js";
import { AuthorizationError, NotFoundError } from "../../shared/errors.js";
import type { ControlPlane } from "../controlPlane.js";
import type { Principal } from "./bearerTokenAuthenticator.js";
import { callScopeOf } from "./callScope.js";

/** The roles admitted where a tenant's own admin may act on their tenant: the operator's, and the tenant admin's. */
export const operatorOrTenantAdmin = (plane: ControlPlane): readonly string[] => [plane.config.ADMIN_AUTH_ROLE, plane.config.TENANT_ADMIN_ROLE];

/** The one tenant the caller is held to, or undefined for the operator (every tenant). */
export function ownTenantOf(plane: ControlPlane, principal: Principal): string | undefined {
  return callScopeOf(principal, plane.config.ADMIN_AUTH_ROLE).tenantId;
}

/**
 * Refuses (403) a tenant admin any tenant but their own. `reference` is a tenant id or a
 * tenant key: a key is looked up, and a key that leads nowhere is refused the same way as
 * another tenant's, so a tenant admin cannot probe which keys exist.
 */
export async function requireOwnTenant(plane: ControlPlane, principal: Principal, reference: string): Promise<void> {
  const own = ownTenantOf(plane, principal);
  if (own === undefined) return;
  const trimmed = reference.trim();
  let tenantId: string | undefined;
  if (isGuid(trimmed)) tenantId = trimmed.toLowerCase();
  else {
    try {
      tenantId = (await plane.tenants.get(trimmed)).value.tenantId;
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }
  if (tenantId !== own) throw new AuthorizationError(`a tenant admin may act only on their own tenant (${own})`);
}
