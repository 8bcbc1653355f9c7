import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { EventEmitter } from "node:events";
import { isIPv6 } from "node:net";
import { performance } from "node:perf_hooks";
import { ProbeStalls, type ProbeStallsPolicy, type Stall } from "../domain/probeStalls.js";
import type { RtpengineClient } from "./rtpengineClient.js";
import { mediaEndpoint, parseSdp } from "./sdp.js";

export interface RtpengineProbeOptions {
  readonly rtpengine: Pick<RtpengineClient, "offer" | "answer" | "delete">;
  /** The address of rtpengine's media interface: the probe's two sockets bind there too. */
  readonly address: string;
  /** rtpengine's logical interface with that address (ng `direction`), when it has several. */
  readonly interfaceName?: string;
  /** Prefix of the probe call's id in rtpengine (a fresh id per probe call; default PROBE_CALL_ID_PREFIX). */
  readonly callIdPrefix?: string;
  /** One probe every … (default 20 ms, an audio stream's pace). */
  readonly intervalInMs?: number;
  readonly policy?: Partial<ProbeStallsPolicy>;
}

export interface RtpengineProbeEvents {
  /** Each probe's relay delay through rtpengine. */
  delay: [delayInMs: number];
  /** A stall ended: how long rtpengine held the probes. */
  stall: [stall: Stall];
  /** The probe call could not be made or re-made (rtpengine down); the next reset() tries again. */
  error: [error: Error];
}

/** The probe calls' ids in rtpengine begin so (an operator's `list` shows one per media host). */
export const PROBE_CALL_ID_PREFIX = "opencvi-probe";

const PAYLOAD_TYPE_PCMU = 0;
const PROBE_PAYLOAD = Buffer.alloc(20, 0xff);
/** Event-loop lateness of the last probe ticks, for telling our own stalls from rtpengine's. */
const TICKS_KEPT = 128;

/**
 * A stream of tiny RTP packets through rtpengine, from one socket of ours to another, in a
 * call of its own: how long rtpengine takes to relay them is how responsive it is, calls or
 * none. A stall of rtpengine (CPU starvation, a blocked thread, SIGSTOP) shows as late probes
 * (`stall` once it ends); if this process was blocked itself meanwhile, that time is not
 * rtpengine's and is taken off.
 */
export class RtpengineProbe extends EventEmitter<RtpengineProbeEvents> {
  readonly #options: RtpengineProbeOptions;
  readonly #stalls: ProbeStalls;
  readonly #ssrc = randomBytes(4).readUInt32BE(0);
  #sender: Socket | undefined;
  #receiver: Socket | undefined;
  #target: { address: string; port: number } | undefined;
  #callId: string | undefined;
  #calls = 0;
  #timer: NodeJS.Timeout | undefined;
  #sequence = 0;
  #lastTickAt = 0;
  /** Recent ticks: how late each ran, and the probe it sent (-1: none). */
  readonly #ticks: { late: number; sequence: number }[] = [];

  constructor(options: RtpengineProbeOptions) {
    super();
    this.#options = options;
    this.#stalls = new ProbeStalls(options.policy);
  }

