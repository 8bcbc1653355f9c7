import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { ifMatchOf, readJsonBody } from "../platform/httpBody.js";
import { operatorOrTenantAdmin, requireOwnTenant } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** `Set-CsVideoInteropServiceProvider`: changes only the given fields; honours If-Match. */
export async function providersSet(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal) => {
      await requireOwnTenant(plane, principal, request.params.tenantId ?? "");
      const ifMatch = ifMatchOf(request);
      const provider = await plane.providers.set(request.params.tenantId ?? "", request.params.identity ?? "", await readJsonBody(request), {
        ...(ifMatch ? { ifMatch } : {}),
      });
      return json(200, provider.value, provider.etag);
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "providersSet",
  methods: ["PATCH"],
  route: "v1/tenants/{tenantId}/providers/{identity}",
  handler: providersSet,
  doc: {
    tenantAdmin: true,
    summary: "Set-CsVideoInteropServiceProvider",
    tag: "Providers",
    requestBody: "ProviderChanges",
    conditional: true,
    responses: {
      200: { description: "Updated", schema: "Provider" },
      404: { description: "No such tenant or provider" },
      412: { description: "If-Match did not match the stored version" },
    },
  },
});
