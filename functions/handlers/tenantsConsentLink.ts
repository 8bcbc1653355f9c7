import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { operatorOrTenantAdmin, requireOwnTenant } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** A fresh admin-consent link for the tenant's admin (single-use, expires; replaces earlier links). */
export async function tenantsConsentLink(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal) => {
      await requireOwnTenant(plane, principal, request.params.tenant ?? "");
      return json(201, await plane.consent.start(request.params.tenant ?? ""));
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "tenantsConsentLink",
  methods: ["POST"],
  route: "v1/tenants/{tenant}/consent-link",
  handler: tenantsConsentLink,
  doc: {
    tenantAdmin: true,
    summary: "Make an admin-consent link for the tenant's administrator",
    tag: "Tenants",
    responses: { 201: { description: "The link and when it expires", schema: "ConsentLink" }, 404: { description: "No such tenant" } },
  },
});
