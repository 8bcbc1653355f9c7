import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  MediaStreamTrack,
  PictureLossIndication,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCRtpTransceiver,
  type RtcpPacket,
  RtcpPayloadSpecificFeedback,
  RtpHeader,
  RtpPacket,
  serializeAudioLevelIndication,
  useAudioLevelIndication,
  useSdesMid,
} from "werift";
import { type AccessUnit, packetize } from "../../support/media/h264Content.js";
import { startsH264Keyframe } from "./h264Keyframe.js";
import { LOOPBACK_ICE, onlyLoopbackCandidates, waitForIceGathering } from "./iceAddress.js";

/** What the stand-in received from the meeting on one kind. */
export interface ReceivedPacket {
  readonly sequenceNumber: number;
  readonly timestamp: number;
  readonly ssrc: number;
  /** The sending bot's tag (second payload byte), so a receiver can tell whose media it got. */
  readonly from: number;
  /** H.264 NAL unit type of a video packet (5 = IDR, 1 = other slice, 24 = STAP-A, 28 = FU-A). */
  readonly nalType: number;
  /** Whether a video packet starts a keyframe (SPS or IDR start). */
  readonly keyframeStart: boolean;
}

const OPUS_PT = 111;
const H264_PT = 102;
const AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/**
 * A stand-in for the media host's side of the meeting leg contract, for tests: a werift
 * peer whose offer has audio (Opus), main video and content video (H.264), sendrecv and
 * with a=ssrc, a tiny session endpoint that takes the meeting's answer (bearer token,
 * 201 once) and its DELETE, and synthetic media: Opus-like audio every 20 ms with an
 * RFC 6464 level, and H.264 single-NAL video at 25 fps, an IDR answering each PLI/FIR.
 * On its content video it can share a real H.264 clip (looped, restarted from its IDR on
 * each PLI/FIR) and records the screen share the meeting sends it.
 */
export class StandInBot {
  readonly tag: number;
  readonly answerToken = randomBytes(16).toString("base64url");
  readonly received: { audio: ReceivedPacket[]; video: ReceivedPacket[]; content: ReceivedPacket[] } = { audio: [], video: [], content: [] };
  /** Keyframe requests read off the DTLS transport for our main video (werift routes a PLI on sendrecv video to the receiver). */
  readonly keyframeRequests = { pli: 0, fir: 0 };
  /** The same for our content video. */
  readonly contentKeyframeRequests = { pli: 0, fir: 0 };
  /** RTP packets sent on the content video. */
  contentPacketsSent = 0;
  readonly sessionRequests: { method: string; authorization: string | undefined; link: string | undefined; status: number }[] = [];
  readonly #pc: RTCPeerConnection;
  readonly #server: Server;
  readonly #audio: RTCRtpTransceiver;
  readonly #video: RTCRtpTransceiver;
  readonly #content: RTCRtpTransceiver;
  readonly #audioTrack: MediaStreamTrack;
  readonly #videoTrack: MediaStreamTrack;
  readonly #contentTrack: MediaStreamTrack;
  #contentTimer: NodeJS.Timeout | undefined;
  #contentRestart = false;
  readonly #offer: string;
  readonly #levelExtensionId: number | undefined;
  #answered = false;
  #deleted = false;
  #timers: NodeJS.Timeout[] = [];
  #level = 127;
  #keyframeDue = false;
  #audioSequence = (Math.random() * 0xffff) | 0;
  #videoSequence = (Math.random() * 0xffff) | 0;
  #audioTimestamp = (Math.random() * 0xffffffff) >>> 0;
  #videoTimestamp = (Math.random() * 0xffffffff) >>> 0;

