/**
 * The media pool on one machine, as in production: the SIP edge (Kamailio) in front of media
 * hosts each in a process of their own, the Functions in another, call events over Service
 * Bus, the reaper on its timer. Measured in one run, each against its reference:
 *
 * 1. What the edge adds to a call's set-up. (a) INVITE→200 with the clock's full resolution,
 *    one call at a time, through the edge to a host that answers at once (SIPp) against
 *    straight to that host: the edge's own cost. (b) The full path (a real media host: the
 *    control plane, Graph) through the edge against straight to the same host, in
 *    alternating rounds (SIPp's whole milliseconds). Goal: ≤ 1 ms added at p50.
 * 2. The highest call rate without a failure through the edge against straight to the
 *    same single media host: steps of `stepSeconds` at rising rates until one fails or
 *    set-up runs away (p99 over 2 s). Goal: ratio ≥ 0.9.
 * 3. kill -9 of a host with calls, to the last of its bots gone from the meetings, over
 *    `kills` kills. Goal: ≤ 15 s each.
 *
 * Prints JSON. Usage: node dist/bench/pool.js [maxRate] [stepSeconds] [probeCalls] [kills]
 */
import { performance } from "node:perf_hooks";
import { adminApi } from "../test/support/onboarding.js";
import { runSipp, type SippResult, startSippUas } from "../test/support/peers/sipp.js";
import { startPoolStack } from "../test/support/poolStack.js";
import { waitFor } from "../test/support/waiting.js";
import { probeInvites } from "./support/sipProbe.js";

console.info = (...args: unknown[]) => console.error(...args);

const maxRate = Number(process.argv[2] ?? 60);
const stepSeconds = Number(process.argv[3] ?? 20);
const probeCalls = Number(process.argv[4] ?? 500);
const kills = Number(process.argv[5] ?? 5);
const RUNAWAY_P99_MS = 2000;
const GHOST_GOAL_MS = 15_000;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}
const round = (n: number, digits = 3) => +n.toFixed(digits);
const stats = (samples: readonly number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    calls: sorted.length,
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    meanMs: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
  };
};

const pool = await startPoolStack({ meetings: 100 });
const rows = pool.dialStrings.map((d) => [d]);
const sipp = (target: string, calls: number, rate: number, holdMs: number): Promise<SippResult> =>
  runSipp({
    scenario: "pool-call",
    target,
    service: "pool",
    csv: { order: "SEQUENTIAL", rows },
    calls,
    rate,
    timeoutInMs: (calls / rate + holdMs / 1000 + 60) * 1000,
    extraArgs: ["-d", String(holdMs)],
  });
