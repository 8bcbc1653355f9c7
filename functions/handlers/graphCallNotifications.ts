import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { controlPlane } from "../controlPlane.js";
import { readJsonBody } from "../platform/httpBody.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";
import { errorResponse } from "../platform/problem.js";

/**
 * Graph's call notifications (the join's callbackUri). Anonymous at the host: the
 * calling platform's JWT is the authentication. Unknown calls are acknowledged, so
 * Graph does not retry what we cannot use.
 */
export async function graphCallNotifications(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  try {
    const plane = await controlPlane();
    const { tenantId } = await plane.callNotificationAuthenticator.authenticate(request.headers.get("authorization"));
    const result = await plane.calls.applyNotifications(tenantId, await readJsonBody(request));
    if (result.ignored > 0) context.log(`call notifications: ${result.applied} applied, ${result.ignored} ignored`);
    return { status: 202 };
  } catch (e) {
    return errorResponse(e, context, new URL(request.url).pathname);
  }
}

registerHttpRoute({
  name: "graphCallNotifications",
  methods: ["POST"],
  route: "graph/calls",
  handler: graphCallNotifications,
  doc: {
    summary: "Microsoft Graph call notifications (commsNotifications), signed by the calling platform",
    tag: "Graph webhooks",
    anonymous: true,
    responses: {
      202: { description: "Accepted" },
      400: { description: "Not a commsNotifications payload" },
      401: { description: "Missing, forged, expired or wrong-audience calling-platform token" },
    },
  },
});
