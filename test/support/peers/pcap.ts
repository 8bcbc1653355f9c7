import { randomInt } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { isIPv4 } from "node:net";
import { ALAW_SILENCE, linearToAlaw, linearToUlaw, sineSamples, ULAW_SILENCE } from "./audio.js";

/**
 * Classic libpcap files (Ethernet / IPv4 / UDP) of RTP streams, for SIPp's
 * `play_pcap_audio`. SIPp replays each packet's UDP payload from the scenario's
 * [media_port] to the port of the peer's `m=audio` line, paced by the packet
 * time stamps; the addresses and ports written here only need to be
 * consistent (SIPp rebases the destination ports on the lowest one in the file).
 */

export const PCAP_MAGIC = 0xa1b2c3d4;
export const LINKTYPE_ETHERNET = 1;
export const RTP_CLOCK_RATE = 8000;

export interface RtpPacket {
  readonly payloadType: number;
  readonly marker: boolean;
  readonly sequence: number;
  readonly timestamp: number;
  readonly ssrc: number;
  readonly payload: Uint8Array;
  /** When the packet is sent, relative to the first packet of the file. */
  readonly atMs: number;
}

export interface UdpEndpoints {
  readonly srcIp?: string;
  readonly dstIp?: string;
  readonly srcPort?: number;
  readonly dstPort?: number;
}

export interface StreamOptions {
  readonly ssrc?: number;
  readonly firstSequence?: number;
  readonly firstTimestamp?: number;
  /** Packetisation time, 20 ms unless told. */
  readonly ptimeMs?: number;
  /** Offset of the first packet in the file, ms. */
  readonly startMs?: number;
}

/** Encodes one RTP packet (RFC 3550 fixed header, no CSRC, no extension). */
export function encodeRtp(packet: Omit<RtpPacket, "atMs">): Buffer {
  const out = Buffer.alloc(12 + packet.payload.length);
  out[0] = 0x80;
  out[1] = (packet.marker ? 0x80 : 0) | (packet.payloadType & 0x7f);
  out.writeUInt16BE(packet.sequence & 0xffff, 2);
  out.writeUInt32BE(packet.timestamp >>> 0, 4);
  out.writeUInt32BE(packet.ssrc >>> 0, 8);
  out.set(packet.payload, 12);
  return out;
}

export interface DecodedRtp {
  readonly version: number;
  readonly padding: boolean;
  readonly extension: boolean;
  readonly csrcCount: number;
  readonly marker: boolean;
  readonly payloadType: number;
  readonly sequence: number;
  readonly timestamp: number;
  readonly ssrc: number;
  readonly payload: Buffer;
}

export function decodeRtp(data: Buffer): DecodedRtp {
  if (data.length < 12) throw new Error(`RTP packet too short (${data.length} bytes)`);
  const b0 = data[0]!;
  const b1 = data[1]!;
  const csrcCount = b0 & 0x0f;
  return {
    version: b0 >> 6,
    padding: (b0 & 0x20) !== 0,
    extension: (b0 & 0x10) !== 0,
    csrcCount,
    marker: (b1 & 0x80) !== 0,
    payloadType: b1 & 0x7f,
    sequence: data.readUInt16BE(2),
    timestamp: data.readUInt32BE(4),
    ssrc: data.readUInt32BE(8),
    payload: data.subarray(12 + csrcCount * 4),
  };
}

/** RFC 4733 §3.2 event codes for DTMF. */
export function dtmfEventCode(digit: string): number {
  if (/^[0-9]$/.test(digit)) return Number(digit);
  switch (digit.toUpperCase()) {
    case "*":
      return 10;
    case "#":
      return 11;
    case "A":
    case "B":
    case "C":
    case "D":
      return 12 + digit.toUpperCase().charCodeAt(0) - 65;
    default:
      throw new Error(`not a DTMF digit: ${JSON.stringify(digit)}`);
  }
}

export interface TelephoneEvent {
  readonly event: number;
  readonly end: boolean;
  readonly volume: number;
  /** In timestamp units (samples at 8 kHz). */
  readonly duration: number;
}

/** Encodes the 4-byte RFC 4733 event payload. */
export function encodeTelephoneEvent(e: TelephoneEvent): Buffer {
  const out = Buffer.alloc(4);
  out[0] = e.event & 0xff;
  out[1] = (e.end ? 0x80 : 0) | (e.volume & 0x3f);
  out.writeUInt16BE(Math.min(0xffff, e.duration), 2);
  return out;
}

export function decodeTelephoneEvent(payload: Buffer): TelephoneEvent {
  if (payload.length < 4) throw new Error(`telephone-event payload too short (${payload.length} bytes)`);
  return { event: payload[0]!, end: (payload[1]! & 0x80) !== 0, volume: payload[1]! & 0x3f, duration: payload.readUInt16BE(2) };
}

