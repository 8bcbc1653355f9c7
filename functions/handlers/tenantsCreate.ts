import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { readJsonBody } from "../platform/httpBody.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** Onboards a tenant and issues its tenant key. */
export async function tenantsCreate(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(request, context, async (plane) => {
    const tenant = await plane.tenants.add(await readJsonBody(request));
    return json(201, tenant.value, tenant.etag, `/api/v1/tenants/${tenant.value.tenantId}`);
  });
}

registerHttpRoute({
  name: "tenantsCreate",
  methods: ["POST"],
  route: "v1/tenants",
  handler: tenantsCreate,
  doc: {
    summary: "Onboard a tenant; the service issues its tenant key",
    tag: "Tenants",
    requestBody: "NewTenant",
    responses: { 201: { description: "Created", schema: "Tenant" }, 409: { description: "The tenant exists already" } },
  },
});
