import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { seedDemo, type SeededDemo } from "../../../local/demo.js";
import { type LocalStack, startLocalStack } from "../../../local/stack.js";
import { anchorMedia } from "../../../media-host/calls/anchorMedia.js";
import { StreamWatch } from "../../../media-host/calls/streamWatch.js";
import type { DeafStream } from "../../../media-host/domain/deafStreams.js";
import type { Stall } from "../../../media-host/domain/probeStalls.js";
import { MeetingLegServer } from "../../../media-host/meeting/meetingLegServer.js";
import type { WebRtcMeetingLeg } from "../../../media-host/meeting/webRtcMeetingLeg.js";
import { generatePrompts } from "../../../media-host/prompts/generatePrompts.js";
import { RtpengineProbe } from "../../../media-host/rtpengine/rtpengineProbe.js";
import { mediaEndpoint, parseSdp } from "../../../media-host/rtpengine/sdp.js";
import { MeetingPeer } from "../../support/media/meetingPeer.js";
import { DEVICE_VIDEO_PT, PlainRtpDevice, rtpPacket } from "../../support/media/plainRtpDevice.js";
import { startMediaHostProcess } from "../../support/mediaHostProcess.js";
import { RawSipDevice } from "../../support/peers/rawSipDevice.js";
import { metricValue, scrape } from "../../support/prometheus.js";
import { waitFor } from "../../support/waiting.js";
import { type RtpengineHarness, startRtpengine } from "../rtpengine/support/harness.js";

// rtpengine 10.5 stalled on purpose — SIGSTOP for 200 ms, as a CPU-starved or blocked rtpengine
// would be — with calls' media flowing both ways through the real bridge and werift. The probe
// stream says it stalled; at everyday packet rates every stream flows on afterwards; a stream fast
// enough to fill its port's receive queue meanwhile makes rtpengine stop reading that port for
// good (its 5 "receive queue exceeded" strikes), and the stream watch says which port, while the
// other direction flows on.

/** Stops rtpengine for `ms` (SIGSTOP), then lets it go on (SIGCONT, whatever happens meanwhile). */
async function stall(pid: number, ms: number): Promise<void> {
  process.kill(pid, "SIGSTOP");
  try {
    await sleep(ms);
  } finally {
    process.kill(pid, "SIGCONT");
  }
}

/** The scheduling policy (0 other, 1 fifo, 2 rr) and real-time priority of each of the process's threads, by thread name. */
function threadScheduling(pid: number): { name: string; policy: number; priority: number }[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields from the state (field 3) on: rt_priority is field 40, policy field 41.
    return { name: readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim(), priority: Number(fields[37]), policy: Number(fields[38]) };
  });
}

