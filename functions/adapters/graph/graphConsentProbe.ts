import { decodeJwt } from "jose";
import type { ConsentProbe } from "../../ports.js";
import { GRAPH_SCOPE, graphFailure, type TenantGraphClients } from "./tenantGraphClients.js";

/**
 * Proof of consent as Entra ID gives it: an app-only token for the tenant carries the
 * granted application permissions in `roles` (no grant, no claim). The token comes
 * straight from the token endpoint over TLS, so reading its claims needs no signature check.
 */
export class GraphConsentProbe implements ConsentProbe {
  readonly #clients: TenantGraphClients;

  constructor(clients: TenantGraphClients) {
    this.#clients = clients;
  }

  async grantedRoles(tenantId: string): Promise<readonly string[]> {
    let token: string | undefined;
    try {
      // A fresh token, not a cached one: consent may have changed a minute ago.
      token = (await this.#clients.newCredential(tenantId).getToken(GRAPH_SCOPE))?.token;
    } catch (e) {
      throw graphFailure(e, `tenant ${tenantId}`);
    }
    if (!token) return [];
    const roles = decodeJwt(token).roles;
    return Array.isArray(roles) ? roles.filter((r): r is string => typeof r === "string") : [];
  }
}
