import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { ProtectionProfileAes128CmHmacSha1_80, RtpPacket, SrtcpSession, SrtpSession } from "werift";
import { isRtcp } from "../../../media-host/meeting/rtcp.js";
import { attributes, mediaEndpoint, parseSdp } from "../../../media-host/rtpengine/sdp.js";

export const SRTP_DEVICE_AUDIO_PT = 111;
export const SRTP_DEVICE_VIDEO_PT = 109;

type Kind = "audio" | "video";

interface KindState {
  readonly socket: Socket;
  target: { address: string; port: number } | undefined;
  srtp: SrtpSession | undefined;
  srtcp: SrtcpSession | undefined;
}

/** What the device counts per kind. */
export interface SrtpDeviceCounters {
  /** SRTP/SRTCP packets that decrypted and authenticated. */
  rtp: number;
  rtcp: number;
  /** Packets dropped for failed authentication (the gateway's keys or rollover counter gone wrong). */
  srtpAuthenticationFailures: number;
  srtcpAuthenticationFailures: number;
}

/**
 * A room system with SDES-SRTP (RFC 4568, AES_CM_128_HMAC_SHA1_80) on loopback, for tests and the soak: it
 * offers RTP/SAVP with its own master key for Opus and H.264 (rtcp-mux, RTCP keyframe feedback), takes the
 * gateway's key from the answer, and protects what it sends and unprotects what it receives with werift's
 * SRTP session classes — an implementation independent of rtpengine's, which is on the other end.
 */
export class SrtpDevice {
  readonly counters: Record<Kind, SrtpDeviceCounters> = {
    audio: { rtp: 0, rtcp: 0, srtpAuthenticationFailures: 0, srtcpAuthenticationFailures: 0 },
    video: { rtp: 0, rtcp: 0, srtpAuthenticationFailures: 0, srtcpAuthenticationFailures: 0 },
  };
  readonly #masterKey = randomBytes(16);
  readonly #masterSalt = randomBytes(14);
  readonly #kinds: Record<Kind, KindState>;
  #onRtp: ((kind: Kind, packet: Buffer) => void) | undefined;
  #onRtcp: ((kind: Kind, packet: Buffer) => void) | undefined;