describe("rtpengine stalled, with the bridge and werift (real rtpengine 10.5)", () => {
  let rtpengine: RtpengineHarness;
  let legs: MeetingLegServer;
  let probe: RtpengineProbe;
  const stalls: Stall[] = [];
  let calls = 0;

  before(async () => {
    rtpengine = await startRtpengine({ realtime: { policy: "rr", priority: 10 } });
    legs = new MeetingLegServer({
      mediaHostId: "mh-stall",
      host: "127.0.0.1",
      port: 0,
      ice: { bindAddress: "127.0.0.1", advertisedAddress: "127.0.0.1" },
      logger: pino({ level: "silent" }),
    });
    await legs.listen();
    probe = new RtpengineProbe({ rtpengine: rtpengine.client, address: "127.0.0.1" });
    probe.on("stall", (s) => stalls.push(s));
    await probe.start();
  });
  after(async () => {
    await probe.stop();
    await legs.close();
    await rtpengine.stop();
  });

  /** A device call anchored in rtpengine with a WebRTC peer in the meeting's place, both sending as told every 20 ms. */
  async function call(rates: { deviceVideoPerTick: number; deviceVideoBytes: number }) {
    const callId = `stall-${++calls}`;
    const device = await PlainRtpDevice.open();
    const leg = (await legs.create(callId)) as WebRtcMeetingLeg;
    const answer = await anchorMedia(rtpengine.client, leg, device.offer(), { callId, deviceTag: "device-tag", gatewayTag: "gateway-tag" });
    device.answered(answer);
    const peer = await MeetingPeer.answer(await leg.mediaBlob());
    await peer.connected();
    let seq = 0;
    let meetingSeq = 0;
    const timer = setInterval(() => {
      device.sendAudio(rtpPacket(0, seq & 0xffff, seq * 160, 0x1111, Buffer.alloc(160, 0x7f)));
      for (let i = 0; i < rates.deviceVideoPerTick; i++) {
        device.sendVideo(rtpPacket(DEVICE_VIDEO_PT, seq & 0xffff, seq * 3000, 0x2222, Buffer.alloc(rates.deviceVideoBytes, 0x41), true));
        seq++;
      }
      // The meeting at 1080p-like rates: 50 audio, 350 video packets a second.
      peer.audioOut.writeRtp(rtpPacket(111, meetingSeq & 0xffff, meetingSeq * 960, 0x3333, Buffer.from([0xf8, 0xff, 0xfe])));
      for (let i = 0; i < 7; i++) {
        peer.videoOut.writeRtp(rtpPacket(102, meetingSeq & 0xffff, meetingSeq * 3000, 0x4444, Buffer.alloc(1000, 0x41), true));
        meetingSeq++;
      }
    }, 20);
    const videoPort = mediaEndpoint(parseSdp(answer), 1).port;
    return {
      callId,
      device,
      peer,
      videoPort,
      async close() {
        clearInterval(timer);
        await peer.close();
        await leg.close();
        await device.close();
        await rtpengine.client.delete({ "call-id": callId }).catch(() => {});
      },
    };
  }

  it("runs rtpengine's media threads real-time (SCHED_RR at the priority asked), so nothing ordinary on the host can stall them", () => {
    const pid = rtpengine.process.pid;
    assert.ok(pid);
    const pollers = threadScheduling(pid).filter((t) => t.name === "poller");
    assert.ok(pollers.length >= 1, "rtpengine's poller threads");
    for (const poller of pollers) assert.deepEqual({ policy: poller.policy, priority: poller.priority }, { policy: 2, priority: 10 });
  });

  it("a 200 ms stall at everyday rates: the probe reports it, no port goes deaf, and media flows both ways afterwards", async () => {
    const c = await call({ deviceVideoPerTick: 7, deviceVideoBytes: 1000 });
    const watch = new StreamWatch({ rtpengine: rtpengine.client });
    const deaf: DeafStream[] = [];
    watch.on("deaf", (_, s) => deaf.push(s));
    watch.watch(c.callId, "device-tag");
    try {
      await waitFor(() => c.device.received.video > 50 && c.peer.received.video > 50, "media both ways before the stall", 10_000);
      await watch.check();
      const stallsBefore = stalls.length;
      const pid = rtpengine.process.pid;
      assert.ok(pid);
      await stall(pid, 200);
      await waitFor(() => stalls.length > stallsBefore, "the probe to report the stall", 5000);
      const reported = stalls.at(-1);
      assert.ok(reported && reported.longestDelayInMs >= 150, `the stall reported as rtpengine's 200 ms: ${JSON.stringify(reported)}`);
      const atDevice = c.device.received.video;
      const atMeeting = c.peer.received.video;
      const audioAtMeeting = c.peer.received.audio;
      await waitFor(
        () => c.device.received.video > atDevice + 100 && c.peer.received.video > atMeeting + 100 && c.peer.received.audio > audioAtMeeting + 10,
        "media to flow both ways after the stall",
        10_000,
      );
      await watch.check();
      await watch.check();
      assert.deepEqual(deaf, [], "no port deaf");
    } finally {
      await c.close();
    }
  });

  it("a stream fast enough to fill its port's queue in the stall: rtpengine stops reading that port for good, the watch says which, the other direction flows on", async () => {
    // 3,000 small video packets a second: over 250 queue up in 200 ms, past rtpengine's five wake-ups of 50.
    const c = await call({ deviceVideoPerTick: 60, deviceVideoBytes: 16 });
    const watch = new StreamWatch({ rtpengine: rtpengine.client });
    const deaf: DeafStream[] = [];
    watch.on("deaf", (_, s) => deaf.push(s));
    watch.watch(c.callId, "device-tag");
    try {
      await waitFor(() => c.device.received.video > 50 && c.peer.received.video > 50, "media both ways before the stall", 10_000);
      await watch.check();
      const pid = rtpengine.process.pid;
      assert.ok(pid);
      await stall(pid, 200);
      // The watch's rounds, half a second apart (2 s on a media host).
      await waitFor(
        async () => {
          await sleep(500);
          await watch.check();
          return deaf.length > 0;
        },
        "the watch to report the deaf port",
        10_000,
      );
      const [stream] = deaf;
      assert.deepEqual(
        { party: stream?.party, kind: stream?.kind, port: stream?.port, component: stream?.component },
        { party: "device", kind: "video", port: c.videoPort, component: "rtp" },
        "the device's video port",
      );
      assert.ok((stream?.queuedBytes ?? 0) > 0 || (stream?.dropped ?? 0) > 0, "the kernel holds (or drops) what rtpengine does not read");
      assert.equal(stream?.peerFlowing, true, "the meeting's video to the device flowed on meanwhile");
      assert.ok(
        rtpengine.logLines.some((l) => l.includes(`port ${c.videoPort}]`) && l.includes("UDP receive queue")),
        "rtpengine's own complaint names the port",
      );
      // Deaf for good: the meeting gets no more of the device's video, while the device still gets the meeting's.
      const atMeeting = c.peer.received.video;
      const atDevice = c.device.received.video;
      await waitFor(() => c.device.received.video > atDevice + 100, "the meeting's video at the device", 10_000);
      assert.ok(c.peer.received.video - atMeeting < 10, `the device's video stopped at the meeting (${c.peer.received.video - atMeeting} more)`);
      assert.equal(watch.deafStreamCount, 1);
    } finally {
      await c.close();
    }
  });
});