function streamDefaults(options: StreamOptions) {
  return {
    ssrc: options.ssrc ?? randomInt(1, 0x7fffffff),
    sequence: options.firstSequence ?? randomInt(0, 0x8000),
    timestamp: options.firstTimestamp ?? randomInt(0, 0x7fffffff),
    ptimeMs: options.ptimeMs ?? 20,
    startMs: options.startMs ?? 0,
  };
}

/** An audio stream of G.711 frames (PCMU payload type 0 or PCMA 8) from linear samples at 8 kHz. */
export function g711Stream(samples: Int16Array, options: StreamOptions & { codec?: "PCMU" | "PCMA" } = {}): RtpPacket[] {
  const d = streamDefaults(options);
  const codec = options.codec ?? "PCMU";
  const encode = codec === "PCMU" ? linearToUlaw : linearToAlaw;
  const frame = (RTP_CLOCK_RATE * d.ptimeMs) / 1000;
  const packets: RtpPacket[] = [];
  for (let i = 0; i * frame < samples.length; i++) {
    const payload = new Uint8Array(frame).fill(codec === "PCMU" ? ULAW_SILENCE : ALAW_SILENCE);
    for (let j = 0; j < frame && i * frame + j < samples.length; j++) payload[j] = encode(samples[i * frame + j]!);
    packets.push({
      payloadType: codec === "PCMU" ? 0 : 8,
      marker: i === 0,
      sequence: (d.sequence + i) & 0xffff,
      timestamp: (d.timestamp + i * frame) >>> 0,
      ssrc: d.ssrc,
      payload,
      atMs: d.startMs + i * d.ptimeMs,
    });
  }
  return packets;
}

/** PCMU digital silence for the given time. */
export function pcmuSilence(durationMs: number, options: StreamOptions = {}): RtpPacket[] {
  return g711Stream(new Int16Array(Math.round((RTP_CLOCK_RATE * durationMs) / 1000)), { ...options, codec: "PCMU" });
}

/** A PCMU sine tone (1 kHz at -12 dBFS unless told). */
export function pcmuTone(durationMs: number, options: StreamOptions & { frequencyHz?: number; amplitude?: number } = {}): RtpPacket[] {
  const samples = sineSamples({ frequencyHz: options.frequencyHz ?? 1000, durationMs, amplitude: options.amplitude ?? 8000 });
  return g711Stream(samples, { ...options, codec: "PCMU" });
}

export interface DtmfOptions extends StreamOptions {
  /** Payload type of telephone-event, as offered in the SDP (101 in our scenarios). */
  readonly payloadType?: number;
  /** How long each digit is held, ms (160 unless told). */
  readonly eventMs?: number;
  /** Silence between the last end packet of a digit and the next digit, ms. */
  readonly gapMs?: number;
  /** Power level, 0…63 meaning 0…-63 dBm0 (10 unless told). */
  readonly volume?: number;
}

/**
 * RFC 4733 telephone-event packets for a digit string. Per digit: the first
 * packet has the marker bit; all packets of one event share its RTP time stamp
 * (the event's start) while the duration grows by one packet time each packet;
 * the final packet (E bit set, full duration) is sent three times. Every packet,
 * retransmissions included, takes the next sequence number.
 */
export function telephoneEvents(digits: string, options: DtmfOptions = {}): RtpPacket[] {
  const d = streamDefaults(options);
  const pt = options.payloadType ?? 101;
  const eventMs = options.eventMs ?? 160;
  const gapMs = options.gapMs ?? 80;
  const volume = options.volume ?? 10;
  const frame = (RTP_CLOCK_RATE * d.ptimeMs) / 1000;
  const packetsPerEvent = Math.max(1, Math.round(eventMs / d.ptimeMs));
  const packets: RtpPacket[] = [];
  let seq = d.sequence;
  let atMs = d.startMs;
  for (const digit of digits) {
    const event = dtmfEventCode(digit);
    const eventTimestamp = (d.timestamp + Math.round(((atMs - d.startMs) * RTP_CLOCK_RATE) / 1000)) >>> 0;
    for (let i = 0; i < packetsPerEvent; i++) {
      packets.push({
        payloadType: pt,
        marker: i === 0,
        sequence: seq++ & 0xffff,
        timestamp: eventTimestamp,
        ssrc: d.ssrc,
        payload: encodeTelephoneEvent({ event, end: false, volume, duration: (i + 1) * frame }),
        atMs,
      });
      atMs += d.ptimeMs;
    }
    for (let i = 0; i < 3; i++) {
      packets.push({
        payloadType: pt,
        marker: false,
        sequence: seq++ & 0xffff,
        timestamp: eventTimestamp,
        ssrc: d.ssrc,
        payload: encodeTelephoneEvent({ event, end: true, volume, duration: packetsPerEvent * frame }),
        atMs,
      });
      atMs += i < 2 ? d.ptimeMs : 0;
    }
    atMs += gapMs;
  }
  return packets;
}

