import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { seedDemo, type SeededDemo } from "../../local/demo.js";
import { type LocalStack, startLocalStack } from "../../local/stack.js";
import { generatePrompts } from "../../media-host/prompts/generatePrompts.js";
import { PROBE_CALL_ID_PREFIX } from "../../media-host/rtpengine/rtpengineProbe.js";
import type { QueryResponse } from "../../media-host/rtpengine/ngProtocol.js";
import { RtpengineClient } from "../../media-host/rtpengine/rtpengineClient.js";
import { launchChromium } from "../support/browser.js";
import { createHostBehindNat, createTestHost, type NattedTestHost, type TestHost } from "../support/netns.js";
import { adminApi } from "../support/onboarding.js";
import { dominantFrequency, readWav, rms, sineSamples, writeWav } from "../support/peers/audio.js";
import { type Baresip, CLOSED_BY_PEER, startBaresip } from "../support/peers/baresip.js";
import { describeResult, runSipp } from "../support/peers/sipp.js";
import { tlsFor } from "../support/tls.js";
import { waitFor } from "../support/waiting.js";

// The stack on a real address, as `OPENCVI_ADDRESS=… npm start` runs it on a LAN: the SIP edge,
// the media host (SIP, rtpengine's media, the meeting leg's ICE) and the meeting page with its
// media server all bound to this machine's end of a veth link, and everything that dials or
// joins on test hosts of our own (network namespaces): baresip as a room system on the LAN and
// behind a NAT router, SIPp, and headless Chromium without loopback candidates, over HTTPS
// with the local CA trusted as a person would. No packet of theirs crosses loopback.

const DEVICE_TONE_HZ = 440;
const BROWSER_TONE_HZ = 880;
const DEVICE_VIDEO = { size: "640x360", fps: 15, bitrate: 800_000 } as const;
const HOST_ID = "mh-lan";

let service: TestHost;
let room: TestHost;
let natted: NattedTestHost;
let sippHost: TestHost;
let web: TestHost;
let tlsDirectory: string;
let work: string;
let stack: LocalStack;
let demo: SeededDemo;
let browser: Browser;
let page: Page;

interface RemoteStats {
  participantId: string;
  displayName: string;
  framesDecoded: number;
  frameWidth: number;
  frameHeight: number;
}
interface RouteEnd {
  address: string;
  port: number;
  protocol: string;
  candidateType: string;
}
/** What the meeting page exposes for tests (test/emulators/meeting/meetingPage.ts). */
interface MeetingPageApi {
  state?: string;
  error?: string;
  participantId: string;
  stats(): Promise<RemoteStats[]>;
  route(): Promise<{ local: RouteEnd; remote: RouteEnd; offered: string[] } | null>;
  audioSpectrum(participantId: string, ms: number): Promise<{ rms: number; peakHz: number }>;
}
declare const window: { meeting: MeetingPageApi; isSecureContext: boolean };

const deviceInBrowser = async (name: string) => (await page.evaluate(() => window.meeting.stats())).find((s) => s.displayName === name);
const dialString = (vtcId = demo.vtcId) => `${demo.tenantKey.split("@")[0]}.${vtcId}`;
const edge = () => `${stack.address}:${stack.edge?.endpoints.sipPort}`;

async function startDevice(host: TestHost, displayName: string): Promise<Baresip> {
  return startBaresip({
    host,
    displayName,
    video: "fakevideo",
    videoFormat: DEVICE_VIDEO,
    audioSource: { toneHz: DEVICE_TONE_HZ, durationMs: 120_000 },
    timeoutInMs: 120_000,
  });
}

/** The device's call in the meeting (its bot), once established. */
const botOf = (displayName: string) =>
  waitFor(() => stack.graph.calls().find((c) => c.identity.displayName === displayName && c.state === "established"), `${displayName}'s bot`);

/** The call record's quality (rtpengine's packet counts on the device leg, werift's on the meeting leg), once the call ended. */
async function qualityOf(callId: string) {
  const record = await waitFor(async () => {
    const r = await adminApi(stack, "GET", `/v1/calls/${callId}`);
    return r.json.quality ? r.json : undefined;
  }, "the call's quality in its record");
  type Stream = { kind: string; packetsReceived: number; packetsSent: number };
  const pick = (streams: Stream[], kind: string) => streams.find((s) => s.kind === kind) ?? { kind, packetsReceived: 0, packetsSent: 0 };
  const q = record.quality as { deviceLeg: Stream[]; meetingLeg: Stream[] };
  return {
    device: { audio: pick(q.deviceLeg, "audio"), video: pick(q.deviceLeg, "video") },
    meeting: { audio: pick(q.meetingLeg, "audio"), video: pick(q.meetingLeg, "video") },
  };
}

