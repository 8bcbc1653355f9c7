import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { ifMatchOf, readJsonBody } from "../platform/httpBody.js";
import { operatorOrTenantAdmin, requireOwnTenant } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** `Grant-CsTeamsVideoInteropServicePolicy -Group g -Rank n -PolicyName X`. */
export async function policyGrantToGroup(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal) => {
      await requireOwnTenant(plane, principal, request.params.tenantId ?? "");
      const ifMatch = ifMatchOf(request);
      const assignments = await plane.policies.grantToGroup(
        request.params.tenantId ?? "",
        request.params.groupId ?? "",
        await readJsonBody(request),
        {
          ...(ifMatch ? { ifMatch } : {}),
        },
      );
      await plane.subscriptions.afterGrant((request.params.tenantId ?? "").toLowerCase());
      return json(200, assignments.value, assignments.etag);
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "policyGrantToGroup",
  methods: ["PUT"],
  route: "v1/tenants/{tenantId}/policy-assignments/groups/{groupId}",
  handler: policyGrantToGroup,
  doc: {
    tenantAdmin: true,
    summary: "Grant a policy to a group at a rank (1 = highest; taken ranks shift down); policyName null removes it",
    tag: "Policies",
    requestBody: "GroupPolicyGrant",
    conditional: true,
    responses: {
      200: { description: "The tenant's grants after the change", schema: "PolicyAssignments" },
      404: { description: "No such tenant" },
      412: { description: "If-Match did not match" },
    },
  },
});