try {
  // 1a. The edge's own cost: a SIPp host that answers at once, through the edge and straight, alternating.
  const instant = await startSippUas({ scenario: "pool-host", timewaitMs: 0, timeoutInMs: 3600_000 });
  const edgeAddress = pool.stack.edge!.endpoints;
  const registry = await pool.stack.issueToken({ roles: ["CVI.MediaHost"] });
  // The SIPp host takes a lease like any host, so the edge routes to it (and only to it, for now).
  const lease = await adminApi(
    pool.stack,
    "PUT",
    "/v1/pool/hosts/instant/lease",
    { epoch: null, sipUri: `sip:127.0.0.1:${instant.port};transport=udp`, capacity: 1000, activeCalls: 0 },
    registry,
  );
  const renew = setInterval(
    () =>
      void adminApi(
        pool.stack,
        "PUT",
        "/v1/pool/hosts/instant/lease",
        { epoch: lease.json.epoch, sipUri: `sip:127.0.0.1:${instant.port};transport=udp`, capacity: 1000, activeCalls: 0 },
        registry,
      ),
    2000,
  );
  await waitFor(async () => (await pool.hostView("instant"))?.status === "active", "the SIPp host in the pool");
  await new Promise((resolve) => setTimeout(resolve, 3000)); // the edge's next sync and two probes
  const viaEdge: number[] = [];
  const straight: number[] = [];
  for (let round = 0; round < 5; round++) {
    const n = Math.ceil(probeCalls / 5);
    viaEdge.push(...(await probeInvites({ host: edgeAddress.sipAddress, port: edgeAddress.sipPort, dial: "probe", calls: n })));
    straight.push(...(await probeInvites({ host: "127.0.0.1", port: instant.port, dial: "probe", calls: n })));
  }
  clearInterval(renew);
  await adminApi(pool.stack, "DELETE", `/v1/pool/hosts/instant/lease?epoch=${lease.json.epoch}`, undefined, registry);
  await instant.stop(500);
  const edgeOnly = { throughEdge: stats(viaEdge), straight: stats(straight) };

  // 1b and 2: a real media host, through the edge and straight.
  const host = await pool.startHost("bench-1", { maxCalls: 2000 });
  const direct = `127.0.0.1:${host.ports.sipUdp}`;
  // Alternating rounds, so that neither side gets the warmer machine.
  const fullEdge: SippResult[] = [];
  const fullDirect: SippResult[] = [];
  for (let round = 0; round < 5; round++) {
    fullEdge.push(await sipp(pool.edgeTarget, Math.ceil(probeCalls / 25), 5, 0));
    fullDirect.push(await sipp(direct, Math.ceil(probeCalls / 25), 5, 0));
  }
  const median = (results: readonly SippResult[]) => {
    const p50s = results.map((r) => r.responseTimesMs.invite?.p50 ?? Number.NaN).sort((a, b) => a - b);
    return { rounds: p50s.length, callsPerRound: Math.ceil(probeCalls / 25), p50sMs: p50s, medianP50Ms: percentile(p50s, 50) };
  };
  const fullPath = { throughEdge: median(fullEdge), straight: median(fullDirect) };

  const stepsFor = async (target: string) => {
    const steps: { rate: number; calls: number; successful: number; failed: number; p50Ms: number; p99Ms: number }[] = [];
    let sustained = 0;
    for (let rate = Math.min(10, maxRate); rate <= maxRate; rate += 10) {
      const calls = rate * stepSeconds;
      const result = await sipp(target, calls, rate, 500);
      const times = result.responseTimesMs.invite;
      steps.push({
        rate,
        calls,
        successful: result.successful,
        failed: result.failed,
        p50Ms: times?.p50 ?? Number.NaN,
        p99Ms: times?.p99 ?? Number.NaN,
      });
      if (result.successful !== calls || result.failed > 0 || (times?.p99 ?? Number.POSITIVE_INFINITY) > RUNAWAY_P99_MS) break;
      sustained = rate;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    return { callsPerSecond: sustained, steps };
  };
  const rateThroughEdge = await stepsFor(pool.edgeTarget);
  const rateStraight = await stepsFor(direct);
  host.kill("SIGTERM");
  await host.exited;

  // 3. kill -9 to the last ghost gone.
  const survivor = await pool.startHost("bench-survivor");
  const killed: { calls: number; lastGhostGoneMs: number }[] = [];
  for (let k = 0; k < kills; k++) {
    const victim = await pool.startHost(`bench-victim-${k}`);
    const before = new Set(pool.stack.graph.calls().map((c) => c.id));
    const run = sipp(pool.edgeTarget, 16, 8, 15_000);
    await waitFor(async () => (await pool.hostMetric(victim, "cvi_active_calls")) >= 6, `bench-victim-${k} to hold calls`, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const bots: string[] = [];
    for (const call of pool.stack.graph.calls()) {
      if (before.has(call.id)) continue;
      const record = await adminApi(pool.stack, "GET", `/v1/calls/${call.id}`);
      if (record.json?.mediaHostId === victim.id && call.state !== "terminated") bots.push(call.id);
    }
    const t0 = performance.now();
    process.kill(victim.pid, "SIGKILL");
    await waitFor(
      () => bots.every((id) => pool.stack.graph.calls().find((c) => c.id === id)?.state === "terminated"),
      "the victim's bots to leave",
      60_000,
    );
    killed.push({ calls: bots.length, lastGhostGoneMs: Math.round(performance.now() - t0) });
    await victim.exited;
    await run;
  }
  survivor.kill("SIGTERM");
  await survivor.exited;

  const maxGhostMs = Math.max(...killed.map((k) => k.lastGhostGoneMs));
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: "pool",
        topology: "Kamailio edge, media hosts and Functions each in a process of their own, Service Bus, all on this machine",
        setupTime: {
          edgeOnly: {
            ...edgeOnly,
            addedP50Ms: round(edgeOnly.throughEdge.p50Ms - edgeOnly.straight.p50Ms),
            addedMeanMs: round(edgeOnly.throughEdge.meanMs - edgeOnly.straight.meanMs),
          },
          fullPath: { ...fullPath, addedMedianP50Ms: fullPath.throughEdge.medianP50Ms - fullPath.straight.medianP50Ms },
          goalAddedP50Ms: 1,
        },
        sustainedRate: {
          throughEdge: rateThroughEdge,
          straight: rateStraight,
          ratio: round(rateThroughEdge.callsPerSecond / Math.max(1, rateStraight.callsPerSecond), 2),
          goalRatio: 0.9,
          stepSeconds,
          runawayP99Ms: RUNAWAY_P99_MS,
        },
        killToLastGhostGone: { kills: killed, maxMs: maxGhostMs, goalMs: GHOST_GOAL_MS },
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await pool.stop();
}
