/**
 * Direct dial on the full local path: SIPp → media host (SIP stack, rtpengine) →
 * control plane (Functions, Cosmos DB) → Graph emulator → call notifications → bus →
 * media host → 200 OK.
 *
 * 1. Set-up time INVITE→200 (p50/p99) at a light rate. Reference, measured in the same
 *    run: the emulators' own latency for the same join — Graph's POST
 *    /communications/calls through the SDK until the emulator says "established"
 *    (its establishing delay included), with no SIP, media or control plane around it.
 * 2. The highest sustained SIPp call rate with zero failures: steps of `stepSeconds`
 *    at rising rates until a step fails or set-up time runs away (p99 over 2 s),
 *    with the CPU time per call of this process (emulators, Cosmos DB and Service Bus
 *    stand-ins; the Functions and the media host run in processes of their own) at each step.
 *
 * Prints JSON. Usage: node dist/bench/dialIn.js [maxRate] [stepSeconds] [setUpCalls]
 * (MEDIA_HOST_IN_PROCESS=1 runs the media host in the stack's process, on the in-process bus).
 */
import { performance } from "node:perf_hooks";
import { controlPlane } from "../functions/controlPlane.js";
import { GraphCallControl } from "../functions/adapters/graph/graphCallControl.js";
import { TenantGraphClients } from "../functions/adapters/graph/tenantGraphClients.js";
import { LOCAL_BOT_APP_ID } from "../local/stack.js";
import { startDialInStack } from "../test/support/dialInStack.js";
import { runSipp } from "../test/support/peers/sipp.js";

console.info = (...args: unknown[]) => console.error(...args);

const maxRate = Number(process.argv[2] ?? 80);
const stepSeconds = Number(process.argv[3] ?? 20);
const setUpCalls = Number(process.argv[4] ?? 100);
const RUNAWAY_P99_MS = 2000;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const load = await startDialInStack({ meetings: 100, mediaHostProcess: process.env.MEDIA_HOST_IN_PROCESS !== "1" });
const { stack, demo } = load;
const injection = { order: "SEQUENTIAL" as const, rows: load.dialStrings.map((d) => [d]) };
try {
  // 1. Set-up time, lightly loaded.
  const light = await runSipp({
    scenario: "load-direct-dial-csv",
    target: `127.0.0.1:${load.sip.udp}`,
    service: "per-call",
    csv: injection,
    transport: "u1",
    calls: setUpCalls,
    rate: 5,
    timeoutInMs: 120_000,
  });
  const invite = light.responseTimesMs.invite;
  // Where those calls' set-up went, phase by phase (the media host's cvi_call_setup_phase_seconds: means over the calls).
  const metricsText = await load.metrics();
  const phaseMeansMs = Object.fromEntries(
    ["meeting-leg", "anchor", "meeting-offer", "join-request", "until-established"].map((phase) => {
      // Whatever other labels the host adds (media_host): the line that names this phase.
      const sample = (name: string) =>
        Number(new RegExp(`^${name}\\{[^}]*phase="${phase}"[^}]*\\} (\\S+)$`, "m").exec(metricsText)?.[1] ?? Number.NaN);
      const sum = sample("cvi_call_setup_phase_seconds_sum");
      const count = sample("cvi_call_setup_phase_seconds_count");
      return [phase, count ? +((sum / count) * 1000).toFixed(1) : null];
    }),
  );

  // The reference: the emulators alone, the same join the control plane makes, through the same adapter.
  const plane = await controlPlane();
  const resolved = await plane.resolution.resolve(demo.tenantKey, demo.vtcId);
  if (resolved.kind !== "resolved") throw new Error(`the demo meeting did not resolve: ${resolved.reason}`);
  const calls = new GraphCallControl(
    new TenantGraphClients({
      authorityHost: stack.entra.origin,
      graphBaseUrl: stack.settings.GRAPH_BASE_URL ?? "",
      clientId: LOCAL_BOT_APP_ID,
      clientSecret: stack.settings.BOT_APP_CLIENT_SECRET ?? "",
    }),
    LOCAL_BOT_APP_ID,
  );
  const references: number[] = [];
  for (let i = 0; i < Math.min(50, setUpCalls); i++) {
    const t0 = performance.now();
    const { callId } = await calls.join({
      tenantId: demo.tenantId,
      meeting: resolved.meeting,
      // Nobody listens there: the reference is Graph's side alone.
      callbackUri: "https://127.0.0.1:9/none",
      displayName: `Reference ${i}`,
      joinAsGuest: resolved.joinAsGuest,
      mediaBlob: "{}",
    });
    while (stack.graph.calls().find((c) => c.id === callId)?.state !== "established") await new Promise((r) => setTimeout(r, 2));
    references.push(performance.now() - t0);
    await calls.leave(demo.tenantId, callId);
  }
  references.sort((a, b) => a - b);

  // 2. Rising rates until one fails or runs away.
  const steps: {
    rate: number;
    calls: number;
    successful: number;
    failed: number;
    failures: Readonly<Record<string, number>>;
    p50Ms: number;
    p99Ms: number;
    cpuMsPerCall: number;
  }[] = [];
  let sustained = 0;
  for (let rate = 10; rate <= maxRate; rate += 10) {
    const calls = rate * stepSeconds;
    const cpu0 = process.cpuUsage();
    const result = await runSipp({
      scenario: "load-direct-dial-csv",
      target: `127.0.0.1:${load.sip.udp}`,
      service: "per-call",
      csv: injection,
      transport: "u1",
      calls,
      rate,
      timeoutInMs: (stepSeconds + 60) * 1000,
    });
    const cpu = process.cpuUsage(cpu0);
    const times = result.responseTimesMs.invite;
    steps.push({
      rate,
      calls,
      successful: result.successful,
      failed: result.failed,
      failures: result.failures,
      p50Ms: times?.p50 ?? Number.NaN,
      p99Ms: times?.p99 ?? Number.NaN,
      cpuMsPerCall: +((cpu.user + cpu.system) / 1000 / calls).toFixed(1),
    });
    if (result.failed > 0) console.error(result.errorLogTail.slice(0, 3000));
    if (result.successful !== calls || result.failed > 0 || (times?.p99 ?? Number.POSITIVE_INFINITY) > RUNAWAY_P99_MS) break;
    sustained = rate;
    // Let the last calls' BYEs and notifications settle before the next step.
    await new Promise((r) => setTimeout(r, 2000));
  }

  const setupP50 = invite?.p50 ?? Number.NaN;
  const referenceP50 = +percentile(references, 50).toFixed(1);
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: "dial-in",
        mediaHost:
          process.env.MEDIA_HOST_IN_PROCESS === "1"
            ? "all in one process, in-process bus"
            : "media host and Functions each in a process of their own, Service Bus",
        setupTime: {
          calls: setUpCalls,
          ratePerSecond: 5,
          successful: light.successful,
          p50Ms: setupP50,
          p99Ms: invite?.p99 ?? Number.NaN,
          emulatorJoinP50Ms: referenceP50,
          emulatorJoinP99Ms: +percentile(references, 99).toFixed(1),
          ratio: +(setupP50 / referenceP50).toFixed(2),
          /** Means over those calls, by phase, from the media host's metrics (until-established holds Graph's establishing). */
          phaseMeansMs,
        },
        sustainedRate: { callsPerSecond: sustained, stepSeconds, runawayP99Ms: RUNAWAY_P99_MS, steps },
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await load.stop();
}
