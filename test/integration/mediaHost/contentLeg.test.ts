import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import type { RtpPacket } from "werift";
import { anchorMedia } from "../../../media-host/calls/anchorMedia.js";
import { MeetingLegServer } from "../../../media-host/meeting/meetingLegServer.js";
import type { WebRtcMeetingLeg } from "../../../media-host/meeting/webRtcMeetingLeg.js";
import { parseSdp } from "../../../media-host/rtpengine/sdp.js";
import { type AccessUnit, h264Content, inSequence, nalType, packetize, pictures, spsPictureSize } from "../../support/media/h264Content.js";
import { MeetingPeer } from "../../support/media/meetingPeer.js";
import { DEVICE_VIDEO_PT, PlainRtpDevice, rtpPacket } from "../../support/media/plainRtpDevice.js";
import { waitFor } from "../../support/waiting.js";
import { type RtpengineHarness, startRtpengine } from "../rtpengine/support/harness.js";

// Content (issue 12) on the media path, below SIP and BFCP: a room system's slides m-line
// through real rtpengine to the bridge, and the meeting leg's content transceiver to a
// werift peer in the meeting's place. Whoever presents (the floor's holder) is set on the
// leg directly here; the pictures are real H.264 from x264 at 1080p.
let rtpengine: RtpengineHarness;
let legs: MeetingLegServer;
let slides: AccessUnit[];

before(async () => {
  rtpengine = await startRtpengine();
  legs = new MeetingLegServer({
    mediaHostId: "mh-content",
    host: "127.0.0.1",
    port: 0,
    ice: { bindAddress: "127.0.0.1", advertisedAddress: "127.0.0.1" },
    acceptContent: true,
    logger: pino({ level: "silent" }),
  });
  await legs.listen();
  slides = await h264Content({ width: 1920, height: 1080, fps: 5, frames: 10, keyframeInterval: 5 });
});
after(async () => {
  await legs.close();
  await rtpengine.stop();
});

let calls = 0;
async function connect() {
  const callId = `content-test-${++calls}`;
  const device = await PlainRtpDevice.open({ content: true });
  const leg = (await legs.create(callId)) as WebRtcMeetingLeg;
  const answer = await anchorMedia(rtpengine.client, leg, device.offer(), { callId, deviceTag: "device-tag", gatewayTag: "gateway-tag" });
  device.answered(answer);
  const peer = await MeetingPeer.answer(await leg.mediaBlob());
  await peer.connected();
  return { device, leg, peer, answer };
}

/** Sends access units as RTP, one picture every `everyMs`, numbering on from `first`. */
async function sendPictures(
  send: (packet: Buffer) => void,
  units: readonly AccessUnit[],
  first: { sequenceNumber: number; timestamp: number },
  options: { readonly payloadType: number; readonly ssrc: number; readonly everyMs?: number },
): Promise<void> {
  let sequenceNumber = first.sequenceNumber;
  let timestamp = first.timestamp;
  for (const unit of units) {
    const payloads = packetize(unit);
    for (const [i, payload] of payloads.entries()) {
      send(rtpPacket(options.payloadType, sequenceNumber++, timestamp, options.ssrc, Buffer.from(payload), i === payloads.length - 1));
      // Paced as a sender's pacer does: a 1080p keyframe at once would overrun rtpengine's receive queue.
      if (i % 32 === 31) await new Promise((r) => setTimeout(r, 1));
    }
    timestamp += 18_000;
    await new Promise((r) => setTimeout(r, options.everyMs ?? 20));
  }
}

/** The packets' numbers form one run: none skipped, none twice, whatever the arrival order. */
function assertOneRun(packets: readonly { sequenceNumber: number }[]): void {
  const ordered = inSequence(packets);
  for (let i = 1; i < ordered.length; i++)
    assert.equal(ordered[i]?.sequenceNumber, ((ordered[i - 1]?.sequenceNumber ?? 0) + 1) & 0xffff, "one run of sequence numbers");
}

