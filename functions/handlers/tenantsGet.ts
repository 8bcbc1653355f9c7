import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { operatorOrTenantAdmin, requireOwnTenant } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** One tenant, by its Entra tenant id or by its tenant key. */
export async function tenantsGet(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal) => {
      await requireOwnTenant(plane, principal, request.params.tenant ?? "");
      const tenant = await plane.tenants.get(request.params.tenant ?? "");
      return json(200, tenant.value, tenant.etag);
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "tenantsGet",
  methods: ["GET"],
  route: "v1/tenants/{tenant}",
  handler: tenantsGet,
  doc: {
    tenantAdmin: true,
    summary: "Get a tenant by tenant id (GUID) or tenant key",
    tag: "Tenants",
    responses: { 200: { description: "The tenant", schema: "Tenant" }, 404: { description: "No such tenant" } },
  },
});
