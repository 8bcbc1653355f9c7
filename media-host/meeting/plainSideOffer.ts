import { GATEWAY_H264_LEVEL } from "../domain/h264.js";
import { type Sdp, serializeSdp } from "../rtpengine/sdp.js";
import { choosePlain, directionOf, type PlainChoice } from "./plainSideAnswer.js";

/** The payload types of the bridge's own offer (rtpengine keeps them towards the device; video is passed through). */
export const BRIDGE_OFFER_PAYLOAD_TYPES = { opus: 111, telephoneEvent: 101, h264: 109 } as const;

/** H.264 as the gateway takes it: Constrained Baseline, packetization mode 1 (what the meeting forwards), up to level 4.0 (1080p30). */
const H264_FMTP = `profile-level-id=42e0${GATEWAY_H264_LEVEL.toString(16).padStart(2, "0")};packetization-mode=1`;

/**
 * The bridge's own offer towards rtpengine, for when the gateway is the offerer (a device's
 * INVITE or re-INVITE without SDP): Opus with telephone-event (rtpengine adds the device's
 * codecs it transcodes to), H.264 with RTCP keyframe feedback, rtcp-mux, on the bridge's
 * loopback ports. `version` goes into o= (the bridge's side of the session). Pure.
 */
export function offerTowardsRtpengine(
  at: { readonly address: string; readonly audioPort: number; readonly videoPort: number },
  version: number,
): string {
  const { opus, telephoneEvent, h264 } = BRIDGE_OFFER_PAYLOAD_TYPES;
  return serializeSdp({
    session: [
      { type: "v", value: "0" },
      { type: "o", value: `OpenCVI 1 ${version} IN IP4 ${at.address}` },
      { type: "s", value: "OpenCVI" },
      { type: "c", value: `IN IP4 ${at.address}` },
      { type: "t", value: "0 0" },
    ],
    media: [
      {
        media: "audio",
        port: at.audioPort,
        protocol: "RTP/AVP",
        formats: [String(opus), String(telephoneEvent)],
        lines: [
          { type: "a", value: `rtpmap:${opus} opus/48000/2` },
          { type: "a", value: `fmtp:${opus} minptime=10;useinbandfec=1` },
          { type: "a", value: `rtpmap:${telephoneEvent} telephone-event/48000` },
          { type: "a", value: `fmtp:${telephoneEvent} 0-15` },
          { type: "a", value: "rtcp-mux" },
          { type: "a", value: "sendrecv" },
        ],
      },
      {
        media: "video",
        port: at.videoPort,
        protocol: "RTP/AVP",
        formats: [String(h264)],
        lines: [
          { type: "a", value: `rtpmap:${h264} H264/90000` },
          { type: "a", value: `fmtp:${h264} ${H264_FMTP}` },
          { type: "a", value: `rtcp-fb:${h264} nack pli` },
          { type: "a", value: `rtcp-fb:${h264} ccm fir` },
          { type: "a", value: "rtcp-mux" },
          { type: "a", value: "sendrecv" },
        ],
      },
    ],
  });
}

export interface RtpengineAnswerReading {
  readonly choice: PlainChoice;
  /** Which m-lines carry the bridged audio and video (-1: the device declined it). */
  readonly audioIndex: number;
  readonly videoIndex: number;
  /** The device sends (it did not answer recvonly/inactive audio). */
  readonly deviceSending: boolean;
}

/**
 * rtpengine's answer to the bridge's offer (the device's answer, seen from the bridge's side):
 * the Opus and H.264 payload types to use, how the device takes keyframe requests (its
 * answer's rtcp-fb), and what it can receive (its answer's H.264 level). Pure.
 */
export function readRtpengineAnswer(answer: Sdp): RtpengineAnswerReading {
  const audioIndex = answer.media.findIndex((m) => m.media === "audio" && m.port !== 0);
  const videoIndex = answer.media.findIndex((m) => m.media === "video" && m.port !== 0);
  const audio = audioIndex >= 0 ? answer.media[audioIndex] : undefined;
  const video = videoIndex >= 0 ? answer.media[videoIndex] : undefined;
  const choice = choosePlain(audio, video);
  return {
    choice,
    audioIndex: choice.audioPayloadType === undefined ? -1 : audioIndex,
    videoIndex: choice.video ? videoIndex : -1,
    deviceSending: !audio || !/^(recvonly|inactive)$/.test(directionOf(audio.lines)),
  };
}
