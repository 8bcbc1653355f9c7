import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, type RTCRtpTransceiver, type RtpPacket } from "werift";

/**
 * A minimal stand-in for the meeting's media server in tests and benches that need no
 * SFU: it takes a media host's blob, answers at its session URL (as the contract in
 * docs/design.md says), and then sends and receives on the three transceivers.
 */
export class MeetingPeer {
  readonly pc: RTCPeerConnection;
  readonly received = { audio: 0, video: 0, content: 0 };
  readonly audioOut = new MediaStreamTrack({ kind: "audio" });
  readonly videoOut = new MediaStreamTrack({ kind: "video" });
  /** What the peer shares on the content transceiver (a screen share in the meeting). */
  readonly contentOut = new MediaStreamTrack({ kind: "video" });
  #transceivers: RTCRtpTransceiver[] = [];
  #onRtp: ((kind: "audio" | "video" | "content", rtp: RtpPacket) => void) | undefined;
  readonly #rtcp: { type: number; count?: number }[] = [];
  #blob: { session: string; answerToken: string; offer: string } | undefined;

  private constructor() {
    this.pc = new RTCPeerConnection({
      bundlePolicy: "max-bundle",
      iceServers: [{ urls: "stun:127.0.0.1:9" }],
      iceStunGatherTimeout: 0.05,
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: ["127.0.0.1"],
      iceInterfaceAddresses: { udp4: "127.0.0.1" },
      codecs: {
        audio: [new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2 })],
        video: [
          new RTCRtpCodecParameters({
            mimeType: "video/H264",
            clockRate: 90000,
            rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "ccm", parameter: "fir" }],
            parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
          }),
        ],
      },
    });
  }

  /** Answers the blob's offer and POSTs the answer; resolves once the media host took it (201). */
  static async answer(blobJson: string, options: { readonly meetingSessionUrl?: string } = {}): Promise<MeetingPeer> {
    const blob = JSON.parse(blobJson) as { session: string; answerToken: string; offer: string };
    const peer = new MeetingPeer();
    peer.#blob = blob;
    const { pc } = peer;
    pc.onTransceiverAdded.subscribe((t) => peer.#adopt(t));
    await pc.setRemoteDescription({ type: "offer", sdp: blob.offer });
    for (const t of pc.getTransceivers()) peer.#adopt(t);
    const [audio, video, content] = peer.#transceivers;
    if (audio) await audio.sender.replaceTrack(peer.audioOut);
    if (video) await video.sender.replaceTrack(peer.videoOut);
    if (content) await content.sender.replaceTrack(peer.contentOut);
    for (const t of [audio, video, content]) if (t) t.setDirection("sendrecv");
    await pc.setLocalDescription(await pc.createAnswer());
    // RTCP for the whole bundle arrives on one DTLS transport.
    audio?.dtlsTransport?.onRtcp.subscribe((p) => peer.#rtcp.push({ type: p.type, count: (p as { feedback?: { count?: number } }).feedback?.count }));
    await new Promise<void>((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.iceGatheringStateChange.subscribe((s) => s === "complete" && resolve());
    });
    const response = await fetch(blob.session, {
      method: "POST",
      headers: {
        "content-type": "application/sdp",
        authorization: `Bearer ${blob.answerToken}`,
        ...(options.meetingSessionUrl ? { link: `<${options.meetingSessionUrl}>; rel="meeting-media-session"` } : {}),
      },
      body: pc.localDescription?.sdp ?? "",
    });
    if (response.status !== 201) throw new Error(`the media host answered ${response.status}: ${await response.text()}`);
    return peer;
  }

  onRtp(listener: (kind: "audio" | "video" | "content", rtp: RtpPacket) => void): void {
    this.#onRtp = listener;
  }

  /** The UDP ports the peer's ICE candidates listen on (where a test cuts it off the network). */
  get localPorts(): number[] {
    const sdp = this.pc.localDescription?.sdp ?? "";
    return [...new Set([...sdp.matchAll(/^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) /gim)].map((m) => Number(m[1])))];
  }

  /** RTCP the peer got (types and feedback formats), e.g. to see a PLI arrive. */
  get rtcp(): readonly { type: number; count?: number }[] {
    return this.#rtcp;
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.pc.connectionState === "connected") return resolve();
      this.pc.connectionStateChange.subscribe((s) => {
        if (s === "connected") resolve();
        if (s === "failed") reject(new Error("the meeting peer's connection failed"));
      });
    });
  }

  /** Asks the media host's video source for a keyframe, as a receiver in the meeting does. */
  async requestKeyframe(of: "video" | "content" = "video"): Promise<void> {
    const receiver = this.#transceivers[of === "video" ? 1 : 2]?.receiver;
    const ssrc = receiver?.track?.ssrc;
    if (receiver && ssrc) await receiver.sendRtcpPLI(ssrc);
  }

  /** Ends the session from the meeting's side (DELETE at the session URL). */
  async hangUp(): Promise<number> {
    const blob = this.#blob;
    if (!blob) return 0;
    const response = await fetch(blob.session, { method: "DELETE", headers: { authorization: `Bearer ${blob.answerToken}` } });
    return response.status;
  }

  async close(): Promise<void> {
    await this.pc.close();
  }

  #adopt(t: RTCRtpTransceiver): void {
    if (this.#transceivers.includes(t)) return;
    this.#transceivers.push(t);
    const kinds = ["audio", "video", "content"] as const;
    const kind = kinds[this.#transceivers.length - 1];
    t.onTrack.subscribe((track) =>
      track.onReceiveRtp.subscribe((rtp) => {
        if (!kind) return;
        this.received[kind]++;
        this.#onRtp?.(kind, rtp);
      }),
    );
  }
}
