import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import type { MediaStreamTrack, RtpPacket } from "werift";
import { isRtcp, rtpPayloadType, rtpSsrc, writeFir, writePli } from "./rtcp.js";

/** How many outgoing RTP headers may be in flight at once: a dgram send keeps its buffers until it completes. */
const HEADER_RING = 64;
const RTP_HEADER_BYTES = 12;

export interface BridgedStreamCounters {
  /** Packets from the device (through rtpengine) handed to the meeting leg. */
  fromDevice: number;
  /** Packets from the meeting sent to the device (through rtpengine). */
  toDevice: number;
  /** From the device but not the negotiated codec (e.g. telephone-event, comfort noise): not forwarded. */
  droppedFromDevice: number;
  lastFromDeviceAtMs: number;
  lastFromMeetingAtMs: number;
}

/**
 * One media kind (audio or main video) across the gateway: a loopback UDP socket
 * facing rtpengine's meeting-side port (plain RTP/AVP, rtcp-mux) and the meeting
 * leg's werift track. Device → meeting: the datagram goes to werift as received
 * (werift sets its own SSRC and payload type). Meeting → device: a fresh 12-byte
 * header (our SSRC, rtpengine's payload type, the meeting's sequence number,
 * timestamp and marker; header extensions dropped, since the device side never
 * negotiated them) is written into a preallocated ring and sent with the payload as
 * a two-buffer datagram: no per-packet allocation or copy in our code.
 */
export class BridgedStream {
  readonly kind: "audio" | "video";
  readonly counters: BridgedStreamCounters = { fromDevice: 0, toDevice: 0, droppedFromDevice: 0, lastFromDeviceAtMs: 0, lastFromMeetingAtMs: 0 };
  /** The SSRC the device sees for what the meeting sends: one for the whole call, whoever speaks in the meeting. */
  readonly ssrcTowardsDevice: number;
  readonly #socket: Socket;
  readonly #headers: Buffer[] = Array.from({ length: HEADER_RING }, () => Buffer.alloc(RTP_HEADER_BYTES));
  readonly #sendParts: Buffer[] = [Buffer.alloc(0), Buffer.alloc(0)];
  #next = 0;
  #firSequence = 0;
  #remote: { address: string; port: number } | undefined;
  #payloadType = -1;
  #towardsMeeting: MediaStreamTrack | undefined;
  #deviceSsrc = 0;
  #onDeviceRtcp: ((packet: Buffer) => void) | undefined;

  private constructor(kind: "audio" | "video", socket: Socket) {
    this.kind = kind;
    this.#socket = socket;
    this.ssrcTowardsDevice = (Math.random() * 0xffffffff) >>> 0 || 1;
    socket.on("message", (packet: Buffer, from: RemoteInfo) => this.#fromRtpengine(packet, from));
    socket.on("error", () => {});
  }

  static async open(kind: "audio" | "video", address: string): Promise<BridgedStream> {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, address, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    return new BridgedStream(kind, socket);
  }

  get port(): number {
    return this.#socket.address().port;
  }

  get address(): string {
    return this.#socket.address().address;
  }

  /** The device's SSRC for this kind, once its first packet came (0 before). */
  get deviceSsrc(): number {
    return this.#deviceSsrc;
  }

  /** Where rtpengine's meeting-side port is and which payload type the negotiated codec has on it. */
  connectToRtpengine(remote: { address: string; port: number }, payloadType: number): void {
    this.#remote = remote;
    this.#payloadType = payloadType;
  }

  /** The werift track that carries the device's media into the meeting. */
  sendIntoMeeting(track: MediaStreamTrack): void {
    this.#towardsMeeting = track;
  }

  /** RTCP from the device side (receiver reports, keyframe requests). */
  onDeviceRtcp(listener: (packet: Buffer) => void): void {
    this.#onDeviceRtcp = listener;
  }

  /** An RTP packet from the meeting leg, to the device. */
  fromMeeting(rtp: RtpPacket): void {
    const remote = this.#remote;
    if (!remote) return;
    const header = this.#headers[this.#next]!;
    this.#next = (this.#next + 1) % HEADER_RING;
    const h = rtp.header;
    header[0] = 0x80;
    header[1] = (h.marker ? 0x80 : 0) | (this.#payloadType & 0x7f);
    header.writeUInt16BE(h.sequenceNumber & 0xffff, 2);
    header.writeUInt32BE(h.timestamp >>> 0, 4);
    header.writeUInt32BE(this.ssrcTowardsDevice, 8);
    this.#sendParts[0] = header;
    this.#sendParts[1] = rtp.payload;
    this.counters.toDevice++;
    this.counters.lastFromMeetingAtMs = Date.now();
    this.#socket.send(this.#sendParts, remote.port, remote.address);
  }

  /** Asks the device for a keyframe over RTCP (it offered rtcp-fb). */
  sendKeyframeRequest(kind: "pli" | "fir"): void {
    const remote = this.#remote;
    if (!remote || this.#deviceSsrc === 0) return;
    // Requests are rare (rate-limited): a fresh buffer each keeps sends independent.
    const packet = Buffer.allocUnsafe(20);
    const length =
      kind === "pli"
        ? writePli(packet, this.ssrcTowardsDevice, this.#deviceSsrc)
        : writeFir(packet, this.ssrcTowardsDevice, this.#deviceSsrc, ++this.#firSequence);
    this.#socket.send(packet.subarray(0, length), remote.port, remote.address);
  }

  close(): Promise<void> {
    this.#towardsMeeting = undefined;
    return new Promise((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  #fromRtpengine(packet: Buffer, from: RemoteInfo): void {
    // Only rtpengine's own port may feed the call (it is loopback, but stay strict).
    const remote = this.#remote;
    if (!remote || from.port !== remote.port) return;
    if (isRtcp(packet)) {
      this.#onDeviceRtcp?.(packet);
      return;
    }
    if (rtpPayloadType(packet) !== this.#payloadType) {
      this.counters.droppedFromDevice++;
      return;
    }
    this.#deviceSsrc = rtpSsrc(packet);
    this.counters.fromDevice++;
    this.counters.lastFromDeviceAtMs = Date.now();
    this.#towardsMeeting?.writeRtp(packet);
  }
}
