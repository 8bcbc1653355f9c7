import { randomBytes, timingSafeEqual } from "node:crypto";
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, type RTCRtpTransceiver, type RtcpPacket, type RtcpSrPacket } from "werift";
import type { MediaStreamQuality } from "../../shared/domain/callQuality.js";
import { GATEWAY_H264_LIMITS, meetingSideFmtp } from "../domain/h264.js";
import { KeyframeRequestLimiter } from "../domain/keyframeRequestLimiter.js";
import type { MeetingLeg, MeetingLegEvents, MeetingLegOfferOptions } from "../calls/meetingLeg.js";
import { mediaEndpoint, parseSdp, type Sdp, type SdpLine, serializeSdp } from "../rtpengine/sdp.js";
import { BridgedStream } from "./bridgedStream.js";
import { ContentBridge, type ContentBridgeCounters, type ContentPresenter } from "./contentBridge.js";
import { answerTowardsRtpengine, type PlainChoice } from "./plainSideAnswer.js";
import { offerTowardsRtpengine, readRtpengineAnswer } from "./plainSideOffer.js";
import { findKeyframeRequest } from "./rtcp.js";

export interface IceOptions {
  /** The address werift binds (the VM's NIC; 127.0.0.1 in tests). */
  readonly bindAddress: string;
  /** The address candidates carry (the VM's public address); the only one offered. */
  readonly advertisedAddress: string;
  readonly portRange?: readonly [number, number];
}

export interface WebRtcMeetingLegOptions {
  readonly legId: string;
  readonly callId: string;
  readonly mediaHostId: string;
  /** Where the meeting's media server POSTs its answer (the blob's `session`). */
  readonly sessionUrl: string;
  readonly ice: IceOptions;
  /** Where rtpengine reaches the bridge (loopback on the media host). */
  readonly plainAddress: string;
  /** No media from either side for this long, once connected, ends the call. */
  readonly mediaTimeoutInMs: number;
  /** After the bot is admitted, the meeting must answer within this. */
  readonly answerTimeoutInMs: number;
  readonly log: Logger;
  /**
   * Take the device's slides m-line (content) instead of declining it: only for a call with a
   * BFCP floor (a slides line accepted without one would carry nothing, and some devices then
   * hold back their content), and only those keep a content socket.
   */
  readonly acceptContent?: boolean;
  /** The leg is done (closed or failed): its registry forgets it. */
  readonly onClosed: (legId: string) => void;
}

/** Opus at 48 kHz, stereo as WebRTC signals it, FEC on. */
const OPUS = { mimeType: "audio/opus", clockRate: 48000, channels: 2, payloadType: 111, parameters: "minptime=10;useinbandfec=1" };
const H264_PAYLOAD_TYPE = 102;
/** The slides line's label when the call names none (a device whose BFCP floor names no stream). */
const DEFAULT_SLIDES_LABEL = "3";
/** The content counters of a leg that takes no content. */
const NO_CONTENT: ContentBridgeCounters = { fromDevice: 0, intoMeeting: 0, fromMeeting: 0, toDevice: 0, heldForKeyframe: 0 };
const VIDEO_FEEDBACK = [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "ccm", parameter: "fir" }, { type: "goog-remb" }];

export class AnswerRejectedError extends Error {
  constructor(
    readonly status: 400 | 401 | 409,
    message: string,
  ) {
    super(message);
    this.name = "AnswerRejectedError";
  }
}

/**
 * The meeting side of one device call over WebRTC (werift): one peer connection with
 * audio, main video and content video, bundled, whose offer goes to the meeting in
 * the join's media blob; the meeting's media server answers at `sessionUrl`. The
 * device side is plain RTP through rtpengine (which transcodes audio to Opus and
 * passes H.264 through): `answer` takes rtpengine's offer towards the meeting and
 * answers it with the bridge's loopback ports. See docs/design.md, "The meeting leg".
 */
