import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { NotFoundError } from "../../shared/errors.js";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** A call's detail record (phases, participants, who ended it and why). */
export async function callsGet(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(request, context, async (plane) => {
    const callId = request.params.callId ?? "";
    const session = await plane.calls.get(callId);
    if (!session) throw new NotFoundError(`call ${callId} is not known`);
    const { deliveredDigest, deliveredViews, ...record } = session.value;
    return json(200, record, session.etag);
  });
}

registerHttpRoute({
  name: "callsGet",
  methods: ["GET"],
  route: "v1/calls/{callId}",
  handler: callsGet,
  doc: {
    summary: "A call's detail record",
    tag: "Calls",
    responses: { 200: { description: "The call record", schema: "CallRecord" }, 404: { description: "No such call" } },
  },
});
