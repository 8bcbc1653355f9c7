import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { operatorOrTenantAdmin, requireOwnTenant } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";
import { pageOptions } from "../platform/paging.js";

/** The users holding a grant of their own, a page at a time. */
export async function policyUserGrantsList(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal) => {
      await requireOwnTenant(plane, principal, request.params.tenantId ?? "");
      const page = await plane.policies.listUserGrants(request.params.tenantId ?? "", pageOptions(request));
      return json(200, { value: page.items, ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}) });
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "policyUserGrantsList",
  methods: ["GET"],
  route: "v1/tenants/{tenantId}/policy-assignments/users",
  handler: policyUserGrantsList,
  doc: {
    tenantAdmin: true,
    summary: "List per-user grants",
    tag: "Policies",
    query: [
      { name: "top", description: "Page size, 1-1000 (default 100)" },
      { name: "continuationToken", description: "From the previous page's answer" },
    ],
    responses: { 200: { description: "A page of user grants", schema: "UserGrantPage" }, 404: { description: "No such tenant" } },
  },
});
