import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { type CallQuality, callQualityProblems } from "../../shared/domain/callQuality.js";
import { ValidationError } from "../../shared/errors.js";
import { callLabel } from "../../shared/domain/callSession.js";
import { handleMediaHostRequest, json } from "../platform/adminRequest.js";
import { readJsonBody } from "../platform/httpBody.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** For media hosts: a call's media quality at its end, for the call record and Teams' quality reporting. */
export async function callsQuality(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleMediaHostRequest(request, context, async (plane, _principal, log) => {
    const body = (await readJsonBody(request)) as { quality?: unknown } | null;
    const problems = callQualityProblems(body?.quality);
    if (problems.length > 0) throw new ValidationError(problems.map((message) => ({ field: "quality", message })));
    const record = await plane.calls.recordQuality(request.params.callId ?? "", body?.quality as CallQuality, {
      about: (call) => log.about(callLabel(call)),
    });
    return json(200, { callId: record.callId, quality: record.quality ?? null });
  });
}

registerHttpRoute({
  name: "callsQuality",
  methods: ["PUT"],
  route: "v1/calls/{callId}/quality",
  handler: callsQuality,
  doc: {
    summary: "Record a call's media quality at its end (media hosts, role CVI.MediaHost); reported to Teams once",
    tag: "Media hosts",
    requestBody: "QualityReport",
    responses: { 200: { description: "Recorded (a second report changes nothing)" }, 404: { description: "No such call" } },
  },
});