  private constructor(audio: Socket, video: Socket) {
    this.#kinds = {
      audio: { socket: audio, target: undefined, srtp: undefined, srtcp: undefined },
      video: { socket: video, target: undefined, srtp: undefined, srtcp: undefined },
    };
    audio.on("message", (m: Buffer) => this.#receive("audio", m));
    video.on("message", (m: Buffer) => this.#receive("video", m));
  }

  static async open(): Promise<SrtpDevice> {
    const bind = async () => {
      const s = createSocket("udp4");
      await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", resolve));
      return s;
    };
    return new SrtpDevice(await bind(), await bind());
  }

  offer(): string {
    const crypto = `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${Buffer.concat([this.#masterKey, this.#masterSalt]).toString("base64")}`;
    return [
      "v=0",
      "o=srtp-device 1 1 IN IP4 127.0.0.1",
      "s=Room system",
      "c=IN IP4 127.0.0.1",
      "t=0 0",
      `m=audio ${this.#kinds.audio.socket.address().port} RTP/SAVP ${SRTP_DEVICE_AUDIO_PT}`,
      `a=rtpmap:${SRTP_DEVICE_AUDIO_PT} opus/48000/2`,
      crypto,
      "a=rtcp-mux",
      "a=sendrecv",
      `m=video ${this.#kinds.video.socket.address().port} RTP/SAVP ${SRTP_DEVICE_VIDEO_PT}`,
      `a=rtpmap:${SRTP_DEVICE_VIDEO_PT} H264/90000`,
      `a=fmtp:${SRTP_DEVICE_VIDEO_PT} profile-level-id=42e028;packetization-mode=1`,
      `a=rtcp-fb:${SRTP_DEVICE_VIDEO_PT} nack pli`,
      `a=rtcp-fb:${SRTP_DEVICE_VIDEO_PT} ccm fir`,
      crypto,
      "a=rtcp-mux",
      "a=sendrecv",
      "",
    ].join("\r\n");
  }

  /**
   * Our answer to the gateway's offer of opportunistic SRTP (RFC 8643: RTP/AVP with SDES keys): Opus and
   * H.264 in the offer's profile, our key under the tag of its AES_CM_128_HMAC_SHA1_80 line; the offer
   * gives where to send and the gateway's key.
   */
  answer(offer: string): string {
    const parsed = parseSdp(offer);
    const lines = ["v=0", "o=srtp-device 1 1 IN IP4 127.0.0.1", "s=Room system", "c=IN IP4 127.0.0.1", "t=0 0"];
    const key = Buffer.concat([this.#masterKey, this.#masterSalt]).toString("base64");
    for (const media of parsed.media) {
      const kind = media.media === "audio" ? "audio" : "video";
      const pt = kind === "audio" ? SRTP_DEVICE_AUDIO_PT : SRTP_DEVICE_VIDEO_PT;
      const tag =
        attributes(media.lines, "crypto")
          .find((c) => c.split(" ")[1] === "AES_CM_128_HMAC_SHA1_80")
          ?.split(" ")[0] ?? "1";
      lines.push(
        `m=${kind} ${this.#kinds[kind].socket.address().port} ${media.protocol} ${pt}`,
        kind === "audio" ? `a=rtpmap:${pt} opus/48000/2` : `a=rtpmap:${pt} H264/90000`,
        ...(kind === "video" ? [`a=fmtp:${pt} profile-level-id=42e028;packetization-mode=1`, `a=rtcp-fb:${pt} nack pli`] : []),
        `a=crypto:${tag} AES_CM_128_HMAC_SHA1_80 inline:${key}`,
        "a=rtcp-mux",
        "a=sendrecv",
      );
    }
    this.answered(offer);
    return [...lines, ""].join("\r\n");
  }

  /** The gateway's answer: where to send, and its key for what it sends (one per m-line). */
  answered(sdp: string): void {
    const parsed = parseSdp(sdp);
    parsed.media.forEach((media, index) => {
      const kind = media.media === "audio" ? "audio" : media.media === "video" ? "video" : undefined;
      if (!kind) return;
      const state = this.#kinds[kind];
      state.target = mediaEndpoint(parsed, index);
      const line = attributes(media.lines, "crypto").find((c) => c.split(" ")[1] === "AES_CM_128_HMAC_SHA1_80");
      const inline = line && /inline:([A-Za-z0-9+/=]+)/.exec(line)?.[1];
      if (!inline) throw new Error(`the answer's ${kind} has no AES_CM_128_HMAC_SHA1_80 key: ${media.protocol}`);
      const remote = Buffer.from(inline, "base64");
      const config = {
        keys: {
          localMasterKey: this.#masterKey,
          localMasterSalt: this.#masterSalt,
          remoteMasterKey: remote.subarray(0, 16),
          remoteMasterSalt: remote.subarray(16, 30),
        },
        profile: ProtectionProfileAes128CmHmacSha1_80,
      };
      state.srtp = new SrtpSession(config);
      state.srtcp = new SrtcpSession(config);
    });
  }

  /** Protects and sends a plain RTP packet (12-byte header and payload). */
  sendRtp(kind: Kind, packet: Buffer): void {
    const state = this.#kinds[kind];
    if (!state.target || !state.srtp) return;
    const rtp = RtpPacket.deSerialize(packet);
    state.socket.send(state.srtp.encrypt(rtp.payload, rtp.header), state.target.port, state.target.address);
  }

  /** Protects and sends a plain RTCP (compound) packet. */
  sendRtcp(kind: Kind, packet: Buffer): void {
    const state = this.#kinds[kind];
    if (!state.target || !state.srtcp) return;
    state.socket.send(state.srtcp.encrypt(packet), state.target.port, state.target.address);
  }

  /** Every RTP packet that arrives and authenticates, unprotected. */
  onRtp(listener: (kind: Kind, packet: Buffer) => void): void {
    this.#onRtp = listener;
  }

  /** Every RTCP packet that arrives and authenticates, unprotected. */
  onRtcp(listener: (kind: Kind, packet: Buffer) => void): void {
    this.#onRtcp = listener;
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.#kinds).map((k) => new Promise<void>((resolve) => k.socket.close(() => resolve()))));
  }

  #receive(kind: Kind, datagram: Buffer): void {
    const state = this.#kinds[kind];
    const counters = this.counters[kind];
    if (isRtcp(datagram)) {
      if (!state.srtcp) return;
      let plain: Buffer;
      try {
        plain = state.srtcp.decrypt(datagram);
      } catch {
        counters.srtcpAuthenticationFailures++;
        return;
      }
      counters.rtcp++;
      this.#onRtcp?.(kind, plain);
      return;
    }
    if (!state.srtp) return;
    let plain: Buffer;
    try {
      plain = state.srtp.decrypt(datagram);
    } catch {
      counters.srtpAuthenticationFailures++;
      return;
    }
    counters.rtp++;
    this.#onRtp?.(kind, plain);
  }
}
