import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { operatorOrTenantAdmin, ownTenantOf } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";
import { pageOptions } from "../platform/paging.js";

/** Lists tenants, a page at a time; a tenant's admin gets one page holding their own tenant only. */
export async function tenantsList(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal) => {
      const own = ownTenantOf(plane, principal);
      if (own !== undefined) return json(200, { value: [(await plane.tenants.require(own)).value] });
      const page = await plane.tenants.list(pageOptions(request));
      return json(200, { value: page.items, ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}) });
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "tenantsList",
  methods: ["GET"],
  route: "v1/tenants",
  handler: tenantsList,
  doc: {
    tenantAdmin: true,
    summary: "List tenants (a tenant admin: their own only)",
    tag: "Tenants",
    query: [
      { name: "top", description: "Page size, 1-1000 (default 100)" },
      { name: "continuationToken", description: "From the previous page's answer" },
    ],
    responses: { 200: { description: "A page of tenants", schema: "TenantPage" } },
  },
});
