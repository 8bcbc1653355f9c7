import { RtcpPacketConverter, type RtcpPacket, RtcpReceiverInfo, type RtcpRrPacket, RtcpSenderInfo, RtcpSrPacket, type RtpPacket } from "werift";
import { MeetingPeer } from "./meetingPeer.js";
import { SequenceTracker } from "./sequenceTracker.js";
import { SRTP_DEVICE_AUDIO_PT, SRTP_DEVICE_VIDEO_PT, SrtpDevice } from "./srtpDevice.js";
import { WrappingRtpStream } from "./wrappingRtpStream.js";

type Kind = "audio" | "video";
const KINDS: readonly Kind[] = ["audio", "video"];
const noop = () => {};

/** One stream end to end: who sends it, who tracks what arrives. */
export interface Flow {
  readonly name: string;
  readonly sender: WrappingRtpStream;
  readonly receiver: SequenceTracker;
}

/** What the meeting's side saw of the gateway's RTCP on the meeting leg. */
export interface MeetingLegRtcp {
  srs: number;
  /** Report blocks (in RRs and SRs) about the meeting peer's own streams. */
  rrBlocks: number;
  /** How often a report block's extended highest sequence number was below the previous one for its source. */
  highestFellBack: number;
  srCountFellBack: number;
  maxExtendedHighest: number;
}

export interface LongCallOptions {
  readonly index: number;
  /** Packets per second of every stream. */
  readonly rate: number;
  readonly audioBytes: number;
  readonly videoBytes: number;
  /** The kinds that carry streams (both by default; the other is negotiated but silent). */
  readonly kinds?: readonly Kind[];
  /** The gateway: anchors the device's offer and opens the meeting leg; gives the device's answer and the leg's blob. */
  readonly create: (deviceOffer: string) => Promise<{ deviceAnswer: string; blob: string }>;
}

/**
 * One accelerated long call end to end, for the soak and the long-call tests: an SDES-SRTP device and a werift
 * peer in the meeting's media server's place, four paced streams (audio and video each way) whose sequence
 * numbers and timestamps wrap early and often, a tracker at each receiving end, and RTCP both ways — the
 * device's SRTCP SR with a report block every 500 ms per stream, the meeting asking for a keyframe every second
 * (it reaches the device as an SRTCP PLI) — with what the meeting peer got of the gateway's RRs and SRs checked
 * as they come: extended highest sequence numbers and SR packet counts must never fall back.
 */
export class LongCall {
  readonly device: SrtpDevice;
  readonly peer: MeetingPeer;
  readonly flows: Flow[];
  readonly meetingRtcp: MeetingLegRtcp = { srs: 0, rrBlocks: 0, highestFellBack: 0, srCountFellBack: 0, maxExtendedHighest: 0 };
  /** RTCP the device got (SRTCP, unprotected), by packet type. */
  readonly deviceRtcp: Record<string, number> = {};
  /**
   * The gateway's SRs as the device got them: how many; how often a packet count fell back; and the most packets the
   * device had already received from that source beyond what an SR counted — an SR goes out after the packets it
   * counts, on the same path, but rtpengine's worker threads may pass a few packets of one port in another order.
   */
  readonly deviceSrs = { srs: 0, countFellBack: 0, mostPacketsBeyondCount: 0, octetsDisagree: 0 };
  readonly #timers: NodeJS.Timeout[];

