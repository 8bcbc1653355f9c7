import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { operatorOrTenantAdmin, requireOwnTenant } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** `Get-CsVideoInteropServiceProvider [-Filter regex]`. */
export async function providersList(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal) => {
      await requireOwnTenant(plane, principal, request.params.tenantId ?? "");
      const providers = await plane.providers.list(request.params.tenantId ?? "", request.query.get("filter") ?? undefined);
      return json(200, { value: providers.map((p) => p.value) });
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "providersList",
  methods: ["GET"],
  route: "v1/tenants/{tenantId}/providers",
  handler: providersList,
  doc: {
    tenantAdmin: true,
    summary: "Get-CsVideoInteropServiceProvider",
    tag: "Providers",
    query: [{ name: "filter", description: "Regular expression over provider identities (case-insensitive)" }],
    responses: { 200: { description: "The tenant's providers", schema: "ProviderList" }, 404: { description: "No such tenant" } },
  },
});
