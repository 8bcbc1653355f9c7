import { isSlides } from "../meeting/plainSideAnswer.js";
import { parseSdp } from "../rtpengine/sdp.js";
import type { MediaSlot } from "./meetingLeg.js";

/**
 * The session's m-lines as the device knows them, from the last SDP it got from us: which
 * carry the bridge's audio, main video and slides (the first of each), the rest (BFCP, a
 * second audio, lines declined) kept as their m= line. Our next offer keeps them in place
 * (RFC 3264 §8). Pure.
 */
export function sessionLayout(sdp: string): MediaSlot[] {
  const taken = new Set<MediaSlot>();
  return parseSdp(sdp).media.map((m): MediaSlot => {
    const slot: MediaSlot | undefined =
      m.port === 0 ? undefined : m.media === "audio" ? "audio" : m.media === "video" ? (isSlides(m) ? "slides" : "video") : undefined;
    if (slot && !taken.has(slot)) {
      taken.add(slot);
      return slot;
    }
    return { disabled: `m=${m.media} 0 ${m.protocol} ${m.formats.join(" ") || "*"}` };
  });
}
