import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { operatorOrTenantAdmin } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** `Get-CsTeamsVideoInteropServicePolicy [-Filter regex]`: the pre-built policies. */
export async function policiesList(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane) => json(200, { value: plane.policies.list(request.query.get("filter") ?? undefined) }),
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "policiesList",
  methods: ["GET"],
  route: "v1/policies",
  handler: policiesList,
  doc: {
    tenantAdmin: true,
    summary: "Get-CsTeamsVideoInteropServicePolicy",
    tag: "Policies",
    query: [{ name: "filter", description: "Regular expression over policy identities (case-insensitive)" }],
    responses: { 200: { description: "The pre-built policies", schema: "PolicyList" } },
  },
});
