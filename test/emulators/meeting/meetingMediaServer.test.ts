import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { chromium } from "playwright-core";
import { waitFor } from "../../support/waiting.js";
import { RTCPeerConnection, RTCRtpCodecParameters } from "werift";
import { KeyframeRequestThrottle } from "./keyframeRequestThrottle.js";
import { LOOPBACK_ICE, onlyLoopbackCandidates, reachableCandidates, waitForIceGathering } from "./iceAddress.js";
import { MeetingMediaServer, type RosterHooks } from "./meetingMediaServer.js";
import { ParticipantLeg } from "./participantLeg.js";
import { h264Content } from "../../support/media/h264Content.js";
import { StandInBot } from "./standInBot.js";

/** The Graph emulator's side, recorded: people joining and leaving, bots whose media failed. */
class RecordingRoster implements RosterHooks {
  readonly joined: { meetingId: string; displayName: string; participantId: string }[] = [];
  readonly left: { meetingId: string; participantId: string }[] = [];
  readonly botFailures: { callId: string; reason: string }[] = [];

  personJoined(meetingId: string, displayName: string): string {
    if (meetingId.startsWith("unknown")) throw new Error(`no meeting ${meetingId}`);
    const participantId = randomUUID();
    this.joined.push({ meetingId, displayName, participantId });
    return participantId;
  }

  personLeft(meetingId: string, participantId: string): void {
    this.left.push({ meetingId, participantId });
  }

  readonly sharing: { meetingId: string; participantId: string; started: boolean }[] = [];

  screenSharingStarted(meetingId: string, participantId: string): void {
    this.sharing.push({ meetingId, participantId, started: true });
  }

  screenSharingStopped(meetingId: string, participantId: string): void {
    this.sharing.push({ meetingId, participantId, started: false });
  }

  botMediaFailed(callId: string, reason: string): void {
    this.botFailures.push({ callId, reason });
  }
}

const BASE = "/_emulator/meetings";

let http: Server;
let origin: string;
let media: MeetingMediaServer;
const roster = new RecordingRoster();
const bots: StandInBot[] = [];

async function bot(tag: number): Promise<StandInBot> {
  const b = await StandInBot.start(tag);
  bots.push(b);
  return b;
}

async function join(meetingId: string, b: StandInBot, level = 127): Promise<string> {
  const callId = `call-${b.tag}-${randomUUID()}`;
  await media.botJoined({ meetingId, callId, displayName: `Room ${b.tag}`, blob: b.blob() });
  b.startSending(level);
  return callId;
}

