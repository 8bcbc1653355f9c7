import {
  type MediaStreamTrack,
  PictureLossIndication,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCRtpTransceiver,
  type RtcpPacket,
  RtcpPayloadSpecificFeedback,
  type RtpPacket,
  useAbsSendTime,
  useAudioLevelIndication,
  useSdesMid,
} from "werift";
import { ForwardedStream } from "./forwardedStream.js";
import { HttpProblem } from "./httpProblem.js";
import { KeyframeRequestThrottle } from "./keyframeRequestThrottle.js";
import { countCandidates, iceOn, LOOPBACK_ADDRESS, onlyCandidatesOn, reachableCandidates, waitForIceGathering } from "./iceAddress.js";
import { type ChosenCodec, chooseH264, chooseOpus, hasSsrc, type MediaSection, mediaSections } from "./offerSdp.js";

export type ParticipantKind = "bot" | "person";
/** What a participant sends: audio, main video (camera), or content video (a screen share). */
export type MediaKind = "audio" | "video" | "content";
export type LegConnectionState = RTCPeerConnection["connectionState"];

const AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
/** Teams' media server aggregates its receivers' keyframe requests: one per source every 500 ms at most. */
const KEYFRAME_REQUEST_INTERVAL_MS = 500;
/** A page asks for at most this many receive slots. */
const MAX_SLOTS = 16;

/** What a leg tells its meeting. */
export interface LegListener {
  /** RTP from the participant's audio, main video or content video; `audioLevel` is RFC 6464's (0 loudest … 127 silence) when negotiated. */
  media(leg: ParticipantLeg, kind: MediaKind, packet: RtpPacket, audioLevel: number | undefined): void;
  /** The participant's peer (as a receiver) asked for a keyframe (PLI/FIR) of what `stream` carries. */
  keyframeWanted(leg: ParticipantLeg, stream: ForwardedStream): void;
  stateChanged(leg: ParticipantLeg, state: LegConnectionState): void;
}

export interface ParticipantLegOptions {
  readonly participantId: string;
  readonly kind: ParticipantKind;
  readonly displayName: string;
  /**
   * A bot's offer: audio, main video, content video. A page's: its own audio and video, then N receive-only
   * audio/video pairs (its slots), then optionally a sendrecv content video (its screen share both ways).
   */
  readonly offer: string;
  readonly listener: LegListener;
  /** The address the SFU's ICE binds and offers (127.0.0.1 unless told): the meeting's address, where browsers and bots reach it. */
  readonly iceAddress?: string;
}

interface OfferPlan {
  /** The offer without the candidates the SFU cannot reach. */
  readonly offer: string;
  readonly slots: number;
  /** Where the content video is among the m-lines, if offered. */
  readonly contentIndex: number | undefined;
  readonly opus: ChosenCodec;
  readonly h264: ChosenCodec;
}

/**
 * One participant's media in the meeting: a werift peer connection answering the
 * participant's offer. It receives the participant's audio, main video and content
 * video (a screen share) and sends what the meeting forwards to it: a bot gets one audio
 * and one video track (the active speaker), a page one audio and one video track per
 * slot; both get the sharer's screen on their content track. Keyframe requests arrive as
 * RTCP on the DTLS transport (werift hands a PLI on sendrecv video to the receiver, not
 * the sender).
 */
export class ParticipantLeg {
  readonly participantId: string;
  readonly kind: ParticipantKind;
  readonly displayName: string;
  readonly audioOut: readonly ForwardedStream[];
  readonly videoOut: readonly ForwardedStream[];
  /** The sharer's screen, sent on the participant's content video (undefined: its offer had none). */
  readonly contentOut: ForwardedStream | undefined;
  /** RTP packets the SFU received from this participant. */
  readonly received = { audio: 0, video: 0, content: 0 };
  readonly #pc: RTCPeerConnection;
  /** The participant's audio and main video (the offer's first two m-lines), known once the offer is applied. */
  #audioIn: RTCRtpTransceiver | undefined;
  #videoIn: RTCRtpTransceiver | undefined;
  #contentIn: RTCRtpTransceiver | undefined;
  readonly #listener: LegListener;
  readonly #iceAddress: string;
  readonly #keyframes: KeyframeRequestThrottle;
  readonly #contentKeyframes: KeyframeRequestThrottle;
  readonly #tracks = new Set<MediaStreamTrack>();
  #videoSsrc: number | undefined;
  #contentSsrc: number | undefined;
  #firSequence = 0;
  #closed = false;

