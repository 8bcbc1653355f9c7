import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { anchorMedia } from "../../../media-host/calls/anchorMedia.js";
import { MeetingLegServer } from "../../../media-host/meeting/meetingLegServer.js";
import { deviceLegQuality } from "../../../media-host/rtpengine/deviceLegQuality.js";
import type { WebRtcMeetingLeg } from "../../../media-host/meeting/webRtcMeetingLeg.js";
import { type RtpengineHarness, startRtpengine } from "../rtpengine/support/harness.js";
import { MeetingPeer } from "../../support/media/meetingPeer.js";
import { DEVICE_VIDEO_PT, PlainRtpDevice, type PlainRtpDeviceOptions, rtpPacket } from "../../support/media/plainRtpDevice.js";
import { dropUdpTo } from "../../support/netfilter.js";
import { waitFor } from "../../support/waiting.js";

// The meeting leg with real rtpengine and a real WebRTC peer in the meeting's place:
// a room system's plain RTP (PCMU, H.264) reaches the meeting as Opus and H.264 over
// DTLS-SRTP, and the meeting's media comes back, keyframe requests crossing both ways.
let rtpengine: RtpengineHarness;
let legs: MeetingLegServer;
/** The legs' log lines, oldest first. */
const legLog: Record<string, unknown>[] = [];

before(async () => {
  rtpengine = await startRtpengine();
  legs = new MeetingLegServer({
    mediaHostId: "mh-test",
    host: "127.0.0.1",
    port: 0,
    // A port range, as on a VM (WEBRTC_PORT_MIN..MAX): each leg gets a window of it.
    ice: { bindAddress: "127.0.0.1", advertisedAddress: "127.0.0.1", portRange: [29000, 29199] },
    mediaTimeoutInMs: 2000,
    answerTimeoutInMs: 1500,
    logger: pino({ level: "debug" }, { write: (line: string) => void legLog.push(JSON.parse(line)) }),
  });
  await legs.listen();
});
after(async () => {
  await legs.close();
  await rtpengine.stop();
});

let calls = 0;
async function connectCall(deviceOptions: PlainRtpDeviceOptions = {}) {
  const callId = `leg-test-${++calls}`;
  const device = await PlainRtpDevice.open(deviceOptions);
  const leg = (await legs.create(callId)) as WebRtcMeetingLeg;
  const answer = await anchorMedia(rtpengine.client, leg, device.offer(), { callId, deviceTag: "device-tag", gatewayTag: "gateway-tag" });
  device.answered(answer);
  return { callId, device, leg, answer };
}

