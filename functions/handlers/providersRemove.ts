import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, noContent } from "../platform/adminRequest.js";
import { ifMatchOf } from "../platform/httpBody.js";
import { operatorOrTenantAdmin, requireOwnTenant } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** `Remove-CsVideoInteropServiceProvider`. */
export async function providersRemove(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal) => {
      await requireOwnTenant(plane, principal, request.params.tenantId ?? "");
      const ifMatch = ifMatchOf(request);
      await plane.providers.remove(request.params.tenantId ?? "", request.params.identity ?? "", { ...(ifMatch ? { ifMatch } : {}) });
      return noContent();
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "providersRemove",
  methods: ["DELETE"],
  route: "v1/tenants/{tenantId}/providers/{identity}",
  handler: providersRemove,
  doc: {
    tenantAdmin: true,
    summary: "Remove-CsVideoInteropServiceProvider",
    tag: "Providers",
    conditional: true,
    responses: {
      204: { description: "Removed" },
      404: { description: "No such tenant or provider" },
      412: { description: "If-Match did not match" },
    },
  },
});
