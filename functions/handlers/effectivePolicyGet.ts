import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { operatorOrTenantAdmin, requireOwnTenant } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** The policy in force for a user, and where it comes from (user, group or tenant-wide grant). */
export async function effectivePolicyGet(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal) => {
      await requireOwnTenant(plane, principal, request.params.tenantId ?? "");
      return json(
        200,
        await plane.policies.effectiveFor(request.params.tenantId ?? "", request.params.userId ?? "", request.query.getAll("groupId")),
      );
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "effectivePolicyGet",
  methods: ["GET"],
  route: "v1/tenants/{tenantId}/users/{userId}/effective-policy",
  handler: effectivePolicyGet,
  doc: {
    tenantAdmin: true,
    summary: "The user's effective policy: own grant, else highest-ranked group grant, else tenant-wide",
    tag: "Policies",
    query: [{ name: "groupId", description: "A group the user belongs to (repeat for each)", repeated: true }],
    responses: { 200: { description: "The effective policy and its source", schema: "EffectivePolicy" }, 404: { description: "No such tenant" } },
  },
});
