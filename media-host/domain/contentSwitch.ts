import { startsH264Keyframe } from "./h264Keyframe.js";

/** RTP header fields of one incoming content packet. */
export interface ContentPacket {
  /** Who sent it: the device, or the meeting's sharer by source id; compared with ===. */
  readonly source: string;
  readonly sequenceNumber: number;
  readonly timestamp: number;
  readonly payload: Uint8Array;
  /** When it arrived, on a monotonic clock. */
  readonly arrivalMs: number;
}

/** What to put in the forwarded packet's header (the SSRC stays the stream's own). */
export interface ForwardedHeader {
  readonly sequenceNumber: number;
  readonly timestamp: number;
}

const VIDEO_CLOCK_PER_MS = 90;

/**
 * One outgoing content stream fed by whichever source holds the floor. Receivers see one
 * SSRC whose sequence numbers and timestamps run on across source changes (a jump in either
 * makes decoders and jitter buffers drop or wait), and nothing of a new source before its
 * first keyframe (they have no decoder state for it). Packets from other sources are not
 * forwarded. Pure: the bridge feeds it headers and writes what it returns.
 */
export class ContentSwitch {
  #source: string | undefined;
  #awaitingKeyframe = false;
  /** Offsets from the current source's numbering to ours, set at its first keyframe. */
  #sequenceOffset = 0;
  #timestampOffset = 0;
  #last: { sequenceNumber: number; timestamp: number; arrivalMs: number } | undefined;
  /** The current source's sequence number at the keyframe it started with: anything older belongs to pictures never begun. */
  #startedAt = 0;
  #dropped = 0;

  /** The source whose packets are forwarded from its next keyframe on; undefined: none. */
  select(source: string | undefined): void {
    if (source === this.#source) return;
    this.#source = source;
    this.#awaitingKeyframe = source !== undefined;
  }

  get source(): string | undefined {
    return this.#source;
  }

  /** True while the selected source has sent no keyframe yet: the caller keeps asking it for one (rate-limited). */
  get awaitingKeyframe(): boolean {
    return this.#awaitingKeyframe;
  }

  /** Packets of the selected source not forwarded while waiting for its keyframe. */
  get droppedWhileWaiting(): number {
    return this.#dropped;
  }

  /** The header to forward the packet with, or undefined when it must not be forwarded. */
  forward(packet: ContentPacket): ForwardedHeader | undefined {
    if (packet.source !== this.#source) return undefined;
    if (this.#awaitingKeyframe) {
      if (!startsH264Keyframe(packet.payload)) {
        this.#dropped++;
        return undefined;
      }
      this.#awaitingKeyframe = false;
      // Continue our numbering one past the last packet out; the timestamp advances by the wall-clock gap since.
      const sequenceNumber = this.#last ? (this.#last.sequenceNumber + 1) & 0xffff : packet.sequenceNumber;
      const timestamp = this.#last
        ? (this.#last.timestamp + Math.max(1, Math.round((packet.arrivalMs - this.#last.arrivalMs) * VIDEO_CLOCK_PER_MS))) >>> 0
        : packet.timestamp;
      this.#sequenceOffset = (sequenceNumber - packet.sequenceNumber) & 0xffff;
      this.#timestampOffset = (timestamp - packet.timestamp) >>> 0;
      this.#startedAt = packet.sequenceNumber;
    } else if (isOlder(packet.sequenceNumber, this.#startedAt)) {
      return undefined;
    }
    const header = {
      sequenceNumber: (packet.sequenceNumber + this.#sequenceOffset) & 0xffff,
      timestamp: (packet.timestamp + this.#timestampOffset) >>> 0,
    };
    if (!this.#last || !isOlder(header.sequenceNumber, this.#last.sequenceNumber)) this.#last = { ...header, arrivalMs: packet.arrivalMs };
    return header;
  }
}

/** RFC 1982 serial-number comparison on 16 bits: a is before b. */
function isOlder(a: number, b: number): boolean {
  const delta = (b - a) & 0xffff;
  return delta !== 0 && delta < 0x8000;
}
