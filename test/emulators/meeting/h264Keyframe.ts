const NAL_IDR = 5;
const NAL_SPS = 7;
const STAP_A = 24;
const FU_A = 28;

/**
 * Whether an H.264 RTP payload (RFC 6184, packetization mode 1) starts a keyframe: an SPS
 * or the start of an IDR slice, alone, in a STAP-A or as the first FU-A fragment. Reading
 * NAL unit headers is all a forwarding SFU needs to start a receiver on a clean picture.
 */
export function startsH264Keyframe(payload: Buffer): boolean {
  if (payload.length < 1) return false;
  const type = payload[0]! & 0x1f;
  if (type === NAL_IDR || type === NAL_SPS) return true;
  if (type === FU_A) {
    const header = payload[1];
    return header !== undefined && (header & 0x80) !== 0 && (header & 0x1f) === NAL_IDR;
  }
  if (type === STAP_A) {
    let offset = 1;
    while (offset + 3 <= payload.length) {
      const size = payload.readUInt16BE(offset);
      const inner = payload[offset + 2]! & 0x1f;
      if (inner === NAL_IDR || inner === NAL_SPS) return true;
      offset += 2 + size;
    }
  }
  return false;
}
