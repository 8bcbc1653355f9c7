import { answerH264, GATEWAY_H264_LIMITS, type H264Answer, parseFmtp } from "../domain/h264.js";
import { attribute, attributes, rtpMaps, type Sdp, type SdpLine, type SdpMedia, serializeSdp } from "../rtpengine/sdp.js";

/** What the meeting leg chose on the device side, kept for in-dialog offers. */
export interface PlainChoice {
  readonly audioPayloadType: number | undefined;
  readonly video: H264Answer | undefined;
  /** The content (slides) video's H.264, when the device offered a slides m-line and the bridge takes content. */
  readonly content?: H264Answer | undefined;
  /** How the device takes keyframe requests for its slides (its rtcp-fb on the slides m-line). */
  readonly contentKeyframes?: PlainChoice["deviceKeyframes"];
  /** How the device takes keyframe requests: RTCP (it offered rtcp-fb) or SIP INFO. */
  readonly deviceKeyframes: "pli" | "fir" | "sip-info";
}

export interface PlainSideAnswer {
  readonly sdp: string;
  readonly choice: PlainChoice;
  /** Which m-lines carry the bridged audio and video (-1: none). */
  readonly audioIndex: number;
  readonly videoIndex: number;
  /** Which m-line carries content (`a=content:slides`) (-1: none, or declined). */
  readonly contentIndex: number;
  /** The device sends (it did not offer recvonly/inactive audio): silence from it then counts towards the media timeout. */
  readonly deviceSending: boolean;
}

/**
 * The meeting leg's answer to rtpengine's offer towards the meeting (plain RTP/AVP:
 * the device's codecs plus the Opus rtpengine transcodes to): Opus and telephone-event
 * for audio, the device's best H.264 answered with what both sides can (up to
 * 1080p30, see domain/h264.ts), keyframe feedback mirrored from what the device
 * offered, rtcp-mux, the offered direction mirrored (hold), further m-lines declined.
 * Main video is the first video m-line that is not `a=content:slides` (RFC 4796); the
 * slides one is content, answered the same way with its `a=content` and `a=label` (BFCP's
 * floor names that label) when the bridge gives it a port, else declined.
 * Pure: the bridge's loopback address and ports come in.
 */
export function answerTowardsRtpengine(
  offer: Sdp,
  at: { readonly address: string; readonly audioPort: number; readonly videoPort: number; readonly contentPort?: number },
): PlainSideAnswer {
  const audioIndex = offer.media.findIndex((m) => m.media === "audio" && m.port !== 0);
  const videoIndex = offer.media.findIndex((m) => m.media === "video" && m.port !== 0 && !isSlides(m));
  const offeredContentIndex = at.contentPort === undefined ? -1 : offer.media.findIndex((m) => m.media === "video" && m.port !== 0 && isSlides(m));
  const audio = audioIndex >= 0 ? offer.media[audioIndex] : undefined;
  const video = videoIndex >= 0 ? offer.media[videoIndex] : undefined;
  const contentMedia = offeredContentIndex >= 0 ? offer.media[offeredContentIndex] : undefined;
  const contentChoice = contentMedia ? choosePlain(undefined, contentMedia) : undefined;
  const choice = {
    ...choosePlain(audio, video),
    ...(contentChoice ? { content: contentChoice.video, contentKeyframes: contentChoice.deviceKeyframes } : {}),
  };
  const contentIndex = choice.content ? offeredContentIndex : -1;
  const media = offer.media.map((m, index): SdpMedia => {
    if (index === audioIndex && choice.audioPayloadType !== undefined) return answerAudio(m, choice.audioPayloadType, at.audioPort);
    if (index === videoIndex && choice.video) return answerVideo(m, choice.video, choice.deviceKeyframes, at.videoPort);
    if (index === contentIndex && choice.content && at.contentPort !== undefined) {
      const answered = answerVideo(m, choice.content, contentChoice?.deviceKeyframes ?? "sip-info", at.contentPort);
      const tags = m.lines.filter((l) => l.type === "a" && /^(content|label):/.test(l.value));
      return { ...answered, lines: [...tags, ...answered.lines] };
    }
    return { ...m, port: 0, lines: m.lines.filter((l) => l.type === "a" && /^(rtpmap|fmtp|mid):/.test(l.value)) };
  });
  const session = offer.session
    .filter((l) => !(l.type === "a" && /^(group|ice-|fingerprint|setup|msid-semantic)/.test(l.value)))
    .map((l) => (l.type === "c" ? { type: "c", value: `IN IP4 ${at.address}` } : l));
  return {
    sdp: serializeSdp({ session, media }),
    choice,
    audioIndex: choice.audioPayloadType === undefined ? -1 : audioIndex,
    videoIndex: choice.video ? videoIndex : -1,
    contentIndex,
    deviceSending: !audio || !/^(recvonly|inactive)$/.test(directionOf(audio.lines)),
  };
}

