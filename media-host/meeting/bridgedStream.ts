import type { RemoteInfo, Socket } from "node:dgram";
import type { MediaStreamTrack, RTCRtpSender, RtpPacket } from "werift";
import { isRtcp, keyframeRequestPacket, rtpPayloadType } from "./rtcp.js";
import { bindUdpSocket, closeUdpSocket } from "./udpSocket.js";

/** How many outgoing RTP headers may be in flight at once: a dgram send keeps its buffers until it completes. */
const HEADER_RING = 64;
const RTP_HEADER_BYTES = 12;
const SENDER_REPORT_BYTES = 28;

export interface BridgedStreamCounters {
  /** Packets from the device (through rtpengine) handed to the meeting leg. */
  fromDevice: number;
  /** Packets from the meeting sent to the device (through rtpengine). */
  toDevice: number;
  /** From the device but not the negotiated codec (e.g. telephone-event, comfort noise) or not well-formed RTP: not forwarded. */
  droppedFromDevice: number;
  /** RTCP from the device (through rtpengine, which unprotected it when the device speaks SRTP). */
  rtcpFromDevice: number;
}

/**
 * One media kind (audio or main video) across the gateway: a loopback UDP socket
 * facing rtpengine's meeting-side port (plain RTP/AVP, rtcp-mux) and the meeting
 * leg's werift RTP sender. Device → meeting: the datagram goes to the sender as
 * received (werift parses it once and sets its own SSRC and payload type; the track
 * is bypassed, since its writeRtp parses the packet and then clones it twice on the
 * way to the same sender). Meeting → device: a fresh 12-byte header (our SSRC,
 * rtpengine's payload type, the meeting's sequence number, timestamp and marker;
 * header extensions dropped, since the device side never negotiated them) is written
 * into a preallocated ring and sent with the payload as a two-buffer datagram on a
 * socket connected to rtpengine's port (no address lookup, and no deferral to the
 * next tick, per packet): no per-packet allocation or copy in our code.
 */
export class BridgedStream {
  /**
   * The path packets take, fixed for a stream when it opens: "direct" (the above), or
   * "track" — the first version's: through the track's writeRtp, and sends to rtpengine
   * with its address on an unconnected socket. Only bench/media sets it, to measure both
   * in one run.
   */
  static path: "direct" | "track" = "direct";
  readonly kind: "audio" | "video";
  /** Counts only, no clock: Date.now() per packet allocates (a boxed double); the media timeout reads the counts instead. */
  readonly counters: BridgedStreamCounters = { fromDevice: 0, toDevice: 0, droppedFromDevice: 0, rtcpFromDevice: 0 };
  /** The SSRC the device sees for what the meeting sends: one for the whole call, whoever speaks in the meeting. */
  readonly ssrcTowardsDevice: number;
  readonly #socket: Socket;
  readonly #headers: Buffer[] = Array.from({ length: HEADER_RING }, () => Buffer.alloc(RTP_HEADER_BYTES));
  readonly #sendParts: Buffer[] = [Buffer.alloc(0), Buffer.alloc(0)];
  #next = 0;
  #firSequence = 0;
  #remote: { address: string; port: number } | undefined;
  #payloadType = -1;
  readonly #viaTrack = BridgedStream.path === "track";
  #towardsMeeting: MediaStreamTrack | undefined;
  #sender: RTCRtpSender | undefined;
  /** The rtpengine endpoint the socket is connected to, once connected; sends then carry no address. */
  #connectedTo: { address: string; port: number } | undefined;
  #connecting = false;
  /** The device's SSRC in two 16-bit halves: numbers past 2^31 would be boxed per packet. */
  #deviceSsrcHigh = 0;
  #deviceSsrcLow = 0;
  #onDeviceRtcp: ((packet: Buffer) => void) | undefined;
  /** Payload bytes sent to the device (RTCP SR's octet count). */
  #octetsToDevice = 0;
  /** Our SDES chunk (CNAME), the second half of every sender report: RFC 3550 6.1 wants it in each compound packet. */
  readonly #sdes: Buffer;