async function request(method: string, path: string, body?: unknown): Promise<{ status: number; type: string; json: any }> {
  const response = await fetch(`${origin}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, type: response.headers.get("content-type") ?? "", json: text ? JSON.parse(text) : undefined };
}

before(async () => {
  http = createServer((req, res) => void media.handle(req, res).then((mine) => mine || res.writeHead(404).end()));
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  media = new MeetingMediaServer({ roster, origin });
});

after(async () => {
  await media.close();
  await Promise.all(bots.map((b) => b.close()));
  http.closeAllConnections();
  await new Promise<void>((resolve) => http.close(() => resolve()));
});

describe("MeetingMediaServer with bots (the meeting leg contract)", () => {
  it("answers each bot at its session and forwards each bot's audio and video to the other", async () => {
    const meetingId = `meeting-${randomUUID()}`;
    const [a, b] = await Promise.all([bot(1), bot(2)]);
    const [callA, callB] = await Promise.all([join(meetingId, a), join(meetingId, b)]);

    for (const s of [a, b]) {
      const posted = s.sessionRequests.find((r) => r.method === "POST");
      assert.equal(posted?.status, 201);
      assert.equal(posted?.authorization, `Bearer ${s.answerToken}`);
      assert.match(posted?.link ?? "", new RegExp(`^<${origin}${BASE}/${meetingId}/bots/call-${s.tag}-[^>]+>; rel="meeting-media-session"$`));
    }
    await waitFor(() => a.receivedFrom("audio", 2).length >= 25 && b.receivedFrom("audio", 1).length >= 25, "each bot to hear the other");
    await waitFor(() => a.receivedFrom("video", 2).length >= 10 && b.receivedFrom("video", 1).length >= 10, "each bot to see the other");
    // Video starts on a keyframe: the SFU asked each source for one when its receiver came up, and held the stream until it came.
    assert.equal(a.receivedFrom("video", 2)[0]?.nalType, 5);
    assert.equal(b.receivedFrom("video", 1)[0]?.nalType, 5);
    assert.ok(a.keyframeRequests.pli >= 1 && a.keyframeRequests.fir >= 1, "the SFU sends PLI and FIR");
    // Nothing of a bot comes back to itself.
    assert.equal(a.receivedFrom("audio", 1).length, 0);

    const snapshot = media.participants(meetingId);
    assert.deepEqual(snapshot.map((p) => [p.participantId, p.kind, p.connectionState]).sort(), [
      [callA, "bot", "connected"],
      [callB, "bot", "connected"],
    ]);
    for (const p of snapshot) {
      assert.ok(p.receivedPackets.audio > 0 && p.receivedPackets.video > 0 && p.sentPackets.audio > 0 && p.sentPackets.video > 0);
      assert.deepEqual(p.receives, [p.participantId === callA ? callB : callA]);
    }
  });

  it("sends a keyframe request made on behalf of one bot to the other as RTCP PLI, and passes a bot's own PLI to its source", async () => {
    const meetingId = `meeting-${randomUUID()}`;
    const [a, b] = await Promise.all([bot(3), bot(4)]);
    const [callA, callB] = await Promise.all([join(meetingId, a), join(meetingId, b)]);
    await waitFor(() => a.receivedFrom("video", 4).length > 0 && b.receivedFrom("video", 3).length > 0, "video both ways");

    const before = b.keyframeRequests.pli;
    media.requestKeyframe(meetingId, callA, callB);
    await waitFor(() => b.keyframeRequests.pli > before, "a PLI at bot B");

    // Through the route, as the page asks.
    const viaHttp = b.keyframeRequests.pli;
    const accepted = await request("POST", `${BASE}/${meetingId}/participants/${callA}/keyframe-requests`, { of: callB });
    assert.equal(accepted.status, 202);
    await waitFor(() => b.keyframeRequests.pli > viaHttp, "a PLI at bot B after the HTTP request");

    // A's own PLI (as a receiver, for the SSRC the SFU sends it) reaches A's current source, B.
    const fromReceiver = b.keyframeRequests.pli;
    await a.sendPli();
    await waitFor(() => b.keyframeRequests.pli > fromReceiver, "A's PLI forwarded to B");
  });

  it("gives a bot the active speaker's audio and video, switching without a gap in sequence numbers", async () => {
    const meetingId = `meeting-${randomUUID()}`;
    const [quiet, speaker, listener] = await Promise.all([bot(5), bot(6), bot(7)]);
    // Who sends first is the speaker while nobody speaks.
    await join(meetingId, quiet, 127);
    await waitFor(() => media.participants(meetingId)[0]?.receivedPackets.audio, "audio from the quiet bot");
    const [callSpeaker] = await Promise.all([join(meetingId, speaker, 127), join(meetingId, listener, 127)]);
    await waitFor(() => listener.receivedFrom("audio", 5).length >= 10, "the listener to get the first sender's audio");
    await waitFor(() => listener.receivedFrom("video", 5).length >= 3, "the listener to get the first sender's video");
    assert.equal(listener.receivedFrom("audio", 6).length, 0, "only one audio stream goes to a bot");

    const plis = speaker.keyframeRequests.pli;
    speaker.setLevel(20); // -20 dBov: speech
    await waitFor(() => listener.receivedFrom("audio", 6).length >= 10, "the listener to switch to the speaker's audio");
    await waitFor(() => listener.receivedFrom("video", 6).length >= 3, "the listener to switch to the speaker's video");
    // (Within 500 ms of an earlier request it is folded into one sent when the interval ends.)
    await waitFor(() => speaker.keyframeRequests.pli > plis, "the switch to ask the new source for a keyframe");
    assert.equal(listener.receivedFrom("video", 6)[0]?.nalType, 5, "the switched video starts on a keyframe");

    // One outgoing stream: the first packet from the new source continues the old one's numbering.
    const audio = listener.received.audio;
    const switchAt = audio.findIndex((p) => p.from === 6);
    const [last, next] = [audio[switchAt - 1]!, audio[switchAt]!];
    assert.equal(last.from, 5);
    assert.equal(next.ssrc, last.ssrc);
    assert.equal(next.sequenceNumber, (last.sequenceNumber + 1) & 0xffff);
    assert.ok((next.timestamp - last.timestamp) >>> 0 < 48000, "the timestamp moves on by the pause, not by a jump");
    const video = listener.received.video;
    const videoSwitch = video.findIndex((p) => p.from === 6);
    assert.equal(video[videoSwitch]!.sequenceNumber, (video[videoSwitch - 1]!.sequenceNumber + 1) & 0xffff);

    // The speaker leaves: the listener falls back to whoever is left.
    const heardBefore = listener.receivedFrom("audio", 5).length;
    media.botLeft(callSpeaker, "hung up");
    await waitFor(() => listener.receivedFrom("audio", 5).length > heardBefore + 10, "the listener back on the remaining participant");
  });

  it("botLeft closes the bot's media and DELETEs its session with the answer token", async () => {
    const meetingId = `meeting-${randomUUID()}`;
    const [a, b] = await Promise.all([bot(8), bot(9)]);
    const [callA, callB] = await Promise.all([join(meetingId, a), join(meetingId, b)]);
    await waitFor(() => b.receivedFrom("audio", 8).length > 0, "media flowing");
    media.botLeft(callA, "the call ended in Graph");
    await waitFor(() => a.deleted, "DELETE at bot A's session");
    const deleted = a.sessionRequests.find((r) => r.method === "DELETE");
    assert.equal(deleted?.authorization, `Bearer ${a.answerToken}`);
    assert.deepEqual(
      media.participants(meetingId).map((p) => p.participantId),
      [callB],
    );
    assert.equal(roster.botFailures.length, 0, "a bot that left is not a media failure");
  });

  it("tells the roster a bot's media failed when its media host DELETEs the leg", async () => {
    const meetingId = `meeting-${randomUUID()}`;
    const a = await bot(10);
    const callA = await join(meetingId, a);
    // An established leg (closing one mid-handshake leaves werift retransmitting its DTLS flight for ~27 s).
    await waitFor(() => media.participants(meetingId)[0]?.connectionState === "connected" && a.connectionState === "connected", "the leg up");
    const link = /^<([^>]+)>/.exec(a.sessionRequests[0]?.link ?? "")?.[1];
    assert.ok(link);
    const wrong = await fetch(link, { method: "DELETE", headers: { authorization: "Bearer not-the-token" } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get("content-type"), "application/problem+json");
    const ended = await fetch(link, { method: "DELETE", headers: { authorization: `Bearer ${a.answerToken}` } });
    assert.equal(ended.status, 204);
    await waitFor(() => roster.botFailures.find((f) => f.callId === callA), "botMediaFailed");
    assert.match(roster.botFailures.find((f) => f.callId === callA)!.reason, /media host ended/);
    assert.deepEqual(media.participants(meetingId), []);
    assert.equal(a.deleted, false, "the media host ended it: no DELETE back");
  });

  it("rejects a bad blob, a session that refuses the answer and a second join of the same call, naming what is wrong", async () => {
    const a = await bot(11);
    const meetingId = `meeting-${randomUUID()}`;
    const joinWith = (blob: string, callId = randomUUID()) => media.botJoined({ meetingId, callId, displayName: "Room", blob });
    await assert.rejects(joinWith("not json"), /the media blob is not JSON/);
    await assert.rejects(joinWith(a.blob({ version: 2 })), /version must be 1 \(got 2\)/);
    await assert.rejects(
      joinWith(a.blob({ session: "ftp://x/y", answerToken: "" })),
      /session must be an http or https URL; answerToken must be a non-empty string/,
    );
    await assert.rejects(joinWith(a.blob({ offer: undefined })), /offer must be an SDP offer/);
    const twoLines = JSON.parse(a.blob()).offer.replace(/m=video[\s\S]*$/, "");
    await assert.rejects(joinWith(a.blob({ offer: twoLines })), /three m-lines: audio, main video, content video \(got audio\)/);
    await assert.rejects(joinWith(a.blob({ answerToken: "wrong-token" })), /answered 401 instead of 201/);
    assert.ok(a.sessionRequests.some((r) => r.status === 401));
    const callId = randomUUID();
    await joinWith(a.blob(), callId);
    await assert.rejects(joinWith(a.blob(), callId), /already has media/);
    assert.deepEqual(
      media.participants(meetingId).map((p) => p.participantId),
      [callId],
    );
  });
});

describe("MeetingMediaServer screen sharing between bots", () => {
  it("forwards only the sharer's content, from a keyframe it was asked for, to every other content track; the last sharer wins", async () => {
    const meetingId = `meeting-${randomUUID()}`;
    // One keyframe, then P-pictures: a restart from the first picture is the answer to a keyframe request.
    const clip = await h264Content({ width: 320, height: 180, frames: 10, fps: 10, keyframeInterval: 11 });
    const [a, b, c] = await Promise.all([bot(21), bot(22), bot(23)]);
    const [callA, callB, callC] = await Promise.all([join(meetingId, a), join(meetingId, b), join(meetingId, c)]);
    await waitFor(() => [a, b, c].every((x) => x.connectionState === "connected"), "three bots connected");
    const snapshot = (id: string) => media.participants(meetingId).find((p) => p.participantId === id)!;
    a.startSharing(clip, 10);
    b.startSharing(clip, 10);

    // No one has the role yet: the SFU gets both bots' content and forwards none of it.
    await waitFor(() => snapshot(callA).receivedPackets.content > 20 && snapshot(callB).receivedPackets.content > 20, "content at the SFU");
    assert.equal(a.received.content.length + b.received.content.length + c.received.content.length, 0);

    media.botScreenSharingRole(meetingId, callA, "sharer");
    await waitFor(() => b.received.content.length > 10 && c.received.content.length > 10, "A's share at B and C");
    assert.equal(b.received.content[0]?.keyframeStart, true, "forwarding starts on a keyframe");
    assert.ok(a.contentKeyframeRequests.pli >= 1 && a.contentKeyframeRequests.fir >= 1, "the new sharer was asked for one");
    assert.equal(a.received.content.length, 0, "the sharer gets nothing back; B's content still goes nowhere");
    assert.deepEqual(
      [callA, callB, callC].map((id) => [snapshot(id).sharing, snapshot(id).receivesContent]),
      [
        [true, null],
        [false, callA],
        [false, callA],
      ],
    );

    // B takes the share: A now receives B's from a keyframe, C switches without a new SSRC or a gap in numbering.
    const cBefore = c.received.content.length;
    media.botScreenSharingRole(meetingId, callB, "sharer");
    await waitFor(() => a.received.content.length > 10 && c.received.content.length > cBefore + 10, "B's share at A and C");
    assert.equal(a.received.content[0]?.keyframeStart, true);
    const switched = c.received.content.slice(cBefore - 1);
    assert.equal(new Set(c.received.content.map((p) => p.ssrc)).size, 1, "one outgoing SSRC per content track");
    for (let i = 1; i < switched.length; i++) assert.equal(switched[i]!.sequenceNumber, (switched[i - 1]!.sequenceNumber + 1) & 0xffff);
    assert.equal(snapshot(callA).sharing, false);

    // A's viewer changes nothing (B shares); B's stops the share for everyone.
    media.botScreenSharingRole(meetingId, callA, "viewer");
    assert.equal(snapshot(callB).sharing, true);
    media.botScreenSharingRole(meetingId, callB, "viewer");
    assert.deepEqual(
      [callA, callB, callC].map((id) => snapshot(id).receivesContent),
      [null, null, null],
    );

    // A sharer that leaves the meeting shares no more.
    media.botScreenSharingRole(meetingId, callC, "sharer");
    assert.equal(snapshot(callA).receivesContent, callC);
    media.botLeft(callC, "hung up");
    await waitFor(() => media.participants(meetingId).length === 2, "bot C gone");
    assert.deepEqual(
      [callA, callB].map((id) => [snapshot(id).sharing, snapshot(id).receivesContent]),
      [
        [false, null],
        [false, null],
      ],
    );
  });
});

describe("the candidates the SFU takes from an offer", () => {
  it("on loopback only loopback ones; on a real address only IPv4 UDP ones that are not loopback (no mDNS names, IPv6 or TCP)", async () => {
    const sdp = [
      "v=0",
      "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
      "a=candidate:2 1 udp 2122260223 198.51.100.7 50001 typ host",
      "a=candidate:3 1 udp 2122260223 3b0f1c2e-5d8a-4c1e-9f00-0123456789ab.local 50002 typ host",
      "a=candidate:4 1 udp 2122262783 2001:db8::7 50003 typ host",
      "a=candidate:5 1 tcp 1518280447 198.51.100.7 9 typ host tcptype active",
      "",
    ].join("\r\n");
    const kept = (text: string) => (text.match(/^a=candidate:.*$/gm) ?? []).map((l) => `${l.split(" ")[2]} ${l.split(" ")[4]}`);
    assert.deepEqual(kept(reachableCandidates(sdp, "127.0.0.1")), ["udp 127.0.0.1"]);
    assert.deepEqual(kept(reachableCandidates(sdp, "198.51.100.1")), ["udp 198.51.100.7"]);
    // A browser on this machine offers loopback candidates only with a flag; on a real address the SFU says what it needs.
    const loopbackOnly = await pageLikeOffer();
    assert.ok(ParticipantLeg.plan("person", loopbackOnly).slots >= 1);
    assert.throws(
      () => ParticipantLeg.plan("person", loopbackOnly, "198.51.100.1"),
      /no UDP candidate on an IPv4 address the meeting's media server \(on 198\.51\.100\.1\) can reach/,
    );
  });
});

describe("MeetingMediaServer HTTP errors", () => {
  it("answers bad requests with problem details, never a 500", async () => {
    const sdp = "v=0\r\n";
    const unknown = await request("POST", `${BASE}/unknown-meeting/participants`, { displayName: "Ann", sdp: await pageLikeOffer() });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.type, "application/problem+json");
    assert.match(unknown.json.detail, /no meeting unknown-meeting/);

    const cases: [string, string, unknown, number, RegExp][] = [
      ["POST", `${BASE}/m1/participants`, "{", 400, /must be JSON/],
      ["POST", `${BASE}/m1/participants`, { sdp }, 400, /displayName must be a non-empty string/],
      ["POST", `${BASE}/m1/participants`, { displayName: "Ann", sdp: "hello" }, 400, /sdp must be the page's SDP offer/],
      ["POST", `${BASE}/m1/participants`, { displayName: "Ann", sdp }, 400, /no UDP candidate on 127.0.0.1/],
      ["GET", `${BASE}/m1/participants/nobody/events`, undefined, 404, /no participant nobody/],
      ["DELETE", `${BASE}/m1/participants/nobody`, undefined, 404, /no person nobody/],
      ["POST", `${BASE}/m1/participants/nobody/keyframe-requests`, { of: "x" }, 404, /no media in meeting m1/],
      ["POST", `${BASE}/m1/participants/nobody/keyframe-requests`, {}, 400, /"of"/],
      ["DELETE", `${BASE}/m1/bots/nobody`, undefined, 404, /no bot media for call nobody/],
      ["PUT", `${BASE}/m1/participants/nobody/screen-share`, undefined, 404, /no person nobody in meeting m1/],
      ["GET", `${BASE}/m1/participants/nobody/screen-share`, undefined, 405, /GET is not allowed here \(allowed: PUT, DELETE\)/],
      ["GET", `${BASE}/m1/whatever`, undefined, 404, /no such resource/],
      ["PUT", `${BASE}/m1`, undefined, 405, /PUT is not allowed/],
      ["GET", `${BASE}/%E0%A4%A`, undefined, 400, /percent-encoding/],
    ];
    for (const [method, path, body, status, detail] of cases) {
      const r = await request(method, path, body);
      assert.equal(r.status, status, `${method} ${path}`);
      assert.equal(r.type, "application/problem+json", `${method} ${path}`);
      assert.match(r.json.detail, detail, `${method} ${path}`);
    }
    const layout = await request("POST", `${BASE}/m1/participants`, { displayName: "Ann", sdp: JSON.parse((await bot(12)).blob()).offer });
    assert.equal(layout.status, 400);
    assert.match(layout.json.detail, /a page's offer must have its own audio and video, then 1 to 16 recvonly audio\/video pairs/);
    assert.equal(roster.joined.length, 0, "no roster change for a refused join");

    const page = await fetch(`${origin}${BASE}/m1`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(await page.text(), /window\.meeting = /);
  });

  it("folds keyframe requests inside 500 ms into one sent when the interval ends", async () => {
    let sent = 0;
    const throttle = new KeyframeRequestThrottle(500, () => sent++);
    for (let i = 0; i < 5; i++) throttle.request();
    assert.equal(sent, 1);
    await waitFor(() => sent === 2, "the folded request");
    throttle.close();
  });
});

/** An offer shaped like the page's (own audio and video, one receive-only pair), from werift. */
async function pageLikeOffer(): Promise<string> {
  const pc = new RTCPeerConnection({
    ...LOOPBACK_ICE,
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2 })],
      video: [new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000, parameters: "packetization-mode=1;profile-level-id=42e01f" })],
    },
  });
  try {
    pc.addTransceiver("audio", { direction: "sendrecv" });
    pc.addTransceiver("video", { direction: "sendrecv" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    pc.addTransceiver("video", { direction: "recvonly" });
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc);
    return onlyLoopbackCandidates(pc.localDescription?.sdp ?? "");
  } finally {
    await pc.close();
  }
}

describe("MeetingMediaServer with people in Chromium", () => {
  it("two pages see and hear each other through the SFU, and a bot in the meeting gets a page's real H.264", async () => {
    const browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        "--allow-loopback-in-peer-connection",
        "--disable-background-networking",
        "--no-first-run",
        "--autoplay-policy=no-user-gesture-required",
      ],
    });
    try {
      const meetingId = `meeting-${randomUUID()}`;
      const open = async (name: string) => {
        const page = await (await browser.newContext()).newPage();
        await page.goto(`${origin}${BASE}/${meetingId}?name=${name}&autojoin=1`);
        await page.waitForFunction(() => (globalThis as any).meeting.state === "connected" || (globalThis as any).meeting.error, null, {
          timeout: 15_000,
        });
        assert.equal(await page.evaluate(() => (globalThis as any).meeting.error), null);
        return page;
      };
      const alice = await open("Alice");
      const bob = await open("Bob");
      type Page = typeof alice;
      const idOf = (page: Page) => page.evaluate(() => (globalThis as any).meeting.participantId as string);
      const ids = { alice: await idOf(alice), bob: await idOf(bob) };
      const statsOf = async (page: Page, of: string) =>
        ((await page.evaluate(() => (globalThis as any).meeting.stats())) as any[]).find((s) => s.participantId === of);

      const decoding = async (page: Page, other: string) => {
        const first = await waitForAsync(async () => {
          const s = await statsOf(page, other);
          return s && s.framesDecoded > 5 && s.frameWidth > 0 && s.audioEnergy > 0 ? s : undefined;
        }, `${other}'s video and audio decoded`);
        return waitForAsync(async () => {
          const s = await statsOf(page, other);
          return s.framesDecoded > first.framesDecoded + 10 && s.audioEnergy > first.audioEnergy ? s : undefined;
        }, `${other}'s frames and audio still coming`);
      };
      const [atAlice, atBob] = await Promise.all([decoding(alice, ids.bob), decoding(bob, ids.alice)]);
      for (const s of [atAlice, atBob]) assert.ok(s.keyFramesDecoded >= 1 && s.frameHeight > 0, JSON.stringify(s));

      // Chromium's fake microphone plays a 400 Hz tone (measured: 390–400 Hz in 5 Hz steps, RMS about 0.09 after Opus).
      const spectra = await Promise.all([
        alice.evaluate((id) => (globalThis as any).meeting.audioSpectrum(id, 1500), ids.bob),
        bob.evaluate((id) => (globalThis as any).meeting.audioSpectrum(id, 1500), ids.alice),
      ]);
      for (const s of spectra) {
        assert.ok(s.rms > 0.01, `rms ${s.rms}`);
        assert.ok(Math.abs(s.peakHz - 400) <= 25, `peak at ${s.peakHz} Hz`);
      }

      // A bot joins: it gets one page's audio and real H.264 starting on a keyframe; both pages get its packets in a slot of their own.
      const b = await bot(14);
      const callId = await join(meetingId, b);
      await waitFor(() => b.received.audio.length >= 25 && b.received.video.length >= 10, "a page's media at the bot", 15_000);
      assert.ok(b.received.video[0]!.keyframeStart, `the bot's first video packet starts a keyframe (NAL type ${b.received.video[0]!.nalType})`);
      for (const page of [alice, bob])
        await waitForAsync(async () => {
          const s = await statsOf(page, callId);
          return s && s.slot === 1 && s.audioPackets > 10 && s.videoPackets > 5 ? s : undefined;
        }, "the bot's packets at a page");

      const snapshot = media.participants(meetingId);
      assert.deepEqual(snapshot.map((p) => [p.displayName, p.kind, p.connectionState]).sort(), [
        ["Alice", "person", "connected"],
        ["Bob", "person", "connected"],
        ["Room 14", "bot", "connected"],
      ]);
      assert.deepEqual(
        roster.joined.filter((j) => j.meetingId === meetingId).map((j) => j.displayName),
        ["Alice", "Bob"],
      );

      // Alice leaves from the page: the roster hook hears it, Bob's roster shrinks, the bot falls back to Bob.
      await alice.click("#leave-button");
      await waitFor(() => roster.left.find((l) => l.participantId === ids.alice), "personLeft for Alice");
      await bob.waitForFunction(() => (globalThis as any).meeting.roster.length === 2, null, { timeout: 10_000 });
      await waitFor(() => media.participants(meetingId).find((p) => p.participantId === callId)?.receives[0] === ids.bob, "the bot on Bob");
    } finally {
      await browser.close();
    }
  });
});

async function waitForAsync<T>(probe: () => Promise<T | undefined>, what: string, timeoutInMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutInMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutInMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
