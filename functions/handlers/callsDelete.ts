import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleMediaHostRequest, noContent } from "../platform/adminRequest.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** For media hosts: the device hung up, leave the meeting. */
export async function callsDelete(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleMediaHostRequest(request, context, async (plane) => {
    await plane.calls.leave(request.params.callId ?? "", request.query.get("reason") ?? "the device hung up");
    return noContent();
  });
}

registerHttpRoute({
  name: "callsDelete",
  methods: ["DELETE"],
  route: "v1/calls/{callId}",
  handler: callsDelete,
  doc: {
    summary: "Leave the meeting for a room system that hung up (media hosts, role CVI.MediaHost)",
    tag: "Media hosts",
    query: [{ name: "reason", description: "Why the device side ended, for the call record" }],
    responses: { 204: { description: "Left" }, 404: { description: "No such call" } },
  },
});
