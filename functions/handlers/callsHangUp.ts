import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { callLabel } from "../../shared/domain/callSession.js";
import { HUNG_UP_BY_TENANT_ADMIN } from "../app/callService.js";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { callScopeOf } from "../platform/callScope.js";
import { operatorOrTenantAdmin } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** An operator (or the call's tenant's admin) hangs up a live call: the device gets a BYE, the bot leaves the meeting. */
export async function callsHangUp(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal, log) => {
      const { deliveredDigest, deliveredViews, ...record } = await plane.calls.hangUp(
        request.params.callId ?? "",
        callScopeOf(principal, plane.config.ADMIN_AUTH_ROLE),
        {
          about: (call) => log.about(callLabel(call)),
          ...(principal.homeTenantId ? { reason: HUNG_UP_BY_TENANT_ADMIN } : {}),
        },
      );
      return json(200, record);
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "callsHangUp",
  methods: ["POST"],
  route: "v1/calls/{callId}/hangup",
  handler: callsHangUp,
  doc: {
    tenantAdmin: true,
    summary: "Hang up a live call: its media host sends the device a BYE, the bot leaves the meeting, the record ends (by operator)",
    tag: "Calls",
    responses: {
      200: { description: "Hung up: the ended call record", schema: "CallRecord" },
      400: { description: "Not a call id (callId)" },
      404: { description: "No such call" },
      409: { description: "The call has ended already (code call-ended; the detail says when, by whom and why)" },
    },
  },
});
