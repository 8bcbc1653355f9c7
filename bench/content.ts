/**
 * Content (slides) forwarding cost per call, alongside main video: what a presentation adds to
 * the bridge's CPU and to one-way latency. Each call carries audio and main video both ways as
 * in bench/media.ts (bench/support/benchCalls.ts: plain RTP device → rtpengine → the bridge →
 * werift → a werift MeetingPeer, and back); its device also offers a slides m-line, which the
 * bridge takes (MeetingLegServer's acceptContent). Content is real H.264 from x264 at 1080p
 * (test/support/media/h264Content.ts, text-like slides: a ~150 kB keyframe every 2 s, the
 * pictures between carry a moving block), looped and paced (bench/support/contentTraffic.ts):
 * each presentation starts with a keyframe, then the calls' keyframes fall apart in time.
 *
 * Processes as in bench/media.ts: rtpengine (its own daemon), the bridge (bench/support/
 * bridgeHost.ts) in a child process of its own as on a media host, and this process driving
 * devices and meeting peers. CPU time from /proc/<pid>/stat (all threads).
 *
 * At each call count (default 1, 4, 8), one measured step per mode, the same calls throughout,
 * "none" first and again last (the reference is the mean of the two):
 *   none            nobody presents (the reference: main video and audio only)
 *   device 5 fps    every device presents (device → meeting: its slides line into the meeting leg's content sender)
 *   device 15 fps
 *   meeting 15 fps  the meeting presents to every device (the peer's content sender → the device's slides line)
 * Before the first step, every mode runs once unmeasured (the bridge's JIT warms up on all paths).
 * Every step: warm-up, then `stepSeconds` measured, then a short drain; a step with loss is
 * repeated once. Two relay probes run alongside (rtpengine alone, plain device ⇄ plain device):
 * one with a call's audio and main video both ways, one with the mode's content stream one way.
 * "added" latency = through the gateway − through the probe (each percentile taken separately).
 *
 * Usage: node dist/bench/content.js [stepSeconds=4] [callCounts=1,4,8]
 *
 * Output (one JSON object on stdout; progress on stderr):
 * {
 *   benchmark: "content",
 *   machine: { cores, node },
 *   settings: { stepSeconds, warmUpSeconds, drainMs, callCounts, mainPerCallPerDirection: {...},
 *     content: { width, height, keyframeEverySeconds, "5": { packetsPerSecond, kilobitsPerSecond }, "15": {...} } },
 *   steps: [{ calls, mode, seconds, attempt?,
 *     bridge: { cpuPercentOfCore, cpuPercentPerCall }, rtpengine: { cpuPercentOfCore },
 *     content: { sent, lost, duplicates, forwardedByBridge, heldForKeyframe,
 *       latencyMs: { gateway: {p50,p99,max}, relayProbe: {p50,p99,max}, addedP50, addedP99 } },
 *     main: { sent, lost, latencyMs: { gateway, relayProbe, addedP50, addedP99 } },
 *     driverCpuPercentOfCore, othersCpuPercentOfCore, machineBusyPercent,
 *     udpReceiveBufferDrops: { bridge, rtpengine, driver }, rtpengineWarnings,
 *     relayProbeLost: { main, content }, misrouted: { main, content } }],
 *   result: [{ calls, mode,
 *     bridgeCpuPercentPerCall: { withContent, without, withoutEachTime, ratio },   // ratio: with ÷ without (mean of the two), same calls, same run
 *     contentMicrosecondsPerPacket,                                  // the bridge's added CPU ÷ content packets it forwarded
 *     contentAddedLatencyMs: { p50, p99 }, relayProbeLatencyMs: { p50, p99 },
 *     mainAddedLatencyMs: { p50, p99, withoutContentP50, withoutContentP99 },
 *     lost: { content, main }, udpReceiveBufferDropsAtBridge,        // kernel drops on the bridge's full sockets
 *     othersCpuPercentOfCore: { withContent, without } }]            // the rest of the machine meanwhile (it is shared)
 * }
 */
