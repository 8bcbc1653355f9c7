import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import functions from "@azure/functions";
import { callsKeepAlive } from "../../functions/handlers/callsKeepAlive.js";
import { seedDemo, type SeededDemo } from "../../local/demo.js";
import { type LocalStack, startLocalStack } from "../../local/stack.js";
import { launchChromium } from "../support/browser.js";
import { adminApi } from "../support/onboarding.js";
import { dominantFrequency, readWav, rms, sineSamples, writeWav } from "../support/peers/audio.js";
import { type Baresip, startBaresip } from "../support/peers/baresip.js";
import { waitFor } from "../support/waiting.js";

// The whole product path with real peers: baresip (a room system: H.264 test pattern and a
// 440 Hz tone) dials the demo meeting through the media host (SIP, rtpengine, the WebRTC
// meeting leg), and headless Chromium joins the same meeting from the meeting emulator's
// page (fake camera; its microphone a 880 Hz tone). Each must see and hear the other.

const { InvocationContext } = functions;
const DEVICE_TONE_HZ = 440;
const BROWSER_TONE_HZ = 880;
const DEVICE_VIDEO = { size: "640x360", fps: 15, bitrate: 800_000 } as const;
const MEDIA_TIMEOUT_MS = 4000;
const keepAliveTimer = { isPastDue: false, scheduleStatus: { last: "", next: "", lastUpdated: "" } };

interface RemoteStats {
  participantId: string;
  displayName: string;
  framesDecoded: number;
  keyFramesDecoded: number;
  frameWidth: number;
  frameHeight: number;
  audioEnergy: number;
}

let stack: LocalStack;
let demo: SeededDemo;
let browser: Browser;
let page: Page;
let work: string;

/** What the meeting page exposes for tests (test/emulators/meeting/meetingPage.ts). */
interface MeetingPageApi {
  state?: string;
  participantId: string;
  stats(): Promise<RemoteStats[]>;
  audioSpectrum(participantId: string, ms: number): Promise<{ rms: number; peakHz: number }>;
}
declare const window: { meeting: MeetingPageApi };

const stats = () => page.evaluate(() => window.meeting.stats());
const deviceStats = async (name: string) => (await stats()).find((s) => s.displayName === name);

