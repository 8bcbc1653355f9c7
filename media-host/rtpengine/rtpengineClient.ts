import { EventEmitter } from "node:events";
import type { AddressInfo } from "node:net";
import rtpengineClient from "rtpengine-client";
import type {
  AnswerRequest,
  AnswerResponse,
  BlockDtmfRequest,
  DeleteRequest,
  DeleteResponse,
  ListRequest,
  ListResponse,
  OfferRequest,
  OfferResponse,
  OkResponse,
  PingResponse,
  PlayDtmfRequest,
  PlayMediaRequest,
  PlayMediaResponse,
  QueryRequest,
  QueryResponse,
  StopMediaRequest,
  UnblockDtmfRequest,
} from "./ngProtocol.js";

/** rtpengine answered with `result: "error"` (or another non-ok result such as "load limit"). */
export class RtpengineError extends Error {
  override readonly name = "RtpengineError";
  /** The ng command ("offer", "play media", …). */
  readonly command: string;
  /** rtpengine's `error-reason` ("Unknown call-id", …), or its `message`, or the result itself. */
  readonly reason: string;
  /** The whole response dictionary. */
  readonly response: Readonly<Record<string, unknown>>;
  /** rtpengine is out of resources (its port range is used up): this host is full, not the offer wrong. */
  get outOfCapacity(): boolean {
    return /ran out of ports|out of (?:media )?ports/i.test(this.reason);
  }

  constructor(command: string, response: Readonly<Record<string, unknown>>) {
    const reason = stringField(response, "error-reason") ?? stringField(response, "message") ?? stringField(response, "result") ?? "no result";
    super(`rtpengine ${command}: ${reason}`);
    this.command = command;
    this.reason = reason;
    this.response = response;
  }
}

/** No answer within the request's timeout (rtpengine down, wrong address, or the datagram lost). */
export class RtpengineTimeoutError extends Error {
  override readonly name = "RtpengineTimeoutError";
  readonly command: string;
  readonly timeoutInMs: number;
  constructor(command: string, timeoutInMs: number) {
    super(`rtpengine ${command}: no answer within ${timeoutInMs} ms`);
    this.command = command;
    this.timeoutInMs = timeoutInMs;
  }
}

/** The request never reached rtpengine (socket error, client closed) or could not be encoded. */
export class RtpengineTransportError extends Error {
  override readonly name = "RtpengineTransportError";
  readonly command: string;
  constructor(command: string, message: string, options?: ErrorOptions) {
    super(`rtpengine ${command}: ${message}`, options);
    this.command = command;
  }
}

export interface RtpengineClientOptions {
  /** rtpengine's `listen-ng` address. */
  readonly host: string;
  readonly port: number;
  /** The local socket (default: every address, a free port). */
  readonly localAddress?: string;
  readonly localPort?: number;
  /** Default timeout of each request (5000 ms); a request's own `timeoutInMs` overrides it. */
  readonly requestTimeoutInMs?: number;
}

export interface RtpengineRequestOptions {
  readonly timeoutInMs?: number;
  /** Aborting rejects the request with the signal's reason (rtpengine may still act on it). */
  readonly signal?: AbortSignal;
}

/** A datagram on the client's socket that answers none of its pending requests. */
export type UnsolicitedMessage =
  /** Not "<cookie> <bencoded dictionary>". */
  | { readonly kind: "malformed"; readonly datagram: Buffer }
  /** Well formed, but for no pending request: a late answer after a timeout or abort, or a stray sender. */
  | { readonly kind: "uncorrelated"; readonly cookie: string; readonly data: Readonly<Record<string, unknown>> };

export interface RtpengineClientEvents {
  unsolicited: [UnsolicitedMessage];
  /** A socket error after the client was opened (requests in flight then time out). */
  transportError: [Error];
}

const DEFAULT_REQUEST_TIMEOUT_IN_MS = 5000;

/**
 * rtpengine-client's UDP client without its two console.log calls for unexpected
 * datagrams and without its "error" events for them (an unhandled "error" event would
 * crash the process): such datagrams become "unsolicited" events.
 */
class QuietUdpClient extends rtpengineClient.Client {
  override _handleIncomingMessages(): void {
    for (let datagram = this.incomingMsgs.shift(); datagram; datagram = this.incomingMsgs.shift()) {
      let message: rtpengineClient.NgMessage;
      try {
        message = rtpengineClient.Client.decodeMessage(datagram);
      } catch {
        this.emit("unsolicited", { kind: "malformed", datagram } satisfies UnsolicitedMessage);
        continue;
      }
      if (!this.messages.has(message.id)) {
        this.emit("unsolicited", { kind: "uncorrelated", cookie: message.id, data: message.data } satisfies UnsolicitedMessage);
        continue;
      }
      this._onParsedMessage(message);
    }
  }
}

