import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { callLabel } from "../../shared/domain/callSession.js";
import { handleMediaHostRequest, json } from "../platform/adminRequest.js";
import { readJsonBody } from "../platform/httpBody.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";
import { refusalResponse } from "../platform/problem.js";

/** For media hosts: join the dialed meeting as the bot for one room system (Graph credentials stay here). */
export async function callsCreate(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleMediaHostRequest(request, context, async (plane, _principal, log) => {
    const outcome = await plane.calls.join(await readJsonBody(request), { about: (call) => log.about(callLabel(call)) });
    if (outcome.kind === "refused") return refusalResponse(outcome, new URL(request.url).pathname);
    return json(201, outcome, undefined, `/api/v1/calls/${encodeURIComponent(outcome.callId)}`);
  });
}

registerHttpRoute({
  name: "callsCreate",
  methods: ["POST"],
  route: "v1/calls",
  handler: callsCreate,
  doc: {
    summary: "Join a meeting for a room system (media hosts, role CVI.MediaHost)",
    tag: "Media hosts",
    requestBody: "JoinRequest",
    responses: {
      201: { description: "Joining; call events follow on the bus", schema: "JoinOutcome" },
      403: { description: "Refused (code, sipStatus, detail)" },
      404: { description: "Refused (code, sipStatus, detail)" },
    },
  },
});
