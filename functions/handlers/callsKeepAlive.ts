import type { InvocationContext, Timer } from "@azure/functions";
import { controlPlane } from "../controlPlane.js";
import { registerTimer } from "../platform/timers.js";

/** Keeps every live bot call alive (Graph ends calls after 45 minutes without one). */
export async function callsKeepAlive(_timer: Timer, context: InvocationContext): Promise<void> {
  const plane = await controlPlane();
  const { kept, failed } = await plane.calls.keepAllAlive();
  if (kept + failed > 0) context.log(`keep-alive: ${kept} call(s) kept, ${failed} failed`);
}

registerTimer({ name: "callsKeepAlive", schedule: "0 */15 * * * *", localIntervalInMs: 15 * 60_000, handler: callsKeepAlive });