  private constructor(device: SrtpDevice, peer: MeetingPeer, options: LongCallOptions) {
    this.device = device;
    this.peer = peer;
    const [audioTransceiver, videoTransceiver] = peer.pc.getTransceivers();
    if (!audioTransceiver || !videoTransceiver) throw new Error("the meeting peer has no audio or video transceiver");
    const { rate, audioBytes, videoBytes, index } = options;

    const toMeeting = { audio: new SequenceTracker(), video: new SequenceTracker() };
    const toDevice = { audio: new SequenceTracker(), video: new SequenceTracker() };
    /** The SSRC the device receives each kind from (for its report blocks). */
    const deviceSources: Record<Kind, number> = { audio: 0, video: 0 };
    const payloadOctets: Record<Kind, number> = { audio: 0, video: 0 };
    const lastSrCountAtDevice = new Map<number, number>();
    device.onRtp((kind, packet) => {
      deviceSources[kind] = packet.readUInt32BE(8);
      payloadOctets[kind] += packet.length - 12;
      toDevice[kind].observe(packet.readUInt16BE(2));
    });
    device.onRtcp((kind, packet) => {
      for (const p of RtcpPacketConverter.deSerialize(packet)) {
        this.deviceRtcp[String(p.type)] = (this.deviceRtcp[String(p.type)] ?? 0) + 1;
        if (p.type !== 200) continue;
        const { ssrc, senderInfo } = p as RtcpSrPacket;
        this.deviceSrs.srs++;
        if (senderInfo.packetCount < (lastSrCountAtDevice.get(ssrc) ?? 0)) this.deviceSrs.countFellBack++;
        lastSrCountAtDevice.set(ssrc, senderInfo.packetCount);
        if (ssrc !== deviceSources[kind]) continue;
        const arrived = toDevice[kind].received + toDevice[kind].duplicates;
        this.deviceSrs.mostPacketsBeyondCount = Math.max(this.deviceSrs.mostPacketsBeyondCount, arrived - senderInfo.packetCount);
        // The octets agree with the packets: every packet of a stream has the same payload size here.
        const perPacket = arrived === 0 ? 0 : payloadOctets[kind] / arrived;
        if (Math.abs(senderInfo.octetCount - senderInfo.packetCount * perPacket) > 0.5) this.deviceSrs.octetsDisagree++;
      }
    });
    peer.onRtp((kind, rtp: RtpPacket) => kind !== "content" && toMeeting[kind].observe(rtp.header.sequenceNumber));

    const deviceStreams = {
      audio: new WrappingRtpStream({
        rate,
        size: audioBytes,
        payloadType: SRTP_DEVICE_AUDIO_PT,
        clockStep: 960,
        packetsPerFrame: 1,
        send: (p) => device.sendRtp("audio", p),
      }),
      video: new WrappingRtpStream({
        rate,
        size: videoBytes,
        payloadType: SRTP_DEVICE_VIDEO_PT,
        clockStep: 3000,
        packetsPerFrame: 12,
        send: (p) => device.sendRtp("video", p),
      }),
    };
    // The meeting's side sends straight into its RTP senders (werift stamps its SSRC, payload type and sequence offset).
    const meetingStreams = {
      audio: new WrappingRtpStream({
        rate,
        size: audioBytes,
        payloadType: 111,
        clockStep: 960,
        packetsPerFrame: 1,
        send: (p) => void audioTransceiver.sender.sendRtp(p).catch(noop),
      }),
      video: new WrappingRtpStream({
        rate,
        size: videoBytes,
        payloadType: 102,
        clockStep: 3000,
        packetsPerFrame: 12,
        send: (p) => void videoTransceiver.sender.sendRtp(p).catch(noop),
      }),
    };
    const kinds = options.kinds ?? KINDS;
    this.flows = [
      ...kinds.map((kind) => ({ name: `call ${index} toMeeting ${kind}`, sender: deviceStreams[kind], receiver: toMeeting[kind] })),
      ...kinds.map((kind) => ({ name: `call ${index} toDevice ${kind}`, sender: meetingStreams[kind], receiver: toDevice[kind] })),
    ];

    // What the gateway's werift tells the meeting about the peer's streams, and about its own.
    const peerSsrcs = new Set([audioTransceiver.sender.ssrc, videoTransceiver.sender.ssrc]);
    const lastHighest = new Map<number, number>();
    const lastSrCount = new Map<number, number>();
    audioTransceiver.dtlsTransport?.onRtcp.subscribe((p: RtcpPacket) => {
      const reports = p.type === 201 ? (p as RtcpRrPacket).reports : p.type === 200 ? (p as RtcpSrPacket).reports : [];
      if (p.type === 200) {
        const sr = p as RtcpSrPacket;
        this.meetingRtcp.srs++;
        if (sr.senderInfo.packetCount < (lastSrCount.get(sr.ssrc) ?? 0)) this.meetingRtcp.srCountFellBack++;
        lastSrCount.set(sr.ssrc, sr.senderInfo.packetCount);
      }
      for (const r of reports) {
        if (!peerSsrcs.has(r.ssrc)) continue;
        this.meetingRtcp.rrBlocks++;
        if (r.highestSequence < (lastHighest.get(r.ssrc) ?? 0)) this.meetingRtcp.highestFellBack++;
        lastHighest.set(r.ssrc, r.highestSequence);
        this.meetingRtcp.maxExtendedHighest = Math.max(this.meetingRtcp.maxExtendedHighest, r.highestSequence);
      }
    });

    this.#timers = [
      // The device's SRTCP: an SR for what it sends, with a report block for what it receives, per stream.
      setInterval(() => {
        for (const kind of kinds) {
          const s = deviceStreams[kind];
          const got = toDevice[kind];
          const reports =
            deviceSources[kind] === 0
              ? []
              : [
                  new RtcpReceiverInfo({
                    ssrc: deviceSources[kind],
                    fractionLost: 0,
                    packetsLost: Math.max(0, got.lost) & 0x7fffff,
                    highestSequence: got.extendedHighest >>> 0,
                    jitter: 0,
                    lsr: 0,
                    dlsr: 0,
                  }),
                ];
          const ntp = BigInt(Math.floor(Date.now() / 1000) + 2_208_988_800) << 32n;
          const sr = new RtcpSrPacket({
            ssrc: s.ssrc,
            senderInfo: new RtcpSenderInfo({
              ntpTimestamp: ntp,
              rtpTimestamp: s.timestamp,
              packetCount: s.sent >>> 0,
              octetCount: s.octets % 2 ** 32,
            }),
            reports,
          });
          device.sendRtcp(kind, sr.serialize());
        }
      }, 500),
      // The meeting asks for keyframes: PLI → the gateway → the device, as SRTCP.
      setInterval(() => void peer.requestKeyframe().catch(noop), 1000),
    ];
  }

  /** Opens the device, has the gateway anchor it and open the meeting leg, and connects the meeting peer. */
  static async open(options: LongCallOptions): Promise<LongCall> {
    const device = await SrtpDevice.open();
    const { deviceAnswer, blob } = await options.create(device.offer());
    device.answered(deviceAnswer);
    const peer = await MeetingPeer.answer(blob);
    await peer.connected();
    return new LongCall(device, peer, options);
  }

  /** SRTP/SRTCP packets the meeting peer's werift dropped for failed authentication. */
  get meetingPeerAuthenticationFailures(): { srtp: number; srtcp: number } {
    const t = this.peer.pc.getTransceivers()[0]?.dtlsTransport as
      | { srtpAuthenticationFailures?: number; srtcpAuthenticationFailures?: number }
      | undefined;
    return { srtp: t?.srtpAuthenticationFailures ?? 0, srtcp: t?.srtcpAuthenticationFailures ?? 0 };
  }

  /** SRTP/SRTCP packets the device dropped for failed authentication. */
  get deviceAuthenticationFailures(): { srtp: number; srtcp: number } {
    const { audio, video } = this.device.counters;
    return {
      srtp: audio.srtpAuthenticationFailures + video.srtpAuthenticationFailures,
      srtcp: audio.srtcpAuthenticationFailures + video.srtcpAuthenticationFailures,
    };
  }

  /** Stops the RTCP timers (the streams are paced by whoever runs them). */
  stopRtcp(): void {
    for (const t of this.#timers) clearInterval(t);
  }

  async close(): Promise<void> {
    this.stopRtcp();
    await this.peer.close().catch(noop);
    await this.device.close();
  }
}
