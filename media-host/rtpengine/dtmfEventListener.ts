import { createHash } from "node:crypto";
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { EventEmitter } from "node:events";

/**
 * One record of rtpengine's DTMF log (`dtmf-log-dest`), as rtpengine writes it: one UDP
 * datagram per digit, sent when the digit ends (the RFC 4733 end packet, repeated or
 * not, gives one record).
 */
export interface RtpengineDtmfRecord {
  readonly callid: string;
  /** The SIP tag of the participant who sent the digit. */
  readonly source_tag: string;
  /** Every tag of the call. */
  readonly tags: readonly string[];
  readonly type: string;
  /** rtpengine's clock in whole Unix seconds: quick repeats share it. */
  readonly timestamp: number;
  readonly source_ip: string;
  /** RFC 4733 event code: 0–9, 10 = *, 11 = #, 12–15 = A–D. */
  readonly event: number;
  /** Milliseconds. */
  readonly duration: number;
  /** -dBm0 (0 loudest, 63 quietest). */
  readonly volume: number;
}

export interface DtmfEvent {
  /**
   * Stable and unique: the same for every consumer of this event, different for every
   * other digit. A hash of the record's content (call, source tag, timestamp, event,
   * duration, volume) and `ordinal`. See DtmfEventListener for why the ordinal is needed.
   */
  readonly eventId: string;
  readonly callId: string;
  readonly sourceTag: string;
  readonly tags: readonly string[];
  /** rtpengine's clock when the digit ended, Unix seconds (whole). */
  readonly timestamp: number;
  readonly sourceIp: string;
  readonly event: number;
  /** "0"–"9", "*", "#", "A"–"D"; "" for a code outside 0–15. */
  readonly digit: string;
  readonly durationInMs: number;
  readonly volume: number;
  /** How many records with identical content this listener received before this one (0 for the first). */
  readonly ordinal: number;
  readonly receivedAt: Date;
}

export interface DtmfEventListenerOptions {
  /** Where to bind (default 127.0.0.1): rtpengine's `dtmf-log-dest`. */
  readonly host?: string;
  /** Default 0: a free port (read it from `address` and pass it to rtpengine). */
  readonly port?: number;
  /** How long identical records are remembered for numbering repeats, in rtpengine's seconds (default 60). */
  readonly repeatWindowInMs?: number;
}

export interface DtmfEventListenerEvents {
  dtmf: [DtmfEvent];
  /** A datagram that is not a DTMF record. */
  malformed: [{ readonly datagram: Buffer; readonly from: RemoteInfo; readonly error: Error }];
  /** A socket error after the listener was opened. */
  transportError: [Error];
}

const DIGITS = "0123456789*#ABCD";

/** The digit of an RFC 4733 event code, or "" outside 0–15. */
export function dtmfDigit(event: number): string {
  return Number.isInteger(event) && event >= 0 && event < DIGITS.length ? DIGITS.charAt(event) : "";
}

/**
 * rtpengine 10.5 prints the record with printf and does not escape the call id or the
 * tags (a SIP Call-ID may contain `"` and `\`), so JSON.parse could fail or unescape
 * what was never escaped. The exact 10.5 layout is matched first and read verbatim;
 * anything else is tried as JSON (other versions, other field orders).
 */
const RECORD_10_5 =
  /^\{"callid":"(.*)","source_tag":"(.*)","tags":\[(.*)\],"type":"([^"]*)","timestamp":(\d+),"source_ip":"([^"]*)","event":(\d+),"duration":(\d+),"volume":(\d+)\}$/s;

/** Parses one DTMF log datagram; throws on anything that is not a DTMF record. */
export function parseDtmfRecord(text: string): RtpengineDtmfRecord {
  const match = RECORD_10_5.exec(text);
  if (match) {
    const [, callid, sourceTag, tagList, type, timestamp, sourceIp, event, duration, volume] = match as unknown as string[];
    const tags = tagList === "" ? [] : tagList!.slice(1, -1).split('","');
    return {
      callid: callid!,
      source_tag: sourceTag!,
      tags,
      type: type!,
      timestamp: Number(timestamp),
      source_ip: sourceIp!,
      event: Number(event),
      duration: Number(duration),
      volume: Number(volume),
    };
  }
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== "object" || parsed === null) throw new Error("not a JSON object");
  const r = parsed as Record<string, unknown>;
  const str = (key: string) => {
    const v = r[key];
    if (typeof v !== "string") throw new Error(`"${key}" is not a string`);
    return v;
  };
  const int = (key: string) => {
    const v = r[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new Error(`"${key}" is not a non-negative integer`);
    return v;
  };
  const tags = r.tags ?? [];
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === "string")) throw new Error('"tags" is not a list of strings');
  return {
    callid: str("callid"),
    source_tag: str("source_tag"),
    tags,
    type: typeof r.type === "string" ? r.type : "DTMF",
    timestamp: int("timestamp"),
    source_ip: typeof r.source_ip === "string" ? r.source_ip : "",
    event: int("event"),
    duration: int("duration"),
    volume: int("volume"),
  };
}

