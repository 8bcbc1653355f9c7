import type { InvocationContext, Timer } from "@azure/functions";
import { controlPlane } from "../controlPlane.js";
import { registerTimer } from "../platform/timers.js";

/** Renews organizers' Graph subscriptions before they expire, tenant by tenant. */
export async function subscriptionsMaintain(_timer: Timer, context: InvocationContext): Promise<void> {
  const plane = await controlPlane();
  let continuationToken: string | undefined;
  let renewed = 0;
  do {
    const page = await plane.tenants.list(continuationToken ? { continuationToken } : {});
    for (const tenant of page.items) {
      if (tenant.consent.status !== "granted") continue;
      try {
        renewed += await plane.subscriptions.renewDue(tenant.tenantId);
      } catch (e) {
        // One tenant's trouble (consent withdrawn, Graph throttling) must not stop the others.
        context.warn(`renewing subscriptions of tenant ${tenant.tenantId} failed: ${(e as Error).message}`.slice(0, 400));
      }
    }
    continuationToken = page.continuationToken;
  } while (continuationToken);
  if (renewed > 0) context.log(`renewed ${renewed} subscription(s)`);
}

registerTimer({ name: "subscriptionsMaintain", schedule: "0 */30 * * * *", localIntervalInMs: 5 * 60_000, handler: subscriptionsMaintain });
