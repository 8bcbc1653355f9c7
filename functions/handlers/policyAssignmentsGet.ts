import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { operatorOrTenantAdmin, requireOwnTenant } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** A tenant's tenant-wide and group grants (user grants are listed separately: there can be many). */
export async function policyAssignmentsGet(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal) => {
      await requireOwnTenant(plane, principal, request.params.tenantId ?? "");
      const assignments = await plane.policies.getAssignments(request.params.tenantId ?? "");
      return json(200, assignments.value, assignments.etag || undefined);
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "policyAssignmentsGet",
  methods: ["GET"],
  route: "v1/tenants/{tenantId}/policy-assignments",
  handler: policyAssignmentsGet,
  doc: {
    tenantAdmin: true,
    summary: "The tenant-wide (Global) grant and the group grants by rank",
    tag: "Policies",
    responses: { 200: { description: "The grants", schema: "PolicyAssignments" }, 404: { description: "No such tenant" } },
  },
});
