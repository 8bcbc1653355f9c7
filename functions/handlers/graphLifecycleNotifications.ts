import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { z } from "zod";
import { AuthorizationError } from "../../shared/errors.js";
import { parseOrThrow } from "../../shared/domain/validation.js";
import { controlPlane } from "../controlPlane.js";
import { validationTokenResponse } from "../platform/graphValidation.js";
import { readJsonBody } from "../platform/httpBody.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";
import { errorResponse } from "../platform/problem.js";

const lifecycleSchema = z.looseObject({
  value: z
    .array(
      z.looseObject({
        subscriptionId: z.string(),
        tenantId: z.string(),
        clientState: z.string().optional(),
        lifecycleEvent: z.enum(["reauthorizationRequired", "subscriptionRemoved", "missed"]),
      }),
    )
    .min(1)
    .max(1000),
});

/** Graph lifecycle notifications: reauthorize, or subscribe again and resynchronise. */
export async function graphLifecycleNotifications(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const validation = validationTokenResponse(request);
  if (validation) return validation;
  try {
    const plane = await controlPlane();
    const body = parseOrThrow(lifecycleSchema, await readJsonBody(request));
    const work = [];
    for (const n of body.value) {
      const tenantId = n.tenantId.toLowerCase();
      const subscription = await plane.subscriptions.findBySubscriptionId(tenantId, n.subscriptionId);
      if (!subscription || !plane.subscriptions.isAuthentic(tenantId, subscription.userId, n.clientState)) {
        throw new AuthorizationError("a lifecycle notification names no subscription of ours or carries the wrong clientState; nothing was applied");
      }
      work.push({ tenantId, subscription, event: n.lifecycleEvent });
    }
    for (const w of work) await plane.subscriptions.handleLifecycle(w.tenantId, w.subscription, w.event);
    return { status: 202 };
  } catch (e) {
    return errorResponse(e, context, new URL(request.url).pathname);
  }
}

registerHttpRoute({
  name: "graphLifecycleNotifications",
  methods: ["POST"],
  route: "graph/lifecycle",
  handler: graphLifecycleNotifications,
  doc: {
    summary: "Microsoft Graph subscription lifecycle notifications",
    tag: "Graph webhooks",
    anonymous: true,
    query: [{ name: "validationToken", description: "Graph's subscription validation: echoed as text/plain" }],
    responses: {
      200: { description: "The validation token" },
      202: { description: "Handled" },
      403: { description: "Unknown subscription or wrong clientState" },
    },
  },
});
