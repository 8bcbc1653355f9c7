import { GATEWAY_H264_LEVEL } from "../domain/h264.js";
import type { MediaSlot } from "../calls/meetingLeg.js";
import { parseSdp, type Sdp, type SdpMedia, serializeSdp } from "../rtpengine/sdp.js";
import { choosePlain, directionOf, isSlides, type PlainChoice } from "./plainSideAnswer.js";

/** The payload types of the bridge's own offer (rtpengine keeps them towards the device; video is passed through). */
export const BRIDGE_OFFER_PAYLOAD_TYPES = { opus: 111, telephoneEvent: 101, h264: 109 } as const;

/** H.264 as the gateway takes it: Constrained Baseline, packetization mode 1 (what the meeting forwards), up to level 4.0 (1080p30). */
const H264_FMTP = `profile-level-id=42e0${GATEWAY_H264_LEVEL.toString(16).padStart(2, "0")};packetization-mode=1`;

const h264Lines = (h264: number) => [
  { type: "a", value: `rtpmap:${h264} H264/90000` },
  { type: "a", value: `fmtp:${h264} ${H264_FMTP}` },
  { type: "a", value: `rtcp-fb:${h264} nack pli` },
  { type: "a", value: `rtcp-fb:${h264} ccm fir` },
  { type: "a", value: "rtcp-mux" },
  { type: "a", value: "sendrecv" },
];

export interface BridgeOfferOptions {
  /** The bridge's content port and the slides line's label: a slides m-line is offered (RFC 4796). */
  readonly content?: { readonly port: number; readonly label: string };
  /** The session's m-lines so far (RFC 3264 §8: an offer keeps them in place); the slides line, when new, goes last. */
  readonly layout?: readonly MediaSlot[];
}

/**
 * The bridge's own offer towards rtpengine, for when the gateway is the offerer (a device's
 * INVITE or re-INVITE without SDP, our re-INVITE adding slides): Opus with telephone-event
 * (rtpengine adds the device's codecs it transcodes to), H.264 with RTCP keyframe feedback,
 * rtcp-mux, on the bridge's loopback ports; with a content port, a slides line too. Lines of
 * the session the bridge does not carry (BFCP…) stay in their places, disabled, so that
 * rtpengine and the device see the session's m-lines where they were. `version` goes into o=. Pure.
 */
export function offerTowardsRtpengine(
  at: { readonly address: string; readonly audioPort: number; readonly videoPort: number },
  version: number,
  options: BridgeOfferOptions = {},
): string {
  const own = parseSdp(bridgeOffer(at, version));
  const [audio, video] = own.media as [SdpMedia, SdpMedia];
  const { h264 } = BRIDGE_OFFER_PAYLOAD_TYPES;
  const slides: SdpMedia | undefined = options.content
    ? {
        media: "video",
        port: options.content.port,
        protocol: "RTP/AVP",
        formats: [String(h264)],
        lines: [{ type: "a", value: "content:slides" }, { type: "a", value: `label:${options.content.label}` }, ...h264Lines(h264)],
      }
    : undefined;
  const layout = options.layout ?? ["audio", "video"];
  const used = new Set<MediaSlot>();
  const media = layout.map((slot): SdpMedia => {
    const bridge = slot === "audio" ? audio : slot === "video" ? video : slot === "slides" ? slides : undefined;
    if (bridge && !used.has(slot)) {
      used.add(slot);
      return bridge;
    }
    // Not ours to carry (or the slides line when we have no content): offered again, disabled.
    const m = typeof slot === "object" ? parseSdp(`v=0\r\n${slot.disabled}\r\n`).media[0] : undefined;
    if (m) return { ...m, port: 0, lines: [] };
    return { media: "video", port: 0, protocol: "RTP/AVP", formats: [String(h264)], lines: [] };
  });
  for (const [slot, m] of [
    ["audio", audio],
    ["video", video],
    ["slides", slides],
  ] as const)
    if (m && !used.has(slot)) media.push(m);
  return serializeSdp({ session: own.session, media });
}

function bridgeOffer(at: { readonly address: string; readonly audioPort: number; readonly videoPort: number }, version: number): string {
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
        lines: h264Lines(h264),
      },
    ],
  });
}

export interface RtpengineAnswerReading {
  readonly choice: PlainChoice;
  /** Which m-lines carry the bridged audio and video (-1: the device declined it). */
  readonly audioIndex: number;
  readonly videoIndex: number;
  /** Which m-line carries content, the device's slides answer (-1: none, or declined). */
  readonly contentIndex: number;
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
  const videoIndex = answer.media.findIndex((m) => m.media === "video" && m.port !== 0 && !isSlides(m));
  const slidesIndex = answer.media.findIndex((m) => m.media === "video" && m.port !== 0 && isSlides(m));
  const audio = audioIndex >= 0 ? answer.media[audioIndex] : undefined;
  const video = videoIndex >= 0 ? answer.media[videoIndex] : undefined;
  const slides = slidesIndex >= 0 ? choosePlain(undefined, answer.media[slidesIndex]) : undefined;
  const choice: PlainChoice = {
    ...choosePlain(audio, video),
    ...(slides?.video ? { content: slides.video, contentKeyframes: slides.deviceKeyframes } : {}),
  };
  return {
    choice,
    audioIndex: choice.audioPayloadType === undefined ? -1 : audioIndex,
    videoIndex: choice.video ? videoIndex : -1,
    contentIndex: slides?.video ? slidesIndex : -1,
    deviceSending: !audio || !/^(recvonly|inactive)$/.test(directionOf(audio.lines)),
  };
}