  private constructor(kind: "audio" | "video", socket: Socket) {
    this.kind = kind;
    this.#socket = socket;
    this.ssrcTowardsDevice = (Math.random() * 0xffffffff) >>> 0 || 1;
    this.#sdes = sdesCname(this.ssrcTowardsDevice, `opencvi-${this.ssrcTowardsDevice.toString(16)}@gateway`);
    // Version and SSRC never change: written once; each packet writes bytes 1–7.
    for (const header of this.#headers) {
      header[0] = 0x80;
      header.writeUInt32BE(this.ssrcTowardsDevice, 8);
    }
    socket.on("message", (packet: Buffer, from: RemoteInfo) => this.#fromRtpengine(packet, from));
    socket.on("error", () => {});
  }

  static async open(kind: "audio" | "video", address: string): Promise<BridgedStream> {
    return new BridgedStream(kind, await bindUdpSocket(address));
  }

  get port(): number {
    return this.#socket.address().port;
  }

  get address(): string {
    return this.#socket.address().address;
  }

  /** The device's SSRC for this kind, once its first packet came (0 before). */
  get deviceSsrc(): number {
    return this.#deviceSsrcHigh * 0x10000 + this.#deviceSsrcLow;
  }

  /** Where rtpengine's meeting-side port is and which payload type the negotiated codec has on it. */
  connectToRtpengine(remote: { address: string; port: number }, payloadType: number): void {
    const current = this.#remote;
    if (!current || current.port !== remote.port || current.address !== remote.address) this.#remote = { address: remote.address, port: remote.port };
    this.#payloadType = payloadType;
    if (!this.#viaTrack) this.#connectSocket();
  }

  /** The werift track and its RTP sender that carry the device's media into the meeting. */
  sendIntoMeeting(track: MediaStreamTrack, sender: RTCRtpSender): void {
    this.#towardsMeeting = track;
    this.#sender = sender;
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
    const sequence = h.sequenceNumber;
    const timestamp = h.timestamp;
    // Byte by byte: the 32-bit timestamp never becomes a boxed number.
    header[1] = (h.marker ? 0x80 : 0) | (this.#payloadType & 0x7f);
    header[2] = (sequence >>> 8) & 0xff;
    header[3] = sequence & 0xff;
    header[4] = (timestamp >>> 24) & 0xff;
    header[5] = (timestamp >>> 16) & 0xff;
    header[6] = (timestamp >>> 8) & 0xff;
    header[7] = timestamp & 0xff;
    this.#sendParts[0] = header;
    this.#sendParts[1] = rtp.payload;
    this.counters.toDevice++;
    this.#octetsToDevice += rtp.payload.length;
    const connected = this.#connectedTo;
    if (connected === remote) this.#socket.send(this.#sendParts);
    else if (connected === undefined) this.#socket.send(this.#sendParts, remote.port, remote.address);
    // else: connected to rtpengine's previous port, until the new one is connected (a re-offer moved it).
  }

  /** Asks the device for a keyframe over RTCP (it offered rtcp-fb). */
  sendKeyframeRequest(kind: "pli" | "fir"): void {
    const remote = this.#remote;
    const deviceSsrc = this.deviceSsrc;
    if (!remote || deviceSsrc === 0) return;
    const packet = keyframeRequestPacket(kind, this.ssrcTowardsDevice, deviceSsrc, ++this.#firSequence);
    if (this.#connectedTo === remote) this.#socket.send(packet);
    else if (this.#connectedTo === undefined) this.#socket.send(packet, remote.port, remote.address);
  }

  /**
   * An RTCP sender report to the device for what we send it, made from the meeting's SR for the stream we forward
   * (RFC 3550 6.4.1): the meeting's NTP/RTP timestamp pair holds for our packets too, since they carry its
   * timestamps, and the packet and octet counts are ours (32 bits, wrapping). Without it the device would get no SR
   * at all for the call: nothing to synchronise audio with video by, over however many hours.
   */
  sendSenderReport(ntpTimestamp: bigint, rtpTimestamp: number): void {
    const remote = this.#remote;
    if (!remote || this.counters.toDevice === 0) return;
    // Rare (one per meeting SR, about every second): a fresh buffer each keeps sends independent.
    const packet = Buffer.allocUnsafe(SENDER_REPORT_BYTES + this.#sdes.length);
    packet[0] = 0x80; // version 2, no report blocks (the bridge keeps no per-packet reception state for the device's stream)
    packet[1] = 200;
    packet.writeUInt16BE(SENDER_REPORT_BYTES / 4 - 1, 2);
    packet.writeUInt32BE(this.ssrcTowardsDevice, 4);
    packet.writeBigUInt64BE(BigInt.asUintN(64, ntpTimestamp), 8);
    packet.writeUInt32BE(rtpTimestamp >>> 0, 16);
    packet.writeUInt32BE(this.counters.toDevice % 2 ** 32, 20);
    packet.writeUInt32BE(this.#octetsToDevice % 2 ** 32, 24);
    this.#sdes.copy(packet, SENDER_REPORT_BYTES);
    if (this.#connectedTo === remote) this.#socket.send(packet);
    else if (this.#connectedTo === undefined) this.#socket.send(packet, remote.port, remote.address);
  }

  close(): Promise<void> {
    this.#towardsMeeting = undefined;
    this.#sender = undefined;
    return closeUdpSocket(this.#socket);
  }

  #fromRtpengine(packet: Buffer, from: RemoteInfo): void {
    // Only rtpengine's own port may feed the call (it is loopback, but stay strict).
    const remote = this.#remote;
    if (!remote || from.port !== remote.port) return;
    if (isRtcp(packet)) {
      this.counters.rtcpFromDevice++;
      this.#onDeviceRtcp?.(packet);
      return;
    }
    if (rtpPayloadType(packet) !== this.#payloadType || !wellFormedRtp(packet)) {
      this.counters.droppedFromDevice++;
      return;
    }
    this.#deviceSsrcHigh = packet.readUInt16BE(8);
    this.#deviceSsrcLow = packet.readUInt16BE(10);
    this.counters.fromDevice++;
    if (this.#viaTrack) this.#towardsMeeting?.writeRtp(packet);
    else void this.#sender?.sendRtp(packet);
  }

  /** Connects the socket to rtpengine's current port (again, after a re-offer moved it); the kernel then also drops datagrams from anywhere else. */
  #connectSocket(): void {
    const remote = this.#remote;
    if (!remote || this.#connecting || this.#connectedTo === remote) return;
    try {
      if (this.#connectedTo) {
        this.#socket.disconnect();
        this.#connectedTo = undefined;
      }
      this.#connecting = true;
      this.#socket.connect(remote.port, remote.address, () => {
        this.#connecting = false;
        this.#connectedTo = remote;
        this.#connectSocket();
      });
    } catch {
      // Closed meanwhile: sends stay unconnected.
      this.#connecting = false;
    }
  }
}

/** An RTCP SDES packet with one chunk: `ssrc` and its CNAME (RFC 3550 6.5), padded to a 32-bit boundary. */
function sdesCname(ssrc: number, cname: string): Buffer {
  const text = Buffer.from(cname, "utf8").subarray(0, 255);
  // SSRC, CNAME item (type, length, text), then at least one null octet ending the item list, to a multiple of 4.
  const chunk = 4 + 2 + text.length;
  const padded = (chunk + 4) & ~3;
  const packet = Buffer.alloc(4 + padded);
  packet[0] = 0x81;
  packet[1] = 202;
  packet.writeUInt16BE(packet.length / 4 - 1, 2);
  packet.writeUInt32BE(ssrc, 4);
  packet[8] = 1;
  packet[9] = text.length;
  text.copy(packet, 10);
  return packet;
}

/**
 * Version 2, and the header — CSRCs, header extension, padding — within the datagram.
 * rtpengine passes a device's packets through as they are, and werift's parser throws
 * on a truncated header, which would end the process (found by sending one).
 */
function wellFormedRtp(packet: Buffer): boolean {
  const length = packet.length;
  if (length < RTP_HEADER_BYTES) return false;
  const first = packet[0]!;
  if (first >> 6 !== 2) return false;
  let end = RTP_HEADER_BYTES + 4 * (first & 0x0f);
  if (first & 0x10) {
    if (end + 4 > length) return false;
    end += 4 + 4 * packet.readUInt16BE(end + 2);
  }
  if (end > length) return false;
  return (first & 0x20) === 0 || packet[length - 1]! <= length - end;
}