import { randomInt } from "node:crypto";
import { cpus } from "node:os";
import { performance } from "node:perf_hooks";
import type { ContentPresenter } from "../media-host/meeting/contentBridge.js";
import { startRtpengine } from "../test/integration/rtpengine/support/harness.js";
import { h264Content, packetize } from "../test/support/media/h264Content.js";
import { DEVICE_VIDEO_PT } from "../test/support/media/plainRtpDevice.js";
import { AUDIO_BYTES, AUDIO_PPS, addCall, type BenchCall, closeCall, relayProbe, VIDEO_BYTES, VIDEO_PPS } from "./support/benchCalls.js";
import type { BridgeStats } from "./support/bridgeHost.js";
import { BridgeProcess } from "./support/bridgeProcess.js";
import { CONTENT_RELAY, CONTENT_TO_DEVICE, CONTENT_TO_MEETING, ContentTraffic, rtpPayloadStart } from "./support/contentTraffic.js";
import { openPlainRelay } from "./support/plainRelay.js";
import { cpuSeconds, driverCpuSeconds, dropsBetween, machineBusySeconds, rtpengineWarnings, udpReceiveDrops } from "./support/processes.js";
import { percentiles, RELAY_AB, RELAY_BA, TO_DEVICE, TO_MEETING, Traffic } from "./support/traffic.js";

const stepSeconds = Number(process.argv[2] ?? 4);
const callCounts = (process.argv[3] ?? "1,4,8").split(",").map(Number);
const WARM_UP_SECONDS = 1.5;
const DRAIN_MS = 600;
const WIDTH = 1920;
const HEIGHT = 1080;
const KEYFRAME_EVERY_SECONDS = 2;
const began = performance.now();

interface Mode {
  readonly name: string;
  readonly presenter: ContentPresenter;
  readonly fps: number;
}
const NONE: Mode = { name: "none", presenter: undefined, fps: 0 };
const MODES: readonly Mode[] = [
  NONE,
  { name: "device 5 fps", presenter: "device", fps: 5 },
  { name: "device 15 fps", presenter: "device", fps: 15 },
  { name: "meeting 15 fps", presenter: "meeting", fps: 15 },
];

