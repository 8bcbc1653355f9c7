/**
 * Paced, stamped content (slides) for bench/content.ts: real H.264 pictures (x264, RFC 6184
 * payloads) looped at a frame rate, each picture's packets sent in small bursts as a sender's
 * pacer does. The bridge reads only the head of a payload (does it start a keyframe?), so the
 * stamp goes at the tail of every payload of at least MIN_STAMPED_BYTES (the picture's data is
 * overwritten there; nobody decodes it here), leaving the tiny SPS and PPS packets as they are:
 *
 *   tail[0]       0xc7, marks a stamped payload
 *   tail[1]       the measuring step (0: warm-up, never counted)
 *   tail[2]       direction (CONTENT_TO_MEETING, CONTENT_TO_DEVICE, CONTENT_RELAY)
 *   tail[4..5]    call index
 *   tail[6..9]    the stream's packet number
 *   tail[10..17]  performance.now() when sent (float64)
 */
import { performance } from "node:perf_hooks";

export const CONTENT_TO_MEETING = 0;
export const CONTENT_TO_DEVICE = 1;
/** Device A → rtpengine → device B: the same content without the bridge. */
export const CONTENT_RELAY = 2;

const STAMP_BYTES = 18;
const MARK = 0xc7;
/** Smaller payloads (SPS, PPS) go unstamped and uncounted: the stamp would be most of them. */
export const MIN_STAMPED_BYTES = 64;
/** Packets per stream per pacer tick: a 1080p keyframe (~130 packets) leaves in about 20 ms. */
const BURST = 16;
const TICK_MS = 2;

export interface ContentStreamSpec {
  readonly call: number;
  readonly direction: number;
  /** RTP payloads of each picture, in order; the first picture is a keyframe. */
  readonly pictures: readonly (readonly Uint8Array[])[];
  readonly fps: number;
  readonly payloadType: number;
  /** Hands a whole RTP packet (12-byte header + payload) to the network. */
  readonly send: (packet: Buffer) => void;
}

export class ContentStream {
  readonly spec: ContentStreamSpec;
  readonly ssrc = (Math.random() * 0xfffffffe + 1) >>> 0;
  #rtpSequence = (Math.random() * 0xffff) >>> 0;
  #timestamp = (Math.random() * 0xffffffff) >>> 0;
  #number = 0;
  #startedAt = 0;
  #pictures = 0;
  #loopOffset = 0;
  #queue: { payload: Uint8Array; marker: boolean; timestamp: number }[] = [];
  #firstNumber = 0;
  #seen = new Set<number>();
  sent = 0;
  received = 0;
  duplicates = 0;

  constructor(spec: ContentStreamSpec) {
    this.spec = spec;
  }

  /**
   * Starts with the first picture (a keyframe: the bridge forwards nothing before one), then goes on from a
   * random place in the loop, so the calls' later keyframes fall apart as those of calls that began presenting
   * at different times do, not all in one burst.
   */
  start(now: number): void {
    this.#startedAt = now + Math.random() * 50;
    this.#pictures = 0;
    this.#loopOffset = Math.floor(Math.random() * this.spec.pictures.length);
    this.#queue = [];
  }

  beginStep(): void {
    this.#firstNumber = this.#number;
    this.#seen = new Set();
    this.sent = 0;
    this.received = 0;
    this.duplicates = 0;
  }

