/**
 * Long calls, accelerated: N calls through the whole media path for a configured time, every stream fast enough
 * that its 16-bit sequence number wraps at least `wraps` times (65,536 packets each after the first), so that what
 * an hours-long call does to SRTP's rollover counter, RTCP and the processes' memory and descriptors shows in minutes.
 *
 *   device (SDES-SRTP, AES_CM_128_HMAC_SHA1_80; werift's SRTP session classes, test/support/media/srtpDevice.ts)
 *     ⇄ rtpengine (decrypts and encrypts the device's SRTP/SRTCP) ⇄ plain RTP ⇄ BridgedStream ⇄ werift
 *     ⇄ DTLS-SRTP ⇄ a werift peer in the meeting's media server's place (test/support/media/meetingPeer.ts)
 *
 * Per call four streams — audio (Opus, passed through, 160-byte payloads) and video (H.264, 1,100 bytes) each way —
 * each at the same accelerated rate. Every stream's sequence number starts a few hundred short of 65,535 and its RTP
 * timestamp a few frames short of 2^32 (the first wraps come early; the others are real). RTCP both ways: the device
 * sends an SRTCP SR with a report block every 500 ms per stream; werift sends SRs and RRs on the meeting leg; the
 * gateway turns the meeting's SRs into its own for the device (SRTCP from rtpengine); the meeting peer asks for a
 * keyframe every second, which reaches the device as an SRTCP PLI.
 *
 * The gateway's media path (rtpengine client, MeetingLegServer, legs) runs in a child process of its own
 * (bench/support/bridgeHost.ts), as on a media host; this process runs the devices and the meeting peers.
 *
 * Measured: per stream the wraps the receiver saw, packets sent and received, loss; authentication failures on every
 * decrypting side (rtpengine: its per-call error counters, ng query, and its log; the gateway's werift: its transport's
 * drop counts; the meeting peer's werift; the device's SRTP sessions); RTCP that crossed each leg (the extended highest
 * sequence numbers in the RRs the meeting peer got must never fall back; the SRs' packet counts must never fall back;
 * the gateway's SRs at the device must never fall back nor lag what had arrived by more than rtpengine's reordering);
 * RSS and open descriptors (/proc/<pid>/fd) of the bridge process and of rtpengine every 5 s, their value after
 * warm-up and the largest deviation from it (the bridge's RSS is read after a full garbage collection, which the bench
 * asks it for: V8's heap otherwise grows and shrinks by tens of MB between collections, which says nothing about a
 * leak; the RSS before it is reported too); CPU per forwarded packet.
 * Reference, same run: the same number of streams at the same rate through rtpengine's plain relay alone (RTP/AVP ⇄
 * RTP/AVP, no SRTP, no bridge): its loss and CPU per packet; ratio = the whole path's CPU per packet ÷ the relay's.
 *
 * Pass: every stream ≥ `wraps` wraps, zero authentication failures anywhere, RSS and descriptors of both processes
 * within 5% of their value after warm-up, RRs' extended highest sequence numbers and SRs' packet counts monotonic.
 *
 * Usage: node dist/bench/soak.js [calls=2] [seconds=330] [wraps=5] [packetsPerSecond=auto] [referenceSeconds=20]
 * (auto: enough for `wraps` wraps in 85% of the time.)
 * Prints one JSON object on stdout (progress on stderr); exits 0 whether or not it passed (see "pass").
 */
import { randomInt } from "node:crypto";
import { cpus } from "node:os";
import { performance } from "node:perf_hooks";
import { startRtpengine } from "../test/integration/rtpengine/support/harness.js";
import { type Flow, LongCall } from "../test/support/media/longCall.js";
import type { PlainRtpDevice } from "../test/support/media/plainRtpDevice.js";
import { SequenceTracker } from "../test/support/media/sequenceTracker.js";
import { WrappingRtpStream } from "../test/support/media/wrappingRtpStream.js";
import type { BridgeStats } from "./support/bridgeHost.js";
import { BridgeProcess } from "./support/bridgeProcess.js";
import { openPlainRelay } from "./support/plainRelay.js";
import { cpuSeconds, openDescriptors, rssBytes, rtpengineWarnings } from "./support/processes.js";

