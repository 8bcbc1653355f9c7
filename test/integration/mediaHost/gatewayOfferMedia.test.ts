import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { answerFromDevice, offerToDevice } from "../../../media-host/calls/anchorMedia.js";
import { MeetingLegServer } from "../../../media-host/meeting/meetingLegServer.js";
import type { WebRtcMeetingLeg } from "../../../media-host/meeting/webRtcMeetingLeg.js";
import { MeetingPeer } from "../../support/media/meetingPeer.js";
import { rtpPacket } from "../../support/media/plainRtpDevice.js";
import { SRTP_DEVICE_AUDIO_PT, SRTP_DEVICE_VIDEO_PT, SrtpDevice } from "../../support/media/srtpDevice.js";
import { waitFor } from "../../support/waiting.js";
import { type RtpengineHarness, startRtpengine } from "../rtpengine/support/harness.js";

// The gateway's own offer (a delayed-offer INVITE) below SIP: rtpengine offers the device what the
// meeting leg's bridge offers, and the device's answer connects them. A device that takes the
// opportunistic SRTP in the offer (RFC 8643) gets SRTP both ways with the keys it answered.
let rtpengine: RtpengineHarness;
let legs: MeetingLegServer;

before(async () => {
  rtpengine = await startRtpengine();
  legs = new MeetingLegServer({
    mediaHostId: "mh-offer-media",
    host: "127.0.0.1",
    port: 0,
    ice: { bindAddress: "127.0.0.1", advertisedAddress: "127.0.0.1" },
    logger: pino({ level: "silent" }),
  });
  await legs.listen();
});
after(async () => {
  await legs.close();
  await rtpengine.stop();
});

describe("the gateway's offer to a device (rtpengine from our side)", () => {
  it("a device that answers our RTP/AVP offer with its own SDES key gets SRTP both ways: every packet authenticates at both ends", async () => {
    const participants = { callId: "offer-srtp", deviceTag: "device-tag", gatewayTag: "gateway-tag" };
    const device = await SrtpDevice.open();
    const leg = (await legs.create(participants.callId)) as WebRtcMeetingLeg;
    const offer = await offerToDevice(rtpengine.client, leg, participants);
    assert.match(offer, /^m=audio \d+ RTP\/AVP /m, "RTP/AVP: a device without SRTP can answer it as it is");
    assert.match(offer, /^a=crypto:\d+ AES_CM_128_HMAC_SHA1_80 inline:/m);
    await answerFromDevice(rtpengine.client, leg, device.answer(offer), participants);
    const peer = await MeetingPeer.answer(await leg.mediaBlob());
    await peer.connected();
    for (let i = 0; i < 30; i++) {
      device.sendRtp("audio", rtpPacket(SRTP_DEVICE_AUDIO_PT, i, i * 960, 0x1111, Buffer.from([0xfc, 0xff, 0xfe, i & 0xff])));
      device.sendRtp("video", rtpPacket(SRTP_DEVICE_VIDEO_PT, i, i * 3000, 0x2222, Buffer.from([0x65, 0x88, i & 0xff, 1]), true));
      peer.audioOut.writeRtp(rtpPacket(111, i, i * 960, 0x3333, Buffer.from([0xfc, 0xff, 0xfe])));
      peer.videoOut.writeRtp(rtpPacket(102, i, i * 3000, 0x4444, Buffer.from([0x65, 0x88, 9, 9]), true));
      await new Promise((r) => setTimeout(r, 20));
    }
    await waitFor(() => peer.received.audio > 10 && peer.received.video > 10, "the device's SRTP in the meeting");
    await waitFor(() => device.counters.audio.rtp > 10 && device.counters.video.rtp > 10, "the meeting's media at the device, as SRTP it decrypts");
    for (const kind of ["audio", "video"] as const)
      assert.equal(device.counters[kind].srtpAuthenticationFailures, 0, `${kind}: no packet failed authentication`);
    await peer.close();
    await leg.close();
    await device.close();
    await rtpengine.client.delete({ "call-id": participants.callId });
  });
});