  /** Queues the pictures due at `now` and sends up to a burst of what is queued. */
  pace(now: number, step: number): void {
    const { pictures, fps } = this.spec;
    while (now >= this.#startedAt + (this.#pictures * 1000) / fps) {
      const payloads = pictures[this.#pictures === 0 ? 0 : (this.#loopOffset + this.#pictures) % pictures.length] ?? [];
      for (const [i, payload] of payloads.entries()) this.#queue.push({ payload, marker: i === payloads.length - 1, timestamp: this.#timestamp });
      this.#timestamp = (this.#timestamp + Math.round(90_000 / fps)) >>> 0;
      this.#pictures++;
    }
    for (let n = 0; n < BURST && this.#queue.length > 0; n++) this.#sendOne(this.#queue.shift()!, step);
  }

  /** A received stamped payload of this stream: true when it counts (first copy, this step). */
  accept(number: number): boolean {
    const index = number - this.#firstNumber;
    if (index < 0) return false;
    if (this.#seen.has(index)) {
      this.duplicates++;
      return false;
    }
    this.#seen.add(index);
    this.received++;
    return true;
  }

  #sendOne(item: { payload: Uint8Array; marker: boolean; timestamp: number }, step: number): void {
    const { payload } = item;
    const packet = Buffer.allocUnsafe(12 + payload.length);
    packet[0] = 0x80;
    packet[1] = (item.marker ? 0x80 : 0) | this.spec.payloadType;
    packet.writeUInt16BE(this.#rtpSequence, 2);
    this.#rtpSequence = (this.#rtpSequence + 1) & 0xffff;
    packet.writeUInt32BE(item.timestamp, 4);
    packet.writeUInt32BE(this.ssrc, 8);
    packet.set(payload, 12);
    if (payload.length >= MIN_STAMPED_BYTES) {
      const tail = packet.length - STAMP_BYTES;
      packet[tail] = MARK;
      packet[tail + 1] = step;
      packet[tail + 2] = this.spec.direction;
      packet[tail + 3] = 0;
      packet.writeUInt16BE(this.spec.call, tail + 4);
      packet.writeUInt32BE(this.#number++ >>> 0, tail + 6);
      packet.writeDoubleBE(performance.now(), tail + 10);
      if (step !== 0) this.sent++;
    }
    this.spec.send(packet);
  }
}

/** Where the payload of an RTP datagram starts (CSRCs and header extension skipped); -1 for RTCP or junk. */
export function rtpPayloadStart(datagram: Buffer): number {
  if (datagram.length < 12 || datagram[0]! >> 6 !== 2) return -1;
  const type = datagram[1]!;
  if (type >= 192 && type <= 223) return -1;
  let offset = 12 + 4 * (datagram[0]! & 0x0f);
  if (datagram[0]! & 0x10) {
    if (datagram.length < offset + 4) return -1;
    offset += 4 + 4 * datagram.readUInt16BE(offset + 2);
  }
  return offset <= datagram.length ? offset : -1;
}

/** All content streams of the run, their pacer and what the receivers saw: latency samples per direction for the current step. */
export class ContentTraffic {
  readonly #streams = new Map<number, ContentStream>();
  #active: ContentStream[] = [];
  #timer: NodeJS.Timeout | undefined;
  step = 0;
  readonly latency: [number[], number[], number[]] = [[], [], []];
  /** Stamped payloads that arrived where their stamp says they should not. */
  misrouted = 0;

  add(spec: ContentStreamSpec): ContentStream {
    const stream = new ContentStream(spec);
    this.#streams.set(spec.call * 4 + spec.direction, stream);
    return stream;
  }

  clear(): void {
    this.stop();
    this.#streams.clear();
  }

  streams(): ContentStream[] {
    return [...this.#streams.values()];
  }

  start(): void {
    this.stop();
    const now = performance.now();
    this.#active = this.streams();
    for (const s of this.#active) s.start(now);
    this.#timer = setInterval(() => {
      const t = performance.now();
      for (const s of this.#active) s.pace(t, this.step);
    }, TICK_MS);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  beginStep(step: number): void {
    for (const s of this.#streams.values()) s.beginStep();
    this.latency[0] = [];
    this.latency[1] = [];
    this.latency[2] = [];
    this.misrouted = 0;
    this.step = step;
  }

  /** A content payload arrived at an endpoint that takes `direction`. */
  receive(payload: Uint8Array, direction: number): void {
    if (payload.length < MIN_STAMPED_BYTES || this.step === 0) return;
    const tail = Buffer.from(payload.buffer, payload.byteOffset + payload.length - STAMP_BYTES, STAMP_BYTES);
    if (tail[0] !== MARK || tail[1] !== this.step) return;
    const stream = this.#streams.get(tail.readUInt16BE(4) * 4 + tail[2]!);
    if (!stream || tail[2] !== direction) {
      this.misrouted++;
      return;
    }
    if (stream.accept(tail.readUInt32BE(6))) this.latency[direction]!.push(performance.now() - tail.readDoubleBE(10));
  }
}