export class WebRtcMeetingLeg extends EventEmitter<MeetingLegEvents> implements MeetingLeg {
  readonly legId: string;
  readonly #o: WebRtcMeetingLegOptions;
  readonly #answerToken = randomBytes(16).toString("base64url");
  readonly #audio: BridgedStream;
  readonly #video: BridgedStream;
  /** Only for legs that take the slides m-line (acceptContent): others have no content port to keep. */
  readonly #content: ContentBridge | undefined;
  readonly #toDeviceLimiter = new KeyframeRequestLimiter();
  readonly #toMeetingLimiter = new KeyframeRequestLimiter();
  readonly #contentToDeviceLimiter = new KeyframeRequestLimiter();
  readonly #contentToMeetingLimiter = new KeyframeRequestLimiter();
  #contentKeyframes: PlainChoice["deviceKeyframes"] = "sip-info";
  #choice: PlainChoice | undefined;
  #pc: RTCPeerConnection | undefined;
  #transceivers: { audio: RTCRtpTransceiver; video: RTCRtpTransceiver; content: RTCRtpTransceiver } | undefined;
  #offer: Promise<string> | undefined;
  /** The o= version of the bridge's own offers towards rtpengine. */
  #plainOfferVersion = 0;
  #answered = false;
  /** The media server's end of the session, when it named one: told when the call ends here. */
  #meetingSessionUrl: string | undefined;
  #endedByMeeting = false;
  #closed = false;
  #deviceSending = true;
  #timers: NodeJS.Timeout[] = [];
  #connectedAtMs = 0;