/**
 * Receives rtpengine's DTMF log (`dtmf-log-dest = host:port`) and emits one typed
 * "dtmf" event per digit.
 *
 * Event ids. rtpengine sends each digit once, but its record has no RTP timestamp and
 * only a whole-second clock: a user pressing "1" twice within a second produces two
 * byte-identical records. Content alone therefore cannot tell a repeat from a
 * duplicate; each datagram is a new digit, numbered by `ordinal` among identical
 * records, and `eventId` hashes content and ordinal. Downstream consumers (at-least-once
 * delivery) dedupe on `eventId`. A listener restarted within the same second numbers
 * from 0 again, so only the very same digit, duration and volume repeated across the
 * restart within that second could collide.
 */
export class DtmfEventListener extends EventEmitter<DtmfEventListenerEvents> {
  readonly #socket: Socket;
  readonly #repeatWindowInSeconds: number;
  /** Identical-record counts, keyed by content; pruned as rtpengine's clock advances. */
  readonly #seen = new Map<string, { readonly timestamp: number; count: number }>();
  #newestTimestamp = 0;
  #closed = false;

  private constructor(socket: Socket, options: DtmfEventListenerOptions) {
    super();
    this.#socket = socket;
    this.#repeatWindowInSeconds = Math.max(1, Math.ceil((options.repeatWindowInMs ?? 60_000) / 1000));
    socket.on("message", (datagram, from) => this.#onDatagram(datagram, from));
    socket.on("error", (error) => this.emit("transportError", error));
  }

  static async open(options: DtmfEventListenerOptions = {}): Promise<DtmfEventListener> {
    const host = options.host ?? "127.0.0.1";
    const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(options.port ?? 0, host, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    return new DtmfEventListener(socket, options);
  }

  /** The bound address: give it to rtpengine as `dtmf-log-dest`. */
  get address(): { readonly host: string; readonly port: number } {
    const a = this.#socket.address();
    return { host: a.address, port: a.port };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  #onDatagram(datagram: Buffer, from: RemoteInfo): void {
    let record: RtpengineDtmfRecord;
    try {
      record = parseDtmfRecord(datagram.toString("utf8"));
    } catch (error) {
      this.emit("malformed", { datagram, from, error: error instanceof Error ? error : new Error(String(error)) });
      return;
    }
    this.emit("dtmf", this.#toEvent(record));
  }

  #toEvent(record: RtpengineDtmfRecord): DtmfEvent {
    const content = JSON.stringify([record.callid, record.source_tag, record.timestamp, record.event, record.duration, record.volume]);
    if (record.timestamp > this.#newestTimestamp) {
      this.#newestTimestamp = record.timestamp;
      for (const [key, entry] of this.#seen) {
        if (entry.timestamp < this.#newestTimestamp - this.#repeatWindowInSeconds) this.#seen.delete(key);
      }
    }
    const entry = this.#seen.get(content);
    const ordinal = entry ? entry.count : 0;
    if (entry) entry.count++;
    else this.#seen.set(content, { timestamp: record.timestamp, count: 1 });
    const eventId = createHash("sha256").update(content).update("#").update(String(ordinal)).digest("base64url").slice(0, 32);
    return {
      eventId,
      callId: record.callid,
      sourceTag: record.source_tag,
      tags: record.tags,
      timestamp: record.timestamp,
      sourceIp: record.source_ip,
      event: record.event,
      digit: dtmfDigit(record.event),
      durationInMs: record.duration,
      volume: record.volume,
      ordinal,
      receivedAt: new Date(),
    };
  }
}