/** How long a packet list plays, ms (last packet time + one packet time). */
export function playTimeMs(packets: readonly RtpPacket[], ptimeMs = 20): number {
  if (packets.length === 0) return 0;
  return packets[packets.length - 1]!.atMs - packets[0]!.atMs + ptimeMs;
}

function ipv4Bytes(ip: string): Buffer {
  if (!isIPv4(ip)) throw new Error(`not an IPv4 address: ${ip}`);
  return Buffer.from(ip.split(".").map(Number));
}

function onesComplementSum(buf: Buffer, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += buf[buf.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Ethernet II + IPv4 + UDP frame around a payload, with valid IP and UDP checksums. */
export function udpFrame(payload: Buffer, endpoints: UdpEndpoints = {}, ipId = 0): Buffer {
  const src = ipv4Bytes(endpoints.srcIp ?? "127.0.0.1");
  const dst = ipv4Bytes(endpoints.dstIp ?? "127.0.0.1");
  const srcPort = endpoints.srcPort ?? 40000;
  const dstPort = endpoints.dstPort ?? 40002;
  const eth = Buffer.alloc(14);
  Buffer.from([0x02, 0, 0, 0, 0, 0x02]).copy(eth, 0);
  Buffer.from([0x02, 0, 0, 0, 0, 0x01]).copy(eth, 6);
  eth.writeUInt16BE(0x0800, 12);
  const udpLength = 8 + payload.length;
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + udpLength, 2);
  ip.writeUInt16BE(ipId & 0xffff, 4);
  ip.writeUInt16BE(0x4000, 6);
  ip[8] = 64;
  ip[9] = 17;
  src.copy(ip, 12);
  dst.copy(ip, 16);
  ip.writeUInt16BE(~onesComplementSum(ip) & 0xffff, 10);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(srcPort, 0);
  udp.writeUInt16BE(dstPort, 2);
  udp.writeUInt16BE(udpLength, 4);
  const pseudo = Buffer.concat([src, dst, Buffer.from([0, 17, udpLength >> 8, udpLength & 0xff])]);
  const checksum = ~onesComplementSum(Buffer.concat([pseudo, udp, payload])) & 0xffff;
  udp.writeUInt16BE(checksum === 0 ? 0xffff : checksum, 6);
  return Buffer.concat([eth, ip, udp, payload]);
}

/** Writes RTP packets as a classic pcap file (LINKTYPE_ETHERNET, microsecond time stamps). */
export function writeRtpPcap(path: string, packets: readonly RtpPacket[], endpoints: UdpEndpoints = {}, baseTimeSec = 1_700_000_000): void {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(PCAP_MAGIC, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeInt32LE(0, 8);
  header.writeUInt32LE(0, 12);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  const chunks: Buffer[] = [header];
  packets.forEach((packet, index) => {
    const frame = udpFrame(encodeRtp(packet), endpoints, index);
    const record = Buffer.alloc(16);
    const totalUs = Math.round(packet.atMs * 1000);
    record.writeUInt32LE(baseTimeSec + Math.floor(totalUs / 1_000_000), 0);
    record.writeUInt32LE(totalUs % 1_000_000, 4);
    record.writeUInt32LE(frame.length, 8);
    record.writeUInt32LE(frame.length, 12);
    chunks.push(record, frame);
  });
  writeFileSync(path, Buffer.concat(chunks));
}

export interface PcapFile {
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly snapLength: number;
  readonly linkType: number;
  readonly records: PcapRecord[];
}

export interface PcapRecord {
  readonly timeSec: number;
  readonly timeUsec: number;
  readonly capturedLength: number;
  readonly originalLength: number;
  readonly etherType: number;
  readonly ip: {
    readonly version: number;
    readonly headerLength: number;
    readonly totalLength: number;
    readonly ttl: number;
    readonly protocol: number;
    readonly checksumOk: boolean;
    readonly src: string;
    readonly dst: string;
  };
  readonly udp: { readonly srcPort: number; readonly dstPort: number; readonly length: number; readonly checksumOk: boolean };
  readonly payload: Buffer;
}

/** Ethernet/IPv4/UDP frame of a capture record, dissected. */
function dissectUdpFrame(frame: Buffer, time: { timeSec: number; timeUsec: number; capturedLength: number; originalLength: number }): PcapRecord {
  const ipStart = 14;
  const headerLength = (frame[ipStart]! & 0x0f) * 4;
  const ipHeader = frame.subarray(ipStart, ipStart + headerLength);
  const src = [...frame.subarray(ipStart + 12, ipStart + 16)].join(".");
  const dst = [...frame.subarray(ipStart + 16, ipStart + 20)].join(".");
  const udpStart = ipStart + headerLength;
  const udpLength = frame.readUInt16BE(udpStart + 4);
  const udpAndPayload = frame.subarray(udpStart, udpStart + udpLength);
  const pseudo = Buffer.concat([frame.subarray(ipStart + 12, ipStart + 20), Buffer.from([0, 17, udpLength >> 8, udpLength & 0xff])]);
  return {
    ...time,
    etherType: frame.readUInt16BE(12),
    ip: {
      version: frame[ipStart]! >> 4,
      headerLength,
      totalLength: frame.readUInt16BE(ipStart + 2),
      ttl: frame[ipStart + 8]!,
      protocol: frame[ipStart + 9]!,
      checksumOk: onesComplementSum(ipHeader) === 0xffff,
      src,
      dst,
    },
    udp: {
      srcPort: frame.readUInt16BE(udpStart),
      dstPort: frame.readUInt16BE(udpStart + 2),
      length: udpLength,
      checksumOk: onesComplementSum(Buffer.concat([pseudo, udpAndPayload])) === 0xffff,
    },
    payload: frame.subarray(udpStart + 8, udpStart + udpLength),
  };
}

/** Reads back a classic little-endian pcap of Ethernet/IPv4/UDP frames (what writeRtpPcap writes). */
export function readPcap(path: string): PcapFile {
  const buf = readFileSync(path);
  if (buf.length < 24 || buf.readUInt32LE(0) !== PCAP_MAGIC) throw new Error(`${path}: not a little-endian classic pcap file`);
  const records: PcapRecord[] = [];
  let offset = 24;
  while (offset + 16 <= buf.length) {
    const capturedLength = buf.readUInt32LE(offset + 8);
    const frame = buf.subarray(offset + 16, offset + 16 + capturedLength);
    records.push(
      dissectUdpFrame(frame, {
        timeSec: buf.readUInt32LE(offset),
        timeUsec: buf.readUInt32LE(offset + 4),
        capturedLength,
        originalLength: buf.readUInt32LE(offset + 12),
      }),
    );
    offset += 16 + capturedLength;
  }
  return {
    versionMajor: buf.readUInt16LE(4),
    versionMinor: buf.readUInt16LE(6),
    snapLength: buf.readUInt32LE(16),
    linkType: buf.readUInt32LE(20),
    records,
  };
}

const PCAPNG_SECTION_HEADER = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const PCAPNG_INTERFACE_DESCRIPTION = 1;
const PCAPNG_ENHANCED_PACKET = 6;

/**
 * Reads a little-endian pcapng file of Ethernet/IPv4/UDP frames (one interface,
 * microsecond time stamps, as tshark and dumpcap write by default).
 */
export function readPcapng(path: string): PcapFile {
  const buf = readFileSync(path);
  if (buf.length < 28 || buf.readUInt32LE(0) !== PCAPNG_SECTION_HEADER || buf.readUInt32LE(8) !== PCAPNG_BYTE_ORDER_MAGIC) {
    throw new Error(`${path}: not a little-endian pcapng file`);
  }
  const records: PcapRecord[] = [];
  let linkType = -1;
  let snapLength = 0;
  let offset = 0;
  while (offset + 12 <= buf.length) {
    const blockType = buf.readUInt32LE(offset);
    const blockLength = buf.readUInt32LE(offset + 4);
    if (blockLength < 12 || offset + blockLength > buf.length) throw new Error(`${path}: bad pcapng block length ${blockLength} at ${offset}`);
    if (blockType === PCAPNG_INTERFACE_DESCRIPTION) {
      linkType = buf.readUInt16LE(offset + 8);
      snapLength = buf.readUInt32LE(offset + 12);
    } else if (blockType === PCAPNG_ENHANCED_PACKET) {
      const high = buf.readUInt32LE(offset + 12);
      const low = buf.readUInt32LE(offset + 16);
      const micros = high * 2 ** 32 + low;
      const capturedLength = buf.readUInt32LE(offset + 20);
      const frame = buf.subarray(offset + 28, offset + 28 + capturedLength);
      records.push(
        dissectUdpFrame(frame, {
          timeSec: Math.floor(micros / 1_000_000),
          timeUsec: micros % 1_000_000,
          capturedLength,
          originalLength: buf.readUInt32LE(offset + 24),
        }),
      );
    }
    offset += blockLength;
  }
  return { versionMajor: buf.readUInt16LE(12), versionMinor: buf.readUInt16LE(14), snapLength, linkType, records };
}

/** A classic pcap or a pcapng file, told apart by its first four bytes. */
export function readCapture(path: string): PcapFile {
  return readFileSync(path).readUInt32LE(0) === PCAPNG_SECTION_HEADER ? readPcapng(path) : readPcap(path);
}