async function dialDemo(displayName: string, vtcId = demo.vtcId): Promise<Baresip> {
  const device = await startBaresip({
    displayName,
    video: "fakevideo",
    videoFormat: DEVICE_VIDEO,
    audioSource: { toneHz: DEVICE_TONE_HZ, durationMs: 120_000 },
    timeoutInMs: 180_000,
  });
  await device.dialTo(`${demo.tenantKey.split("@")[0]}.${vtcId}`, `127.0.0.1:${stack.mediaHost?.ports.sipUdp}`);
  await device.waitForEstablished(30_000);
  return device;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "opencvi-e2e-"));
  // A short media timeout: a room system waiting alone must outlast it (silence from the meeting is not death).
  stack = await startLocalStack({ logLevel: "none", mediaHost: { mediaTimeoutInMs: MEDIA_TIMEOUT_MS }, meetingMedia: {} });
  demo = await seedDemo(stack);
  const microphone = join(work, "browser-tone.wav");
  writeWav(microphone, sineSamples({ frequencyHz: BROWSER_TONE_HZ, durationMs: 10_000, sampleRate: 48_000, amplitude: 8000 }), 48_000);
  browser = await launchChromium({ fakeMicrophoneWav: microphone });
  page = await browser.newPage();
  const url = `${stack.meetingMedia?.pageUrl(demo.meetingId)}?name=${encodeURIComponent("Megan (browser)")}&autojoin=1`;
  await page.goto(url);
  await page.waitForFunction(() => window.meeting?.state === "connected", null, { timeout: 20_000 });
});
after(async () => {
  await browser?.close();
  await stack?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("a room system and a browser in one Teams meeting (baresip, media host, meeting emulator, Chromium)", () => {
  it("see and hear each other; a keyframe request from the meeting gets a new keyframe from the device; hanging up ends both legs", async () => {
    const device = await dialDemo("Boardroom");
    try {
      // The browser decodes the device's video at the size the device sends, and more frames over time.
      const first = await waitFor(
        async () => {
          const s = await deviceStats("Boardroom");
          return s && s.framesDecoded > 10 ? s : undefined;
        },
        "the device's video decoded in the browser",
        30_000,
      );
      assert.equal(`${first.frameWidth}x${first.frameHeight}`, DEVICE_VIDEO.size);
      await waitFor(async () => ((await deviceStats("Boardroom"))?.framesDecoded ?? 0) > first.framesDecoded + 15, "more frames", 15_000);

      // The browser hears the device: energy, and its spectrum peaks at the device's tone.
      const heard = await page.evaluate(({ id }) => window.meeting.audioSpectrum(id, 2000), { id: first.participantId });
      assert.ok(heard.rms > 0.01, `the device's audio is audible in the browser (rms ${heard.rms})`);
      assert.ok(Math.abs(heard.peakHz - DEVICE_TONE_HZ) <= 25, `the browser hears ${heard.peakHz} Hz, the device sends ${DEVICE_TONE_HZ} Hz`);

      // A receiver in the meeting asks for a keyframe: the device's encoder makes one (via RTCP PLI/FIR or SIP INFO).
      const before = (await deviceStats("Boardroom"))?.keyFramesDecoded ?? 0;
      const me = await page.evaluate(() => window.meeting.participantId);
      const asked = await fetch(`${stack.meetingMedia?.pageUrl(demo.meetingId)}/participants/${me}/keyframe-requests`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ of: first.participantId }),
      });
      assert.equal(asked.status, 202);
      await waitFor(async () => ((await deviceStats("Boardroom"))?.keyFramesDecoded ?? 0) > before, "a new keyframe from the device", 5000);
      const metrics = (await stack.mediaHost?.host.metrics.render())?.body ?? "";
      assert.match(metrics, /cvi_keyframe_requests_total\{[^}]*towards="device"[^}]*\} [1-9]/, "the media host passed the request on to the device");

      // Let the device record some of the browser's tone, then hang up on the device.
      await new Promise((r) => setTimeout(r, 3000));
      const [bot] = stack.graph.calls().filter((c) => c.identity.displayName === "Boardroom");
      assert.ok(bot);
      await device.hangup();
      await device.waitForClosed(10_000);
      // The device heard the browser: its recording of what it received (closed with the call) peaks at the browser's tone.
      const [recording] = device.recordings("dec");
      assert.ok(recording, "baresip recorded the audio it received");
      const wav = readWav(recording);
      const tail = wav.samples.subarray(Math.max(0, wav.samples.length - wav.sampleRate * 3));
      assert.ok(rms(tail) > 300, `the device heard something (rms ${rms(tail)})`);
      const peak = dominantFrequency(tail, wav.sampleRate, 200, 2000, 10);
      assert.ok(Math.abs(peak - BROWSER_TONE_HZ) <= 20, `the device hears ${peak} Hz, the browser's microphone sends ${BROWSER_TONE_HZ} Hz`);
      await waitFor(() => stack.graph.calls().find((c) => c.id === bot.id)?.state === "terminated", "the bot left the meeting", 10_000);
      await waitFor(
        () => (stack.meetingMedia?.server.participants(demo.meetingId) ?? []).every((p) => p.kind !== "bot"),
        "the bot's media gone from the meeting",
        10_000,
      );
      await waitFor(async () => (await deviceStats("Boardroom")) === undefined, "the device gone from the browser's roster", 10_000);

      // The call record keeps both legs' quality, and Teams got the device's quality report.
      const record = await waitFor(
        async () => {
          const r = await adminApi(stack, "GET", `/v1/calls/${bot.id}`);
          return r.json.quality ? r.json : undefined;
        },
        "the call's quality in its record",
        10_000,
      );
      const deviceVideo = record.quality.deviceLeg.find((s: { kind: string }) => s.kind === "video");
      const meetingVideo = record.quality.meetingLeg.find((s: { kind: string }) => s.kind === "video");
      assert.ok(deviceVideo?.packetsReceived > 100, JSON.stringify(record.quality));
      assert.ok(meetingVideo?.packetsSent > 100, JSON.stringify(record.quality));
      // Reported to Teams right after the record is written.
      await waitFor(
        () => stack.graph.deviceQualityReports().some((r) => (r.quality as { deviceName?: string }).deviceName === "Boardroom"),
        "Teams' copy of the device's quality",
        5000,
      );
    } finally {
      await device.quit();
    }
  });

  it("a room system that dials in first waits alone past the media timeout and an hour of Teams' clock, then sees and hears the first person to join", async () => {
    const { meetingId } = stack.graph.createTeamsMeetingEvent(demo.tenantId, demo.organizerId, {
      subject: "Early room",
      start: new Date(),
      end: new Date(Date.now() + 4 * 3600_000),
      lobbyScope: "everyone",
      videoTeleconferenceId: "7000000001",
    });
    for (let i = 0; i < 3; i++) await stack.graph.idle();
    const device = await dialDemo("Early room", "7000000001");
    const latecomer = await browser.newPage();
    try {
      const bot = stack.graph.calls().find((c) => c.identity.displayName === "Early room" && c.state === "established");
      assert.ok(bot, "in the meeting, alone");
      // Nobody sends it anything for twice the media timeout: it stays.
      await new Promise((r) => setTimeout(r, 2 * MEDIA_TIMEOUT_MS + 1000));
      // An hour on Teams' clock, with the control plane's keep-alive every 15 minutes (Graph ends a call not kept alive for 45).
      for (let quarter = 0; quarter < 4; quarter++) {
        stack.graph.advanceClock(15 * 60_000);
        await callsKeepAlive(
          keepAliveTimer as never,
          new InvocationContext({ invocationId: "e2e", functionName: "callsKeepAlive", logHandler: () => {} }),
        );
      }
      assert.equal(stack.graph.calls().find((c) => c.id === bot.id)?.state, "established", "still in the meeting");
      assert.equal(stack.mediaHost?.host.activeCalls, 1, "the media host still carries it");
      // The first person joins: the device's video and voice reach them, theirs reach the device.
      await latecomer.goto(`${stack.meetingMedia?.pageUrl(meetingId)}?name=${encodeURIComponent("Latecomer")}&autojoin=1`);
      await latecomer.waitForFunction(() => window.meeting?.state === "connected", null, { timeout: 20_000 });
      const seen = await waitFor(
        async () => {
          const s = (await latecomer.evaluate(() => window.meeting.stats())).find((r) => r.displayName === "Early room");
          return s && s.framesDecoded > 10 ? s : undefined;
        },
        "the waiting room's video at the latecomer",
        30_000,
      );
      const heard = await latecomer.evaluate(({ id }) => window.meeting.audioSpectrum(id, 2000), { id: seen.participantId });
      assert.ok(Math.abs(heard.peakHz - DEVICE_TONE_HZ) <= 25, `the latecomer hears ${heard.peakHz} Hz`);
      await new Promise((r) => setTimeout(r, 3000));
      await device.hangup();
      await device.waitForClosed(10_000);
      const [recording] = device.recordings("dec");
      assert.ok(recording);
      const wav = readWav(recording);
      const tail = wav.samples.subarray(Math.max(0, wav.samples.length - wav.sampleRate * 2));
      const peak = dominantFrequency(tail, wav.sampleRate, 200, 2000, 10);
      assert.ok(Math.abs(peak - BROWSER_TONE_HZ) <= 20, `the waiting room hears the latecomer at ${peak} Hz`);
    } finally {
      await latecomer.close();
      await device.quit();
    }
  });

  it("the meeting side hangs up: removed from the meeting, the device gets a BYE and its media leg closes", async () => {
    const device = await dialDemo("Huddle room");
    try {
      await waitFor(async () => ((await deviceStats("Huddle room"))?.framesDecoded ?? 0) > 5, "the device's video in the browser", 30_000);
      const bot = stack.graph.calls().find((c) => c.identity.displayName === "Huddle room" && c.state === "established");
      assert.ok(bot);
      stack.graph.removeParticipant(bot.id);
      await device.waitForClosed(10_000);
      await waitFor(
        () => (stack.meetingMedia?.server.participants(demo.meetingId) ?? []).every((p) => p.kind !== "bot"),
        "the bot's media gone",
        10_000,
      );
      await waitFor(() => stack.mediaHost?.host.activeCalls === 0, "the media host's call ended", 10_000);
    } finally {
      await device.quit();
    }
  });
});
