import { AuthorizationError } from "../../shared/errors.js";
import { type CallScope, EVERY_TENANT } from "../app/callService.js";
import type { Principal } from "./bearerTokenAuthenticator.js";

/**
 * Whose calls a caller may see and end. An operator (the admin role) sees every tenant's;
 * anyone else the calls API lets in is held to the tenant their token comes from (`tid`).
 * Today the calls routes admit the admin role only, so the second branch is the seam a
 * tenant's own admin (issue 16's portal sign-in) goes through once a role admits them:
 * the services filter and refuse by the scope, whatever the request asks for.
 */
export function callScopeOf(principal: Principal, operatorRole: string): CallScope {
  if (principal.roles.includes(operatorRole)) return EVERY_TENANT;
  const tid = principal.claims.tid;
  if (typeof tid !== "string" || tid.length === 0) throw new AuthorizationError("the token names no tenant (tid) to hold the caller to");
  return { tenantId: tid.toLowerCase() };
}
