/**
 * Paced, stamped RTP for bench/media.ts. Every packet's payload carries where it
 * belongs and when it left, so the receiving end counts it once and measures its
 * one-way latency (sender and receiver share this process's clock):
 *
 *   payload[0]      first byte of a plausible payload (H.264 NAL 0x41, Opus TOC 0x78)
 *   payload[1]      the measuring step (0: warm-up, never counted)
 *   payload[2..3]   call index
 *   payload[4]      stream id: kind (0 audio, 1 video) + 2 × direction
 *   payload[8..11]  the stream's sequence number
 *   payload[12..19] performance.now() when sent (float64)
 *
 * Streams are paced by one timer: each tick sends every stream what is due since its
 * start (catching up after a late tick), so a stream sends `rate` packets/s on average.
 */
import { performance } from "node:perf_hooks";

export const AUDIO = 0;
export const VIDEO = 1;
/** device → meeting, meeting → device; the relay probe's A → B, B → A. */
export const TO_MEETING = 0;
export const TO_DEVICE = 1;
export const RELAY_AB = 2;
export const RELAY_BA = 3;
export const DIRECTIONS = ["toMeeting", "toDevice", "relay", "relay"] as const;

const STAMP_BYTES = 20;

export interface StreamSpec {
  readonly call: number;
  readonly kind: typeof AUDIO | typeof VIDEO;
  readonly direction: number;
  /** Packets per second. */
  readonly rate: number;
  /** Payload bytes. */
  readonly size: number;
  readonly payloadType: number;
  /** RTP clock ticks per packet (audio) or per frame (video). */
  readonly clockStep: number;
  /** Video: packets per frame (the last one has the marker bit). */
  readonly packetsPerFrame?: number;
  /** Hands a whole RTP packet (12-byte header + payload) to the network. */
  readonly send: (packet: Buffer) => void;
}

export class Stream {
  readonly spec: StreamSpec;
  readonly id: number;
  readonly ssrc = (Math.random() * 0xfffffffe + 1) >>> 0;
  #rtpSequence = (Math.random() * 0xffff) >>> 0;
  #sequence = 0;
  #startedAt = 0;
  #sentSinceStart = 0;
  /** Of the current step. */
  firstSequence = 0;
  sent = 0;
  received = 0;
  duplicates = 0;
  #seen = new Uint8Array(0);

  constructor(spec: StreamSpec) {
    this.spec = spec;
    this.id = spec.kind + 2 * spec.direction;
  }

  /** Restarts the pacing clock (a random phase within 10 ms, so the streams' ticks do not line up exactly). */
  start(now: number): void {
    this.#startedAt = now + Math.random() * 10;
    this.#sentSinceStart = 0;
  }

  /** A new measuring step: counting starts afresh at the next packet. */
  beginStep(seconds: number): void {
    this.firstSequence = this.#sequence;
    this.sent = 0;
    this.received = 0;
    this.duplicates = 0;
    this.#seen = new Uint8Array(Math.ceil(this.spec.rate * (seconds + 2)) + 256);
  }