describe("content across the bridge (slides m-line ↔ the meeting leg's content transceiver)", () => {
  it("the slides m-line is taken, with its content and label, when legs accept content", async () => {
    const { device, leg, peer, answer } = await connect();
    try {
      assert.equal(device.contentAccepted, true);
      const slidesLine = parseSdp(answer).media[2];
      assert.ok(slidesLine?.lines.some((l) => l.value === "content:slides"));
      assert.ok(slidesLine?.lines.some((l) => l.value === "label:12"));
    } finally {
      await Promise.all([peer.close(), leg.close(), device.close()]);
    }
  });

  it("device presents: nothing before a keyframe (and one is asked for), then 1080p pictures reach the meeting in order; presenting nobody stops them", async () => {
    const { device, leg, peer } = await connect();
    try {
      const received: { sequenceNumber: number; timestamp: number; payload: Uint8Array }[] = [];
      peer.onRtp((kind, rtp: RtpPacket) => {
        if (kind === "content") received.push({ sequenceNumber: rtp.header.sequenceNumber, timestamp: rtp.header.timestamp, payload: rtp.payload });
      });
      const send = (packet: Buffer) => device.sendContent(packet);
      // Before anyone presents, the device's slides go nowhere.
      await sendPictures(send, slides.slice(0, 5), { sequenceNumber: 100, timestamp: 0 }, { payloadType: DEVICE_VIDEO_PT, ssrc: 0x5151 });
      await waitFor(() => leg.counters.content.fromDevice > 0, "the device's slides at the bridge", 3000);
      assert.equal(peer.received.content, 0);

      leg.presentContent("device");
      // The device is mid-GOP (pictures 1–4 after its keyframe): held back, and the device is asked for a keyframe on its slides line.
      await sendPictures(send, slides.slice(1, 5), { sequenceNumber: 200, timestamp: 90_000 }, { payloadType: DEVICE_VIDEO_PT, ssrc: 0x5151 });
      await waitFor(() => device.contentKeyframeRequests.length > 0, "a keyframe request on the slides m-line", 3000);
      assert.equal(peer.received.content, 0);
      assert.ok(leg.counters.content.heldForKeyframe > 0);

      await sendPictures(send, slides.slice(5, 10), { sequenceNumber: 300, timestamp: 180_000 }, { payloadType: DEVICE_VIDEO_PT, ssrc: 0x5151 });
      await waitFor(() => pictures(received).length >= 5, "five pictures in the meeting", 5000);
      const [keyframe] = pictures(received);
      assert.deepEqual(keyframe?.slice(0, 2).map(nalType), [7, 8], "the meeting's first picture starts with SPS and PPS");
      const size = spsPictureSize(keyframe?.[0] as Uint8Array);
      assert.deepEqual([size.width, size.height], [1920, 1080]);
      assertOneRun(received);

      leg.presentContent(undefined);
      const before = peer.received.content;
      await sendPictures(send, slides.slice(5, 7), { sequenceNumber: 400, timestamp: 270_000 }, { payloadType: DEVICE_VIDEO_PT, ssrc: 0x5151 });
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(peer.received.content, before, "released: nothing more");
    } finally {
      await Promise.all([peer.close(), leg.close(), device.close()]);
    }
  });

  it("the meeting presents: its screen reaches the device's slides m-line from a keyframe under one SSRC, and the device's own slides stop", async () => {
    const { device, leg, peer } = await connect();
    try {
      const received: { sequenceNumber: number; timestamp: number; payload: Uint8Array; ssrc: number }[] = [];
      device.onContent((packet) =>
        received.push({
          sequenceNumber: packet.readUInt16BE(2),
          timestamp: packet.readUInt32BE(4),
          ssrc: packet.readUInt32BE(8),
          payload: packet.subarray(12),
        }),
      );
      leg.presentContent("meeting");
      const share = (packet: Buffer) => peer.contentOut.writeRtp(packet);
      // The sharer's stream starts mid-GOP: held back until its keyframe; the bridge asks the meeting for one.
      await sendPictures(share, slides.slice(6, 10), { sequenceNumber: 1000, timestamp: 5_000 }, { payloadType: 102, ssrc: 0x7777 });
      await waitFor(() => peer.rtcp.some((p) => p.type === 206 && p.count === 1), "a PLI for the shared screen", 3000);
      assert.equal(device.received.content, 0);

      await sendPictures(share, slides.slice(0, 5), { sequenceNumber: 2000, timestamp: 900_000 }, { payloadType: 102, ssrc: 0x7777 });
      await waitFor(() => pictures(received).length >= 5, "five pictures at the device", 5000);
      const [keyframe] = pictures(received);
      assert.deepEqual([spsPictureSize(keyframe?.[0] as Uint8Array).width, spsPictureSize(keyframe?.[0] as Uint8Array).height], [1920, 1080]);
      assert.equal(new Set(received.map((p) => p.ssrc)).size, 1, "one SSRC towards the device");
      assertOneRun(received);

      // While the meeting presents, what the device sends on its slides line goes nowhere.
      const intoMeeting = leg.counters.content.intoMeeting;
      await sendPictures(
        (p) => device.sendContent(p),
        slides.slice(0, 2),
        { sequenceNumber: 50, timestamp: 0 },
        { payloadType: DEVICE_VIDEO_PT, ssrc: 0x5151 },
      );
      await waitFor(() => leg.counters.content.fromDevice >= 2, "the device's slides at the bridge", 3000);
      assert.equal(leg.counters.content.intoMeeting, intoMeeting);
      assert.equal(peer.received.content, 0);
    } finally {
      await Promise.all([peer.close(), leg.close(), device.close()]);
    }
  });
});