  private constructor(options: WebRtcMeetingLegOptions, audio: BridgedStream, video: BridgedStream, content: ContentBridge | undefined) {
    super();
    this.legId = options.legId;
    this.#o = options;
    this.#audio = audio;
    this.#video = video;
    this.#content = content;
    video.onDeviceRtcp((packet) => {
      if (findKeyframeRequest(packet)) this.requestKeyframe();
    });
    content?.on("keyframeNeeded", (from) => (from === "meeting" ? this.#contentKeyframeFromMeeting() : this.#contentKeyframeFromDevice()));
  }

  static async open(options: WebRtcMeetingLegOptions): Promise<WebRtcMeetingLeg> {
    const audio = await BridgedStream.open("audio", options.plainAddress);
    const video = await BridgedStream.open("video", options.plainAddress).catch(async (e) => {
      await audio.close();
      throw e;
    });
    const content = options.acceptContent
      ? await ContentBridge.open(options.plainAddress).catch(async (e) => {
          await Promise.all([audio.close(), video.close()]);
          throw e;
        })
      : undefined;
    return new WebRtcMeetingLeg(options, audio, video, content);
  }

  /** Packet counters of the bridge (both kinds), for metrics and tests. */
  get counters() {
    return { audio: { ...this.#audio.counters }, video: { ...this.#video.counters }, content: { ...(this.#content?.counters ?? NO_CONTENT) } };
  }

  /**
   * Who presents content (the floor's holder, domain/contentFloor.ts): the device's slides go
   * to the meeting as the bot's screen share, or the meeting's shared screen to the device's
   * slides m-line; the new presenter is asked for a keyframe and starts at it.
   */
  presentContent(presenter: ContentPresenter): void {
    this.#content?.present(presenter);
  }

  get contentPacketsFromDevice(): number {
    return this.#content?.counters.fromDevice ?? 0;
  }

  /**
   * SRTP and SRTCP packets from the meeting's media server that failed authentication and were dropped (werift
   * counts them on the bundle's one DTLS transport: patches/werift+0.25.2.patch, long-calls). Zero is the only
   * healthy value: anything else is tampering, a key mix-up or a rollover counter gone astray.
   */
  get authenticationFailures(): { srtp: number; srtcp: number } {
    const transport = this.#transceivers?.audio.dtlsTransport as
      | { srtpAuthenticationFailures?: number; srtcpAuthenticationFailures?: number }
      | undefined;
    return { srtp: transport?.srtpAuthenticationFailures ?? 0, srtcp: transport?.srtcpAuthenticationFailures ?? 0 };
  }

  /**
   * rtpengine's offer towards the meeting (plain RTP/AVP: the device's codecs plus
   * Opus it transcodes to) → our answer: Opus for audio, the device's best H.264 for
   * video (answered with what both sides can, up to 1080p30), our loopback ports,
   * rtcp-mux. Called at set-up and for every in-dialog offer (hold, resume).
   */
  async answer(offerTowardsMeeting: string): Promise<string> {
    const offer = parseSdp(offerTowardsMeeting);
    const answer = answerTowardsRtpengine(offer, {
      address: this.#o.plainAddress,
      audioPort: this.#audio.port,
      videoPort: this.#video.port,
      ...(this.#content ? { contentPort: this.#content.port } : {}),
    });
    const { choice } = answer;
    if (this.#choice?.video && choice.video && this.#choice.video.payloadType !== choice.video.payloadType)
      this.#o.log.info("the device changed its video format mid-call");
    this.#choice ??= choice;
    if (answer.audioIndex >= 0 && choice.audioPayloadType !== undefined)
      this.#audio.connectToRtpengine(mediaEndpoint(offer, answer.audioIndex), choice.audioPayloadType);
    if (answer.videoIndex >= 0 && choice.video) this.#video.connectToRtpengine(mediaEndpoint(offer, answer.videoIndex), choice.video.payloadType);
    if (this.#content && answer.contentIndex >= 0 && choice.content) {
      this.#content.connectToRtpengine(mediaEndpoint(offer, answer.contentIndex), choice.content.payloadType);
      this.#contentKeyframes = choice.contentKeyframes ?? "sip-info";
    }
    this.#deviceSending = answer.deviceSending;
    if (!this.#offer) {
      this.#offer = this.#createMeetingOffer(choice);
      // A call can end before its offer is ready (CANCEL while ringing): that rejection is expected, not a crash.
      this.#offer.catch((e: Error) => this.#o.log.debug({ err: e.message }, "the meeting offer was abandoned"));
    }
    return answer.sdp;
  }

  /**
   * The bridge's own offer towards rtpengine (the gateway offers: a device's INVITE or re-INVITE
   * without SDP): Opus and H.264 on our loopback ports. The meeting's offer is made from what we
   * offer, since the device's answer comes only with its ACK, after the join.
   */
  async offer(options: MeetingLegOfferOptions = {}): Promise<string> {
    const content = this.#content ? { port: this.#content.port, label: options.contentLabel ?? DEFAULT_SLIDES_LABEL } : undefined;
    const sdp = offerTowardsRtpengine(
      { address: this.#o.plainAddress, audioPort: this.#audio.port, videoPort: this.#video.port },
      ++this.#plainOfferVersion,
      { ...(content ? { content } : {}), ...(options.layout ? { layout: options.layout } : {}) },
    );
    if (!this.#offer) {
      this.#offer = this.#createMeetingOffer({ audioPayloadType: undefined, video: undefined, deviceKeyframes: "sip-info" });
      this.#offer.catch((e: Error) => this.#o.log.debug({ err: e.message }, "the meeting offer was abandoned"));
    }
    return sdp;
  }

  /** rtpengine's answer to `offer`: the payload types, keyframe feedback and ports the device's answer settled. */
  async answered(answerTowardsMeeting: string): Promise<void> {
    const answer = parseSdp(answerTowardsMeeting);
    const { choice, audioIndex, videoIndex, contentIndex, deviceSending } = readRtpengineAnswer(answer);
    if (audioIndex < 0 && videoIndex < 0) throw new Error("the device's answer takes none of the offered audio or video");
    this.#choice = choice;
    if (audioIndex >= 0 && choice.audioPayloadType !== undefined)
      this.#audio.connectToRtpengine(mediaEndpoint(answer, audioIndex), choice.audioPayloadType);
    if (videoIndex >= 0 && choice.video) this.#video.connectToRtpengine(mediaEndpoint(answer, videoIndex), choice.video.payloadType);
    if (this.#content && contentIndex >= 0 && choice.content) {
      this.#content.connectToRtpengine(mediaEndpoint(answer, contentIndex), choice.content.payloadType);
      this.#contentKeyframes = choice.contentKeyframes ?? "sip-info";
    }
    this.#deviceSending = deviceSending;
  }

  /** The join's appHostedMediaConfig blob (docs/design.md, "The meeting leg contract"). */
  async mediaBlob(): Promise<string> {
    if (!this.#offer) throw new Error("the meeting leg has no offer before the device's media is negotiated");
    if (this.#closed) throw new Error("the meeting leg is closed");
    return JSON.stringify({
      version: 1,
      mediaHostId: this.#o.mediaHostId,
      session: this.#o.sessionUrl,
      answerToken: this.#answerToken,
      offer: await this.#offer,
    });
  }

  /** The bot is in the meeting (not in its lobby): its media server must answer soon. */
  admitted(): void {
    if (this.#answered || this.#closed) return;
    this.#timer(this.#o.answerTimeoutInMs, () => {
      if (!this.#answered) this.#fail("the meeting's media never connected");
    });
  }

  /** Every later line of the leg carries these fields too (pino bindings of the leg's own logger). */
  logWith(fields: Readonly<Record<string, string>>): void {
    this.#o.log.setBindings(fields);
  }

  /** The meeting's media server's answer (POSTed to the session URL). */
  async acceptAnswer(token: string, sdp: string, meetingSessionUrl?: string): Promise<void> {
    if (!this.#isAnswerToken(token)) throw new AnswerRejectedError(401, "the answer token is not this leg's");
    if (this.#answered) throw new AnswerRejectedError(409, "this leg has an answer already");
    if (this.#closed || !this.#pc) throw new AnswerRejectedError(409, "this leg is closed");
    try {
      parseSdp(sdp);
      await this.#pc.setRemoteDescription({ type: "answer", sdp });
    } catch (e) {
      throw new AnswerRejectedError(400, `the answer is not usable SDP: ${(e as Error).message}`);
    }
    this.#answered = true;
    this.#meetingSessionUrl = meetingSessionUrl;
    this.#watchMeetingRtcp();
  }

  /** The meeting's media server ended the session (DELETE): the call ends. */
  endedByMeeting(token: string): boolean {
    if (!this.#isAnswerToken(token)) return false;
    this.#endedByMeeting = true;
    this.#fail("the meeting's media server ended the media session");
    return true;
  }

  /** Compared in constant time: the token is the session endpoint's only credential. */
  #isAnswerToken(token: string): boolean {
    const given = Buffer.from(token);
    const expected = Buffer.from(this.#answerToken);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** The device asked for a keyframe (RTCP PLI/FIR or SIP INFO): the meeting's video source is asked. */
  requestKeyframe(stream: "video" | "content" = "video"): void {
    if (stream === "content") {
      this.#contentKeyframeFromMeeting();
      return;
    }
    this.#limited(this.#toMeetingLimiter, () => {
      const receiver = this.#transceivers?.video.receiver;
      const ssrc = receiver?.track?.ssrc;
      if (receiver && ssrc) {
        void receiver.sendRtcpPLI(ssrc).catch(() => {});
        this.emit("keyframeRequested", "meeting", "rtcp");
      }
    });
  }

  async quality(): Promise<MediaStreamQuality[]> {
    if (!this.#pc || !this.#answered) return [];
    const stats: MediaStreamQuality[] = [];
    try {
      const report = await this.#pc.getStats();
      const values = [...report.values()] as unknown as Record<string, unknown>[];
      for (const kind of ["audio", "video"] as const) {
        const inbound = values.find((s) => s.type === "inbound-rtp" && s.kind === kind);
        const outbound = values.find((s) => s.type === "outbound-rtp" && s.kind === kind);
        const remote = values.find((s) => s.type === "remote-inbound-rtp" && s.kind === kind);
        const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
        const seconds = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? Math.round(v * 1000 * 10) / 10 : null);
        stats.push({
          kind,
          packetsSent: num(outbound?.packetsSent),
          packetsReceived: num(inbound?.packetsReceived),
          packetsLost: Math.max(0, num(inbound?.packetsLost)),
          jitterMs: seconds(inbound?.jitter),
          roundTripMs: seconds(remote?.roundTripTime),
        });
      }
    } catch (e) {
      this.#o.log.debug({ err: (e as Error).message }, "meeting leg statistics unavailable");
    }
    return stats;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#o.onClosed(this.legId);
    if (this.#meetingSessionUrl && !this.#endedByMeeting) {
      // Without this the media server notices only when ICE gives up (about 30 s with werift).
      void fetch(this.#meetingSessionUrl, {
        method: "DELETE",
        headers: { authorization: `Bearer ${this.#answerToken}` },
        signal: AbortSignal.timeout(2000),
      }).catch((e: Error) => this.#o.log.debug({ err: e.message }, "telling the meeting's media server failed"));
    }
    await this.#pc?.close().catch(() => {});
    await Promise.all([this.#audio.close(), this.#video.close(), this.#content?.close()]);
  }

  async #createMeetingOffer(choice: PlainChoice): Promise<string> {
    const { ice } = this.#o;
    const h264 = new RTCRtpCodecParameters({
      mimeType: "video/H264",
      clockRate: 90000,
      payloadType: H264_PAYLOAD_TYPE,
      rtcpFeedback: VIDEO_FEEDBACK,
      // What the device can receive bounds what the meeting sends it.
      parameters: meetingSideFmtp(choice.video?.deviceReceives ?? GATEWAY_H264_LIMITS),
    });
    const pc = new RTCPeerConnection({
      bundlePolicy: "max-bundle",
      // Without a STUN server werift falls back to a public one; ours is the discard port of our own
      // address, which never answers, and werift waits for it only 1 ms: host candidates only, and the
      // offer no longer waits 50 ms for nothing on every call's set-up (bench/dialIn's meeting-offer phase).
      iceServers: [{ urls: `stun:${ice.bindAddress}:9` }],
      iceStunGatherTimeout: 0.001,
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: [ice.advertisedAddress],
      iceInterfaceAddresses: { udp4: ice.bindAddress },
      ...(ice.portRange ? { icePortRange: [ice.portRange[0], ice.portRange[1]] as [number, number] } : {}),
      codecs: { audio: [new RTCRtpCodecParameters(OPUS)], video: [h264] },
    });
    this.#pc = pc;
    const audioTrack = new MediaStreamTrack({ kind: "audio" });
    const videoTrack = new MediaStreamTrack({ kind: "video" });
    const contentTrack = new MediaStreamTrack({ kind: "video" });
    const audio = pc.addTransceiver(audioTrack, { direction: "sendrecv" });
    const video = pc.addTransceiver(videoTrack, { direction: "sendrecv" });
    const content = pc.addTransceiver(contentTrack, { direction: "sendrecv" });
    this.#transceivers = { audio, video, content };
    this.#audio.sendIntoMeeting(audioTrack, audio.sender);
    this.#video.sendIntoMeeting(videoTrack, video.sender);
    this.#content?.sendIntoMeeting(content.sender);
    audio.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => this.#audio.fromMeeting(rtp)));
    video.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => this.#video.fromMeeting(rtp)));
    content.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => this.#content?.fromMeeting(rtp)));
    pc.connectionStateChange.subscribe((state) => this.#onConnectionState(state));
    await pc.setLocalDescription(await pc.createOffer());
    await waitForGathering(pc);
    return onlyCandidatesOf(pc.localDescription?.sdp ?? "", ice.advertisedAddress);
  }

  #onConnectionState(state: string): void {
    if (this.#closed) return;
    this.#o.log.debug({ state }, "meeting leg connection state");
    if (state === "connected" && this.#connectedAtMs === 0) {
      this.#connectedAtMs = Date.now();
      this.emit("connected");
      this.#watchMedia();
    } else if (state === "failed") {
      // Once connected, only ICE consent (RFC 7675: a check every ~5 s, none answered for 30 s) fails it: the media server is gone.
      this.#fail(
        this.#connectedAtMs === 0
          ? "the meeting's media connection failed (ICE/DTLS)"
          : "the meeting's media server stopped answering (ICE consent expired)",
      );
    } else if (state === "closed") {
      this.#fail("the meeting's media connection closed");
    }
  }

  /**
   * PLI/FIR from the meeting for our main video: werift routes them to the receiver, so they are read off the DTLS
   * transport (one for the bundle). The meeting's SRs for what it sends us become our SRs to the device.
   */
  #watchMeetingRtcp(): void {
    const transport = this.#transceivers?.video.dtlsTransport;
    transport?.onRtcp.subscribe((rtcp: RtcpPacket) => {
      if (rtcp.type === 200) {
        const { ssrc, senderInfo } = rtcp as RtcpSrPacket;
        if (ssrc === this.#transceivers?.audio.receiver.track?.ssrc) this.#audio.sendSenderReport(senderInfo.ntpTimestamp, senderInfo.rtpTimestamp);
        else if (ssrc === this.#transceivers?.video.receiver.track?.ssrc)
          this.#video.sendSenderReport(senderInfo.ntpTimestamp, senderInfo.rtpTimestamp);
        return;
      }
      if (rtcp.type !== 206) return;
      const feedback = (rtcp as { feedback?: { count?: number; mediaSsrc?: number; fir?: { ssrc: number }[] } }).feedback;
      const ourSsrc = this.#transceivers?.video.sender.ssrc;
      const target = feedback?.count === 4 ? feedback.fir?.[0]?.ssrc : feedback?.mediaSsrc;
      if (feedback?.count !== 1 && feedback?.count !== 4) return;
      if (target === ourSsrc) this.#keyframeFromDevice();
      else if (target === this.#transceivers?.content.sender.ssrc && this.#content?.presenter === "device") this.#contentKeyframeFromDevice();
    });
  }

  #keyframeFromDevice(): void {
    // A device without video has no picture to refresh: the meeting's receivers ask anyway (the bot always offers video).
    if (!this.#choice?.video) return;
    const how = this.#choice.deviceKeyframes;
    this.#limited(this.#toDeviceLimiter, () => {
      if (how === "sip-info") this.emit("keyframeNeeded", "video");
      else this.#video.sendKeyframeRequest(how);
      this.emit("keyframeRequested", "device", how === "sip-info" ? "sip-info" : "rtcp");
    });
  }

  /** The meeting's sharer is asked for a keyframe of its screen (on the content receiver). */
  #contentKeyframeFromMeeting(): void {
    const receiver = this.#transceivers?.content.receiver;
    const ssrc = receiver?.track?.ssrc;
    if (!receiver || !ssrc) return;
    this.#limited(this.#contentToMeetingLimiter, () => {
      void receiver.sendRtcpPLI(ssrc).catch(() => {});
      this.emit("keyframeRequested", "meeting", "rtcp");
    });
  }

  /** The device is asked for a keyframe of its slides: RTCP on the slides m-line when it offered feedback there. */
  #contentKeyframeFromDevice(): void {
    const how = this.#contentKeyframes;
    this.#limited(this.#contentToDeviceLimiter, () => {
      // No RTCP feedback offered on the slides line: SIP INFO naming the slides line's label (RFC 5168 stream_id).
      if (how === "sip-info") this.emit("keyframeNeeded", "content");
      else this.#content?.sendKeyframeRequest(how);
      this.emit("keyframeRequested", "device", how === "sip-info" ? "sip-info" : "rtcp");
    });
  }

  #limited(limiter: KeyframeRequestLimiter, send: () => void): void {
    const decision = limiter.request(Date.now());
    if (decision.action === "send") send();
    else if (decision.action === "later")
      this.#timer(decision.retryInMs, () => {
        if (limiter.due(Date.now())) send();
      });
  }

  /**
   * A device that sends nothing for the media timeout, once connected, has gone (plain RTP has no transport liveness,
   * and not every room system does session timers); a device on hold sends nothing by design, so it is not judged then.
   * The meeting's side is never judged by its media: a device alone in a meeting hears and sees nothing for as long as
   * it waits, and the media server's liveness is ICE consent's business (see #onConnectionState). Media is seen as the
   * bridge's packet counts moving between checks (the packet path keeps no clock), so silence is noticed up to one check
   * interval (a quarter of the timeout, at most 5 s) late.
   */
  #watchMedia(): void {
    const every = Math.max(250, Math.min(5000, Math.floor(this.#o.mediaTimeoutInMs / 4)));
    const fromDevice = () => this.#audio.counters.fromDevice + this.#video.counters.fromDevice;
    const seen = { device: fromDevice(), deviceAtMs: this.#connectedAtMs };
    const check = () => {
      if (this.#closed) return;
      const now = Date.now();
      const device = fromDevice();
      if (device !== seen.device || !this.#deviceSending) Object.assign(seen, { device, deviceAtMs: now });
      if (now - seen.deviceAtMs > this.#o.mediaTimeoutInMs) this.#fail("no media from the device (media timeout)");
      else this.#timer(every, check);
    };
    this.#timer(every, check);
  }

  #fail(reason: string): void {
    if (this.#closed) return;
    this.#o.log.info({ reason }, "meeting leg ended");
    this.emit("ended", reason);
    void this.close();
  }

  #timer(ms: number, action: () => void): void {
    const t = setTimeout(() => {
      this.#timers = this.#timers.filter((x) => x !== t);
      action();
    }, ms);
    this.#timers.push(t);
  }
}

function waitForGathering(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const gathering = pc.iceGatheringStateChange.subscribe((state) => {
      if (state !== "complete") return;
      gathering.unSubscribe();
      closing.unSubscribe();
      resolve();
    });
    // Closed while gathering (the call ended): nobody will want the offer.
    const closing = pc.connectionStateChange.subscribe((state) => {
      if (state !== "closed") return;
      gathering.unSubscribe();
      closing.unSubscribe();
      reject(new Error("the meeting leg closed before its offer was ready"));
    });
  });
}

/** werift also gathers the machine's other addresses: only the advertised one is offered. */
export function onlyCandidatesOf(sdp: string, address: string): string {
  const parsed: Sdp = parseSdp(sdp);
  const keep = (l: SdpLine) => !(l.type === "a" && l.value.startsWith("candidate:") && l.value.split(" ")[4] !== address);
  return serializeSdp({ session: parsed.session.filter(keep), media: parsed.media.map((m) => ({ ...m, lines: m.lines.filter(keep) })) });
}
