import { EventEmitter } from "node:events";
import { type DeafStream, DeafStreamJudge, type StreamReading } from "../domain/deafStreams.js";
import type { QueryResponse } from "../rtpengine/ngProtocol.js";
import type { RtpengineClient } from "../rtpengine/rtpengineClient.js";
import { UdpSocketTable } from "../rtpengine/udpSocketTable.js";

export interface StreamWatchOptions {
  readonly rtpengine: Pick<RtpengineClient, "query">;
  /** How often each call's ports are read (default 2 s): a deaf stream is reported within about twice that. */
  readonly intervalInMs?: number;
  /** The kernel's UDP sockets (default: /proc/net/udp and udp6 of this network namespace, where rtpengine runs). */
  readonly readSockets?: () => Promise<UdpSocketTable>;
  /** Queries in flight at once (default 8). */
  readonly concurrency?: number;
}

export interface StreamWatchEvents {
  /** rtpengine stopped reading a port of the call while datagrams kept arriving on it. */
  deaf: [callId: string, stream: DeafStream];
  /** rtpengine reads the port again. */
  recovered: [callId: string, stream: DeafStream];
  /** A round could not read the kernel's table or a call's figures (the next round tries again). */
  error: [callId: string | undefined, error: Error];
}

interface WatchedCall {
  readonly deviceTag: string;
  readonly judge: DeafStreamJudge;
}

/**
 * Watches the calls' ports in rtpengine for the deafness of rtpengine 10.5 (see
 * domain/deafStreams.ts): every interval, one read of the kernel's UDP table and one
 * `query` per call, judged per call.
 */
export class StreamWatch extends EventEmitter<StreamWatchEvents> {
  readonly #options: StreamWatchOptions;
  readonly #calls = new Map<string, WatchedCall>();
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;

  constructor(options: StreamWatchOptions) {
    super();
    this.#options = options;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      this.#round ??= this.check().finally(() => {
        this.#round = undefined;
      });
    }, this.#options.intervalInMs ?? 2000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#round;
  }

  /** Watches a call (rtpengine's call id, and the device's tag in it). */
  watch(callId: string, deviceTag: string): void {
    if (!this.#calls.has(callId)) this.#calls.set(callId, { deviceTag, judge: new DeafStreamJudge() });
  }

  unwatch(callId: string): void {
    this.#calls.delete(callId);
  }

  /** The call's streams judged deaf and not recovered. */
  deafStreams(callId: string): DeafStream[] {
    return this.#calls.get(callId)?.judge.deafStreams ?? [];
  }

  /** Deaf streams over all watched calls. */
  get deafStreamCount(): number {
    let count = 0;
    for (const call of this.#calls.values()) count += call.judge.deafStreams.length;
    return count;
  }

  /** One round now (the timer runs them; tests and shutdown may too). */
  async check(): Promise<void> {
    const calls = [...this.#calls.entries()];
    if (calls.length === 0) return;
    let sockets: UdpSocketTable;
    try {
      sockets = await (this.#options.readSockets ?? (() => UdpSocketTable.read()))();
    } catch (e) {
      this.emit("error", undefined, e as Error);
      return;
    }
    const concurrency = Math.max(1, this.#options.concurrency ?? 8);
    let next = 0;
    const worker = async () => {
      while (next < calls.length) {
        const [callId, call] = calls[next++]!;
        let query: QueryResponse;
        try {
          query = await this.#options.rtpengine.query({ "call-id": callId, "from-tag": call.deviceTag });
        } catch (e) {
          if (this.#calls.get(callId) === call) this.emit("error", callId, e as Error);
          continue;
        }
        // Ended while its query was out: nothing to say about it.
        if (this.#calls.get(callId) !== call) continue;
        for (const v of call.judge.judge(readings(query, call.deviceTag, sockets))) this.emit(v.verdict, callId, v.stream);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, calls.length) }, worker));
  }
}

/** Every port of the call in rtpengine, with rtpengine's count and the kernel's queue. */
export function readings(query: QueryResponse, deviceTag: string, sockets: UdpSocketTable): StreamReading[] {
  const out: StreamReading[] = [];
  for (const [tag, participant] of Object.entries(query.tags ?? {})) {
    const party = tag === deviceTag ? "device" : "meeting";
    for (const media of participant.medias ?? []) {
      for (const stream of media.streams ?? []) {
        const port = stream["local port"];
        if (port === undefined || port === 0) continue;
        const address = stream["local address"] ?? "";
        const socket = sockets.find(address, port);
        out.push({
          party,
          kind: media.type,
          mediaIndex: media.index,
          component: stream.flags.includes("RTCP") && !stream.flags.includes("RTP") ? "rtcp" : "rtp",
          address,
          port,
          packets: stream.stats.packets,
          queuedBytes: socket?.receiveQueueBytes,
          drops: socket?.drops,
        });
      }
    }
  }
  return out;
}
