const NAL_IDR = 5;
const NAL_SPS = 7;
const STAP_A = 24;
const FU_A = 28;

/**
 * Whether an H.264 RTP payload (RFC 6184, packetization mode 1) starts a keyframe: an SPS, or
 * the start of an IDR slice — alone, inside a STAP-A, or as the first FU-A fragment. When the
 * content's source changes the receiver has no decoder state for the new one, so forwarding
 * starts there. (The meeting emulator has its own copy: it stands in for Microsoft and
 * imports nothing of the product.)
 */
export function startsH264Keyframe(payload: Uint8Array): boolean {
  if (payload.length < 1) return false;
  const type = (payload[0] as number) & 0x1f;
  if (type === NAL_IDR || type === NAL_SPS) return true;
  if (type === FU_A) {
    const header = payload[1];
    return header !== undefined && (header & 0x80) !== 0 && (header & 0x1f) === NAL_IDR;
  }
  if (type === STAP_A) {
    let offset = 1;
    while (offset + 3 <= payload.length) {
      const size = ((payload[offset] as number) << 8) | (payload[offset + 1] as number);
      const inner = (payload[offset + 2] as number) & 0x1f;
      if (inner === NAL_IDR || inner === NAL_SPS) return true;
      offset += 2 + size;
    }
  }
  return false;
}
