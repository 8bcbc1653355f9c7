import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { callScopeOf } from "../platform/callScope.js";
import { operatorOrTenantAdmin } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** A call's detail record (phases, participants, who ended it and why, each leg's quality once it ended). */
export async function callsGet(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal) => {
      const session = await plane.calls.show(request.params.callId ?? "", callScopeOf(principal, plane.config.ADMIN_AUTH_ROLE));
      const { deliveredDigest, deliveredViews, ...record } = session.value;
      return json(200, record, session.etag);
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "callsGet",
  methods: ["GET"],
  route: "v1/calls/{callId}",
  handler: callsGet,
  doc: {
    tenantAdmin: true,
    summary: "A call's detail record",
    tag: "Calls",
    responses: {
      200: { description: "The call record", schema: "CallRecord" },
      400: { description: "Not a call id (callId)" },
      404: { description: "No such call" },
    },
  },
});
