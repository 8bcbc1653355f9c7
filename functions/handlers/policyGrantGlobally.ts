import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { ifMatchOf, readJsonBody } from "../platform/httpBody.js";
import { operatorOrTenantAdmin, requireOwnTenant } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** `Grant-CsTeamsVideoInteropServicePolicy -Global -PolicyName X`. */
export async function policyGrantGlobally(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal) => {
      await requireOwnTenant(plane, principal, request.params.tenantId ?? "");
      const ifMatch = ifMatchOf(request);
      const assignments = await plane.policies.grantGlobally(request.params.tenantId ?? "", await readJsonBody(request), {
        ...(ifMatch ? { ifMatch } : {}),
      });
      await plane.subscriptions.afterGrant((request.params.tenantId ?? "").toLowerCase());
      return json(200, assignments.value, assignments.etag);
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "policyGrantGlobally",
  methods: ["PUT"],
  route: "v1/tenants/{tenantId}/policy-assignments/global",
  handler: policyGrantGlobally,
  doc: {
    tenantAdmin: true,
    summary: "Grant a policy tenant-wide (policyName null returns to the built-in Global policy)",
    tag: "Policies",
    requestBody: "PolicyGrant",
    conditional: true,
    responses: { 200: { description: "The tenant's grants after the change", schema: "PolicyAssignments" }, 404: { description: "No such tenant" } },
  },
});
