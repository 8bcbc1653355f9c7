import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, noContent } from "../platform/adminRequest.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/**
 * Off-boards a tenant: its providers and grants go, its tenant key is retired for good. The
 * operator's alone: a tenant's admin cannot undo it (the key never comes back), as they cannot onboard.
 */
export async function tenantsRemove(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(request, context, async (plane) => {
    await plane.tenants.remove(request.params.tenant ?? "");
    return noContent();
  });
}

registerHttpRoute({
  name: "tenantsRemove",
  methods: ["DELETE"],
  route: "v1/tenants/{tenant}",
  handler: tenantsRemove,
  doc: {
    summary: "Remove a tenant and everything stored for it; its tenant key is never reissued",
    tag: "Tenants",
    responses: { 204: { description: "Removed" }, 404: { description: "No such tenant" } },
  },
});
