/**
 * The few RTCP packets the bridge reads and writes itself on the device side (plain
 * RTP through rtpengine): keyframe requests — PLI (RFC 4585 §6.3.1) and FIR (RFC 5104
 * §4.3.1). Reading walks a compound packet in place; nothing is allocated per packet.
 */

/** RTP and RTCP share a port (rtcp-mux): RFC 5761 §4 tells them apart by the second byte. */
export function isRtcp(packet: Buffer): boolean {
  if (packet.length < 2) return false;
  const type = packet[1]!;
  return type >= 192 && type <= 223;
}

export type KeyframeRequestKind = "pli" | "fir" | undefined;

/** The first keyframe request in a compound RTCP packet, if any. */
export function findKeyframeRequest(packet: Buffer): KeyframeRequestKind {
  let offset = 0;
  while (offset + 4 <= packet.length) {
    const first = packet[offset]!;
    if (first >> 6 !== 2) return undefined;
    const fmt = first & 0x1f;
    const type = packet[offset + 1]!;
    const length = (packet.readUInt16BE(offset + 2) + 1) * 4;
    if (type === 206 && fmt === 1) return "pli";
    if (type === 206 && fmt === 4) return "fir";
    offset += length;
  }
  return undefined;
}

/** Writes a PLI into `target` (12 bytes) and returns its length. */
export function writePli(target: Buffer, senderSsrc: number, mediaSsrc: number): number {
  target[0] = 0x80 | 1;
  target[1] = 206;
  target.writeUInt16BE(2, 2);
  target.writeUInt32BE(senderSsrc >>> 0, 4);
  target.writeUInt32BE(mediaSsrc >>> 0, 8);
  return 12;
}

/** Writes a FIR into `target` (20 bytes) and returns its length; `sequenceNumber` must grow per new request. */
export function writeFir(target: Buffer, senderSsrc: number, mediaSsrc: number, sequenceNumber: number): number {
  target[0] = 0x80 | 4;
  target[1] = 206;
  target.writeUInt16BE(4, 2);
  target.writeUInt32BE(senderSsrc >>> 0, 4);
  target.writeUInt32BE(0, 8); // media source SSRC is unused in a FIR: the entry names it
  target.writeUInt32BE(mediaSsrc >>> 0, 12);
  target[16] = sequenceNumber & 0xff;
  target[17] = 0;
  target.writeUInt16BE(0, 18);
  return 20;
}

export function rtpPayloadType(packet: Buffer): number {
  return packet.length >= 2 ? packet[1]! & 0x7f : -1;
}

/** A fresh PLI or FIR asking `mediaSsrc` for a keyframe (rare, rate-limited: a buffer each keeps sends independent). */
export function keyframeRequestPacket(kind: "pli" | "fir", senderSsrc: number, mediaSsrc: number, firSequence: number): Buffer {
  const packet = Buffer.allocUnsafe(20);
  const length = kind === "pli" ? writePli(packet, senderSsrc, mediaSsrc) : writeFir(packet, senderSsrc, mediaSsrc, firSequence);
  return packet.subarray(0, length);
}
