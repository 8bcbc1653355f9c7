import { BRIDGE_TO_DEVICE, DEVICE_TO_BRIDGE } from "../rtpengine/interfaces.js";
import type { RtpengineClient } from "../rtpengine/rtpengineClient.js";
import { setAsideBfcp } from "./contentSdp.js";
import type { MeetingLeg, MeetingLegOfferOptions } from "./meetingLeg.js";

export interface AnchorMediaOptions {
  /** rtpengine's call id: the SIP Call-ID. */
  readonly callId: string;
  /** The device's tag and ours (the SIP dialog's; rtpengine's monologues whichever side offers). */
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

/**
 * SDES suites left out of our offers: rtpengine 10.5 would list eleven, where room systems offer and
 * expect the two RFC 4568 defines for SRTP (AES_CM_128_HMAC_SHA1_80 and _32).
 */
const UNOFFERED_SDES_SUITES = [
  "AEAD_AES_256_GCM",
  "AEAD_AES_128_GCM",
  "AES_256_CM_HMAC_SHA1_80",
  "AES_256_CM_HMAC_SHA1_32",
  "AES_192_CM_HMAC_SHA1_80",
  "AES_192_CM_HMAC_SHA1_32",
  "F8_128_HMAC_SHA1_80",
  "F8_128_HMAC_SHA1_32",
  "NULL_HMAC_SHA1_80",
  "NULL_HMAC_SHA1_32",
] as const;

/**
 * The gateway offers (a delayed-offer INVITE, a re-INVITE without SDP, our own re-INVITEs):
 * the meeting leg's offer enters rtpengine on the "bridge" side with our tag as the offerer,
 * and what comes out on the "device" side is the device's offer — Opus and H.264 as the
 * bridge has them, plus G.722, PCMU and PCMA that rtpengine transcodes to Opus. Opportunistic
 * SRTP (RFC 8643, as room systems and SBCs offer when they do not know the far end): RTP/AVP
 * with SDES keys, so a device that takes SRTP answers with its own key and one that does not
 * answers plain RTP/AVP, and both work. The ports rtpengine gives our side stay for the
 * call, so a fresh offer of the session keeps them.
 */
export async function offerToDevice(
  rtpengine: RtpengineClient,
  leg: MeetingLeg,
  options: AnchorMediaOptions & { readonly offer?: MeetingLegOfferOptions },
): Promise<string> {
  const towardsDevice = await rtpengine.offer({
    "call-id": options.callId,
    "from-tag": options.gatewayTag,
    sdp: await leg.offer(options.offer),
    direction: BRIDGE_TO_DEVICE,
    replace: ["origin", "session-connection"],
    ICE: "remove",
    DTLS: "off",
    "transport-protocol": "RTP/AVP",
    OSRTP: ["offer"],
    SDES: UNOFFERED_SDES_SUITES.map((suite) => `no-${suite}` as const),
    codec: { transcode: ["G722", "PCMU", "PCMA"] },
  });
  return towardsDevice.sdp;
}

/**
 * The device's answer to `offerToDevice` (from its ACK or its 2xx) through rtpengine to the meeting leg; rejects when either
 * refuses it. Its BFCP lines stay away from rtpengine (contentSdp.ts): the call's BFCP line is ours already.
 */
export async function answerFromDevice(
  rtpengine: RtpengineClient,
  leg: MeetingLeg,
  deviceAnswer: string,
  options: AnchorMediaOptions,
): Promise<void> {
  const towardsMeeting = await rtpengine.answer({
    "call-id": options.callId,
    "from-tag": options.gatewayTag,
    "to-tag": options.deviceTag,
    sdp: setAsideBfcp(deviceAnswer).sdp,
    replace: ["origin", "session-connection"],
  });
  await leg.answered(towardsMeeting.sdp);
}
