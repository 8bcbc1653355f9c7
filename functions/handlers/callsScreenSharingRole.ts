import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { callLabel } from "../../shared/domain/callSession.js";
import { handleMediaHostRequest, json } from "../platform/adminRequest.js";
import { readJsonBody } from "../platform/httpBody.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** For media hosts: the bot takes or gives up the meeting's screen share (Graph's changeScreenSharingRole). */
export async function callsScreenSharingRole(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleMediaHostRequest(request, context, async (plane, _principal, log) => {
    const body = await readJsonBody(request);
    const changed = await plane.calls.changeScreenSharingRole(request.params.callId ?? "", body, {
      about: (call) => log.about(callLabel(call)),
    });
    return json(200, changed);
  });
}

registerHttpRoute({
  name: "callsScreenSharingRole",
  methods: ["PUT"],
  route: "v1/calls/{callId}/screenSharingRole",
  handler: callsScreenSharingRole,
  doc: {
    summary:
      "Take (sharer) or give up (viewer) the meeting's screen share for the bot (media hosts, role CVI.MediaHost); the same role twice changes nothing",
    tag: "Media hosts",
    requestBody: "ScreenSharingRole",
    responses: {
      200: { description: "Graph accepted the role" },
      404: { description: "No such call, or Graph no longer knows it" },
      409: { description: "The call has ended" },
    },
  },
});
