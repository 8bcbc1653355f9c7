import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleMediaHostRequest, json } from "../platform/adminRequest.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";
import { refusalResponse } from "../platform/problem.js";

/** For media hosts: which meeting a dialed (tenant key, VTC ID) leads to, or why none. */
export async function meetingsResolve(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleMediaHostRequest(request, context, async (plane) => {
    const resolution = await plane.resolution.resolve(request.query.get("tenantKey") ?? "", request.query.get("vtcId") ?? "");
    return resolution.kind === "refused" ? refusalResponse(resolution, new URL(request.url).pathname) : json(200, resolution);
  });
}

registerHttpRoute({
  name: "meetingsResolve",
  methods: ["GET"],
  route: "v1/resolve",
  handler: meetingsResolve,
  doc: {
    summary: "Resolve a dialed tenant key and VTC conference ID (media hosts, role CVI.MediaHost)",
    tag: "Media hosts",
    query: [
      { name: "tenantKey", description: "The dialed tenant key, e.g. 813878896@t.cvi.example.net" },
      { name: "vtcId", description: "The VTC conference ID (separators ignored)" },
    ],
    responses: {
      200: { description: "The meeting and how to join it", schema: "Resolution" },
      403: { description: "Refused: tenant not consented or organizer not enabled (code, sipStatus, detail)" },
      404: { description: "Refused: unknown tenant key, unknown or retired VTC ID (code, sipStatus, detail)" },
    },
  },
});