const log = (message: string) => process.stderr.write(`[bench/content ${((performance.now() - began) / 1000).toFixed(1)} s] ${message}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

/** Each frame rate's pictures as RTP payloads: two seconds of slides, a keyframe first. */
const pictures = new Map<number, Uint8Array[][]>();
for (const fps of new Set(MODES.filter((m) => m.fps > 0).map((m) => m.fps))) {
  const frames = fps * KEYFRAME_EVERY_SECONDS;
  const units = await h264Content({ width: WIDTH, height: HEIGHT, fps, frames, keyframeInterval: frames, text: true });
  pictures.set(
    fps,
    units.map((u) => packetize(u)),
  );
}

const portMin = 40000 + randomInt(0, 10) * 2000;
const rtpengine = await startRtpengine({ portMin, portMax: portMin + 1999 });
const rtpenginePid = rtpengine.process.pid ?? 0;
log(`rtpengine ${rtpenginePid} on ng port ${rtpengine.process.ngPort}`);
const bridge = new BridgeProcess(rtpengine.process.ngHost, rtpengine.process.ngPort, { acceptContent: true });
const traffic = new Traffic();
const content = new ContentTraffic();
const calls: BenchCall[] = [];
const closers: (() => Promise<unknown>)[] = [];
try {
  await bridge.ready;
  log(`bridge process ${bridge.pid}`);
  const mainProbe = await relayProbe(rtpengine.client, traffic, 0xffff);
  closers.push(() => mainProbe.close());
  // Content through rtpengine alone: device A's video m-line to device B's.
  const contentProbe = await openPlainRelay(rtpengine.client, `bench-content-probe-${randomInt(1e9)}`);
  closers.push(() => Promise.all([contentProbe.a.close(), contentProbe.b.close()]));
  contentProbe.b.videoSocket.on("message", (datagram: Buffer) => {
    const offset = rtpPayloadStart(datagram);
    if (offset >= 0) content.receive(datagram.subarray(offset), CONTENT_RELAY);
  });

  const steps: StepResult[] = [];
  let stepNumber = 0;
  let nextCallIndex = 0;
  for (const [i, n] of callCounts.entries()) {
    while (calls.length < n) calls.push(await openCall(nextCallIndex++));
    if (i === 0) await warmUp(contentProbe);
    // "none" again last: the reference is the mean of the two, and their spread shows the machine's drift meanwhile.
    for (const mode of [...MODES, NONE]) {
      let step = await measureStep(n, mode, ++stepNumber, contentProbe);
      log(`step ${JSON.stringify(step)}`);
      // The machine is shared: a step with loss is measured once more before it counts.
      if (step.content.lost + step.main.lost > 0) {
        step = { ...(await measureStep(n, mode, ++stepNumber, contentProbe)), attempt: 2 };
        log(`step repeated ${JSON.stringify(step)}`);
      }
      steps.push(step);
    }
  }

  const result = steps
    .filter((s) => s.mode !== "none")
    .map((s) => {
      const references = steps.filter((r) => r.calls === s.calls && r.mode === NONE.name);
      const [without] = references;
      if (!without) throw new Error(`no reference step at ${s.calls} calls`);
      const mean = (f: (r: StepResult) => number) => references.reduce((a, r) => a + f(r), 0) / references.length;
      const withoutPerCall = mean((r) => r.bridge.cpuPercentPerCall);
      const addedCpuSeconds = ((s.bridge.cpuPercentOfCore - mean((r) => r.bridge.cpuPercentOfCore)) / 100) * s.seconds;
      return {
        calls: s.calls,
        mode: s.mode,
        bridgeCpuPercentPerCall: {
          withContent: s.bridge.cpuPercentPerCall,
          without: round(withoutPerCall, 2),
          withoutEachTime: references.map((r) => r.bridge.cpuPercentPerCall),
          ratio: round(s.bridge.cpuPercentPerCall / withoutPerCall, 3),
        },
        contentMicrosecondsPerPacket: round((addedCpuSeconds * 1e6) / Math.max(1, s.content.forwardedByBridge), 1),
        contentAddedLatencyMs: { p50: s.content.latencyMs.addedP50, p99: s.content.latencyMs.addedP99 },
        relayProbeLatencyMs: { p50: s.content.latencyMs.relayProbe.p50, p99: s.content.latencyMs.relayProbe.p99 },
        mainAddedLatencyMs: {
          p50: s.main.latencyMs.addedP50,
          p99: s.main.latencyMs.addedP99,
          withoutContentP50: without.main.latencyMs.addedP50,
          withoutContentP99: without.main.latencyMs.addedP99,
        },
        lost: { content: s.content.lost, main: s.main.lost },
        udpReceiveBufferDropsAtBridge: s.udpReceiveBufferDrops.bridge ?? 0,
        othersCpuPercentOfCore: { withContent: s.othersCpuPercentOfCore, without: references.map((r) => r.othersCpuPercentOfCore) },
      };
    });

  const contentRates = Object.fromEntries(
    [...pictures.entries()].map(([fps, p]) => {
      const seconds = p.length / fps;
      const packets = p.reduce((a, picture) => a + picture.length, 0);
      const bytes = p.reduce((a, picture) => a + picture.reduce((b, payload) => b + payload.length, 0), 0);
      return [String(fps), { packetsPerSecond: Math.round(packets / seconds), kilobitsPerSecond: Math.round((8 * bytes) / seconds / 1000) }];
    }),
  );
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: "content",
        machine: { cores: cpus().length, node: process.version },
        settings: {
          stepSeconds,
          warmUpSeconds: WARM_UP_SECONDS,
          drainMs: DRAIN_MS,
          callCounts,
          mainPerCallPerDirection: {
            videoPacketsPerSecond: VIDEO_PPS,
            videoPayloadBytes: VIDEO_BYTES,
            audioPacketsPerSecond: AUDIO_PPS,
            audioPayloadBytes: AUDIO_BYTES,
          },
          content: { width: WIDTH, height: HEIGHT, keyframeEverySeconds: KEYFRAME_EVERY_SECONDS, ...contentRates },
        },
        steps,
        result,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  traffic.stop();
  content.stop();
  for (const call of calls) await closeCall(bridge, traffic, call);
  for (const close of closers) await close();
  await bridge.stop();
  await rtpengine.stop();
}
// werift keeps timers of closed peer connections alive for a while.
process.exit(0);

// ---------------------------------------------------------------- helpers of the run

async function openCall(index: number): Promise<BenchCall> {
  const call = await addCall(bridge, traffic, index, {
    content: true,
    callIdPrefix: "bench-content",
    onContentAtMeeting: (payload) => content.receive(payload, CONTENT_TO_MEETING),
  });
  if (!call.device.contentAccepted) throw new Error("the bridge declined the device's slides m-line");
  call.device.onContent((packet) => {
    const offset = rtpPayloadStart(packet);
    if (offset >= 0) content.receive(packet.subarray(offset), CONTENT_TO_DEVICE);
  });
  return call;
}

/** Every call's presenter, and the content streams that go with it (one per call, plus the probe's). */
async function present(mode: Mode, contentProbe: Awaited<ReturnType<typeof openPlainRelay>>): Promise<void> {
  content.clear();
  for (const call of calls) {
    // Through "nobody" first: a presenter starts afresh at its next keyframe, as after a floor hand-over.
    await bridge.request({ op: "present", callId: call.callId, presenter: undefined });
    if (mode.presenter) await bridge.request({ op: "present", callId: call.callId, presenter: mode.presenter });
  }
  const loop = pictures.get(mode.fps);
  if (!loop) return;
  for (const call of calls) {
    if (mode.presenter === "device")
      content.add({
        call: call.index,
        direction: CONTENT_TO_MEETING,
        pictures: loop,
        fps: mode.fps,
        payloadType: DEVICE_VIDEO_PT,
        send: (p) => call.device.sendContent(p),
      });
    else {
      const sender = call.peer.pc.getTransceivers()[2]?.sender;
      if (!sender) throw new Error("the meeting peer has no content transceiver");
      content.add({
        call: call.index,
        direction: CONTENT_TO_DEVICE,
        pictures: loop,
        fps: mode.fps,
        payloadType: sender.codec?.payloadType ?? 102,
        send: (p) => void sender.sendRtp(p).catch(() => {}),
      });
    }
  }
  content.add({
    call: 0xffff,
    direction: CONTENT_RELAY,
    pictures: loop,
    fps: mode.fps,
    payloadType: DEVICE_VIDEO_PT,
    send: (p) => contentProbe.a.sendVideo(p),
  });
}

/**
 * Every mode once, unmeasured, before the first step, so that no measured step pays for compiling the content
 * paths. At 1 call the bridge's CPU still drifts down over the first steps (a run's "none" there: 10.7% of a
 * core first, 6.8% last), which is why the reference is measured first and last.
 */
async function warmUp(contentProbe: Awaited<ReturnType<typeof openPlainRelay>>): Promise<void> {
  for (const mode of MODES) {
    await present(mode, contentProbe);
    traffic.step = 0;
    content.step = 0;
    traffic.start();
    content.start();
    await sleep(WARM_UP_SECONDS * 1000);
    traffic.stop();
    content.stop();
  }
  await sleep(DRAIN_MS);
  log("warmed up: every mode once, unmeasured");
}

interface StepResult {
  calls: number;
  mode: string;
  seconds: number;
  attempt?: number;
  bridge: { cpuPercentOfCore: number; cpuPercentPerCall: number };
  rtpengine: { cpuPercentOfCore: number };
  content: {
    sent: number;
    lost: number;
    duplicates: number;
    forwardedByBridge: number;
    heldForKeyframe: number;
    latencyMs: { gateway: ReturnType<typeof percentiles>; relayProbe: ReturnType<typeof percentiles>; addedP50: number; addedP99: number };
  };
  main: {
    sent: number;
    lost: number;
    latencyMs: { gateway: ReturnType<typeof percentiles>; relayProbe: ReturnType<typeof percentiles>; addedP50: number; addedP99: number };
  };
  driverCpuPercentOfCore: number;
  othersCpuPercentOfCore: number;
  machineBusyPercent: number;
  udpReceiveBufferDrops: Record<string, number>;
  rtpengineWarnings: ReturnType<typeof rtpengineWarnings>;
  /** Packets the relay probes (rtpengine alone) lost: when they lose too, the machine stalled. */
  relayProbeLost: { main: number; content: number };
  misrouted: { main: number; content: number };
}

async function measureStep(n: number, mode: Mode, stepNumber: number, contentProbe: Awaited<ReturnType<typeof openPlainRelay>>): Promise<StepResult> {
  await present(mode, contentProbe);
  const stamp = stepNumber % 255 || 255;
  traffic.step = 0;
  content.step = 0;
  traffic.start();
  content.start();
  await sleep(WARM_UP_SECONDS * 1000);
  traffic.beginStep(stamp, stepSeconds);
  content.beginStep(stamp);
  const t0 = performance.now();
  const bridge0 = cpuSeconds(bridge.pid);
  const engine0 = cpuSeconds(rtpenginePid);
  const driver0 = driverCpuSeconds();
  const machine0 = machineBusySeconds();
  const pids = { bridge: bridge.pid, rtpengine: rtpenginePid, driver: process.pid };
  const drops0 = udpReceiveDrops(pids);
  const log0 = rtpengine.logLines.length;
  const misrouted0 = traffic.misrouted;
  const stats0 = await bridge.request<BridgeStats>({ op: "stats" });
  await sleep(stepSeconds * 1000);
  traffic.stop();
  content.stop();
  const wall = (performance.now() - t0) / 1000;
  const bridgeCpu = cpuSeconds(bridge.pid) - bridge0;
  const engineCpu = cpuSeconds(rtpenginePid) - engine0;
  const driverCpu = driverCpuSeconds() - driver0;
  const machineCpu = machineBusySeconds() - machine0;
  await sleep(DRAIN_MS);
  const stats1 = await bridge.request<BridgeStats>({ op: "stats" });
  const drops1 = udpReceiveDrops(pids);

  const gatewayContent = content.streams().filter((s) => s.spec.direction !== CONTENT_RELAY);
  const contentSent = gatewayContent.reduce((a, s) => a + s.sent, 0);
  const contentReceived = gatewayContent.reduce((a, s) => a + s.received, 0);
  const contentGateway = percentiles(content.latency[CONTENT_TO_MEETING].concat(content.latency[CONTENT_TO_DEVICE]));
  const contentRelay = percentiles(content.latency[CONTENT_RELAY]);
  const mainStreams = traffic.streams().filter((s) => s.spec.direction === TO_MEETING || s.spec.direction === TO_DEVICE);
  const mainSent = mainStreams.reduce((a, s) => a + s.sent, 0);
  const mainReceived = mainStreams.reduce((a, s) => a + s.received, 0);
  const mainGateway = percentiles(traffic.latency.toMeeting.concat(traffic.latency.toDevice));
  const mainRelay = percentiles(traffic.latency.relay);
  const probeStreams = traffic.streams().filter((s) => s.spec.direction === RELAY_AB || s.spec.direction === RELAY_BA);
  const probeLost = probeStreams.reduce((a, s) => a + s.sent - s.received, 0);
  const contentProbeLost = content
    .streams()
    .filter((s) => s.spec.direction === CONTENT_RELAY)
    .reduce((a, s) => a + s.sent - s.received, 0);
  traffic.step = 0;
  content.step = 0;
  return {
    calls: n,
    mode: mode.name,
    seconds: round(wall, 2),
    bridge: { cpuPercentOfCore: round((100 * bridgeCpu) / wall), cpuPercentPerCall: round((100 * bridgeCpu) / wall / n, 2) },
    rtpengine: { cpuPercentOfCore: round((100 * engineCpu) / wall) },
    content: {
      sent: contentSent,
      lost: contentSent - contentReceived,
      duplicates: gatewayContent.reduce((a, s) => a + s.duplicates, 0),
      forwardedByBridge: stats1.content.intoMeeting + stats1.content.toDevice - stats0.content.intoMeeting - stats0.content.toDevice,
      heldForKeyframe: stats1.content.heldForKeyframe - stats0.content.heldForKeyframe,
      latencyMs: {
        gateway: contentGateway,
        relayProbe: contentRelay,
        addedP50: round(contentGateway.p50 - contentRelay.p50, 2),
        addedP99: round(contentGateway.p99 - contentRelay.p99, 2),
      },
    },
    main: {
      sent: mainSent,
      lost: mainSent - mainReceived,
      latencyMs: {
        gateway: mainGateway,
        relayProbe: mainRelay,
        addedP50: round(mainGateway.p50 - mainRelay.p50, 2),
        addedP99: round(mainGateway.p99 - mainRelay.p99, 2),
      },
    },
    driverCpuPercentOfCore: round((100 * driverCpu) / wall),
    othersCpuPercentOfCore: round((100 * Math.max(0, machineCpu - bridgeCpu - engineCpu - driverCpu)) / wall),
    machineBusyPercent: round((100 * machineCpu) / wall / cpus().length),
    udpReceiveBufferDrops: dropsBetween(drops0, drops1),
    rtpengineWarnings: rtpengineWarnings(rtpengine.logLines, log0),
    relayProbeLost: { main: probeLost, content: contentProbeLost },
    misrouted: { main: traffic.misrouted - misrouted0, content: content.misrouted },
  };
}
