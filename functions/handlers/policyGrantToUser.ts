import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json, noContent } from "../platform/adminRequest.js";
import { readJsonBody } from "../platform/httpBody.js";
import { operatorOrTenantAdmin, requireOwnTenant } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** `Grant-CsTeamsVideoInteropServicePolicy -Identity user -PolicyName X` (`null`/"none" returns the user to Global). */
export async function policyGrantToUser(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal) => {
      await requireOwnTenant(plane, principal, request.params.tenantId ?? "");
      const tenantId = request.params.tenantId ?? "";
      const grant = await plane.policies.grantToUser(tenantId, request.params.userId ?? "", await readJsonBody(request));
      await plane.subscriptions.afterGrant(tenantId.toLowerCase(), grant?.userId ?? (request.params.userId ?? "").toLowerCase());
      return grant ? json(200, grant) : noContent();
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "policyGrantToUser",
  methods: ["PUT"],
  route: "v1/tenants/{tenantId}/policy-assignments/users/{userId}",
  handler: policyGrantToUser,
  doc: {
    tenantAdmin: true,
    summary: 'Grant a policy to a user (policyName null or "none" removes the user\'s grant)',
    tag: "Policies",
    requestBody: "PolicyGrant",
    responses: {
      200: { description: "Granted", schema: "UserGrant" },
      204: { description: "The user's grant was removed" },
      404: { description: "No such tenant" },
    },
  },
});