type LibraryCommand =
  | "ping"
  | "offer"
  | "answer"
  | "delete"
  | "query"
  | "list"
  | "playMedia"
  | "stopMedia"
  | "playDTMF"
  | "blockDTMF"
  | "unblockDTMF";

/** The ng command names, for errors and logs. */
const NG_NAMES: Record<LibraryCommand, string> = {
  ping: "ping",
  offer: "offer",
  answer: "answer",
  delete: "delete",
  query: "query",
  list: "list",
  playMedia: "play media",
  stopMedia: "stop media",
  playDTMF: "play DTMF",
  blockDTMF: "block DTMF",
  unblockDTMF: "unblock DTMF",
};

/**
 * A typed ng-protocol client over UDP (npm rtpengine-client underneath). Every request
 * resolves with rtpengine's response dictionary when `result` is "ok" (or "pong") and
 * rejects otherwise: RtpengineError for rtpengine's own errors, RtpengineTimeoutError,
 * RtpengineTransportError, or the abort reason. Nothing is logged.
 */
export class RtpengineClient extends EventEmitter<RtpengineClientEvents> {
  readonly host: string;
  readonly port: number;
  readonly requestTimeoutInMs: number;
  readonly #inner: QuietUdpClient;
  readonly #pending = new Set<(error: Error) => void>();
  #closed = false;

  private constructor(inner: QuietUdpClient, options: RtpengineClientOptions) {
    super();
    this.#inner = inner;
    this.host = options.host;
    this.port = options.port;
    this.requestTimeoutInMs = options.requestTimeoutInMs ?? DEFAULT_REQUEST_TIMEOUT_IN_MS;
    inner.on("unsolicited", (message: UnsolicitedMessage) => this.emit("unsolicited", message));
    inner.on("error", (error: unknown) => this.emit("transportError", error instanceof Error ? error : new Error(String(error))));
  }

  /** Binds the local socket and resolves once it is ready. */
  static async open(options: RtpengineClientOptions): Promise<RtpengineClient> {
    const inner = new QuietUdpClient({
      localPort: options.localPort ?? 0,
      ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => {
        inner.off("listening", onListening);
        inner.socket.close();
        reject(new RtpengineTransportError("bind", error.message, { cause: error }));
      };
      const onListening = () => {
        inner.off("error", onError);
        resolve();
      };
      inner.once("error", onError);
      inner.once("listening", onListening);
    });
    return new RtpengineClient(inner, options);
  }

  /** The client's own socket address (where rtpengine's answers go). */
  localAddress(): AddressInfo {
    return this.#inner.socket.address();
  }

  ping(options?: RtpengineRequestOptions): Promise<PingResponse> {
    return this.#request("ping", {}, options);
  }

  /** Rewrites the offerer's SDP (`from-tag`) for the recipient; allocates rtpengine's ports. */
  offer(request: OfferRequest, options?: RtpengineRequestOptions): Promise<OfferResponse> {
    return this.#request("offer", request, options);
  }

  /** Rewrites the answerer's SDP (`to-tag`) for the offerer (`from-tag` is still the offerer's tag). */
  answer(request: AnswerRequest, options?: RtpengineRequestOptions): Promise<AnswerResponse> {
    return this.#request("answer", request, options);
  }

  /** An unknown call is a warning, not an error, unless the flag "fatal" is given. */
  delete(request: DeleteRequest, options?: RtpengineRequestOptions): Promise<DeleteResponse> {
    return this.#request("delete", request, options);
  }

  query(request: QueryRequest, options?: RtpengineRequestOptions): Promise<QueryResponse> {
    return this.#request("query", request, options);
  }

  list(request: ListRequest = {}, options?: RtpengineRequestOptions): Promise<ListResponse> {
    return this.#request("list", request, options);
  }

  /** Plays a media file to the participant named by `from-tag` (that party hears it). */
  playMedia(request: PlayMediaRequest, options?: RtpengineRequestOptions): Promise<PlayMediaResponse> {
    return this.#request("playMedia", request, options);
  }

  stopMedia(request: StopMediaRequest, options?: RtpengineRequestOptions): Promise<OkResponse> {
    return this.#request("stopMedia", request, options);
  }