/** Opus for audio and the device's best H.264 (with how it takes keyframe requests) among the formats of `audio` and `video`. */
export function choosePlain(audio: SdpMedia | undefined, video: SdpMedia | undefined): PlainChoice {
  let audioPayloadType: number | undefined;
  if (audio) {
    for (const [pt, map] of rtpMaps(audio)) if (map.encoding.toLowerCase() === "opus" && map.clockRate === 48000) audioPayloadType ??= pt;
  }
  let h264: H264Answer | undefined;
  let deviceKeyframes: PlainChoice["deviceKeyframes"] = "sip-info";
  if (video) {
    const formats = [...rtpMaps(video)]
      .filter(([, map]) => map.encoding.toUpperCase() === "H264" && map.clockRate === 90000)
      .map(([payloadType]) => ({ payloadType, parameters: parseFmtp(fmtpOf(video.lines, payloadType)) }));
    h264 = answerH264(formats, GATEWAY_H264_LIMITS);
    if (h264) {
      const chosen = String(h264.payloadType);
      const feedback = attributes(video.lines, "rtcp-fb")
        .map((v) => v.trim().split(/\s+/))
        .filter(([pt]) => pt === "*" || pt === chosen)
        .map((parts) => parts.slice(1).join(" ").toLowerCase());
      deviceKeyframes = feedback.includes("nack pli") ? "pli" : feedback.includes("ccm fir") ? "fir" : "sip-info";
    }
  }
  return { audioPayloadType, video: h264, deviceKeyframes };
}

function answerAudio(m: SdpMedia, payloadType: number, port: number): SdpMedia {
  // telephone-event stays negotiated, so the device keeps RFC 4733 digits (the IVR reads them off rtpengine); the bridge drops them.
  const maps = rtpMaps(m);
  const events = [...maps].filter(([, map]) => map.encoding.toLowerCase() === "telephone-event").map(([pt]) => pt);
  const lines: SdpLine[] = [
    { type: "a", value: `rtpmap:${payloadType} opus/48000/2` },
    { type: "a", value: `fmtp:${payloadType} minptime=10;useinbandfec=1` },
    ...events.flatMap((pt) => [
      { type: "a", value: `rtpmap:${pt} telephone-event/${maps.get(pt)?.clockRate}` },
      { type: "a", value: `fmtp:${pt} ${fmtpOf(m.lines, pt) || "0-15"}` },
    ]),
    ...passThrough(m.lines),
    { type: "a", value: mirroredDirection(m.lines) },
    ...(attribute(m.lines, "rtcp-mux") !== undefined ? [{ type: "a", value: "rtcp-mux" }] : []),
  ];
  return { media: "audio", port, protocol: "RTP/AVP", formats: [String(payloadType), ...events.map(String)], lines };
}

function answerVideo(m: SdpMedia, video: H264Answer, keyframes: PlainChoice["deviceKeyframes"], port: number): SdpMedia {
  const pt = video.payloadType;
  const offeredFir = attributes(m.lines, "rtcp-fb").some((v) => /ccm fir/i.test(v));
  const lines: SdpLine[] = [
    { type: "a", value: `rtpmap:${pt} H264/90000` },
    { type: "a", value: `fmtp:${pt} ${video.fmtp}` },
    ...(keyframes === "pli" ? [{ type: "a", value: `rtcp-fb:${pt} nack pli` }] : []),
    ...(keyframes !== "sip-info" && offeredFir ? [{ type: "a", value: `rtcp-fb:${pt} ccm fir` }] : []),
    ...passThrough(m.lines),
    { type: "a", value: mirroredDirection(m.lines) },
    ...(attribute(m.lines, "rtcp-mux") !== undefined ? [{ type: "a", value: "rtcp-mux" }] : []),
  ];
  return { media: "video", port, protocol: "RTP/AVP", formats: [String(pt)], lines };
}

export const isSlides = (m: SdpMedia) => attributes(m.lines, "content").some((v) => v.trim().toLowerCase().split(",").includes("slides"));

function fmtpOf(lines: readonly SdpLine[], pt: number): string {
  const line = lines.find((l) => l.type === "a" && l.value.startsWith(`fmtp:${pt} `));
  return line ? line.value.slice(`fmtp:${pt} `.length) : "";
}

export function directionOf(lines: readonly SdpLine[]): string {
  return lines.find((l) => l.type === "a" && /^(sendonly|recvonly|inactive|sendrecv)$/.test(l.value))?.value ?? "sendrecv";
}

/** Hold and resume: the offered direction mirrored (sendonly ↔ recvonly), never a fixed sendrecv. */
function mirroredDirection(lines: readonly SdpLine[]): string {
  const offered = directionOf(lines);
  return offered === "sendonly" ? "recvonly" : offered === "recvonly" ? "sendonly" : offered;
}

/** Lines of the offer an answer repeats as they are (mid, ptime); codecs, directions and transport are the answer's own. */
function passThrough(lines: readonly SdpLine[]): SdpLine[] {
  return lines.filter((l) => l.type === "a" && /^(mid|ptime|maxptime):/.test(l.value));
}
