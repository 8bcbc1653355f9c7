import { createSocket, type Socket } from "node:dgram";
import { findKeyframeRequest, isRtcp, rtpPayloadType } from "../../../media-host/meeting/rtcp.js";
import { mediaEndpoint, parseSdp } from "../../../media-host/rtpengine/sdp.js";

export interface PlainRtpDeviceOptions {
  /** Audio codec the device offers: PCMU (transcoded to Opus by rtpengine) or Opus (passed through). */
  readonly audio?: "PCMU" | "opus";
  /** The device's H.264 fmtp (default: 1080p-capable level 4.0, packetization mode 1). */
  readonly h264Fmtp?: string;
  /** Offer RTCP keyframe feedback (a=rtcp-fb nack pli, ccm fir). */
  readonly rtcpFeedback?: boolean;
  /** Offer video (default true); an audio-only device offers one m-line. */
  readonly video?: boolean;
  /** Also offer a slides m-line (a=content:slides, a=label:12), as a Cisco room system does from its first INVITE. */
  readonly content?: boolean;
  /** With `content`: offer the slides line from the start (Cisco; default) or only answer one the far end adds (Poly). */
  readonly slidesInOffer?: boolean;
}

const AUDIO_PT = { PCMU: 0, opus: 111 } as const;
export const DEVICE_VIDEO_PT = 109;

/**
 * A room system's media as plain RTP on loopback (no SIP): an SDP offer with audio and
 * H.264 video, sockets that send and count packets, and RTCP it receives (keyframe
 * requests). For tests and benches of the media path below SIP.
 */
export class PlainRtpDevice {
  readonly audioSocket: Socket;
  readonly videoSocket: Socket;
  readonly received = { audio: 0, video: 0, rtcp: 0, content: 0 };
  readonly keyframeRequests: ("pli" | "fir")[] = [];
  /** Keyframe requests that came on the slides m-line. */
  readonly contentKeyframeRequests: ("pli" | "fir")[] = [];
  readonly contentSocket: Socket | undefined;
  readonly receivedPayloadTypes = { audio: new Set<number>(), video: new Set<number>() };
  /** The source addresses of what it received ("address:port"). */
  readonly receivedFrom = new Set<string>();
  readonly options: Required<PlainRtpDeviceOptions>;
  #audioTarget: { address: string; port: number } | undefined;
  #videoTarget: { address: string; port: number } | undefined;
  #onVideo: ((packet: Buffer) => void) | undefined;
  #contentTarget: { address: string; port: number } | undefined;
  #onContent: ((packet: Buffer) => void) | undefined;