  /** Injects a digit as if sent by the participant named by `from-tag` (see PlayDtmfRequest for the preconditions). */
  playDtmf(request: PlayDtmfRequest, options?: RtpengineRequestOptions): Promise<OkResponse> {
    return this.#request("playDTMF", request, options);
  }

  /** Stops forwarding the selected participant's DTMF (the whole call's without a selector); the DTMF log still reports digits. */
  blockDtmf(request: BlockDtmfRequest, options?: RtpengineRequestOptions): Promise<OkResponse> {
    return this.#request("blockDTMF", request, options);
  }

  unblockDtmf(request: UnblockDtmfRequest, options?: RtpengineRequestOptions): Promise<OkResponse> {
    return this.#request("unblockDTMF", request, options);
  }

  /** Rejects the requests in flight with RtpengineTransportError and closes the socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const fail of [...this.#pending]) fail(new RtpengineTransportError("request", "client closed"));
    await new Promise<void>((resolve) => {
      this.#inner.socket.once("close", () => resolve());
      this.#inner.close();
    });
  }

  #request<R>(command: LibraryCommand, body: object, options: RtpengineRequestOptions = {}): Promise<R> {
    const ngName = NG_NAMES[command];
    if (this.#closed) return Promise.reject(new RtpengineTransportError(ngName, "client closed"));
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    let encodable: Record<string, unknown>;
    try {
      encodable = toBencodable(body, ngName) as Record<string, unknown>;
    } catch (error) {
      return Promise.reject(error);
    }
    const timeoutInMs = options.timeoutInMs ?? this.requestTimeoutInMs;
    const inner = this.#inner;

    return new Promise<R>((resolve, reject) => {
      let settled = false;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#pending.delete(fail);
        return true;
      };
      // Forgets the library's pending entry, so a late answer becomes an "uncorrelated" message.
      const forget = () => {
        for (const [cookie, pending] of inner.messages) {
          if (pending === callback) {
            inner.messages.delete(cookie);
            break;
          }
        }
      };
      const fail = (error: Error) => {
        if (!settle()) return;
        forget();
        reject(error);
      };
      const onAbort = () => fail(signal?.reason instanceof Error ? signal.reason : new DOMException("The operation was aborted", "AbortError"));
      const callback: rtpengineClient.Callback = (err, data) => {
        if (!settle()) return;
        if (err !== null && err !== undefined) {
          reject(new RtpengineTransportError(ngName, err instanceof Error ? err.message : String(err), { cause: err }));
          return;
        }
        const result = data?.result;
        if (data && (result === "ok" || result === "pong")) resolve(data as R);
        else reject(new RtpengineError(ngName, data ?? {}));
      };
      const timer = setTimeout(() => fail(new RtpengineTimeoutError(ngName, timeoutInMs)), timeoutInMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#pending.add(fail);
      try {
        inner[command](this.port, this.host, encodable, callback);
      } catch (error) {
        fail(new RtpengineTransportError(ngName, error instanceof Error ? error.message : String(error), { cause: error }));
      }
    });
  }
}

/**
 * Checks a request against what bencode can carry and drops undefined members. The
 * library's encoder would otherwise turn `true` into 1 and 1.5 into 1 with a console
 * warning, and a string that is not well-formed UTF-16 into replacement characters.
 */
function toBencodable(value: unknown, command: string, path = ""): unknown {
  const fail = (what: string) => {
    throw new RtpengineTransportError(command, `${path || "request"}: ${what} cannot be sent in bencode`);
  };
  if (typeof value === "string") {
    if (LONE_SURROGATE.test(value)) fail("a string with lone surrogates");
    return value;
  }
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) fail(`the number ${value}`);
    return value;
  }
  if (Array.isArray(value)) {
    return value.map((item, index) => {
      if (item === undefined || item === null) fail(`an empty list entry [${index}]`);
      return toBencodable(item, command, `${path}[${index}]`);
    });
  }
  if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (item === undefined) continue;
      out[key] = toBencodable(item, command, path ? `${path}.${key}` : key);
    }
    return out;
  }
  return fail(value === null ? "null" : `a ${typeof value}`);
}

/** In a `u` regular expression a surrogate pair is one code point: this matches only unpaired halves. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function stringField(record: Readonly<Record<string, unknown>>, key: string): string | undefined {
  const value = record[key];
  return typeof value === "string" ? value : undefined;
}