/** 20 ms of PCMU and an H.264 single NAL unit, `count` times. */
async function deviceSends(device: PlainRtpDevice, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    device.sendAudio(rtpPacket(0, i, i * 160, 0x1111, Buffer.alloc(160, 0x7f)));
    device.sendVideo(rtpPacket(DEVICE_VIDEO_PT, i, i * 3000, 0x2222, Buffer.from([0x41, 0x9a, i & 0xff, 1, 2, 3]), true));
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the WebRTC meeting leg (rtpengine ↔ bridge ↔ werift)", () => {
  it("answers the device with its own H.264 (level kept, rtcp-fb) and PCMU, and offers the meeting Opus, H.264 and content video", async () => {
    const { device, leg, answer } = await connectCall();
    assert.match(answer, new RegExp(`m=video \\d+ RTP/AVP ${DEVICE_VIDEO_PT}\\r\\n`));
    assert.match(answer, /a=fmtp:109 profile-level-id=42e028;packetization-mode=1/);
    assert.match(answer, /a=rtcp-fb:109 nack pli/);
    assert.match(answer, /m=audio \d+ RTP\/AVP 0 101/);
    const blob = JSON.parse(await leg.mediaBlob()) as { version: number; session: string; answerToken: string; offer: string; mediaHostId: string };
    assert.equal(blob.version, 1);
    assert.equal(blob.mediaHostId, "mh-test");
    assert.match(blob.session, /^http:\/\/127\.0\.0\.1:\d+\/meeting-legs\/[A-Za-z0-9_-]+$/);
    const mLines = blob.offer.match(/^m=\w+/gm);
    assert.deepEqual(mLines, ["m=audio", "m=video", "m=video"], "audio, main video, content video");
    assert.match(blob.offer, /a=rtpmap:\d+ opus\/48000\/2/);
    assert.match(blob.offer, /a=rtpmap:\d+ H264\/90000/);
    assert.match(blob.offer, /a=ssrc:\d+ /, "werift routes by signalled SSRCs");
    assert.match(blob.offer, /a=group:BUNDLE 0 1 2/);
    const candidates = blob.offer.match(/^a=candidate:.*$/gm) ?? [];
    assert.ok(candidates.length > 0);
    for (const candidate of candidates) {
      assert.match(candidate, / 127\.0\.0\.1 /, "loopback candidates only");
      const port = Number(candidate.split(" ")[5]);
      assert.ok(port >= 29000 && port <= 29199, `the ICE port ${port} is in the configured range`);
    }
    await leg.close();
    await device.close();
  });

  it("carries media both ways: PCMU in → Opus to the meeting, H.264 through; the meeting's Opus and H.264 back to the device", async () => {
    const { callId, device, leg } = await connectCall();
    const peer = await MeetingPeer.answer(await leg.mediaBlob());
    await peer.connected();
    await deviceSends(device, 25);
    await waitFor(() => peer.received.audio > 5 && peer.received.video > 5, "the device's media in the meeting", 5000);
    // Opus silence frames (TOC 0xf8) from the meeting: rtpengine decodes them and sends PCMU to the device.
    for (let i = 0; i < 25; i++) {
      peer.audioOut.writeRtp(rtpPacket(111, i, i * 960, 0x3333, Buffer.from([0xf8, 0xff, 0xfe])));
      peer.videoOut.writeRtp(rtpPacket(102, i, i * 3000, 0x4444, Buffer.from([0x41, 0x9a, 9, 9]), true));
      await new Promise((r) => setTimeout(r, 20));
    }
    await waitFor(() => device.received.audio > 5 && device.received.video > 5, "the meeting's media at the device", 5000);
    assert.deepEqual([...device.receivedPayloadTypes.video], [DEVICE_VIDEO_PT], "the device gets its own H.264 payload type");
    assert.deepEqual([...device.receivedPayloadTypes.audio], [0], "the device gets PCMU");
    const quality = await leg.quality();
    const video = quality.find((q) => q.kind === "video");
    assert.ok(video && video.packetsReceived > 0 && video.packetsSent > 0, JSON.stringify(quality));
    // The device leg's figures come from rtpengine's view of the call.
    const deviceLeg = deviceLegQuality(await rtpengine.client.query({ "call-id": callId, "from-tag": "device-tag" }), "device-tag");
    assert.deepEqual(
      deviceLeg.map((q) => q.kind),
      ["audio", "video"],
    );
    for (const q of deviceLeg) assert.ok(q.packetsReceived >= 25 && q.packetsSent > 5, JSON.stringify(deviceLeg));
    await peer.close();
    await leg.close();
    await device.close();
  });

  it("a keyframe request from the meeting reaches the device as RTCP PLI; the device's PLI reaches the meeting", async () => {
    const { device, leg } = await connectCall();
    const peer = await MeetingPeer.answer(await leg.mediaBlob());
    await peer.connected();
    await deviceSends(device, 5);
    await peer.requestKeyframe();
    await waitFor(() => device.keyframeRequests.includes("pli"), "a PLI at the device", 3000);
    peer.videoOut.writeRtp(rtpPacket(102, 1, 3000, 0x4444, Buffer.from([0x41, 0x9a, 9, 9]), true));
    await waitFor(() => device.received.video > 0, "the meeting's video at the device", 3000);
    const pli = Buffer.alloc(12);
    pli[0] = 0x81;
    pli[1] = 206;
    pli.writeUInt16BE(2, 2);
    pli.writeUInt32BE(0x2222, 4);
    pli.writeUInt32BE(0x12345678, 8);
    device.sendVideo(pli);
    await waitFor(() => peer.rtcp.some((p) => p.type === 206 && p.count === 1), "a PLI in the meeting", 3000);
    await peer.close();
    await leg.close();
    await device.close();
  });

  it("a device without RTCP feedback is asked over SIP (the leg says keyframeNeeded), at most once per 500 ms", async () => {
    const { device, leg, answer } = await connectCall({ rtcpFeedback: false });
    assert.doesNotMatch(answer, /rtcp-fb/);
    let needed = 0;
    leg.on("keyframeNeeded", () => needed++);
    const peer = await MeetingPeer.answer(await leg.mediaBlob());
    await peer.connected();
    await deviceSends(device, 3);
    for (let i = 0; i < 5; i++) await peer.requestKeyframe();
    await waitFor(() => needed >= 1, "keyframeNeeded", 3000);
    await new Promise((r) => setTimeout(r, 700));
    assert.ok(needed <= 2, `five requests at once are rate-limited to the first and one deferred (got ${needed})`);
    assert.equal(device.keyframeRequests.length, 0, "no RTCP to a device that offered none");
    await peer.close();
    await leg.close();
    await device.close();
  });

  it("a device without video is never asked for a keyframe, whatever the meeting's receivers ask", async () => {
    const { device, leg, answer } = await connectCall({ video: false });
    assert.doesNotMatch(answer, /m=video/);
    let needed = 0;
    leg.on("keyframeNeeded", () => needed++);
    const peer = await MeetingPeer.answer(await leg.mediaBlob());
    await peer.connected();
    for (let i = 0; i < 5; i++) device.sendAudio(rtpPacket(0, i, i * 160, 0x1111, Buffer.alloc(160, 0x7f)));
    await waitFor(() => peer.received.audio > 0, "the device's audio in the meeting", 3000);
    await peer.requestKeyframe();
    // An RTCP round trip to werift and back: a request would have arrived well within it.
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(needed, 0, "no SIP INFO picture_fast_update for an audio-only device");
    assert.equal(device.keyframeRequests.length, 0);
    await peer.close();
    await leg.close();
    await device.close();
  });

  it("the session endpoint: 401 for a wrong token, 409 for a second answer, 415 for non-SDP, 404 for an unknown leg; DELETE ends the leg", async () => {
    const { device, leg, callId } = await connectCall();
    const blob = JSON.parse(await leg.mediaBlob()) as { session: string; answerToken: string };
    const post = (token: string, body: string, type = "application/sdp") =>
      fetch(blob.session, { method: "POST", headers: { "content-type": type, authorization: `Bearer ${token}` }, body });
    const wrong = await post("not-the-token", "v=0\r\n");
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get("content-type"), "application/problem+json");
    assert.equal((await post(blob.answerToken, "{}", "application/json")).status, 415);
    const unknown = await fetch(`${blob.session.replace(/[^/]+$/, "")}AAAAAAAAAAAAAAAAAAAAAA`, { method: "POST", body: "" });
    assert.equal(unknown.status, 404);
    // The call's join answered: from now on the leg's lines name the Graph call too.
    const ids = { graphCallId: "2f1a1100-b174-40a0-aba7-0b405e01ed92", callChainId: "d8217646-3110-40b1-bae6-e9ac6c3a9f74" };
    leg.logWith(ids);
    const from = legLog.length;
    const peer = await MeetingPeer.answer(await leg.mediaBlob());
    const again = await post(blob.answerToken, "v=0\r\n");
    assert.equal(again.status, 409, "a second answer is refused");
    const ended = new Promise<string>((resolve) => leg.on("ended", resolve));
    assert.equal(await peer.hangUp(), 204);
    assert.match(await ended, /media server ended/);
    assert.equal(legs.leg(leg.legId), undefined, "the leg is gone");
    const later = legLog.slice(from).filter((l) => l.legId === leg.legId);
    assert.ok(
      later.some((l) => l.msg === "meeting leg ended"),
      "the leg's end is logged",
    );
    for (const line of later) assert.deepEqual([line.callId, line.graphCallId, line.callChainId], [callId, ids.graphCallId, ids.callChainId]);
    await peer.close();
    await device.close();
  });

  it("when the call ends on the gateway's side, the media server's end of the session (its Link) gets a DELETE with the leg's token", async () => {
    const deletes: { path: string; authorization: string }[] = [];
    const server = createServer((req, res) => {
      if (req.method === "DELETE") deletes.push({ path: req.url ?? "", authorization: req.headers.authorization ?? "" });
      res.writeHead(204).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { device, leg } = await connectCall();
    const blob = JSON.parse(await leg.mediaBlob()) as { answerToken: string };
    const peer = await MeetingPeer.answer(await leg.mediaBlob(), {
      meetingSessionUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/meetings/m1/bots/c1`,
    });
    await leg.close();
    await waitFor(() => deletes.length > 0, "the DELETE at the media server", 3000);
    assert.deepEqual(deletes, [{ path: "/meetings/m1/bots/c1", authorization: `Bearer ${blob.answerToken}` }]);
    await peer.close();
    await device.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it("a call that ends before its meeting offer is ready (CANCEL while ringing) closes cleanly: no crash, no blob", async () => {
    const rejections: unknown[] = [];
    const onRejection = (e: unknown) => rejections.push(e);
    process.on("unhandledRejection", onRejection);
    try {
      for (let i = 0; i < 5; i++) {
        const { device, leg } = await connectCall();
        await leg.close();
        await assert.rejects(leg.mediaBlob(), /closed/);
        await device.close();
      }
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(rejections, []);
    } finally {
      process.off("unhandledRejection", onRejection);
    }
  });

  it("ends the call when the meeting never answers after the bot is admitted, and when the device sends nothing for the media timeout", async () => {
    const first = await connectCall();
    const neverAnswered = new Promise<string>((resolve) => first.leg.on("ended", resolve));
    first.leg.admitted();
    assert.match(await neverAnswered, /never connected/);
    await first.device.close();

    const second = await connectCall();
    const peer = await MeetingPeer.answer(await second.leg.mediaBlob());
    await peer.connected();
    const timedOut = new Promise<string>((resolve) => second.leg.on("ended", resolve));
    assert.match(await timedOut, /no media from the device \(media timeout\)/);
    await peer.close();
    await second.device.close();
  });

  it("a device alone in the meeting stays: the meeting sends nothing for twice the media timeout, then media resumes when it does", async () => {
    const { device, leg } = await connectCall();
    const peer = await MeetingPeer.answer(await leg.mediaBlob());
    await peer.connected();
    let ended: string | undefined;
    leg.on("ended", (reason) => {
      ended = reason;
    });
    // The device talks to an empty room (the leg's media timeout is 2 s here): nothing comes back.
    await deviceSends(device, 200);
    assert.equal(ended, undefined, "silence from the meeting ends nothing");
    assert.ok(peer.received.audio > 100, "the device's media reached the meeting all along");
    assert.equal(device.received.audio, 0);
    // Someone joins and speaks.
    for (let i = 0; i < 25; i++) {
      peer.audioOut.writeRtp(rtpPacket(111, i, i * 960, 0x5555, Buffer.from([0xf8, 0xff, 0xfe])));
      device.sendAudio(rtpPacket(0, 1000 + i, (1000 + i) * 160, 0x1111, Buffer.alloc(160, 0x7f)));
      await new Promise((r) => setTimeout(r, 20));
    }
    await waitFor(() => device.received.audio > 5, "the meeting's media at the device", 5000);
    assert.equal(ended, undefined);
    await peer.close();
    await leg.close();
    await device.close();
  });

  it("a meeting media server that vanishes (its packets dropped, nothing said) ends the call once ICE consent expires, saying so", async (t) => {
    const { device, leg } = await connectCall();
    const peer = await MeetingPeer.answer(await leg.mediaBlob());
    await peer.connected();
    const ended = new Promise<string>((resolve) => leg.on("ended", resolve));
    // The device keeps sending, so the media timeout is not what ends it.
    let sending = true;
    const talking = (async () => {
      for (let i = 0; sending; i++) {
        device.sendAudio(rtpPacket(0, i & 0xffff, i * 160, 0x1111, Buffer.alloc(160, 0x7f)));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const cut = dropUdpTo(peer.localPorts);
    const cutAt = Date.now();
    try {
      assert.match(await ended, /media server stopped answering \(ICE consent expired\)/);
      t.diagnostic(`noticed ${Date.now() - cutAt} ms after the media server vanished (RFC 7675: 30 s without a consent answer)`);
    } finally {
      cut.restore();
      sending = false;
      await talking;
      await peer.close();
      await device.close();
    }
  });
});