/** rtpengine's own view of the media host's one call: each stream's local address, the SDP's address and the one media came from. */
async function rtpengineStreams() {
  const control = stack.poolHosts.get(HOST_ID)?.host.rtpengineControl;
  assert.ok(control, "the media host's rtpengine runs");
  const client = await RtpengineClient.open({ host: control.host, port: control.port, localAddress: "127.0.0.1", requestTimeoutInMs: 3000 });
  try {
    // The host's probe stream aside (a call of its own, see RtpengineProbe).
    const calls = (await client.list()).calls.filter((id) => !id.startsWith(PROBE_CALL_ID_PREFIX));
    assert.equal(calls.length, 1, "one call on the media host");
    const query: QueryResponse = await client.query({ "call-id": calls[0]! });
    return Object.entries(query.tags).flatMap(([tag, t]) =>
      t.medias.flatMap((m) =>
        m.streams
          .filter((s) => s.flags.includes("RTP"))
          .map((s) => ({
            tag,
            kind: m.type,
            local: s["local address"],
            sdp: s["advertised endpoint"].address,
            from: s.endpoint.address,
            packets: s.stats.packets,
          })),
      ),
    );
  } finally {
    await client.close();
  }
}

before(async () => {
  // The stack binds this machine's end of the first link; the other hosts reach it through this machine.
  service = createTestHost();
  room = createTestHost();
  natted = createHostBehindNat();
  sippHost = createTestHost();
  web = createTestHost();
  tlsDirectory = tlsFor(service.localAddress);
  work = mkdtempSync(join(tmpdir(), "opencvi-lan-"));
  const promptsDirectory = join(work, "prompts");
  await generatePrompts({ directory: promptsDirectory });
  stack = await startLocalStack({
    logLevel: "none",
    address: service.localAddress,
    tlsDirectory,
    pool: { edge: {}, hosts: [{ id: HOST_ID, promptsDirectory, rtpPorts: [14000, 14999], webRtcPorts: [15000, 15999] }] },
    meetingMedia: {},
  });
  demo = await seedDemo(stack);
  // A person in the demo meeting the whole time, from a browser on another host: every device sees and hears them.
  const microphone = join(work, "browser-tone.wav");
  writeWav(microphone, sineSamples({ frequencyHz: BROWSER_TONE_HZ, durationMs: 10_000, sampleRate: 48_000, amplitude: 8000 }), 48_000);
  browser = await launchChromium({ host: web, trustedCaFile: join(tlsDirectory, "ca.pem"), fakeMicrophoneWav: microphone });
  page = await browser.newPage();
  await page.goto(`${stack.meetingMedia?.pageUrl(demo.meetingId)}?name=${encodeURIComponent("Megan (browser)")}&autojoin=1`);
  await page.waitForFunction(() => ["connected", "failed"].includes(window.meeting?.state ?? ""), null, { timeout: 20_000 });
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  for (const host of [service, room, natted, sippHost, web]) host?.remove();
  if (tlsDirectory) rmSync(tlsDirectory, { recursive: true, force: true });
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("devices and a browser on other hosts reach the stack on its address", () => {
  it("the meeting page is served over HTTPS for the stack's address; Chromium on another host joins without loopback candidates", async (t) => {
    const url = new URL(stack.meetingMedia?.pageUrl(demo.meetingId) ?? "");
    assert.equal(url.protocol, "https:");
    assert.equal(url.hostname, service.localAddress);
    // Node checks the certificate against the local CA and the address (NODE_EXTRA_CA_CERTS), as Chromium did with its NSS database.
    assert.equal((await fetch(url)).status, 200);
    assert.equal(await page.evaluate(() => window.isSecureContext), true, "a secure context: camera and microphone allowed");
    assert.equal(await page.evaluate(() => window.meeting.state), "connected", await page.evaluate(() => window.meeting.error ?? ""));
    const route = await page.evaluate(() => window.meeting.route());
    assert.ok(route);
    t.diagnostic(
      `browser ${route.local.address}:${route.local.port} ⇄ meeting media ${route.remote.address}:${route.remote.port} (${route.local.protocol})`,
    );
    assert.equal(route.local.address, web.address, "the browser sends from its own host's address");
    assert.equal(route.remote.address, service.localAddress, "to the meeting's media server on the stack's address");
    assert.ok(
      route.offered.every((address) => !address.startsWith("127.")),
      `no loopback candidate offered: ${route.offered}`,
    );
  });

  it("baresip on the LAN dials the demo meeting through the edge: audio and video flow both ways, counted at both ends", async (t) => {
    const device = await startDevice(room, "Boardroom");
    try {
      await device.dialTo(dialString(), edge());
      await device.waitForEstablished(30_000);
      const bot = await botOf("Boardroom");
      // The browser decodes the device's video and hears its tone.
      const seen = await waitFor(
        async () => {
          const s = await deviceInBrowser("Boardroom");
          return s && s.framesDecoded > 20 ? s : undefined;
        },
        "the device's video decoded in the browser",
        30_000,
      );
      assert.equal(`${seen.frameWidth}x${seen.frameHeight}`, DEVICE_VIDEO.size);
      const heard = await page.evaluate(({ id }) => window.meeting.audioSpectrum(id, 2000), { id: seen.participantId });
      assert.ok(Math.abs(heard.peakHz - DEVICE_TONE_HZ) <= 25, `the browser hears ${heard.peakHz} Hz, the device sends ${DEVICE_TONE_HZ} Hz`);
      // The device decodes the browser's camera and receives its audio (baresip's own figures).
      const video = await waitFor(
        async () => {
          const s = await device.streamStats("video");
          return (s.framesDisplayed ?? 0) > 20 ? s : undefined;
        },
        "the browser's video on the device's display",
        30_000,
      );
      const audio = await device.streamStats("audio");
      t.diagnostic(
        `baresip: audio sent ${audio.packetsSent} received ${audio.packetsReceived}; video sent ${video.packetsSent} received ${video.packetsReceived}, ${video.framesDisplayed} pictures of ${video.displaySize}`,
      );
      assert.ok(audio.packetsSent > 100 && audio.packetsReceived > 100, JSON.stringify(audio));
      assert.ok(video.packetsSent > 20 && video.packetsReceived > 20, JSON.stringify(video));
      // rtpengine took the device's media on the stack's address from the device's own, and the bridge's on loopback.
      const streams = await rtpengineStreams();
      const deviceSide = streams.filter((s) => s.sdp === room.address);
      assert.equal(deviceSide.length, 2, JSON.stringify(streams));
      for (const s of deviceSide) assert.deepEqual([s.local, s.from], [service.localAddress, room.address], JSON.stringify(s));
      for (const s of streams.filter((x) => x.sdp !== room.address))
        assert.equal(s.local, "127.0.0.1", `the bridge's side stays on loopback: ${JSON.stringify(s)}`);

      await new Promise((r) => setTimeout(r, 2000));
      await device.hangup();
      await device.waitForClosed(10_000);
      // The device heard the browser: its recording peaks at the browser's tone.
      const [recording] = device.recordings("dec");
      assert.ok(recording, "baresip recorded what it heard");
      const wav = readWav(recording);
      const tail = wav.samples.subarray(Math.max(0, wav.samples.length - wav.sampleRate * 2));
      assert.ok(rms(tail) > 300, `the device heard something (rms ${rms(tail)})`);
      const peak = dominantFrequency(tail, wav.sampleRate, 200, 2000, 10);
      assert.ok(Math.abs(peak - BROWSER_TONE_HZ) <= 20, `the device hears ${peak} Hz, the browser sends ${BROWSER_TONE_HZ} Hz`);
      // Our side's counters: rtpengine's per direction on the device leg, werift's on the meeting leg.
      const q = await qualityOf(bot.id);
      t.diagnostic(`rtpengine (device leg): ${JSON.stringify(q.device)}; werift (meeting leg): ${JSON.stringify(q.meeting)}`);
      for (const kind of ["audio", "video"] as const) {
        assert.ok(q.device[kind].packetsReceived > 20, `rtpengine received the device's ${kind}: ${JSON.stringify(q.device[kind])}`);
        assert.ok(q.device[kind].packetsSent > 20, `rtpengine sent the meeting's ${kind} to the device: ${JSON.stringify(q.device[kind])}`);
        assert.ok(q.meeting[kind].packetsSent > 20 && q.meeting[kind].packetsReceived > 20, JSON.stringify(q.meeting[kind]));
      }
    } finally {
      await device.quit();
    }
  });

  it("baresip dials the tenant key alone and keys the VTC ID in with RFC 4733: the IVR puts it in the demo meeting", async () => {
    const device = await startDevice(room, "Huddle room");
    try {
      await device.dialTo(demo.tenantKey.split("@")[0] ?? "", edge());
      // The IVR answers at once; nobody is in a meeting yet.
      await device.waitForEstablished(15_000);
      assert.equal(stack.graph.calls().filter((c) => c.identity.displayName === "Huddle room").length, 0);
      await new Promise((r) => setTimeout(r, 1000));
      await device.sendDtmf(`${demo.vtcId}#`);
      const bot = await waitFor(
        () => stack.graph.calls().find((c) => c.identity.displayName === "Huddle room" && c.state === "established"),
        "the bot in the meeting the digits named",
        30_000,
      );
      assert.equal(bot.meetingId, demo.meetingId);
      await waitFor(async () => ((await deviceInBrowser("Huddle room"))?.framesDecoded ?? 0) > 5, "the IVR caller's video in the browser", 30_000);
      await device.hangup();
      await device.waitForClosed(10_000);
      await waitFor(() => stack.graph.calls().find((c) => c.id === bot.id)?.state === "terminated", "the bot left");
    } finally {
      await device.quit();
    }
  });

  it("baresip behind a NAT router (its private address in SDP and Contact): media flows both ways, and the gateway's BYE reaches it", async (t) => {
    const device = await startDevice(natted, "Branch office");
    try {
      await device.dialTo(dialString(), edge());
      await device.waitForEstablished(30_000);
      // baresip's local address, which it writes into Via, Contact and SDP, is its private one.
      assert.ok(device.outputTail(400).includes(`laddr=${natted.address},`), "baresip calls from its private address");
      const bot = await botOf("Branch office");
      // rtpengine learns where the device's media really comes from (latching, symmetric RTP) and sends there.
      const video = await waitFor(
        async () => {
          const s = await device.streamStats("video");
          return (s.framesDisplayed ?? 0) > 20 ? s : undefined;
        },
        "the browser's video at the device behind NAT",
        30_000,
      );
      const audio = await device.streamStats("audio");
      assert.ok(audio.packetsReceived > 50 && audio.packetsSent > 50, JSON.stringify(audio));
      await waitFor(async () => ((await deviceInBrowser("Branch office"))?.framesDecoded ?? 0) > 20, "the device's video in the browser", 30_000);
      const streams = (await rtpengineStreams()).filter((s) => s.sdp === natted.address);
      t.diagnostic(`rtpengine: ${JSON.stringify(streams)}; baresip: audio ${JSON.stringify(audio)}, video ${JSON.stringify(video)}`);
      assert.equal(streams.length, 2, "audio and video, the SDP naming the private address");
      for (const s of streams) {
        assert.equal(s.from, natted.publicAddress, `media came from the router's public address: ${JSON.stringify(s)}`);
        assert.ok(s.packets > 20, JSON.stringify(s));
      }
      // The meeting ends the call: the gateway's BYE goes through the edge to the address the device's requests came from.
      stack.graph.removeParticipant(bot.id);
      const closed = await device.waitForClosed(10_000);
      assert.equal(closed.param, CLOSED_BY_PEER, "the BYE reached the device behind NAT");
      const q = await qualityOf(bot.id);
      t.diagnostic(`rtpengine (device leg): ${JSON.stringify(q.device)}`);
      for (const kind of ["audio", "video"] as const)
        assert.ok(q.device[kind].packetsReceived > 20 && q.device[kind].packetsSent > 20, JSON.stringify(q.device[kind]));
    } finally {
      await device.quit();
    }
  });

  it("SIPp on another host: a direct dial with media and the IVR with RFC 4733 digits, through the edge", async (t) => {
    const before = stack.graph.calls().length;
    const direct = await runSipp({
      scenario: "direct-dial",
      host: sippHost,
      target: edge(),
      service: dialString(),
      mediaMs: 2000,
      timeoutInMs: 40_000,
    });
    assert.equal(direct.successful, 1, describeResult(direct));
    const [bot] = stack.graph.calls().slice(before);
    assert.ok(bot && bot.meetingId === demo.meetingId);
    const q = await qualityOf(bot.id);
    t.diagnostic(`direct dial, rtpengine (device leg): ${JSON.stringify(q.device.audio)}`);
    // 2 s of PCMU from SIPp in; the browser's voice out to it.
    assert.ok(q.device.audio.packetsReceived >= 90, JSON.stringify(q.device.audio));
    assert.ok(q.device.audio.packetsSent > 20, JSON.stringify(q.device.audio));

    const ivr = await runSipp({
      scenario: "ivr-rfc4733",
      host: sippHost,
      target: edge(),
      service: demo.tenantKey.split("@")[0] ?? "",
      dtmfDigits: `${demo.vtcId}#`,
      timeoutInMs: 40_000,
    });
    assert.equal(ivr.successful, 1, describeResult(ivr));
    const joined = stack.graph.calls().slice(before + 1);
    assert.equal(joined.length, 1, "the keyed-in ID put the IVR call in a meeting");
    assert.equal(joined[0]?.meetingId, demo.meetingId);
  });
});
