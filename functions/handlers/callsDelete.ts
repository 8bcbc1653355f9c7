import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { ValidationError } from "../../shared/errors.js";
import { callLabel } from "../../shared/domain/callSession.js";
import { handleMediaHostRequest, noContent } from "../platform/adminRequest.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** For media hosts: the device hung up (or the host ended the call), leave the meeting. */
export async function callsDelete(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleMediaHostRequest(request, context, async (plane, _principal, log) => {
    const by = request.query.get("by") ?? "device";
    if (by !== "device" && by !== "gateway") throw new ValidationError([{ field: "by", message: "by must be device or gateway" }]);
    await plane.calls.leave(request.params.callId ?? "", request.query.get("reason") ?? "the device hung up", by, {
      about: (call) => log.about(callLabel(call)),
    });
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
    query: [
      { name: "reason", description: "Why the device side ended, for the call record" },
      { name: "by", description: "device (default: the device hung up) or gateway (the media host ended the call)" },
    ],
    responses: { 204: { description: "Left" }, 404: { description: "No such call" } },
  },
});
