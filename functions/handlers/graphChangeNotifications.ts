import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { z } from "zod";
import { AuthorizationError } from "../../shared/errors.js";
import { parseOrThrow } from "../../shared/domain/validation.js";
import { controlPlane } from "../controlPlane.js";
import { readJsonBody } from "../platform/httpBody.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";
import { errorResponse } from "../platform/problem.js";
import { validationTokenResponse } from "../platform/graphValidation.js";

const changeNotificationsSchema = z.looseObject({
  value: z
    .array(
      z.looseObject({
        subscriptionId: z.string(),
        changeType: z.string(),
        resource: z.string(),
        clientState: z.string().optional(),
        tenantId: z.string(),
      }),
    )
    .min(1)
    .max(1000),
});

// "Users/{id}/Events/{id}" (Graph also writes "Users('{id}')/Events('{id}')").
const EVENT_RESOURCE = /^\/?users(?:\/|\(')([^/']+)'?\)?\/events(?:\/|\(')([^/'?]+)/i;

/**
 * Graph change notifications for enabled organizers' calendars. Every notification
 * must carry the clientState derived for its organizer; one that does not makes the
 * whole delivery suspect, and nothing of it is applied.
 */
export async function graphChangeNotifications(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const validation = validationTokenResponse(request);
  if (validation) return validation;
  try {
    const plane = await controlPlane();
    const body = parseOrThrow(changeNotificationsSchema, await readJsonBody(request));
    const events = body.value.map((n) => {
      const match = EVENT_RESOURCE.exec(n.resource);
      const tenantId = n.tenantId.toLowerCase();
      const userId = match?.[1]?.toLowerCase();
      if (!match || !userId || !plane.subscriptions.isAuthentic(tenantId, userId, n.clientState)) {
        throw new AuthorizationError("a notification's clientState does not match its subscription; the delivery was not applied");
      }
      return { tenantId, userId, eventId: decodeURIComponent(match[2] ?? ""), deleted: n.changeType === "deleted" };
    });
    for (const e of events) {
      if (e.deleted) await plane.coordinates.eventDeleted(e.tenantId, e.userId, e.eventId);
      else await plane.coordinates.reconcileEvent(e.tenantId, e.userId, e.eventId);
    }
    return { status: 202 };
  } catch (e) {
    return errorResponse(e, context, new URL(request.url).pathname);
  }
}

registerHttpRoute({
  name: "graphChangeNotifications",
  methods: ["POST"],
  route: "graph/notifications",
  handler: graphChangeNotifications,
  doc: {
    summary: "Microsoft Graph change notifications for enabled organizers' calendars (validationToken handshake; clientState checked)",
    tag: "Graph webhooks",
    anonymous: true,
    query: [{ name: "validationToken", description: "Graph's subscription validation: echoed as text/plain" }],
    responses: {
      200: { description: "The validation token" },
      202: { description: "Applied" },
      403: { description: "A clientState did not match: nothing applied" },
    },
  },
});
