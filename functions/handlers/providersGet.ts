import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { operatorOrTenantAdmin, requireOwnTenant } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** `Get-CsVideoInteropServiceProvider -Identity`. */
export async function providersGet(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal) => {
      await requireOwnTenant(plane, principal, request.params.tenantId ?? "");
      const provider = await plane.providers.get(request.params.tenantId ?? "", request.params.identity ?? "");
      return json(200, provider.value, provider.etag);
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "providersGet",
  methods: ["GET"],
  route: "v1/tenants/{tenantId}/providers/{identity}",
  handler: providersGet,
  doc: {
    tenantAdmin: true,
    summary: "Get-CsVideoInteropServiceProvider -Identity",
    tag: "Providers",
    responses: { 200: { description: "The provider", schema: "Provider" }, 404: { description: "No such tenant or provider" } },
  },
});