  private constructor(options: ParticipantLegOptions, pc: RTCPeerConnection, slots: number, content: boolean) {
    this.participantId = options.participantId;
    this.kind = options.kind;
    this.displayName = options.displayName;
    this.#pc = pc;
    this.#listener = options.listener;
    this.#iceAddress = options.iceAddress ?? LOOPBACK_ADDRESS;
    this.audioOut = Array.from({ length: slots }, () => new ForwardedStream("audio"));
    this.videoOut = Array.from({ length: slots }, () => new ForwardedStream("video"));
    this.contentOut = content ? new ForwardedStream("video") : undefined;
    this.#keyframes = new KeyframeRequestThrottle(KEYFRAME_REQUEST_INTERVAL_MS, () => this.#sendKeyframeRequest("video"));
    this.#contentKeyframes = new KeyframeRequestThrottle(KEYFRAME_REQUEST_INTERVAL_MS, () => this.#sendKeyframeRequest("content"));
  }

  /** Answers the offer; the answer carries our candidates (gathered, on the ICE address only). Throws HttpProblem(400) for an offer it cannot take. */
  static async open(options: ParticipantLegOptions): Promise<{ leg: ParticipantLeg; answer: string }> {
    const iceAddress = options.iceAddress ?? LOOPBACK_ADDRESS;
    const { offer, slots, contentIndex, opus, h264 } = ParticipantLeg.plan(options.kind, options.offer, iceAddress);
    const pc = new RTCPeerConnection({
      ...iceOn(iceAddress),
      codecs: {
        audio: [new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2, payloadType: opus.payloadType })],
        video: [
          new RTCRtpCodecParameters({
            mimeType: "video/H264",
            clockRate: 90000,
            payloadType: h264.payloadType,
            parameters: h264.parameters,
            // No transport-cc: with werift's TWCC feedback Chromium stayed at its 300 kbps start rate (480x270 after 10 s);
            // without it, loss-based estimation reaches 1280x720 at about 1.3 Mbit/s within 12 s.
            rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "ccm", parameter: "fir" }],
          }),
        ],
      },
      headerExtensions: {
        audio: [useSdesMid(), useAudioLevelIndication()],
        video: [useSdesMid(), useAbsSendTime()],
      },
    });
    const leg = new ParticipantLeg(options, pc, options.kind === "bot" ? 1 : slots, contentIndex !== undefined);
    try {
      await pc.setRemoteDescription({ type: "offer", sdp: offer });
      const answer = await leg.#answer(slots, contentIndex);
      return { leg, answer };
    } catch (e) {
      await leg.close();
      if (e instanceof HttpProblem) throw e;
      throw new HttpProblem(400, `the offer could not be applied: ${(e as Error).message}`);
    }
  }

  /**
   * Checks an offer without opening anything (throws HttpProblem(400) naming what is wrong): a candidate the SFU on
   * `iceAddress` can reach (loopback ones for an SFU on loopback, others for one on a real address), layout, codecs.
   */
  static plan(kind: ParticipantKind, sdp: string, iceAddress: string = LOOPBACK_ADDRESS): OfferPlan {
    const offer = reachableCandidates(sdp, iceAddress);
    if (countCandidates(offer) === 0)
      throw new HttpProblem(
        400,
        iceAddress.startsWith("127.")
          ? `the offer has no UDP candidate on ${LOOPBACK_ADDRESS} (a browser needs --allow-loopback-in-peer-connection)`
          : `the offer has no UDP candidate on an IPv4 address the meeting's media server (on ${iceAddress}) can reach`,
      );
    const sections = mediaSections(offer);
    const { slots, contentIndex } = checkLayout(kind, sections);
    const opus = chooseOpus(sections[0]!);
    const h264 = chooseH264(sections[1]!);
    if (!opus) throw new HttpProblem(400, "the offer's audio has no Opus (opus/48000/2)");
    if (!h264) throw new HttpProblem(400, "the offer's main video has no H.264 in packetization-mode=1");
    // werift configures one video format per peer connection: content must offer the same H.264 as main video.
    if (contentIndex !== undefined && sections[contentIndex]!.port !== 0 && chooseH264(sections[contentIndex]!)?.parameters !== h264.parameters)
      throw new HttpProblem(400, "the offer's content video must offer the same H.264 (packetization-mode=1, profile-level-id) as its main video");
    return { offer, slots, contentIndex, opus, h264 };
  }

  get connectionState(): LegConnectionState {
    return this.#pc.connectionState;
  }

  get connected(): boolean {
    return this.#pc.connectionState === "connected";
  }

  /** Keyframe requests (PLI and FIR together) sent to this participant. */
  get keyframeRequestsSent(): number {
    return this.#keyframes.sent;
  }

  /** Keyframe requests (PLI and FIR together) sent to this participant for its content video. */
  get contentKeyframeRequestsSent(): number {
    return this.#contentKeyframes.sent;
  }

  /** RTP packets the SFU sent to this participant, per kind. */
  get sent(): { audio: number; video: number; content: number } {
    const sum = (streams: readonly ForwardedStream[]) => streams.reduce((n, s) => n + s.packetsSent, 0);
    return { audio: sum(this.audioOut), video: sum(this.videoOut), content: this.contentOut?.packetsSent ?? 0 };
  }

  /**
   * Asks the participant for a keyframe of its main video, or of its content video (at most one request per 500 ms
   * for each; later ones are folded into the next).
   */
  requestKeyframe(of: "video" | "content" = "video"): void {
    (of === "content" ? this.#contentKeyframes : this.#keyframes).request();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#keyframes.close();
    this.#contentKeyframes.close();
    for (const stream of [...this.audioOut, ...this.videoOut, ...(this.contentOut ? [this.contentOut] : [])]) stream.stop();
    await this.#pc.close().catch(() => {});
  }

  async #answer(slots: number, contentIndex: number | undefined): Promise<string> {
    const transceivers = this.#pc.getTransceivers();
    this.#audioIn = transceivers[0]!;
    this.#videoIn = transceivers[1]!;
    if (this.kind === "bot") {
      await this.#sendOn(transceivers[0]!, this.audioOut[0]!, "sendrecv");
      await this.#sendOn(transceivers[1]!, this.videoOut[0]!, "sendrecv");
    } else {
      for (let i = 0; i < slots; i++) {
        await this.#sendOn(transceivers[2 + 2 * i]!, this.audioOut[i]!, "sendonly");
        await this.#sendOn(transceivers[3 + 2 * i]!, this.videoOut[i]!, "sendonly");
      }
    }
    // Content both ways from the start: the meeting does not renegotiate when someone starts sharing.
    const contentTransceiver = contentIndex === undefined ? undefined : transceivers[contentIndex];
    if (contentTransceiver && this.contentOut) {
      await this.#sendOn(contentTransceiver, this.contentOut, "sendrecv");
      this.#contentIn = contentTransceiver;
      this.#receive(contentTransceiver, "content");
    }
    this.#receive(this.#audioIn, "audio");
    this.#receive(this.#videoIn, "video");
    this.#pc.connectionStateChange.subscribe((state) => {
      if (!this.#closed) this.#listener.stateChanged(this, state);
    });
    await this.#pc.setLocalDescription(await this.#pc.createAnswer());
    for (const transport of new Set(transceivers.map((t) => t.dtlsTransport))) transport.onRtcp.subscribe((rtcp) => this.#onRtcp(rtcp));
    await waitForIceGathering(this.#pc);
    return onlyCandidatesOn(this.#pc.localDescription?.sdp ?? "", this.#iceAddress);
  }

  async #sendOn(transceiver: RTCRtpTransceiver, stream: ForwardedStream, direction: "sendrecv" | "sendonly"): Promise<void> {
    await transceiver.sender.replaceTrack(stream.track);
    transceiver.setDirection(direction);
    stream.ssrc = transceiver.sender.ssrc;
  }

  #receive(transceiver: RTCRtpTransceiver, kind: MediaKind): void {
    const attach = (track: MediaStreamTrack) => {
      if (this.#tracks.has(track)) return;
      this.#tracks.add(track);
      track.onReceiveRtp.subscribe((packet, extensions) => {
        // Padding-only packets (a browser's bandwidth probes) carry no media.
        if (this.#closed || packet.payload.length === 0) return;
        this.received[kind]++;
        if (kind === "video") this.#videoSsrc = packet.header.ssrc;
        else if (kind === "content") this.#contentSsrc = packet.header.ssrc;
        const level = (extensions?.[AUDIO_LEVEL_URI] as { level?: number } | undefined)?.level;
        this.#listener.media(this, kind, packet, kind === "audio" ? level : undefined);
      });
    };
    for (const track of transceiver.receiver.tracks) attach(track);
    transceiver.onTrack.subscribe(attach);
  }

  /** PLI (PSFB FMT 1) and FIR (PSFB FMT 4) for one of our forwarded video tracks. */
  #onRtcp(rtcp: RtcpPacket): void {
    if (this.#closed || rtcp.type !== RtcpPayloadSpecificFeedback.type) return;
    const { feedback } = rtcp as RtcpPayloadSpecificFeedback;
    // werift does not export its FullIntraRequest class: a FIR (FMT 4) is read by shape.
    const fir = (feedback as { fir?: { ssrc: number }[] }).fir;
    const ssrcs = feedback instanceof PictureLossIndication ? [feedback.mediaSsrc] : feedback.count === 4 && fir ? fir.map((f) => f.ssrc) : [];
    for (const ssrc of ssrcs) {
      const stream = this.videoOut.find((s) => s.ssrc === ssrc) ?? (this.contentOut?.ssrc === ssrc ? this.contentOut : undefined);
      if (stream) this.#listener.keyframeWanted(this, stream);
    }
  }

  #sendKeyframeRequest(of: "video" | "content"): void {
    const videoIn = of === "content" ? this.#contentIn : this.#videoIn;
    const mediaSsrc = (of === "content" ? this.#contentSsrc : this.#videoSsrc) ?? videoIn?.receiver.tracks[0]?.ssrc;
    if (this.#closed || !this.connected || !videoIn || mediaSsrc === undefined) return;
    const senderSsrc = videoIn.receiver.rtcpSsrc;
    // Sent as raw RTCP: werift's sendRtcpPLI does nothing unless the codec lists "nack pli".
    const pli = new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc, mediaSsrc }) });
    const fir = firPacket(senderSsrc, mediaSsrc, this.#firSequence++ & 0xff);
    void videoIn.dtlsTransport.sendRtcp([pli, fir]).catch(() => {});
  }
}

