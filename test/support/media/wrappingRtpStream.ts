import { randomInt } from "node:crypto";

const MAX_BURST = 24;

export interface WrappingRtpStreamSpec {
  /** Packets per second. */
  readonly rate: number;
  /** Payload bytes. */
  readonly size: number;
  readonly payloadType: number;
  /** RTP clock ticks per frame. */
  readonly clockStep: number;
  /** Packets per frame (the last one has the marker bit). */
  readonly packetsPerFrame: number;
  /** Hands a whole plain RTP packet (12-byte header + payload) on. */
  readonly send: (packet: Buffer) => void;
}

/**
 * A paced RTP stream for long-call tests and the soak: its sequence number starts a random few
 * hundred short of 65535 and its timestamp a few frames short of 2^32, so that the first wraps
 * of both come early; every later wrap takes the full 65,536 packets. The pacing catches up after
 * a late tick, but by at most MAX_BURST packets at once: rtpengine discards what arrives while more
 * than 50 datagrams wait on a port, so a sender that fell far behind (a busy process) drops the
 * rest of its debt instead; `behind` counts what was dropped that way (never sent, never counted).
 */
export class WrappingRtpStream {
  readonly spec: WrappingRtpStreamSpec;
  readonly ssrc = randomInt(1, 2 ** 32 - 1);
  sent = 0;
  octets = 0;
  /** Packets the pacing skipped because the sender fell too far behind. */
  behind = 0;
  /** The timestamp of the last packet sent. */
  timestamp = (2 ** 32 - randomInt(2, 8) * 3000) >>> 0;
  #sequence = 65_535 - randomInt(0, 400);
  #packet = 0;
  #startedAt = 0;
  #due = 0;

  constructor(spec: WrappingRtpStreamSpec) {
    this.spec = spec;
  }

  start(nowMs: number): void {
    this.#startedAt = nowMs;
    this.#due = 0;
  }

  /** Sends what is due at `nowMs`. */
  pace(nowMs: number): void {
    const due = Math.floor(((nowMs - this.#startedAt) * this.spec.rate) / 1000);
    if (due - this.#due > MAX_BURST) {
      this.behind += due - this.#due - MAX_BURST;
      this.#due = due - MAX_BURST;
    }
    while (this.#due < due) {
      this.#sendOne();
      this.#due++;
    }
  }

  #sendOne(): void {
    const { spec } = this;
    const packet = Buffer.allocUnsafe(12 + spec.size);
    const last = this.#packet % spec.packetsPerFrame === spec.packetsPerFrame - 1;
    packet[0] = 0x80;
    packet[1] = (last ? 0x80 : 0) | spec.payloadType;
    packet.writeUInt16BE(this.#sequence, 2);
    packet.writeUInt32BE(this.timestamp, 4);
    packet.writeUInt32BE(this.ssrc, 8);
    packet.fill(0x5a, 12);
    packet[12] = spec.payloadType === 111 ? 0x78 : 0x41; // a plausible first byte: Opus TOC, H.264 NAL
    this.#sequence = (this.#sequence + 1) & 0xffff;
    this.#packet++;
    if (last) this.timestamp = (this.timestamp + spec.clockStep) >>> 0;
    this.sent++;
    this.octets += spec.size;
    spec.send(packet);
  }
}
