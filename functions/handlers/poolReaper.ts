import type { InvocationContext, Timer } from "@azure/functions";
import { controlPlane } from "../controlPlane.js";
import { registerTimer } from "../platform/timers.js";

/**
 * Every 2 s: media hosts whose lease lapsed are declared dead, their bots leave their
 * meetings and their call records close ("media host lost"), and what they left in their
 * queue is dead-lettered. With a 6 s lease that is at most ~9 s from a host's death to the
 * last of its bots leaving. Safe with several instances at once (every step is a
 * conditional write), and a round cut short is finished by the next.
 */
export async function poolReaper(_timer: Timer, context: InvocationContext): Promise<void> {
  const plane = await controlPlane();
  const report = await plane.pool.reap();
  if (report.declaredDead.length > 0 || report.callsEnded > 0 || report.queuesCleared.length > 0 || report.callsPending > 0)
    context.log(`pool reaper: ${JSON.stringify(report)}`);
}

registerTimer({ name: "poolReaper", schedule: "*/2 * * * * *", localIntervalInMs: 1000, handler: poolReaper });
