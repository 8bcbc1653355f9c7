import { DEVICE_TO_BRIDGE } from "../rtpengine/interfaces.js";
import type { RtpengineClient } from "../rtpengine/rtpengineClient.js";
import type { MeetingLeg } from "./meetingLeg.js";

export interface AnchorMediaOptions {
  /** rtpengine's call id: the SIP Call-ID. */
  readonly callId: string;
  /** The device's tag (the offerer) and ours (the answerer). */
  readonly deviceTag: string;
  readonly gatewayTag: string;
}

/**
 * One offer/answer through rtpengine with the meeting leg answering on the other side;
 * returns the SDP the device gets. Used at set-up and for every in-dialog offer. The
 * device's side is rtpengine's "device" interface (the host's address, advertised as its
 * public one); the meeting side is plain RTP on its "bridge" interface, on loopback:
 * rtpengine adds Opus to what it offers there (and transcodes when the device has none),
 * offers rtcp-mux, and passes video through. No address flags: rtpengine's own endpoint
 * learning sends to where the device's media comes from, so a device behind NAT (its
 * private address in SDP) is reached all the same.
 * Stereo G.722 (G722/8000/2, which Lync and Skype for Business clients list first) is stripped
 * from the device's offer: rtpengine's G.722 encoder (ffmpeg) is mono only, so answering
 * it would fail every packet towards the device; the device gets its mono G.722 instead.
 */
export async function anchorMedia(rtpengine: RtpengineClient, leg: MeetingLeg, deviceOffer: string, options: AnchorMediaOptions): Promise<string> {
  const participants = { "call-id": options.callId, "from-tag": options.deviceTag };
  const towardsMeeting = await rtpengine.offer({
    ...participants,
    sdp: deviceOffer,
    direction: DEVICE_TO_BRIDGE,
    replace: ["origin", "session-connection"],
    ICE: "remove",
    "transport-protocol": "RTP/AVP",
    codec: { transcode: ["opus/48000/2"], strip: ["G722/8000/2"] },
    "rtcp-mux": ["offer"],
  });
  const towardsDevice = await rtpengine.answer({
    ...participants,
    "to-tag": options.gatewayTag,
    sdp: await leg.answer(towardsMeeting.sdp),
    replace: ["origin", "session-connection"],
  });
  return towardsDevice.sdp;
}