describe("the media host as on its VM: its rtpengine stalled", () => {
  let stack: LocalStack;
  let demo: SeededDemo;
  let promptsDirectory: string;

  before(async () => {
    promptsDirectory = mkdtempSync(join(tmpdir(), "prompts-"));
    await generatePrompts({ directory: promptsDirectory });
    stack = await startLocalStack({ logLevel: "none", serviceBus: true });
    demo = await seedDemo(stack);
  });
  after(() => stack.stop());

  it("says so in its metrics and its log: the stall, then the port rtpengine stopped reading, on the call's log line", async () => {
    const host = await startMediaHostProcess(stack, { id: "mh-stall", promptsDirectory, rtpPortMin: 23000, rtpPortMax: 23999 });
    // Opus passes through rtpengine (no transcoding): 3,000 small packets a second from the device's one socket.
    const device = await RawSipDevice.open({
      gatewayPort: host.ports.sipUdp,
      dial: `${demo.tenantKey.split("@")[0]}.${demo.vtcId}`,
      audioCodec: "opus",
      rtpPacketsPerTick: 60,
      rtpPayloadBytes: 16,
    });
    try {
      const children = readFileSync(`/proc/${host.pid}/task/${host.pid}/children`, "utf8").trim().split(/\s+/).map(Number);
      const pid = children.find((child) => readFileSync(`/proc/${child}/comm`, "utf8").trim() === "rtpengine");
      assert.ok(pid, "the host's rtpengine");
      assert.ok(
        threadScheduling(pid).some((t) => t.name === "poller" && t.policy === 2),
        "its media threads run real-time (RTPENGINE_REALTIME_PRIORITY's default)",
      );
      const metrics = `http://127.0.0.1:${host.ports.health}/metrics`;
      const value = (text: string, name: string, labels: Record<string, string> = {}) =>
        metricValue(text, name, { media_host: "mh-stall", ...labels });
      await waitFor(async () => value(await scrape(metrics), "cvi_rtpengine_probe_delay_seconds_count") > 10, "the probe's first measurements");
      await stall(pid, 200);
      await waitFor(async () => value(await scrape(metrics), "cvi_rtpengine_stalls_total") >= 1, "the stall in the metrics", 5000);
      const stallLine = host.log.find((l) => typeof l.msg === "string" && l.msg.startsWith("rtpengine stalled"));
      assert.ok(stallLine && Number(stallLine.longestDelayInMs) >= 150, JSON.stringify(stallLine));

      device.invite();
      await device.until(() => device.responses.some((r) => r.status === 200), "the call to be answered", 20_000);
      await waitFor(() => device.rtpTarget !== undefined, "the device's media to start");
      await sleep(2500); // the watch's first look at the call (every 2 s): its baseline
      await stall(pid, 200);
      await waitFor(
        () => host.log.some((l) => typeof l.msg === "string" && l.msg.startsWith("rtpengine stopped reading the device's audio")),
        "the deaf port on the call's log",
        15_000,
      );
      const line = host.log.find((l) => typeof l.msg === "string" && l.msg.startsWith("rtpengine stopped reading the device's audio"));
      assert.equal(line?.callId, device.callId, "on the call's own log line (its SIP Call-ID)");
      assert.equal(line?.port, device.rtpTarget?.port);
      const text = await scrape(metrics);
      assert.equal(value(text, "cvi_media_streams_deaf_total", { party: "device", kind: "audio" }), 1);
      assert.equal(value(text, "cvi_media_streams_deaf"), 1);
      assert.ok(value(text, "cvi_rtpengine_receive_queue_overflows_total", { kind: "queue-full" }) >= 1, "rtpengine's own complaint counted");
      device.hangUp();
      await waitFor(async () => value(await scrape(metrics), "cvi_media_streams_deaf") === 0, "the ended call's streams forgotten");
    } finally {
      device.close();
      host.kill("SIGKILL");
      await host.exited;
    }
  });
});