/** A numeric argument; absent, empty or "auto" gives the default. */
const arg = (i: number, otherwise: number) => (process.argv[i] && process.argv[i] !== "auto" ? Number(process.argv[i]) : otherwise);
const callCount = arg(2, 2);
const seconds = arg(3, 330);
const wrapsWanted = arg(4, 5);
/** Enough for the wraps after the first (which comes within the first few hundred packets) in 85% of the run: a busy machine makes the pacing skip some. */
const rate = arg(5, Math.ceil(((wrapsWanted - 1) * 65_536 + 500) / (0.85 * seconds)));
const referenceSeconds = arg(6, 20);
const WARM_UP_SECONDS = Math.min(60, Math.round(seconds * 0.2));
const SAMPLE_MS = 5000;
const DRIFT_LIMIT_PERCENT = 5;
const VIDEO_BYTES = 1100;
const AUDIO_BYTES = 160;
const began = performance.now();

const log = (message: string) => process.stderr.write(`[bench/soak ${((performance.now() - began) / 1000).toFixed(1)} s] ${message}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;
const noop = () => {};
const KINDS = ["audio", "video"] as const;

/** Pacing for every stream of the run on one timer. */
function pace(streams: readonly WrappingRtpStream[]): () => void {
  const now = performance.now();
  for (const s of streams) s.start(now + Math.random() * 4);
  const timer = setInterval(() => {
    const t = performance.now();
    for (const s of streams) s.pace(t);
  }, 4);
  return () => clearInterval(timer);
}

// ---------------------------------------------------------------- reference: rtpengine's plain relay

async function relayReference(rtpengine: Awaited<ReturnType<typeof startRtpengine>>) {
  const pid = rtpengine.process.pid ?? 0;
  const pairs: { callId: string; a: PlainRtpDevice; b: PlainRtpDevice }[] = [];
  const flows: Flow[] = [];
  for (let i = 0; i < callCount; i++) {
    const callId = `bench-soak-relay-${i}-${randomInt(1e9)}`;
    const { a, b } = await openPlainRelay(rtpengine.client, callId);
    pairs.push({ callId, a, b });
    for (const [from, to, direction] of [
      [a, b, "aToB"],
      [b, a, "bToA"],
    ] as const) {
      const trackers = { audio: new SequenceTracker(), video: new SequenceTracker() };
      for (const socketKind of KINDS) {
        const socket = socketKind === "audio" ? to.audioSocket : to.videoSocket;
        socket.on("message", (m: Buffer) => {
          if (m.length >= 12 && !(m[1]! >= 192 && m[1]! <= 223)) trackers[socketKind].observe(m.readUInt16BE(2));
        });
      }
      flows.push(
        {
          name: `relay ${i} ${direction} audio`,
          sender: new WrappingRtpStream({
            rate,
            size: AUDIO_BYTES,
            payloadType: 111,
            clockStep: 960,
            packetsPerFrame: 1,
            send: (p) => from.sendAudio(p),
          }),
          receiver: trackers.audio,
        },
        {
          name: `relay ${i} ${direction} video`,
          sender: new WrappingRtpStream({
            rate,
            size: VIDEO_BYTES,
            payloadType: 109,
            clockStep: 3000,
            packetsPerFrame: 12,
            send: (p) => from.sendVideo(p),
          }),
          receiver: trackers.video,
        },
      );
    }
  }
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const stop = pace(flows.map((f) => f.sender));
  await sleep(referenceSeconds * 1000);
  stop();
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  await sleep(500);
  for (const p of pairs) {
    await rtpengine.client.delete({ "call-id": p.callId }).catch(noop);
    await Promise.all([p.a.close(), p.b.close()]);
  }
  const sent = flows.reduce((n, f) => n + f.sender.sent, 0);
  const received = flows.reduce((n, f) => n + f.receiver.received, 0);
  return {
    streams: flows.length,
    packetsPerSecondPerStream: rate,
    seconds: round(wall, 1),
    sent,
    received,
    lost:
      flows.reduce((n, f) => n + Math.max(0, f.receiver.lost), 0) + flows.reduce((n, f) => n + (f.receiver.received === 0 ? f.sender.sent : 0), 0),
    rtpengineCpuPercentOfCore: round((100 * cpu) / wall),
    rtpengineMicrosecondsPerPacket: round((cpu * 1e6) / Math.max(1, received), 2),
  };
}

// ---------------------------------------------------------------- the calls

interface RtpengineQuery {
  totals?: Record<string, { packets?: number; errors?: number }>;
}

/** rtpengine's error counters for a call (every packet it could not handle: SRTP/SRTCP that failed authentication among them). */
async function rtpengineErrors(rtpengine: Awaited<ReturnType<typeof startRtpengine>>, callId: string): Promise<number> {
  // A call rtpengine no longer knows (it timed out) has no counters left: NaN, so the run cannot pass.
  const q = (await rtpengine.client.query({ "call-id": callId }).catch(() => ({ totals: { gone: { errors: Number.NaN } } }))) as RtpengineQuery;
  return Object.values(q.totals ?? {}).reduce((n, t) => n + (t.errors ?? 0), 0);
}

// ---------------------------------------------------------------- samples

interface Sample {
  readonly atSeconds: number;
  /** rssMB after a full garbage collection (what is live); rssMBBeforeGc as V8 left it (its heap grows and shrinks in between). */
  readonly bridge: { rssMB: number; rssMBBeforeGc: number; heapUsedMB: number; externalMB: number; fds: number };
  readonly rtpengine: { rssMB: number; fds: number };
}

/** The value after warm-up (the first sample at or past it) and the largest deviation from it after, in %. */
function drift(samples: readonly Sample[], pick: (s: Sample) => number) {
  const after = samples.filter((s) => s.atSeconds >= WARM_UP_SECONDS);
  const base = after[0] ? pick(after[0]) : Number.NaN;
  const deviation = after.reduce((m, s) => Math.max(m, Math.abs(pick(s) - base)), 0);
  return {
    afterWarmUp: round(base, 1),
    min: round(Math.min(...after.map(pick)), 1),
    max: round(Math.max(...after.map(pick)), 1),
    maxDeviationPercent: round((100 * deviation) / base, 2),
  };
}

// ---------------------------------------------------------------- the run

const portMin = 30000 + randomInt(0, 10) * 1000;
const rtpengine = await startRtpengine({ portMin, portMax: portMin + 999 });
const rtpenginePid = rtpengine.process.pid ?? 0;
try {
  log(`${callCount} calls, ${seconds} s, ${rate} packets/s per stream (${wrapsWanted} wraps wanted); reference first (${referenceSeconds} s)`);
  const reference = await relayReference(rtpengine);
  log(`reference ${JSON.stringify(reference)}`);

  const bridge = new BridgeProcess(rtpengine.process.ngHost, rtpengine.process.ngPort, { exposeGc: true });
  await bridge.ready;
  const calls: { callId: string; call: LongCall }[] = [];
  for (let index = 0; index < callCount; index++) {
    const callId = `bench-soak-${index}-${randomInt(1e9)}`;
    const call = await LongCall.open({
      index,
      rate,
      audioBytes: AUDIO_BYTES,
      videoBytes: VIDEO_BYTES,
      create: (deviceOffer) => bridge.request<{ deviceAnswer: string; blob: string }>({ op: "create", callId, deviceOffer }),
    });
    calls.push({ callId, call });
  }
  const flows = calls.flatMap((c) => c.call.flows);
  const log0 = rtpengine.logLines.length;
  const samples: Sample[] = [];
  const MB = (bytes: number) => round(bytes / 2 ** 20, 2);
  const sample = async (atSeconds: number) => {
    const beforeGc = rssBytes(bridge.pid);
    const { heapUsedBytes, externalBytes } = await bridge.request<{ heapUsedBytes: number; externalBytes: number }>({ op: "gc" });
    samples.push({
      atSeconds,
      bridge: {
        rssMB: MB(rssBytes(bridge.pid)),
        rssMBBeforeGc: MB(beforeGc),
        heapUsedMB: MB(heapUsedBytes),
        externalMB: MB(externalBytes),
        fds: openDescriptors(bridge.pid),
      },
      rtpengine: { rssMB: MB(rssBytes(rtpenginePid)), fds: openDescriptors(rtpenginePid) },
    });
  };
  const cpu0 = { bridge: cpuSeconds(bridge.pid), rtpengine: cpuSeconds(rtpenginePid) };
  const t0 = performance.now();
  const stop = pace(flows.map((f) => f.sender));
  await sample(0);
  while (performance.now() - t0 < seconds * 1000) {
    await sleep(Math.min(SAMPLE_MS, seconds * 1000 - (performance.now() - t0)));
    const at = (performance.now() - t0) / 1000;
    await sample(round(at, 1));
    const last = samples.at(-1)!;
    const wraps = flows.map((f) => f.receiver.wraps).join(" ");
    log(
      `${at.toFixed(0)} s: wraps ${wraps}; bridge ${last.bridge.rssMB} MB after GC (${last.bridge.rssMBBeforeGc} before), ${last.bridge.fds} fds; rtpengine ${last.rtpengine.rssMB} MB, ${last.rtpengine.fds} fds`,
    );
  }
  stop();
  const wall = (performance.now() - t0) / 1000;
  const cpu = { bridge: cpuSeconds(bridge.pid) - cpu0.bridge, rtpengine: cpuSeconds(rtpenginePid) - cpu0.rtpengine };
  await sleep(1000); // what is in flight arrives
  for (const c of calls) c.call.stopRtcp();

  const bridgeStats = await bridge.request<BridgeStats>({ op: "stats" });
  const rtpengineCallErrors = (await Promise.all(calls.map((c) => rtpengineErrors(rtpengine, c.callId)))).reduce((a, b) => a + b, 0);
  const rtpengineLog = rtpengine.logLines.slice(log0);
  const authLog = (pattern: RegExp) => rtpengineLog.filter((l) => pattern.test(l)).length;
  const sum = (pick: (c: LongCall) => { srtp: number; srtcp: number }) =>
    calls.reduce((n, c) => ({ srtp: n.srtp + pick(c.call).srtp, srtcp: n.srtcp + pick(c.call).srtcp }), { srtp: 0, srtcp: 0 });
  const meetingPeerFailures = sum((c) => c.meetingPeerAuthenticationFailures);
  const deviceFailures = sum((c) => c.deviceAuthenticationFailures);
  const authenticationFailures = {
    rtpengine: {
      callErrorCounters: rtpengineCallErrors,
      logSrtp: authLog(/Discarded invalid SRTP packet|Discarded SRTP packet/),
      logSrtcp: authLog(/Discarded invalid SRTCP packet/),
    },
    gatewayWerift: bridgeStats.authenticationFailures,
    meetingPeerWerift: meetingPeerFailures,
    device: deviceFailures,
  };
  const totalAuthFailures =
    rtpengineCallErrors +
    authenticationFailures.rtpengine.logSrtp +
    authenticationFailures.rtpengine.logSrtcp +
    bridgeStats.authenticationFailures.srtp +
    bridgeStats.authenticationFailures.srtcp +
    meetingPeerFailures.srtp +
    meetingPeerFailures.srtcp +
    deviceFailures.srtp +
    deviceFailures.srtcp;

  const streams = flows.map((f) => ({
    stream: f.name,
    wraps: f.receiver.wraps,
    sent: f.sender.sent,
    /** Packets the pacing skipped (this process fell behind): never sent, so never lost. */
    skippedBehind: f.sender.behind,
    received: f.receiver.received,
    duplicates: f.receiver.duplicates,
    lost: Math.max(0, f.sender.sent - f.receiver.received),
    lossPercent: round((100 * Math.max(0, f.sender.sent - f.receiver.received)) / Math.max(1, f.sender.sent), 3),
  }));
  const forwarded = streams.reduce((n, s) => n + s.received, 0);
  const memory = {
    warmUpSeconds: WARM_UP_SECONDS,
    sampleEverySeconds: SAMPLE_MS / 1000,
    bridge: {
      rssMB: drift(samples, (s) => s.bridge.rssMB),
      rssMBBeforeGc: drift(samples, (s) => s.bridge.rssMBBeforeGc),
      heapUsedMB: drift(samples, (s) => s.bridge.heapUsedMB),
      /** Buffers and other memory outside the JS heap (werift's packets). */
      externalMB: drift(samples, (s) => s.bridge.externalMB),
      fds: drift(samples, (s) => s.bridge.fds),
    },
    rtpengine: { rssMB: drift(samples, (s) => s.rtpengine.rssMB), fds: drift(samples, (s) => s.rtpengine.fds) },
    samples,
  };
  const rtcp = {
    meetingLeg: calls.map((c) => c.call.meetingRtcp),
    deviceLegReceivedByDevice: calls.map((c) => c.call.deviceRtcp),
    gatewaySenderReportsAtDevice: calls.map((c) => c.call.deviceSrs),
  };
  const fewestWraps = Math.min(...streams.map((s) => s.wraps));
  const within = (d: { maxDeviationPercent: number }) => d.maxDeviationPercent <= DRIFT_LIMIT_PERCENT;
  const checks = {
    wraps: fewestWraps >= wrapsWanted,
    zeroAuthenticationFailures: totalAuthFailures === 0,
    bridgeRss: within(memory.bridge.rssMB),
    bridgeFds: within(memory.bridge.fds),
    rtpengineRss: within(memory.rtpengine.rssMB),
    rtpengineFds: within(memory.rtpengine.fds),
    noCallLost: bridgeStats.endedLegs.length === 0,
    rtcpMonotonic: calls.every(
      ({ call: c }) =>
        c.meetingRtcp.highestFellBack === 0 &&
        c.meetingRtcp.srCountFellBack === 0 &&
        c.meetingRtcp.rrBlocks > 0 &&
        c.deviceSrs.srs > 0 &&
        c.deviceSrs.countFellBack === 0 &&
        c.deviceSrs.octetsDisagree === 0 &&
        c.deviceSrs.mostPacketsBeyondCount <= 50,
    ),
  };
  const pathMicrosPerPacket = ((cpu.bridge + cpu.rtpengine) * 1e6) / Math.max(1, forwarded);
  const result = {
    benchmark: "soak",
    machine: { cores: cpus().length, node: process.version },
    settings: {
      calls: callCount,
      seconds,
      packetsPerSecondPerStream: rate,
      streamsPerCall: 4,
      wrapsWanted,
      warmUpSeconds: WARM_UP_SECONDS,
      driftLimitPercent: DRIFT_LIMIT_PERCENT,
    },
    seconds: round(wall, 1),
    streams,
    fewestWraps,
    packets: { sent: streams.reduce((n, s) => n + s.sent, 0), received: forwarded, lost: streams.reduce((n, s) => n + s.lost, 0) },
    authenticationFailures,
    endedLegs: bridgeStats.endedLegs,
    rtcp,
    memory,
    cpu: {
      bridgeCpuPercentOfCore: round((100 * cpu.bridge) / wall),
      rtpengineCpuPercentOfCore: round((100 * cpu.rtpengine) / wall),
      pathMicrosecondsPerPacket: round(pathMicrosPerPacket, 2),
    },
    rtpengineWarnings: rtpengineWarnings(rtpengine.logLines, log0),
    reference: { rtpenginePlainRelay: reference },
    ratio: { cpuPerPacketPathOverRelay: round(pathMicrosPerPacket / reference.rtpengineMicrosecondsPerPacket, 2) },
    checks,
    pass: Object.values(checks).every(Boolean),
  };
  for (const c of calls) {
    await c.call.close();
    await bridge.request({ op: "close", callId: c.callId }).catch(noop);
  }
  await bridge.stop();
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  await rtpengine.stop();
}
process.exit(0);
