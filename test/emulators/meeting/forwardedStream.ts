import { MediaStreamTrack, RtpHeader, RtpPacket } from "werift";
import { startsH264Keyframe } from "./h264Keyframe.js";

export type ForwardResult = "sent" | "awaiting-keyframe";

/**
 * One outgoing track of a receiver (a bot's audio or main video, or one slot of a
 * page) into which the SFU forwards one source at a time. werift's `writeRtp` sets the
 * sender's SSRC and payload type; this keeps sequence numbers and timestamps continuous
 * when the source changes (the receiver sees one stream that paused, not a new one with
 * a jump it would take for loss), strips the source's header extensions (their ids are
 * the source's negotiation, not the receiver's), and holds video back until a keyframe
 * starts so a receiver never decodes from the middle of a picture.
 */
export class ForwardedStream {
  readonly kind: "audio" | "video";
  readonly track: MediaStreamTrack;
  readonly #clockRate: number;
  #source: string | undefined;
  #awaitingKeyframe: boolean;
  /** Offsets from the current source's numbering to ours; computed from its first forwarded packet. */
  #offsets: { sequence: number; timestamp: number } | undefined;
  #last: { sequence: number; timestamp: number; atMs: number } | undefined;
  /** The SSRC werift sends this track with (known once the answer is made); RTCP feedback names it. */
  ssrc = 0;
  packetsSent = 0;

  constructor(kind: "audio" | "video") {
    this.kind = kind;
    this.track = new MediaStreamTrack({ kind });
    this.#clockRate = kind === "audio" ? 48000 : 90000;
    this.#awaitingKeyframe = kind === "video";
  }

  /** The participant whose media goes out on this track, if any. */
  get source(): string | undefined {
    return this.#source;
  }

  get awaitingKeyframe(): boolean {
    return this.#awaitingKeyframe;
  }

  /** Returns whether the source changed. */
  switchTo(source: string | undefined): boolean {
    if (source === this.#source) return false;
    this.#source = source;
    this.#offsets = undefined;
    this.#awaitingKeyframe = this.kind === "video";
    return true;
  }

  forward(packet: RtpPacket): ForwardResult {
    if (this.#awaitingKeyframe) {
      if (!startsH264Keyframe(packet.payload)) return "awaiting-keyframe";
      this.#awaitingKeyframe = false;
    }
    const { header } = packet;
    const now = Date.now();
    if (!this.#offsets) {
      // Continue from where the previous source left off, the pause in between in the timestamp.
      const last = this.#last;
      this.#offsets = last
        ? {
            sequence: (last.sequence + 1 - header.sequenceNumber) & 0xffff,
            timestamp: (last.timestamp + Math.max(1, Math.round(((now - last.atMs) * this.#clockRate) / 1000)) - header.timestamp) >>> 0,
          }
        : { sequence: 0, timestamp: 0 };
    }
    const sequence = (header.sequenceNumber + this.#offsets.sequence) & 0xffff;
    const timestamp = (header.timestamp + this.#offsets.timestamp) >>> 0;
    if (!this.#last || isNewer(sequence, this.#last.sequence)) this.#last = { sequence, timestamp, atMs: now };
    const out = new RtpHeader({
      marker: header.marker,
      payloadType: header.payloadType,
      sequenceNumber: sequence,
      timestamp,
      ssrc: header.ssrc,
      extension: false,
      extensions: [],
    });
    this.track.writeRtp(new RtpPacket(out, packet.payload));
    this.packetsSent++;
    return "sent";
  }

  stop(): void {
    this.#source = undefined;
    this.track.stop();
  }
}

function isNewer(sequence: number, than: number): boolean {
  const diff = (sequence - than) & 0xffff;
  return diff !== 0 && diff < 0x8000;
}
