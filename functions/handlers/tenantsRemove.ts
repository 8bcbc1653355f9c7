import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, noContent } from "../platform/adminRequest.js";
import { operatorOrTenantAdmin, requireOwnTenant } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** Off-boards a tenant: its providers and grants go, its tenant key is retired for good. */
export async function tenantsRemove(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal) => {
      await requireOwnTenant(plane, principal, request.params.tenant ?? "");
      await plane.tenants.remove(request.params.tenant ?? "");
      return noContent();
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "tenantsRemove",
  methods: ["DELETE"],
  route: "v1/tenants/{tenant}",
  handler: tenantsRemove,
  doc: {
    tenantAdmin: true,
    summary: "Remove a tenant and everything stored for it; its tenant key is never reissued",
    tag: "Tenants",
    responses: { 204: { description: "Removed" }, 404: { description: "No such tenant" } },
  },
});