/**
 * The m-lines the contract (bots) or the page (people) promise: the page's slot count and where its content
 * video is (a bot's is its third m-line; a page's, when it offers one, its last, after the slots, sendrecv).
 */
function checkLayout(kind: ParticipantKind, sections: readonly MediaSection[]): { slots: number; contentIndex: number | undefined } {
  const kinds = sections.map((s) => s.kind).join(",");
  if (kind === "bot") {
    if (kinds !== "audio,video,video")
      throw new HttpProblem(400, `a bot's offer must have three m-lines: audio, main video, content video (got ${kinds || "none"})`);
    const unsignalled = sections.findIndex((s) => s.port !== 0 && !hasSsrc(s));
    if (unsignalled >= 0)
      throw new HttpProblem(400, `m-line ${unsignalled} of the bot's offer has no a=ssrc (the SFU routes incoming RTP by signalled SSRC)`);
    return { slots: 1, contentIndex: sections[2]!.port === 0 ? undefined : 2 };
  }
  const withContent = (sections.length - 2) % 2 === 1;
  const slotSections = sections.slice(2, withContent ? -1 : undefined);
  const slots = slotSections.length / 2;
  const pairs = slotSections.every((s, i) => s.kind === (i % 2 === 0 ? "audio" : "video") && s.direction === "recvonly");
  const content = withContent ? sections.at(-1) : undefined;
  if (
    sections[0]?.kind !== "audio" ||
    sections[1]?.kind !== "video" ||
    slots < 1 ||
    slots > MAX_SLOTS ||
    !pairs ||
    (content && (content.kind !== "video" || content.direction !== "sendrecv"))
  )
    throw new HttpProblem(
      400,
      `a page's offer must have its own audio and video, then 1 to ${MAX_SLOTS} recvonly audio/video pairs, then optionally a sendrecv content video (got ${kinds || "none"}, directions ${sections.map((s) => s.direction).join(",")})`,
    );
  return { slots, contentIndex: content ? sections.length - 1 : undefined };
}

/** A FIR (RFC 5104 §4.3.1) as werift's sendRtcp takes it (werift does not export its own FIR class). */
function firPacket(senderSsrc: number, mediaSsrc: number, sequenceNumber: number): RtcpPacket {
  const bytes = Buffer.alloc(20);
  bytes[0] = 0x80 | 4;
  bytes[1] = 206;
  bytes.writeUInt16BE(4, 2);
  bytes.writeUInt32BE(senderSsrc >>> 0, 4);
  bytes.writeUInt32BE(0, 8); // the media source field is unused in a FIR: its entry names the source
  bytes.writeUInt32BE(mediaSsrc >>> 0, 12);
  bytes[16] = sequenceNumber;
  return { serialize: () => bytes } as unknown as RtcpPacket;
}