  private constructor(audio: Socket, video: Socket, content: Socket | undefined, options: Required<PlainRtpDeviceOptions>) {
    this.audioSocket = audio;
    this.videoSocket = video;
    this.contentSocket = content;
    this.options = options;
    audio.on("message", (m: Buffer, from) => this.#receive("audio", m, `${from.address}:${from.port}`));
    video.on("message", (m: Buffer, from) => this.#receive("video", m, `${from.address}:${from.port}`));
    content?.on("message", (m: Buffer) => this.#receiveContent(m));
  }

  static async open(options: PlainRtpDeviceOptions = {}): Promise<PlainRtpDevice> {
    const bind = async () => {
      const s = createSocket("udp4");
      await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", resolve));
      return s;
    };
    return new PlainRtpDevice(await bind(), await bind(), options.content ? await bind() : undefined, {
      audio: options.audio ?? "PCMU",
      h264Fmtp: options.h264Fmtp ?? "profile-level-id=42e028;packetization-mode=1",
      rtcpFeedback: options.rtcpFeedback ?? true,
      video: options.video ?? true,
      content: options.content ?? false,
      slidesInOffer: options.slidesInOffer ?? true,
    });
  }

  offer(): string {
    const a = AUDIO_PT[this.options.audio];
    const audioMap = this.options.audio === "PCMU" ? `a=rtpmap:0 PCMU/8000` : `a=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1`;
    const fb = this.options.rtcpFeedback ? `a=rtcp-fb:${DEVICE_VIDEO_PT} nack pli\r\na=rtcp-fb:${DEVICE_VIDEO_PT} ccm fir\r\n` : "";
    return [
      "v=0",
      "o=device 1 1 IN IP4 127.0.0.1",
      "s=Room system",
      "c=IN IP4 127.0.0.1",
      "t=0 0",
      `m=audio ${this.audioSocket.address().port} RTP/AVP ${a} 101`,
      audioMap,
      "a=rtpmap:101 telephone-event/8000",
      "a=fmtp:101 0-15",
      "a=rtcp-mux",
      "a=sendrecv",
      ...(this.options.video
        ? [
            `m=video ${this.videoSocket.address().port} RTP/AVP ${DEVICE_VIDEO_PT}`,
            `a=rtpmap:${DEVICE_VIDEO_PT} H264/90000`,
            `a=fmtp:${DEVICE_VIDEO_PT} ${this.options.h264Fmtp}`,
            `${fb}a=rtcp-mux`,
            "a=sendrecv",
          ]
        : []),
      ...(this.contentSocket && this.options.slidesInOffer
        ? [
            `m=video ${this.contentSocket.address().port} RTP/AVP ${DEVICE_VIDEO_PT}`,
            "a=content:slides",
            "a=label:12",
            `a=rtpmap:${DEVICE_VIDEO_PT} H264/90000`,
            `a=fmtp:${DEVICE_VIDEO_PT} ${this.options.h264Fmtp}`,
            `${fb}a=rtcp-mux`,
            "a=sendrecv",
          ]
        : []),
      "",
    ].join("\r\n");
  }

  /** The gateway's answer: where to send. */
  answered(sdp: string): void {
    const parsed = parseSdp(sdp);
    this.#audioTarget = mediaEndpoint(parsed, 0);
    if (this.options.video) this.#videoTarget = mediaEndpoint(parsed, 1);
    const slides = parsed.media.findIndex((m) => m.lines.some((l) => l.value === "content:slides"));
    if (this.contentSocket && slides >= 0 && parsed.media[slides]?.port !== 0) this.#contentTarget = mediaEndpoint(parsed, slides);
  }

  /** Whether the gateway took the slides m-line (a port, not 0). */
  get contentAccepted(): boolean {
    return this.#contentTarget !== undefined;
  }

  sendContent(packet: Buffer): void {
    if (this.#contentTarget) this.contentSocket?.send(packet, this.#contentTarget.port, this.#contentTarget.address);
  }

  onContent(listener: (packet: Buffer) => void): void {
    this.#onContent = listener;
  }

  get audioPayloadType(): number {
    return AUDIO_PT[this.options.audio];
  }

  sendAudio(packet: Buffer): void {
    if (this.#audioTarget) this.audioSocket.send(packet, this.#audioTarget.port, this.#audioTarget.address);
  }

  sendVideo(packet: Buffer): void {
    if (this.#videoTarget) this.videoSocket.send(packet, this.#videoTarget.port, this.#videoTarget.address);
  }

  onVideo(listener: (packet: Buffer) => void): void {
    this.#onVideo = listener;
  }

  async close(): Promise<void> {
    const sockets = [this.audioSocket, this.videoSocket, ...(this.contentSocket ? [this.contentSocket] : [])];
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  #receiveContent(packet: Buffer): void {
    if (isRtcp(packet)) {
      const request = findKeyframeRequest(packet);
      if (request) this.contentKeyframeRequests.push(request);
      return;
    }
    this.received.content++;
    this.#onContent?.(packet);
  }

  #receive(kind: "audio" | "video", packet: Buffer, from: string): void {
    this.receivedFrom.add(from);
    if (isRtcp(packet)) {
      this.received.rtcp++;
      const request = findKeyframeRequest(packet);
      if (request) this.keyframeRequests.push(request);
      return;
    }
    this.received[kind]++;
    this.receivedPayloadTypes[kind].add(rtpPayloadType(packet));
    if (kind === "video") this.#onVideo?.(packet);
  }
}

/** An RTP packet: 12-byte header and `payload`. */
export function rtpPacket(payloadType: number, sequenceNumber: number, timestamp: number, ssrc: number, payload: Buffer, marker = false): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = (marker ? 0x80 : 0) | payloadType;
  header.writeUInt16BE(sequenceNumber & 0xffff, 2);
  header.writeUInt32BE(timestamp >>> 0, 4);
  header.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([header, payload]);
}