  /** Sends what is due at `now`; returns how many packets went. */
  pace(now: number, step: number): number {
    const due = Math.floor(((now - this.#startedAt) * this.spec.rate) / 1000);
    let n = 0;
    while (this.#sentSinceStart < due) {
      this.#sendOne(step);
      this.#sentSinceStart++;
      n++;
    }
    return n;
  }

  /** A received payload of this stream: true when it counts (first copy, this step). */
  accept(payload: Buffer): boolean {
    const index = payload.readUInt32BE(8) - this.firstSequence;
    if (index < 0 || index >= this.#seen.length) return false;
    if (this.#seen[index]) {
      this.duplicates++;
      return false;
    }
    this.#seen[index] = 1;
    this.received++;
    return true;
  }

  #sendOne(step: number): void {
    const { spec } = this;
    const packet = Buffer.allocUnsafe(12 + spec.size);
    const sequence = this.#sequence++;
    const perFrame = spec.packetsPerFrame ?? 1;
    const marker = sequence % perFrame === perFrame - 1;
    packet[0] = 0x80;
    packet[1] = (marker ? 0x80 : 0) | spec.payloadType;
    packet.writeUInt16BE(this.#rtpSequence, 2);
    this.#rtpSequence = (this.#rtpSequence + 1) & 0xffff;
    packet.writeUInt32BE((Math.floor(sequence / perFrame) * spec.clockStep) >>> 0, 4);
    packet.writeUInt32BE(this.ssrc, 8);
    packet[12] = spec.kind === VIDEO ? 0x41 : 0x78;
    packet[13] = step;
    packet.writeUInt16BE(spec.call, 14);
    packet[16] = this.id;
    packet.fill(0, 17, 20);
    packet.writeUInt32BE(sequence >>> 0, 20);
    packet.fill(0x5a, 12 + STAMP_BYTES);
    packet.writeDoubleBE(performance.now(), 24);
    if (step !== 0) this.sent++;
    spec.send(packet);
  }
}

/** Where the payload of an RTP datagram starts (CSRCs and header extension skipped); -1 for RTCP or junk. */
export function payloadOffset(datagram: Buffer): number {
  if (datagram.length < 12 + STAMP_BYTES || datagram[0]! >> 6 !== 2) return -1;
  const type = datagram[1]!;
  if (type >= 192 && type <= 223) return -1;
  let offset = 12 + 4 * (datagram[0]! & 0x0f);
  if (datagram[0]! & 0x10) offset += 4 + 4 * datagram.readUInt16BE(offset + 2);
  return datagram.length - offset >= STAMP_BYTES ? offset : -1;
}

/**
 * All streams of the run, the pacing timer and what the receivers saw: latency samples
 * per direction for the current step.
 */
export class Traffic {
  readonly #streams = new Map<number, Stream>();
  #active: Stream[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** The step the senders stamp and the receivers count (0: warm-up). */
  step = 0;
  readonly latency: Record<"toMeeting" | "toDevice" | "relay", number[]> = { toMeeting: [], toDevice: [], relay: [] };
  /** Stamped packets that arrived where their stamp says they should not. */
  misrouted = 0;

  add(spec: StreamSpec): Stream {
    const stream = new Stream(spec);
    this.#streams.set(spec.call * 8 + stream.id, stream);
    return stream;
  }

  remove(call: number): void {
    for (let id = 0; id < 8; id++) this.#streams.delete(call * 8 + id);
    this.#active = this.#active.filter((s) => s.spec.call !== call);
  }

  streams(): Stream[] {
    return [...this.#streams.values()];
  }

  /** Starts sending on every stream (stamped with the current step). */
  start(tickMs = 5): void {
    this.stop();
    const now = performance.now();
    this.#active = this.streams();
    for (const s of this.#active) s.start(now);
    this.#timer = setInterval(() => {
      const t = performance.now();
      for (const s of this.#active) s.pace(t, this.step);
    }, tickMs);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** A new measuring step on every stream; latency samples start afresh. */
  beginStep(step: number, seconds: number): void {
    for (const s of this.#streams.values()) s.beginStep(seconds);
    this.latency.toMeeting = [];
    this.latency.toDevice = [];
    this.latency.relay = [];
    this.step = step;
  }

  /** A payload arrived at an endpoint that takes `kind` in `direction`. */
  receive(payload: Buffer, kind: number, direction: number): void {
    if (payload.length < STAMP_BYTES || payload[1] !== this.step || this.step === 0) return;
    const id = payload[4]!;
    const stream = this.#streams.get(payload.readUInt16BE(2) * 8 + id);
    if (!stream || id !== kind + 2 * direction) {
      this.misrouted++;
      return;
    }
    if (stream.accept(payload)) this.latency[DIRECTIONS[direction]!].push(performance.now() - payload.readDoubleBE(12));
  }
}

export function percentiles(samples: readonly number[]): { p50: number; p99: number; max: number } {
  if (samples.length === 0) return { p50: Number.NaN, p99: Number.NaN, max: Number.NaN };
  const sorted = Float64Array.from(samples).sort();
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  const round = (v: number) => Math.round(v * 100) / 100;
  return { p50: round(at(0.5)), p99: round(at(0.99)), max: round(sorted[sorted.length - 1]!) };
}