  /** Opens the sockets, makes the probe call and starts probing. */
  async start(): Promise<void> {
    const type = isIPv6(this.#options.address) ? "udp6" : "udp4";
    this.#sender = await bind(type, this.#options.address);
    this.#receiver = await bind(type, this.#options.address);
    this.#receiver.on("message", (packet: Buffer) => this.#received(packet));
    await this.#makeCall();
    const interval = this.#options.intervalInMs ?? 20;
    this.#lastTickAt = performance.now();
    this.#timer = setInterval(() => this.#tick(interval), interval);
    this.#timer.unref();
  }

  /** Makes a new probe call (after rtpengine restarted: the old one is gone with it). */
  async reset(): Promise<void> {
    this.#stalls.reset();
    const old = this.#callId;
    this.#callId = undefined;
    if (old) await this.#options.rtpengine.delete({ "call-id": old }).catch(() => {});
    try {
      await this.#makeCall();
    } catch (e) {
      this.emit("error", e as Error);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const callId = this.#callId;
    this.#callId = undefined;
    if (callId) await this.#options.rtpengine.delete({ "call-id": callId }).catch(() => {});
    for (const socket of [this.#sender, this.#receiver]) await new Promise<void>((resolve) => (socket ? socket.close(() => resolve()) : resolve()));
    this.#sender = this.#receiver = undefined;
  }

  /** Whether a stall is going on now. */
  get stalled(): boolean {
    return this.#stalls.stalled;
  }

  /** How long since a probe last came back through rtpengine (undefined before the first). */
  get silentForInMs(): number | undefined {
    return this.#stalls.silentForInMs(performance.now());
  }

  async #makeCall(): Promise<void> {
    const sender = this.#sender;
    const receiver = this.#receiver;
    if (!sender || !receiver) throw new Error("the probe is not started");
    const callId = `${this.#options.callIdPrefix ?? PROBE_CALL_ID_PREFIX}-${process.pid}-${++this.#calls}`;
    const name = this.#options.interfaceName;
    const participants = { "call-id": callId, "from-tag": "probe-receiver", ...(name ? { direction: [name, name] as const } : {}) };
    // The offer's SDP goes to the answerer (the sender): where it sends.
    const offer = await this.#options.rtpengine.offer({ ...participants, sdp: probeSdp(this.#options.address, receiver.address().port) });
    await this.#options.rtpengine.answer({ ...participants, "to-tag": "probe-sender", sdp: probeSdp(this.#options.address, sender.address().port) });
    this.#target = mediaEndpoint(parseSdp(offer.sdp), 0);
    this.#callId = callId;
  }

  #tick(interval: number): void {
    const now = performance.now();
    const late = Math.max(0, now - this.#lastTickAt - interval);
    this.#lastTickAt = now;
    this.#stalls.tick(now);
    const target = this.#target;
    let sequence = -1;
    if (target && this.#callId && this.#sender) {
      sequence = this.#sequence;
      this.#sequence = (sequence + 1) & 0xffff;
      const header = Buffer.allocUnsafe(12);
      header[0] = 0x80;
      header[1] = PAYLOAD_TYPE_PCMU;
      header.writeUInt16BE(sequence, 2);
      header.writeUInt32BE((sequence * 160) >>> 0, 4);
      header.writeUInt32BE(this.#ssrc, 8);
      this.#stalls.sent(sequence, now);
      this.#sender.send([header, PROBE_PAYLOAD], target.port, target.address);
    }
    this.#ticks.push({ late, sequence });
    if (this.#ticks.length > TICKS_KEPT) this.#ticks.shift();
  }

  #received(packet: Buffer): void {
    if (packet.length < 12 || packet.readUInt32BE(8) !== this.#ssrc) return;
    const now = performance.now();
    const sequence = packet.readUInt16BE(2);
    const result = this.#stalls.received(sequence, now, this.#blockedSince(sequence, now));
    if (!result) return;
    this.emit("delay", result.delayInMs);
    if (result.ended) this.emit("stall", result.ended);
  }

  /**
   * How long this process was blocked since the probe `sequence` left: the lateness of the
   * ticks after the one that sent it, and of this callback itself (a block inside another
   * I/O callback has not delayed a tick yet).
   */
  #blockedSince(sequence: number, now: number): number {
    const interval = this.#options.intervalInMs ?? 20;
    let blocked = Math.max(0, now - this.#lastTickAt - interval);
    for (let i = this.#ticks.length - 1; i >= 0; i--) {
      const tick = this.#ticks[i]!;
      if (tick.sequence === sequence) break;
      blocked = Math.max(blocked, tick.late);
    }
    return blocked;
  }
}

async function bind(type: "udp4" | "udp6", address: string): Promise<Socket> {
  const socket = createSocket(type);
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, address, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  return socket;
}

function probeSdp(address: string, port: number): string {
  const family = isIPv6(address) ? "IP6" : "IP4";
  return [
    "v=0",
    `o=opencvi-probe 1 1 IN ${family} ${address}`,
    "s=rtpengine probe",
    `c=IN ${family} ${address}`,
    "t=0 0",
    `m=audio ${port} RTP/AVP ${PAYLOAD_TYPE_PCMU}`,
    "a=rtpmap:0 PCMU/8000",
    "a=sendrecv",
    "",
  ].join("\r\n");
}