  private constructor(
    tag: number,
    pc: RTCPeerConnection,
    server: Server,
    offer: string,
    tracks: { audio: MediaStreamTrack; video: MediaStreamTrack; content: MediaStreamTrack },
  ) {
    this.tag = tag;
    this.#pc = pc;
    this.#server = server;
    this.#offer = offer;
    this.#audioTrack = tracks.audio;
    this.#videoTrack = tracks.video;
    this.#contentTrack = tracks.content;
    const [audio, video, content] = pc.getTransceivers();
    this.#audio = audio!;
    this.#video = video!;
    this.#content = content!;
    const id = new RegExp(`a=extmap:(\\d+) ${AUDIO_LEVEL_URI}`).exec(offer)?.[1];
    this.#levelExtensionId = id ? Number(id) : undefined;
    server.on("request", (req: IncomingMessage, res: ServerResponse) => void this.#serve(req, res));
  }

  static async start(tag: number): Promise<StandInBot> {
    const pc = new RTCPeerConnection({
      ...LOOPBACK_ICE,
      codecs: {
        audio: [new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2, payloadType: OPUS_PT })],
        video: [
          new RTCRtpCodecParameters({
            mimeType: "video/H264",
            clockRate: 90000,
            payloadType: H264_PT,
            parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
            rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "ccm", parameter: "fir" }],
          }),
        ],
      },
      headerExtensions: { audio: [useSdesMid(), useAudioLevelIndication()], video: [useSdesMid()] },
    });
    const audio = new MediaStreamTrack({ kind: "audio" });
    const video = new MediaStreamTrack({ kind: "video" });
    pc.addTransceiver(audio, { direction: "sendrecv" });
    pc.addTransceiver(video, { direction: "sendrecv" });
    const content = new MediaStreamTrack({ kind: "video" });
    pc.addTransceiver(content, { direction: "sendrecv" });
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc);
    const offer = onlyLoopbackCandidates(pc.localDescription?.sdp ?? "");
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return new StandInBot(tag, pc, server, offer, { audio, video, content });
  }

  get sessionUrl(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/meeting-legs/leg-${this.tag}`;
  }

  get connectionState(): string {
    return this.#pc.connectionState;
  }

  get deleted(): boolean {
    return this.#deleted;
  }

  /** The SSRC the meeting sends our main video with (from its answer), for keyframe requests we send as a receiver. */
  get meetingVideoSsrc(): number | undefined {
    return this.#video.receiver.tracks[0]?.ssrc;
  }

  /** The join's media blob per the contract; `overrides` for tests of bad blobs. */
  blob(overrides: Record<string, unknown> = {}): string {
    return JSON.stringify({
      version: 1,
      mediaHostId: "mh-test",
      session: this.sessionUrl,
      answerToken: this.answerToken,
      offer: this.#offer,
      ...overrides,
    });
  }

  /** Audio every 20 ms with this RFC 6464 level (0 loudest … 127 silence), video at 25 fps. */
  startSending(level: number): void {
    this.#level = level;
    this.#timers.push(setInterval(() => this.#sendAudio(), 20));
    this.#timers.push(setInterval(() => this.#sendVideo(), 40));
  }

  /**
   * Shares `clip` on the content video at `fps`, looping; a PLI/FIR for the content video restarts it from its
   * first picture (SPS, PPS, IDR). Sent whether or not the meeting forwards it: that is the meeting's choice.
   */
  startSharing(clip: readonly AccessUnit[], fps: number): void {
    this.stopSharing();
    const step = Math.round(90000 / fps);
    let index = 0;
    let sequence = (Math.random() * 0xffff) | 0;
    let timestamp = (Math.random() * 0xffffffff) >>> 0;
    this.#contentTimer = setInterval(() => {
      if (this.#contentRestart) index = 0;
      this.#contentRestart = false;
      const payloads = packetize(clip[index % clip.length]!).map((payload) => Buffer.from(payload));
      index++;
      timestamp = (timestamp + step) >>> 0;
      payloads.forEach((payload, i) => {
        sequence = (sequence + 1) & 0xffff;
        const header = new RtpHeader({ payloadType: H264_PT, sequenceNumber: sequence, timestamp, marker: i === payloads.length - 1 });
        this.#contentTrack.writeRtp(new RtpPacket(header, payload));
        this.contentPacketsSent++;
      });
    }, 1000 / fps);
  }

  stopSharing(): void {
    clearInterval(this.#contentTimer);
    this.#contentTimer = undefined;
  }

  setLevel(level: number): void {
    this.#level = level;
  }

  /** As a receiver: a PLI for the video the meeting sends us. */
  async sendPli(): Promise<void> {
    const mediaSsrc = this.meetingVideoSsrc;
    if (mediaSsrc === undefined) throw new Error("the meeting's answer announced no video SSRC");
    await this.#video.dtlsTransport.sendRtcp([
      new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: this.#video.receiver.rtcpSsrc, mediaSsrc }) }),
    ]);
  }

  receivedFrom(kind: "audio" | "video" | "content", tag: number): ReceivedPacket[] {
    return this.received[kind].filter((p) => p.from === tag);
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.stopSharing();
    await this.#pc.close().catch(() => {});
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const link = typeof req.headers.link === "string" ? req.headers.link : undefined;
    const answer = (status: number) => {
      this.sessionRequests.push({ method: req.method ?? "", authorization: req.headers.authorization, link, status });
      res.writeHead(status).end();
    };
    if (new URL(req.url ?? "/", "http://x").pathname !== `/meeting-legs/leg-${this.tag}`) return answer(404);
    if (req.headers.authorization !== `Bearer ${this.answerToken}`) return answer(401);
    if (req.method === "DELETE") {
      this.#deleted = true;
      return answer(204);
    }
    if (req.method !== "POST" || req.headers["content-type"] !== "application/sdp") return answer(400);
    if (this.#answered) return answer(409);
    try {
      await this.#pc.setRemoteDescription({ type: "answer", sdp: Buffer.concat(chunks).toString("utf8") });
    } catch {
      return answer(400);
    }
    this.#answered = true;
    this.#watch();
    answer(201);
  }

  #watch(): void {
    const record = (kind: "audio" | "video" | "content") => (track: MediaStreamTrack) =>
      track.onReceiveRtp.subscribe((rtp) =>
        this.received[kind].push({
          sequenceNumber: rtp.header.sequenceNumber,
          timestamp: rtp.header.timestamp,
          ssrc: rtp.header.ssrc,
          from: rtp.payload[1] ?? -1,
          nalType: (rtp.payload[0] ?? 0) & 0x1f,
          keyframeStart: kind !== "audio" && startsH264Keyframe(rtp.payload),
        }),
      );
    for (const [transceiver, kind] of [
      [this.#audio, "audio"],
      [this.#video, "video"],
      [this.#content, "content"],
    ] as const) {
      for (const track of transceiver.receiver.tracks) record(kind)(track);
      transceiver.onTrack.subscribe(record(kind));
    }
    this.#video.dtlsTransport.onRtcp.subscribe((rtcp: RtcpPacket) => {
      if (rtcp.type !== 206) return;
      const feedback = (rtcp as RtcpPayloadSpecificFeedback).feedback as { count: number; mediaSsrc: number; fir?: { ssrc: number }[] };
      for (const [ours, counts, due] of [
        [this.#video.sender.ssrc, this.keyframeRequests, () => (this.#keyframeDue = true)],
        [this.#content.sender.ssrc, this.contentKeyframeRequests, () => (this.#contentRestart = true)],
      ] as const) {
        if (feedback.count === 1 && feedback.mediaSsrc === ours) counts.pli++;
        else if (feedback.count === 4 && feedback.fir?.some((f) => f.ssrc === ours)) counts.fir++;
        else continue;
        due();
      }
    });
  }

  #sendAudio(): void {
    this.#audioSequence = (this.#audioSequence + 1) & 0xffff;
    this.#audioTimestamp = (this.#audioTimestamp + 960) >>> 0;
    const extensions = this.#levelExtensionId ? [{ id: this.#levelExtensionId, payload: serializeAudioLevelIndication(this.#level) }] : [];
    const header = new RtpHeader({ payloadType: OPUS_PT, sequenceNumber: this.#audioSequence, timestamp: this.#audioTimestamp, extensions });
    // An Opus TOC byte (CELT FB 20 ms), then our tag and some filler.
    this.#audioTrack.writeRtp(new RtpPacket(header, Buffer.from([0xfc, this.tag, 0xff, 0xfe, 0x01, 0x02])));
  }

  #sendVideo(): void {
    this.#videoSequence = (this.#videoSequence + 1) & 0xffff;
    this.#videoTimestamp = (this.#videoTimestamp + 3600) >>> 0;
    const idr = this.#keyframeDue;
    this.#keyframeDue = false;
    // One single-NAL packet per frame: an IDR slice (type 5) when a keyframe was asked for, else a non-IDR slice (type 1).
    const header = new RtpHeader({ payloadType: H264_PT, sequenceNumber: this.#videoSequence, timestamp: this.#videoTimestamp, marker: true });
    this.#videoTrack.writeRtp(new RtpPacket(header, Buffer.from([idr ? 0x65 : 0x41, this.tag, 0x88, 0x84, 0x00, 0x33])));
  }
}
