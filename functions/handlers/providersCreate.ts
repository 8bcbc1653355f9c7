import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { readJsonBody } from "../platform/httpBody.js";
import { operatorOrTenantAdmin, requireOwnTenant } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** `New-CsVideoInteropServiceProvider`. */
export async function providersCreate(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal) => {
      await requireOwnTenant(plane, principal, request.params.tenantId ?? "");
      const tenantId = request.params.tenantId ?? "";
      const provider = await plane.providers.create(tenantId, await readJsonBody(request));
      return json(201, provider.value, provider.etag, `/api/v1/tenants/${tenantId}/providers/${provider.value.identity}`);
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "providersCreate",
  methods: ["POST"],
  route: "v1/tenants/{tenantId}/providers",
  handler: providersCreate,
  doc: {
    tenantAdmin: true,
    summary: "New-CsVideoInteropServiceProvider",
    tag: "Providers",
    requestBody: "NewProvider",
    responses: {
      201: { description: "Created", schema: "Provider" },
      404: { description: "No such tenant" },
      409: { description: "The provider exists already" },
    },
  },
});
