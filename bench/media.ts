/**
 * Media path capacity: simulated concurrent device calls through the whole path —
 * plain RTP from a device into rtpengine → the bridge (BridgedStream) → werift
 * (DTLS-SRTP) → a receiving WebRTC peer in the meeting's place, and back — each at
 * 1080p30-like rates: 350 video packets/s (1,100-byte payloads, 12 per frame) and
 * 50 audio packets/s (160 bytes, Opus passed through) in each direction.
 *
 * Processes: rtpengine (its own daemon); the gateway's media path (rtpengine client,
 * MeetingLegServer and its legs: bench/support/bridgeHost.ts) in a child process of its
 * own, as on a media host; this process runs the devices (plain UDP) and the meeting
 * peers (werift). CPU time comes from /proc/<pid>/stat (all threads), RSS from
 * /proc/<pid>/statm.
 *
 * 0. Our code's own allocations per packet: BridgedStream alone, werift stubbed
 *    (bench/support/ourCodeAllocations.ts), both paths of `hotPath`.
 * 1. Reference, same run: rtpengine's plain relay (RTP/AVP ⇄ RTP/AVP, no bridge, no
 *    WebRTC): 48 streams of 700 packets/s (rtpengine 10.5 stops reading a port for good
 *    after 5 read loops that found over 50 packets queued, so no stream may be fast
 *    enough to queue 50 in a scheduling hiccup), the calls' packet sizes, a gentle
 *    start; packets rtpengine handled (its ng query totals) per second per core of it.
 * 2. Steps of N = 1, 2, 4, 6, … calls: warm-up, then `stepSeconds` measured, then a
 *    short drain. Every packet is stamped (bench/support/traffic.ts) and counted once
 *    at the receiving end. A relay probe (one more plain device ⇄ rtpengine ⇄ plain
 *    device call at the same rates) runs alongside: its one-way latency is the path
 *    without the bridge, so "added" = gateway latency − probe latency (each percentile
 *    taken separately). The machine is shared: a step with loss is repeated once (twice
 *    when the probe lost packets too). Stops at the first step that still loses, a
 *    port rtpengine gave up on, a bridge above 95% of a core, a driver that could not
 *    send at the target rate, or the time budget (no new step after 105 s).
 * 3. CPU profile (V8 sampling, 4 s) and allocation sampling (2 s) of the bridge
 *    process at a mid N (at least 4 calls when 4 held).
 * 4. The hot path before/after at that N: BridgedStream.path "track" (device →
 *    meeting through MediaStreamTrack.writeRtp; sends to rtpengine with an address)
 *    and "direct" (straight into the RTCRtpSender; a connected socket), alternating
 *    after a warm-up run, each run with its calls opened afresh: bridge CPU per
 *    forwarded packet.
 *
 * Usage: node dist/bench/media.js [stepSeconds=10] [maxCalls=64]
 *
 * Output (one JSON object on stdout; progress on stderr):
 * {
 *   benchmark: "media",
 *   machine: { cores, node, werift: { version, patchesApplied } },
 *   settings: { stepSeconds, warmUpSeconds, drainMs, perCallPerDirection: { videoPacketsPerSecond,
 *     videoPayloadBytes, audioPacketsPerSecond, audioPayloadBytes } },
 *   reference: { rtpenginePlainRelay: { streams, packetsPerSecondPerStream, seconds, sent,
 *     handledByRtpengine,                  // its per-call RTP totals (ng query) over the window
 *     receivedBack, udpReceiveBufferDrops: { rtpengine, driver }, streamsMostlyLost, rtpengineWarnings,
 *     rtpengineCpuPercentOfCore, packetsPerSecond, packetsPerSecondPerCore } },   // handled ÷ its CPU
 *   steps: [{ calls, seconds,
 *     packets: { toMeeting: { sent, lost, duplicates }, toDevice: { sent, lost, duplicates },
 *       relayProbe: { sent, lost } },
 *     sendRateOfTarget,                    // packets sent ÷ what the pacing asked for (1: on time)
 *     bridge: { cpuPercentOfCore, cpuPercentPerCall, packetsPerSecond, rssMB, rssMBPerCall },
 *     rtpengine: { cpuPercentOfCore, cpuPercentPerCall },   // per call: N calls + the relay probe
 *     driverCpuPercentOfCore,              // this process: devices, meeting peers, probe
 *     othersCpuPercentOfCore,              // everything else on the machine meanwhile
 *     machineBusyPercent,                  // of all cores
 *     attempt?,                            // 2, 3: the step lost packets and was repeated
 *     udpReceiveBufferDrops: { bridge, rtpengine, driver },  // kernel drops, full socket buffers (/proc/net/udp)
 *     rtpengineWarnings: { queueOver50, portsGivenUp, other },  // its log: >50 packets queued on a port; ports it stopped reading
 *     misrouted, zeroLoss,
 *     latencyMs: { toMeeting: {p50,p99,max}, toDevice: {p50,p99,max}, relayProbe: {p50,p99,max},
 *       addedP50, addedP99 } }],           // gateway (both directions together) − relay probe
 *   result: { largestZeroLossCalls, bridgeCpuPercentOfCoreThere, largestZeroLossCallsPerCore, basis,
 *     stoppedBecause, machineThere: { busyPercentOfAllCores, othersCpuPercentOfCore, driverCpuPercentOfCore },
 *     perCall: { bridgeCpuPercentOfCore, bridgeRssMB, rtpengineCpuPercentOfCore,     // averages at that step
 *       bridgeCpuPercentOfCoreMarginal, bridgeRssMBMarginal, rtpengineCpuPercentOfCoreMarginal },  // first → last zero-loss step
 *     latencyMs: { endToEndP50, endToEndP99, relayProbeP50, relayProbeP99, addedP50, addedP99 },
 *     bridgePacketsPerSecondPerCore, rtpenginePacketsPerSecondPerCore,
 *     ratio },                             // bridge ÷ rtpengine plain relay, packets/s per core
 *   profile: { calls, seconds, samples, packetsPerSecond, savedTo,
 *     byArea: { area: selfPercent }, byAreaOfBusy: { area: selfPercent },      // V8 CPU profiler, bridge process;
 *     top: [{ function, where, selfPercent, selfPercentOfBusy }],             // "OfBusy": of its non-idle samples
 *     allocations: { bytesPerPacket, byArea: { area: bytes per packet }, byAreaUnit,
 *       top: [{ function, where, bytes, percent }] } },   // V8 charges an inlined callee's allocations to its caller
 *   hotPath: { calls, secondsPerRun, order, before, after,
 *     runs: [{ path: "track" | "direct", bridgeCpuPercentOfCore, packetsPerSecond, microsecondsPerPacket,
 *       lost, latencyP50Ms, othersCpuPercentOfCore, allocatedBytesPerPacket?: { total, area: bytes } }],
 *     microsecondsPerPacket: { before, after }, cpuSavedPercent,
 *     ourCodeAllocations: { method, bytesPerPacket: { track, direct }, byFunction: { track, direct }, packets } }
 * }
 */
import { spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { mediaEndpoint, parseSdp } from "../media-host/rtpengine/sdp.js";
import { plainAudioSdp, startRtpengine } from "../test/integration/rtpengine/support/harness.js";
import { AUDIO_BYTES, AUDIO_PPS, addCall, type BenchCall, closeCall, relayProbe, VIDEO_BYTES, VIDEO_PPS } from "./support/benchCalls.js";
import type { BridgeProfile, BridgeStats } from "./support/bridgeHost.js";
import { BridgeProcess } from "./support/bridgeProcess.js";
import { cpuSeconds, driverCpuSeconds, dropsBetween, machineBusySeconds, rssBytes, rtpengineWarnings, udpReceiveDrops } from "./support/processes.js";
import { ourCodeAllocations } from "./support/ourCodeAllocations.js";
import { percentiles, RELAY_AB, RELAY_BA, TO_DEVICE, TO_MEETING, Traffic } from "./support/traffic.js";

const stepSeconds = Number(process.argv[2] ?? 10);
const maxCalls = Number(process.argv[3] ?? 64);
const WARM_UP_SECONDS = 1.5;
const DRAIN_MS = 600;
/** No new step starts after this (the whole run stays under 4 minutes). */
const BUDGET_MS = 105_000;
// rtpengine 10.5 gives up on a port (for good) after 5 read loops that found more than 50 packets queued:
// many streams at a modest rate, in small bursts, keep its queues short on a busy machine.
const REFERENCE_STREAM_PPS = 700;
const REFERENCE_PAIRS = 24;
const REFERENCE_SECONDS = 5;
const HOT_PATH_SECONDS = 4;
const began = performance.now();

const log = (message: string) => process.stderr.write(`[bench/media ${((performance.now() - began) / 1000).toFixed(1)} s] ${message}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

// ---------------------------------------------------------------- 1. rtpengine's plain relay

async function bindSocket(): Promise<Socket> {
  const s = createSocket("udp4");
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", resolve));
  return s;
}

async function relayReference(rtpengine: Awaited<ReturnType<typeof startRtpengine>>) {
  const pid = rtpengine.process.pid ?? 0;
  const pairs: { callId: string; a: Socket; b: Socket; toA: { address: string; port: number }; toB: { address: string; port: number } }[] = [];
  for (let i = 0; i < REFERENCE_PAIRS; i++) {
    const a = await bindSocket();
    const b = await bindSocket();
    const callId = `relay-reference-${i}-${randomInt(1e9)}`;
    const offer = await rtpengine.client.offer({
      "call-id": callId,
      "from-tag": "a",
      sdp: plainAudioSdp({ address: "127.0.0.1", port: a.address().port }),
      replace: ["origin", "session-connection"],
    });
    const answer = await rtpengine.client.answer({
      "call-id": callId,
      "from-tag": "a",
      "to-tag": "b",
      sdp: plainAudioSdp({ address: "127.0.0.1", port: b.address().port }),
      replace: ["origin", "session-connection"],
    });
    pairs.push({ callId, a, b, toB: mediaEndpoint(parseSdp(answer.sdp), 0), toA: mediaEndpoint(parseSdp(offer.sdp), 0) });
  }
  // The calls' mix: one audio-sized stream per seven video-sized ones.
  const streams = pairs.flatMap((p, i) => [
    { from: p.a, receiver: p.b, to: p.toB, size: i % 8 === 7 ? AUDIO_BYTES : VIDEO_BYTES, ssrc: 0x1000 + 2 * i, sequence: 0, sent: 0 },
    { from: p.b, receiver: p.a, to: p.toA, size: i % 8 === 3 ? AUDIO_BYTES : VIDEO_BYTES, ssrc: 0x1001 + 2 * i, sequence: 0, sent: 0 },
  ]);
  let counting = false;
  const receivedBy = new Map<Socket, number>();
  for (const p of pairs)
    for (const s of [p.a, p.b]) {
      receivedBy.set(s, 0);
      s.on("message", () => {
        if (counting) receivedBy.set(s, (receivedBy.get(s) ?? 0) + 1);
      });
    }
  const sendDue = (stream: (typeof streams)[number], due: number) => {
    while (stream.sent < due) {
      const packet = Buffer.alloc(12 + stream.size, 0xff);
      packet[0] = 0x80;
      packet[1] = 0;
      packet.writeUInt16BE(stream.sequence & 0xffff, 2);
      packet.writeUInt32BE((stream.sequence * 160) >>> 0, 4);
      packet.writeUInt32BE(stream.ssrc, 8);
      stream.from.send(packet, stream.to.port, stream.to.address);
      stream.sequence++;
      stream.sent++;
    }
  };
  // Unmeasured: half a second at 50 packets/s per stream (a new stream's first packets are slow for rtpengine, and
  // a full-rate start can fill its queues past 50 at once), one second at the full rate; then the measured window.
  let t0 = performance.now();
  let timer = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) * 50) / 1000);
    for (const s of streams) sendDue(s, due);
  }, 2);
  await sleep(500);
  clearInterval(timer);
  for (const s of streams) s.sent = 0;
  t0 = performance.now();
  timer = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) * REFERENCE_STREAM_PPS) / 1000);
    for (const s of streams) sendDue(s, due);
  }, 2);
  await sleep(1000);
  clearInterval(timer);
  await sleep(200);
  for (const s of streams) s.sent = 0;
  counting = true;
  // What rtpengine itself handled (its per-call RTP totals), apart from what reached this process.
  const handled = async () => {
    let packets = 0;
    for (const p of pairs)
      packets += ((await rtpengine.client.query({ "call-id": p.callId })) as { totals?: { RTP?: { packets?: number } } }).totals?.RTP?.packets ?? 0;
    return packets;
  };
  const handled0 = await handled();
  const log0 = rtpengine.logLines.length;
  const pids = { rtpengine: pid, driver: process.pid };
  const drops0 = udpReceiveDrops(pids);
  const cpu0 = cpuSeconds(pid);
  t0 = performance.now();
  timer = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) * REFERENCE_STREAM_PPS) / 1000);
    for (const s of streams) sendDue(s, due);
  }, 2);
  await sleep(REFERENCE_SECONDS * 1000);
  clearInterval(timer);
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  const handledPackets = (await handled()) - handled0;
  await sleep(300);
  counting = false;
  const sent = streams.reduce((n, s) => n + s.sent, 0);
  const received = [...receivedBy.values()].reduce((a, b) => a + b, 0);
  // A stream that lost most of its packets hit rtpengine's receive-queue limit (see above).
  const deaf = streams.filter((s) => (receivedBy.get(s.receiver) ?? 0) < s.sent / 2).length;
  const drops1 = udpReceiveDrops(pids);
  for (const p of pairs) {
    p.a.close();
    p.b.close();
    await rtpengine.client.delete({ "call-id": p.callId }).catch(() => {});
  }
  const pps = handledPackets / wall;
  return {
    streams: streams.length,
    packetsPerSecondPerStream: REFERENCE_STREAM_PPS,
    seconds: round(wall, 2),
    sent,
    handledByRtpengine: handledPackets,
    receivedBack: received,
    udpReceiveBufferDrops: dropsBetween(drops0, drops1),
    streamsMostlyLost: deaf,
    rtpengineWarnings: rtpengineWarnings(rtpengine.logLines, log0),
    rtpengineCpuPercentOfCore: round((100 * cpu) / wall),
    packetsPerSecond: Math.round(pps),
    packetsPerSecondPerCore: Math.round(pps / (cpu / wall)),
  };
}

// ---------------------------------------------------------------- 2. calls (bench/support/benchCalls.ts)
// ---------------------------------------------------------------- the run

const portMin = 40000 + randomInt(0, 10) * 2000;
const rtpengine = await startRtpengine({ portMin, portMax: portMin + 1999 });
const rtpenginePid = rtpengine.process.pid ?? 0;
log(`rtpengine ${rtpenginePid} on ng port ${rtpengine.process.ngPort}`);
const bridge = new BridgeProcess(rtpengine.process.ngHost, rtpengine.process.ngPort);
const traffic = new Traffic();
const calls: BenchCall[] = [];
let probe: { close: () => Promise<unknown> } | undefined;
try {
  await bridge.ready;
  log(`bridge process ${bridge.pid}`);

  // Our packet path alone (stubs for werift), in this process while it is still idle.
  const ourCode = { track: await ourCodeAllocations("track"), direct: await ourCodeAllocations("direct") };
  log(`our code's allocations: ${JSON.stringify(ourCode)}`);

  log("reference: rtpengine's plain relay");
  const reference = await relayReference(rtpengine);
  log(`reference: ${JSON.stringify(reference)}`);

  const idleRss = rssBytes(bridge.pid);
  probe = await relayProbe(rtpengine.client, traffic, 0xffff);

  const steps: StepResult[] = [];
  let stoppedBecause = `reached maxCalls (${maxCalls})`;
  let stepNumber = 0;
  let nextCallIndex = 0;
  for (const n of stepSizes(maxCalls)) {
    if (performance.now() - began > BUDGET_MS) {
      stoppedBecause = "time budget";
      break;
    }
    while (calls.length < n) calls.push(await addCall(bridge, traffic, nextCallIndex++));
    let step = await measureStep(n, ++stepNumber, idleRss);
    log(`step ${JSON.stringify(step)}`);
    // The machine is shared (2 cores, other work on it): a step with loss is repeated once before it counts, and once
    // more when the relay probe (which bypasses the bridge) lost packets too, i.e. the whole machine stalled.
    // A port rtpengine gave up on stays deaf for the rest of its call: repeating cannot help then.
    let portsGivenUp = step.rtpengineWarnings.portsGivenUp;
    for (let attempt = 2; !step.zeroLoss && portsGivenUp === 0 && (attempt === 2 || (attempt === 3 && step.packets.relayProbe.lost > 0)); attempt++) {
      step = { ...(await measureStep(n, ++stepNumber, idleRss)), attempt };
      log(`step repeated ${JSON.stringify(step)}`);
      portsGivenUp += step.rtpengineWarnings.portsGivenUp;
    }
    steps.push(step);
    if (!step.zeroLoss || portsGivenUp > 0) {
      stoppedBecause =
        portsGivenUp > 0
          ? `rtpengine stopped reading ${portsGivenUp} port(s) at ${n} calls (5 read loops with over 50 packets queued, after a stall; ` +
            `others used ${step.othersCpuPercentOfCore}% of a core): that media is gone for the rest of its call`
          : step.packets.relayProbe.lost > 0
            ? `loss at ${n} calls, while the relay probe (no bridge) lost packets too: the machine stalled (others used ${step.othersCpuPercentOfCore}% of a core)`
            : `loss at ${n} calls`;
      break;
    }
    if (step.bridge.cpuPercentOfCore > 95) {
      stoppedBecause = `the bridge process above 95% of a core at ${n} calls`;
      break;
    }
    if (step.sendRateOfTarget < 0.97) {
      stoppedBecause = `the driver could not keep the rate at ${n} calls (this process is saturated: the machine, not the bridge, is the limit)`;
      break;
    }
  }

  const best = [...steps].reverse().find((s) => s.zeroLoss && s.bridge.cpuPercentOfCore <= 95 && s.sendRateOfTarget >= 0.97);
  const result = best
    ? {
        largestZeroLossCalls: best.calls,
        bridgeCpuPercentOfCoreThere: best.bridge.cpuPercentOfCore,
        largestZeroLossCallsPerCore: round(best.calls / (best.bridge.cpuPercentOfCore / 100)),
        basis:
          "calls at the largest zero-loss step ÷ the cores the bridge process used there (its CPU time over the step, all threads); " +
          "the bridge's JavaScript runs on one thread, so this is how many calls one bridge process holds when the machine is not shared " +
          "with the devices and meeting peers (here they run on the same 2 cores)",
        stoppedBecause,
        machineThere: {
          busyPercentOfAllCores: best.machineBusyPercent,
          othersCpuPercentOfCore: best.othersCpuPercentOfCore,
          driverCpuPercentOfCore: best.driverCpuPercentOfCore,
        },
        perCall: {
          bridgeCpuPercentOfCore: best.bridge.cpuPercentPerCall,
          bridgeRssMB: best.bridge.rssMBPerCall,
          rtpengineCpuPercentOfCore: best.rtpengine.cpuPercentPerCall,
          ...marginal(steps.filter((s) => s.zeroLoss && s.calls <= best.calls)),
        },
        latencyMs: {
          endToEndP50: best.latencyMs.gateway.p50,
          endToEndP99: best.latencyMs.gateway.p99,
          relayProbeP50: best.latencyMs.relayProbe.p50,
          relayProbeP99: best.latencyMs.relayProbe.p99,
          addedP50: best.latencyMs.addedP50,
          addedP99: best.latencyMs.addedP99,
        },
        bridgePacketsPerSecondPerCore: Math.round(best.bridge.packetsPerSecond / (best.bridge.cpuPercentOfCore / 100)),
        rtpenginePacketsPerSecondPerCore: reference.packetsPerSecondPerCore,
        ratio: round(best.bridge.packetsPerSecond / (best.bridge.cpuPercentOfCore / 100) / reference.packetsPerSecondPerCore, 3),
      }
    : { largestZeroLossCalls: 0, stoppedBecause };

  // 3. Profile at a mid N (at least 4 calls when 4 held: at lower rates every send wakes a sleeping receiver, which dominates).
  const largest = best?.calls ?? 1;
  const profileCalls = Math.max(Math.min(4, largest), Math.floor(largest / 2));
  while (calls.length > profileCalls) await closeCall(bridge, traffic, calls.pop()!);
  const profile = await profileBridge(profileCalls, 4);

  // 4. The hot path before/after, at the same N, alternating (the machine is noisy): each run opens its calls afresh.
  const runs: HotPathRun[] = [];
  // The first run only warms up (new calls' code paths, the garbage of the closed ones): it is left out.
  for (const [index, path] of (["direct", "track", "direct", "track", "direct"] as const).entries()) {
    while (calls.length) await closeCall(bridge, traffic, calls.pop()!);
    await bridge.request({ op: "path", path });
    while (calls.length < profileCalls) calls.push(await addCall(bridge, traffic, nextCallIndex++));
    const step = await measureStep(profileCalls, ++stepNumber, idleRss, HOT_PATH_SECONDS);
    if (index === 0) continue;
    const allocations = runs.some((r) => r.path === path) ? undefined : await allocationsPerPacket();
    runs.push({
      path,
      bridgeCpuPercentOfCore: step.bridge.cpuPercentOfCore,
      packetsPerSecond: step.bridge.packetsPerSecond,
      microsecondsPerPacket: round((step.bridge.cpuPercentOfCore * 1e4) / step.bridge.packetsPerSecond, 2),
      lost: step.packets.toMeeting.lost + step.packets.toDevice.lost,
      latencyP50Ms: step.latencyMs.gateway.p50,
      othersCpuPercentOfCore: step.othersCpuPercentOfCore,
      ...(allocations ? { allocatedBytesPerPacket: allocations } : {}),
    });
    log(`hot path ${JSON.stringify(runs.at(-1))}`);
  }
  const mean = (path: string) => {
    const of = runs.filter((r) => r.path === path);
    return round(of.reduce((a, r) => a + r.microsecondsPerPacket, 0) / of.length, 2);
  };
  const hotPath = {
    calls: profileCalls,
    secondsPerRun: HOT_PATH_SECONDS,
    order: "(direct, left out: warm-up), track, direct, track, direct; each run opens its calls afresh with BridgedStream.path set",
    before: "track: device → meeting through MediaStreamTrack.writeRtp; to rtpengine with an address on an unconnected socket",
    after: "direct: device → meeting straight into the RTCRtpSender; to rtpengine on a connected socket",
    runs,
    microsecondsPerPacket: { before: mean("track"), after: mean("direct") },
    cpuSavedPercent: round((100 * (mean("track") - mean("direct"))) / mean("track")),
    ourCodeAllocations: {
      method: "bench/support/ourCodeAllocations.ts: a BridgedStream with werift stubbed, V8 allocation sampling every 32 bytes",
      bytesPerPacket: { track: ourCode.track.bytesPerPacket, direct: ourCode.direct.bytesPerPacket },
      byFunction: { track: ourCode.track.byFunction, direct: ourCode.direct.byFunction },
      packets: ourCode.direct.packets,
    },
  };

  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: "media",
        machine: { cores: cpus().length, node: process.version, werift: weriftInfo() },
        settings: {
          stepSeconds,
          warmUpSeconds: WARM_UP_SECONDS,
          drainMs: DRAIN_MS,
          perCallPerDirection: {
            videoPacketsPerSecond: VIDEO_PPS,
            videoPayloadBytes: VIDEO_BYTES,
            audioPacketsPerSecond: AUDIO_PPS,
            audioPayloadBytes: AUDIO_BYTES,
          },
        },
        reference: { rtpenginePlainRelay: reference },
        steps: steps.map(({ latencyMs: { gateway: _, ...latencyMs }, ...s }) => ({ ...s, latencyMs })),
        result,
        profile,
        hotPath,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  traffic.stop();
  for (const call of calls) {
    await call.peer.close().catch(() => {});
    await call.device.close();
  }
  await probe?.close();
  await bridge.stop();
  await rtpengine.stop();
}
// werift keeps timers of closed peer connections alive for a while.
process.exit(0);

// ---------------------------------------------------------------- helpers of the run

/** werift's version and whether the repository's patch (patches/, scripts/patch-dependencies.mjs) is applied to it. */
function weriftInfo(): { version: string; patchesApplied: boolean | "unknown" } {
  const root = new URL("../../", import.meta.url);
  let version = "unknown";
  try {
    version = (JSON.parse(readFileSync(new URL("node_modules/werift/package.json", root), "utf8")) as { version: string }).version;
  } catch {}
  const check = spawnSync(process.execPath, [fileURLToPath(new URL("scripts/patch-dependencies.mjs", root)), "--check"], { encoding: "utf8" });
  return { version, patchesApplied: check.error || check.status === null ? "unknown" : check.status === 0 };
}

/**
 * What one more call costs, from the first to the last of the zero-loss steps (the averages above also carry the
 * process's fixed part, and at low rates every packet wakes a sleeping receiver, which costs more per packet).
 */
function marginal(held: readonly StepResult[]): Record<string, number> {
  const first = held[0];
  const last = held.at(-1);
  if (!first || !last || last.calls === first.calls) return {};
  const calls = last.calls - first.calls;
  return {
    bridgeCpuPercentOfCoreMarginal: round((last.bridge.cpuPercentOfCore - first.bridge.cpuPercentOfCore) / calls, 2),
    bridgeRssMBMarginal: round((last.bridge.rssMB - first.bridge.rssMB) / calls, 2),
    rtpengineCpuPercentOfCoreMarginal: round((last.rtpengine.cpuPercentOfCore - first.rtpengine.cpuPercentOfCore) / calls, 2),
  };
}

function* stepSizes(max: number): Generator<number> {
  for (const n of [1, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 128]) if (n <= max) yield n;
}

interface StepResult {
  calls: number;
  seconds: number;
  packets: {
    toMeeting: { sent: number; lost: number; duplicates: number };
    toDevice: { sent: number; lost: number; duplicates: number };
    relayProbe: { sent: number; lost: number };
  };
  sendRateOfTarget: number;
  latencyMs: {
    toMeeting: ReturnType<typeof percentiles>;
    toDevice: ReturnType<typeof percentiles>;
    gateway: ReturnType<typeof percentiles>;
    relayProbe: ReturnType<typeof percentiles>;
    addedP50: number;
    addedP99: number;
  };
  bridge: { cpuPercentOfCore: number; cpuPercentPerCall: number; packetsPerSecond: number; rssMB: number; rssMBPerCall: number };
  rtpengine: { cpuPercentOfCore: number; cpuPercentPerCall: number };
  driverCpuPercentOfCore: number;
  othersCpuPercentOfCore: number;
  machineBusyPercent: number;
  attempt?: number;
  udpReceiveBufferDrops: Record<string, number>;
  rtpengineWarnings: ReturnType<typeof rtpengineWarnings>;
  misrouted: number;
  zeroLoss: boolean;
}

interface HotPathRun {
  path: "track" | "direct";
  bridgeCpuPercentOfCore: number;
  packetsPerSecond: number;
  /** CPU time of the bridge process (all threads) per packet it forwarded. */
  microsecondsPerPacket: number;
  lost: number;
  latencyP50Ms: number;
  othersCpuPercentOfCore: number;
  allocatedBytesPerPacket?: Readonly<Record<string, number>>;
}

/** Allocation sampling in the bridge for 2 s of traffic: bytes per forwarded packet, by where the allocating code lives. */
async function allocationsPerPacket(): Promise<Record<string, number>> {
  traffic.step = 0;
  traffic.start();
  await sleep(500);
  const stats0 = await bridge.request<BridgeStats>({ op: "stats" });
  const heap = await bridge.request<BridgeProfile>({ op: "profile", ms: 2000, heap: true });
  const stats1 = await bridge.request<BridgeStats>({ op: "stats" });
  traffic.stop();
  await sleep(DRAIN_MS);
  const packets = Math.max(1, stats1.fromDevice + stats1.toDevice - stats0.fromDevice - stats0.toDevice);
  const byArea = Object.fromEntries(Object.entries(heap.allocations?.byArea ?? {}).map(([k, v]) => [k, Math.round(v / packets)]));
  return { total: Math.round((heap.allocations?.totalBytes ?? 0) / packets), ...byArea };
}

async function measureStep(n: number, stepNumber: number, idleRss: number, seconds = stepSeconds): Promise<StepResult> {
  traffic.step = 0;
  traffic.start();
  await sleep(WARM_UP_SECONDS * 1000);
  traffic.beginStep(stepNumber % 255 || 255, seconds);
  const t0 = performance.now();
  const bridge0 = cpuSeconds(bridge.pid);
  const engine0 = cpuSeconds(rtpenginePid);
  const driver0 = driverCpuSeconds();
  const machine0 = machineBusySeconds();
  const pids = { bridge: bridge.pid, rtpengine: rtpenginePid, driver: process.pid };
  const drops0 = udpReceiveDrops(pids);
  const log0 = rtpengine.logLines.length;
  const stats0 = await bridge.request<BridgeStats>({ op: "stats" });
  await sleep(seconds * 1000);
  traffic.stop();
  const wall = (performance.now() - t0) / 1000;
  const bridgeCpu = cpuSeconds(bridge.pid) - bridge0;
  const engineCpu = cpuSeconds(rtpenginePid) - engine0;
  const driverCpu = driverCpuSeconds() - driver0;
  const machineCpu = machineBusySeconds() - machine0;
  await sleep(DRAIN_MS);
  const stats1 = await bridge.request<BridgeStats>({ op: "stats" });
  const rss = rssBytes(bridge.pid);
  const drops1 = udpReceiveDrops(pids);
  const count = (direction: number) => {
    const streams = traffic.streams().filter((s) => s.spec.direction === direction);
    const sent = streams.reduce((a, s) => a + s.sent, 0);
    const received = streams.reduce((a, s) => a + s.received, 0);
    return { sent, lost: sent - received, duplicates: streams.reduce((a, s) => a + s.duplicates, 0) };
  };
  const toMeeting = count(TO_MEETING);
  const toDevice = count(TO_DEVICE);
  const ab = count(RELAY_AB);
  const ba = count(RELAY_BA);
  const target = traffic.streams().reduce((a, s) => a + s.spec.rate * wall, 0);
  const sentAll = toMeeting.sent + toDevice.sent + ab.sent + ba.sent;
  const gatewaySamples = traffic.latency.toMeeting.concat(traffic.latency.toDevice);
  const gateway = percentiles(gatewaySamples);
  const relay = percentiles(traffic.latency.relay);
  const forwarded = stats1.fromDevice + stats1.toDevice - stats0.fromDevice - stats0.toDevice;
  traffic.step = 0;
  return {
    calls: n,
    seconds: round(wall, 2),
    packets: { toMeeting, toDevice, relayProbe: { sent: ab.sent + ba.sent, lost: ab.lost + ba.lost } },
    sendRateOfTarget: round(sentAll / target, 3),
    latencyMs: {
      toMeeting: percentiles(traffic.latency.toMeeting),
      toDevice: percentiles(traffic.latency.toDevice),
      gateway,
      relayProbe: relay,
      addedP50: round(gateway.p50 - relay.p50, 2),
      addedP99: round(gateway.p99 - relay.p99, 2),
    },
    bridge: {
      cpuPercentOfCore: round((100 * bridgeCpu) / wall),
      cpuPercentPerCall: round((100 * bridgeCpu) / wall / n, 2),
      packetsPerSecond: Math.round(forwarded / wall),
      rssMB: round(rss / 2 ** 20),
      rssMBPerCall: round((rss - idleRss) / 2 ** 20 / n, 2),
    },
    rtpengine: { cpuPercentOfCore: round((100 * engineCpu) / wall), cpuPercentPerCall: round((100 * engineCpu) / wall / (n + 1), 2) },
    driverCpuPercentOfCore: round((100 * driverCpu) / wall),
    othersCpuPercentOfCore: round((100 * Math.max(0, machineCpu - bridgeCpu - engineCpu - driverCpu)) / wall),
    machineBusyPercent: round((100 * machineCpu) / wall / cpus().length),
    udpReceiveBufferDrops: dropsBetween(drops0, drops1),
    rtpengineWarnings: rtpengineWarnings(rtpengine.logLines, log0),
    misrouted: traffic.misrouted,
    zeroLoss: toMeeting.lost === 0 && toDevice.lost === 0,
  };
}

async function profileBridge(n: number, seconds: number) {
  traffic.step = 0;
  traffic.start();
  await sleep(1000);
  const stats0 = await bridge.request<BridgeStats>({ op: "stats" });
  const cpu = await bridge.request<BridgeProfile>({ op: "profile", ms: seconds * 1000, heap: false, saveTo: "/tmp/bench-media-bridge.cpuprofile" });
  const stats1 = await bridge.request<BridgeStats>({ op: "stats" });
  // Allocation sampling slows the process down: a window of its own.
  const heapStats0 = await bridge.request<BridgeStats>({ op: "stats" });
  const heap = await bridge.request<BridgeProfile>({ op: "profile", ms: 2000, heap: true, saveTo: "/tmp/bench-media-bridge.heapprofile" });
  const heapStats1 = await bridge.request<BridgeStats>({ op: "stats" });
  traffic.stop();
  await sleep(DRAIN_MS);
  const packets = heapStats1.fromDevice + heapStats1.toDevice - heapStats0.fromDevice - heapStats0.toDevice;
  return {
    calls: n,
    seconds,
    samples: cpu.samples,
    packetsPerSecond: Math.round((stats1.fromDevice + stats1.toDevice - stats0.fromDevice - stats0.toDevice) / seconds),
    savedTo: "/tmp/bench-media-bridge.cpuprofile",
    byArea: cpu.byArea,
    byAreaOfBusy: cpu.byAreaOfBusy,
    top: cpu.top,
    allocations: heap.allocations && {
      bytesPerPacket: Math.round(heap.allocations.totalBytes / Math.max(1, packets)),
      byArea: Object.fromEntries(Object.entries(heap.allocations.byArea).map(([k, v]) => [k, Math.round(v / Math.max(1, packets))])),
      byAreaUnit: "bytes per forwarded packet",
      top: heap.allocations.top,
    },
  };
}
