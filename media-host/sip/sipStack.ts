import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type { SipParseError } from "./errors.js";
import type { SipRequest, SipResponse } from "./message.js";
import { isRfc3261Branch, parseUri, SipHeaders } from "./message.js";
import { MULTIPART_BODY_TYPES, SESSION_BODY_METHODS, acceptedBodyTypes, checkRequestSanity, type RequestPolicy } from "./sanity.js";
import { withSessionBody } from "./sessionBody.js";
import { buildResponse, serializeMessage } from "./serializer.js";
import { IncomingRequest } from "./incomingRequest.js";
import { ClientInviteTransaction } from "./transactions/clientInviteTransaction.js";
import { ClientNonInviteTransaction } from "./transactions/clientNonInviteTransaction.js";
import { ServerInviteTransaction } from "./transactions/serverInviteTransaction.js";
import { ServerNonInviteTransaction } from "./transactions/serverNonInviteTransaction.js";
import { realScheduler, type Scheduler, type TimerValues } from "./transactions/timers.js";
import type { Flow, InboundMessage, SipTransport } from "./transport/flow.js";
import { stampTopVia } from "./transport/viaStamp.js";

/** A request we sent got no final response in time (RFC 3261: treat as 408). */
export class SipRequestTimeoutError extends Error {
  override readonly name = "SipRequestTimeoutError";
  readonly sipStatus = 408;
}

export type RequestHandler = (request: IncomingRequest) => void | Promise<void>;

/** Why no new call is taken now, and when to try again. `reason` goes into a Reason header: no quotes or line breaks. */
export interface Unavailable {
  readonly retryAfterSeconds: number;
  readonly reason: string;
}

export interface SipStackOptions {
  readonly transports: readonly SipTransport[];
  /** Methods with a handler, plus OPTIONS (answered by the stack) and ACK/CANCEL (transaction business). */
  readonly supportedExtensions?: readonly string[];
  /** Body types understood; others get a 415 with Accept. */
  readonly acceptedBodyTypes?: readonly string[];
  /**
   * Multipart types taken in INVITE, ACK, UPDATE and PRACK (default multipart/mixed and
   * multipart/alternative): handlers get the request with the SDP part chosen as its body
   * (RFC 5621, sessionBody.ts), or the stack refuses it (415 with Accept, 400).
   */
  readonly multipartBodyTypes?: readonly string[];
  /** The Server header of every response. */
  readonly serverName?: string;
  readonly scheduler?: Scheduler;
  readonly timers?: TimerValues;
  /** The host this stack puts in its Via and Contact (its public address in Azure). */
  readonly advertisedHost?: string;
}

export interface SipStackEvents {
  /** An ACK for a 2xx: dialog business (it ends the 2xx retransmissions). */
  ack: [request: SipRequest, flow: Flow];
  /** A response for which we have no client transaction (a 2xx retransmission, or a stray). */
  strayResponse: [response: SipResponse, flow: Flow];
  malformed: [flow: Flow, error: SipParseError];
  /** A handler threw: the request got a 500 and the error is reported here. */
  handlerError: [error: unknown, request: SipRequest];
  /** An INVITE outside any dialog arrived (before it is admitted or refused). */
  newCall: [request: SipRequest];
}

type ServerTransaction = ServerInviteTransaction<Buffer> | ServerNonInviteTransaction<Buffer>;

/** A request the stack sends (BYE, INFO, UPDATE): everything but the top Via, which the stack adds. */
export interface OutgoingRequest {
  readonly method: string;
  readonly uri: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body?: Buffer;
}

interface ServerEntry {
  readonly transaction: ServerTransaction;
  readonly incoming: IncomingRequest;
}

const ALWAYS_ALLOWED = ["OPTIONS", "ACK", "CANCEL"];
/** SDP, and what room systems send in INFO: DTMF (two formats) and fast-update requests. */
const DEFAULT_BODY_TYPES = ["application/sdp", "application/dtmf-relay", "application/dtmf", "application/media_control+xml"];

/**
 * The SIP core of a media host: transports in, server transactions (RFC 3261 §17.2,
 * matched per §17.2.3 with the RFC 2543 fallback), request checks (§8.2), a 100 Trying
 * for every INVITE at once, CANCEL, OPTIONS, and per-method handlers in the spirit
 * of drachtio-srf. Nothing a peer sends can throw out of it.
 */
export class SipStack extends EventEmitter<SipStackEvents> {
  readonly #handlers = new Map<string, RequestHandler>();
  readonly #server = new Map<string, ServerEntry>();
  readonly #transports = new Map<string, SipTransport>();
  readonly #client = new Map<string, ClientNonInviteTransaction<Buffer, SipResponse> | ClientInviteTransaction<Buffer, SipResponse>>();
  readonly #options: SipStackOptions;
  readonly #scheduler: Scheduler;
  #unavailable: () => Unavailable | undefined = () => undefined;

  constructor(options: SipStackOptions) {
    super();
    this.#options = options;
    this.#scheduler = options.scheduler ?? realScheduler;
    for (const transport of options.transports) {
      this.#transports.set(transport.protocol, transport);
      transport.on("message", (inbound) => this.#receive(inbound));
      transport.on("malformed", (flow, error) => this.emit("malformed", flow, error));
    }
  }

  /** Registers the handler of a method (INVITE, BYE, INFO, UPDATE…). */
  handle(method: string, handler: RequestHandler): this {
    this.#handlers.set(method.toUpperCase(), handler);
    return this;
  }

  /**
   * Whether new calls are taken, asked at each INVITE and OPTIONS: while it says unavailable
   * (draining, full, out of the pool), new INVITEs get 503 with Retry-After and OPTIONS says
   * the same, so the SIP edge stops sending and moves a racing INVITE to another host.
   */
  setAvailability(unavailable: () => Unavailable | undefined): void {
    this.#unavailable = unavailable;
  }

  get serverTransactionCount(): number {
    return this.#server.size;
  }

  get #policy(): RequestPolicy {
    return {
      role: "uas",
      allowedMethods: [...new Set([...ALWAYS_ALLOWED, ...this.#handlers.keys()])],
      supportedExtensions: this.#options.supportedExtensions ?? ["timer"],
      acceptedBodyTypes: this.#options.acceptedBodyTypes ?? DEFAULT_BODY_TYPES,
      multipartBodyTypes: this.#options.multipartBodyTypes ?? MULTIPART_BODY_TYPES,
    };
  }

  #receive({ message, flow }: InboundMessage): void {
    try {
      if (message.kind === "response") this.#receiveResponse(message, flow);
      else this.#receiveRequest(message, flow);
    } catch {
      // A header that parses lazily can still be broken: answer 400 where possible, drop otherwise.
      if (message.kind === "request" && message.method !== "ACK") this.#sendStateless(message, flow, 400, "Bad Request");
    }
  }

  #receiveRequest(received: SipRequest, flow: Flow): void {
    const key = transactionKey(received);
    if (received.method !== "ACK") stampTopVia(received, flow);
    if (received.method === "ACK") {
      const entry = this.#server.get(key);
      if (entry && entry.transaction instanceof ServerInviteTransaction && entry.transaction.state === "completed") entry.transaction.receiveAck();
      else this.emit("ack", this.#ackForDialog(received), flow);
      return;
    }
    const existing = this.#server.get(key);
    if (existing) {
      existing.transaction.receiveRequest();
      return;
    }
    const policy = this.#policy;
    const insane = checkRequestSanity(received, policy);
    // A multipart body (RFC 5621) becomes its session description here: nothing past the stack sees multipart.
    const view =
      insane || !SESSION_BODY_METHODS.includes(received.method) ? undefined : withSessionBody(received, acceptedBodyTypes(policy, received.method));
    const request = view && "request" in view ? view.request : received;
    const rejection = insane ?? (view && "rejection" in view ? view.rejection : undefined);
    const entry = this.#newTransaction(request, flow, key);
    if (rejection) {
      entry.incoming.respond(rejection.status, rejection.reason, { headers: rejection.headers, ...this.#serverHeader() });
      return;
    }
    if (request.method === "CANCEL") {
      this.#cancel(entry, request);
      return;
    }
    if (request.method === "OPTIONS") {
      this.#answerOptions(entry.incoming);
      return;
    }
    if (request.method === "INVITE") {
      entry.incoming.respond(100, "Trying", this.#serverHeader());
      const isNew = request.headers.to().tag === undefined;
      if (isNew) this.emit("newCall", request);
      const unavailable = isNew ? this.#unavailable() : undefined;
      if (unavailable) {
        entry.incoming.respond(503, "Service Unavailable", {
          headers: [["Retry-After", String(unavailable.retryAfterSeconds)]],
          reasonHeader: `SIP;cause=503;text="${unavailable.reason}"`,
          ...this.#serverHeader(),
        });
        return;
      }
    }
    const handler = this.#handlers.get(request.method);
    if (!handler) {
      entry.incoming.respond(405, "Method Not Allowed", { headers: [["Allow", this.#policy.allowedMethods.join(", ")]], ...this.#serverHeader() });
      return;
    }
    Promise.resolve()
      .then(() => handler(entry.incoming))
      .catch((e: unknown) => {
        this.emit("handlerError", e, request);
        entry.incoming.respond(500, "Server Internal Error", this.#serverHeader());
      });
  }

  /**
   * Sends a non-INVITE request over a flow (in a dialog: the device's own flow, which is
   * what reaches it behind NAT) and resolves with its final response, or rejects with a
   * 408-like timeout. Retransmitted on UDP by its client transaction.
   */
  sendRequest(outgoing: OutgoingRequest, flow: Flow): Promise<SipResponse> {
    const transport = this.#transports.get(flow.protocol);
    if (!transport) return Promise.reject(new Error(`no ${flow.protocol} transport`));
    const { data, branch } = this.#outgoing(outgoing, flow);
    const key = `${branch}|${outgoing.method}`;
    const transaction = new ClientNonInviteTransaction<Buffer, SipResponse>(data, {
      reliable: flow.protocol !== "udp",
      scheduler: this.#scheduler,
      ...(this.#options.timers ? { timers: this.#options.timers } : {}),
    });
    this.#client.set(key, transaction);
    return new Promise<SipResponse>((resolve, reject) => {
      transaction.on("send", (bytes) => void transport.send(bytes, flow).catch(() => transaction.transportError()));
      transaction.on("response", (response, status) => {
        if (status >= 200) resolve(response);
      });
      transaction.on("timeout", () => reject(new SipRequestTimeoutError(`${outgoing.method} got no final response`)));
      transaction.on("terminated", () => this.#client.delete(key));
      transaction.start();
    });
  }

  /**
   * Sends an INVITE (a re-INVITE, in a dialog) over a flow through its client transaction
   * (RFC 3261 §17.1.1: retransmitted on UDP, a failure ACKed by the transaction) and
   * resolves with its final response, or rejects with a 408-like timeout. The ACK for a
   * 2xx is the dialog's (§13.2.2.4): `on2xxRetransmission` hears each 2xx that comes again
   * (our ACK was lost), so that it sends the ACK again.
   */
  sendInvite(outgoing: OutgoingRequest, flow: Flow, on2xxRetransmission: (response: SipResponse) => void = () => {}): Promise<SipResponse> {
    const transport = this.#transports.get(flow.protocol);
    if (!transport) return Promise.reject(new Error(`no ${flow.protocol} transport`));
    const { data, branch, headers } = this.#outgoing(outgoing, flow);
    const key = `${branch}|INVITE`;
    const transaction = new ClientInviteTransaction<Buffer, SipResponse>(data, {
      reliable: flow.protocol !== "udp",
      scheduler: this.#scheduler,
      ...(this.#options.timers ? { timers: this.#options.timers } : {}),
      ackFor: (response) => this.#ackForFailure(outgoing, headers, response),
    });
    this.#client.set(key, transaction);
    return new Promise<SipResponse>((resolve, reject) => {
      let final = false;
      transaction.on("send", (bytes) => void transport.send(bytes, flow).catch(() => transaction.transportError()));
      transaction.on("response", (response, status) => {
        if (status < 200) return;
        if (final) on2xxRetransmission(response);
        else {
          final = true;
          resolve(response);
        }
      });
      transaction.on("timeout", () => reject(new SipRequestTimeoutError(`${outgoing.method} got no final response`)));
      transaction.on("terminated", () => this.#client.delete(key));
      transaction.start();
    });
  }

  /** Sends a request outside any transaction (the ACK for a 2xx, §13.2.2.4) and returns its bytes, which the dialog resends with `sendRaw`. */
  sendAck(outgoing: OutgoingRequest, flow: Flow): Buffer {
    const { data } = this.#outgoing(outgoing, flow);
    void this.sendRaw(data, flow).catch(() => {});
    return data;
  }

  /** §17.1.1.3: the ACK for a failure response: the INVITE's Request-URI, top Via, From, Call-ID and Route; the response's To; CSeq … ACK. */
  #ackForFailure(invite: OutgoingRequest, headers: SipHeaders, response: SipResponse): Buffer {
    const keep = (name: string) => headers.getAll(name).map((value) => [name, value] as const);
    const cseq = headers.get("CSeq")?.split(/\s+/)[0] ?? "1";
    return serializeMessage({
      kind: "request",
      method: "ACK",
      uri: invite.uri,
      requestUri: parseUri(invite.uri),
      headers: new SipHeaders([
        ...keep("Via").slice(0, 1),
        ...keep("Route"),
        ["Max-Forwards", "70"],
        ...keep("From"),
        ["To", response.headers.get("To") ?? headers.get("To") ?? ""],
        ["Call-ID", headers.get("Call-ID") ?? ""],
        ["CSeq", `${cseq} ACK`],
        ["Content-Length", "0"],
      ]),
      body: Buffer.alloc(0),
    });
  }

  /** A request of ours as bytes: our top Via (a fresh branch), the caller's headers, our User-Agent. */
  #outgoing(outgoing: OutgoingRequest, flow: Flow): { data: Buffer; branch: string; headers: SipHeaders } {
    const branch = `z9hG4bK${randomBytes(12).toString("base64url")}`;
    const host = this.#options.advertisedHost ?? "127.0.0.1";
    const headers = new SipHeaders([
      ["Via", `SIP/2.0/${flow.protocol.toUpperCase()} ${host}:${flow.localPort};branch=${branch};rport`],
      ...outgoing.headers,
    ]);
    if (this.#options.serverName && !headers.has("User-Agent")) headers.append("User-Agent", this.#options.serverName);
    const data = serializeMessage({
      kind: "request",
      method: outgoing.method,
      uri: outgoing.uri,
      requestUri: parseUri(outgoing.uri),
      headers,
      body: outgoing.body ?? Buffer.alloc(0),
    });
    return { data, branch, headers };
  }

  #receiveResponse(response: SipResponse, flow: Flow): void {
    const branch = response.headers.topVia()?.branch;
    const transaction = branch ? this.#client.get(`${branch}|${response.headers.cseq().method}`) : undefined;
    if (transaction) transaction.receiveResponse(response, response.status);
    else this.emit("strayResponse", response, flow);
  }

  /** Sends bytes over a flow outside any transaction (a dialog's 2xx retransmissions). */
  sendRaw(data: Buffer, flow: Flow): Promise<void> {
    const transport = this.#transports.get(flow.protocol);
    return transport ? transport.send(data, flow) : Promise.reject(new Error(`no ${flow.protocol} transport`));
  }

  #newTransaction(request: SipRequest, flow: Flow, key: string): ServerEntry {
    const transport = this.#transports.get(flow.protocol);
    const send = (data: Buffer) => void transport?.send(data, flow).catch(() => entry.transaction.transportError());
    const reliable = flow.protocol !== "udp";
    const options = { reliable, scheduler: this.#scheduler, ...(this.#options.timers ? { timers: this.#options.timers } : {}) };
    const transaction: ServerTransaction =
      request.method === "INVITE" ? new ServerInviteTransaction<Buffer>(options) : new ServerNonInviteTransaction<Buffer>(options);
    const incoming = new IncomingRequest(request, flow, {
      respond: (data, status) => {
        // A transaction that ended early (its TCP/TLS connection dropped) takes no response: nothing can reach the peer.
        if (transaction.state !== "terminated") transaction.respond(data, status);
      },
    });
    const entry: ServerEntry = { transaction, incoming };
    transaction.on("send", send);
    transaction.on("terminated", () => this.#server.delete(key));
    this.#server.set(key, entry);
    return entry;
  }

  #cancel(entry: ServerEntry, cancel: SipRequest): void {
    // §9.2: the CANCEL matches the INVITE transaction with the same branch (and sent-by).
    const invite = this.#server.get(transactionKey(cancel, "INVITE"));
    if (!invite) {
      entry.incoming.respond(481, "Call/Transaction Does Not Exist", this.#serverHeader());
      return;
    }
    entry.incoming.respond(200, "OK", this.#serverHeader());
    invite.incoming.cancel();
  }

  /**
   * An ACK for a 2xx as its dialog gets it: a multipart answer (a late offer's) reduced to
   * its SDP part. An ACK cannot be refused: one whose body gives no session description
   * goes on without a body.
   */
  #ackForDialog(ack: SipRequest): SipRequest {
    const view = withSessionBody(ack, acceptedBodyTypes(this.#policy, "ACK"));
    if ("request" in view) return view.request;
    const headers = ack.headers.clone();
    for (const name of ["Content-Type", "Content-Disposition", "Content-Transfer-Encoding"]) headers.delete(name);
    headers.set("Content-Length", "0");
    return { ...ack, headers, body: Buffer.alloc(0) };
  }

  #answerOptions(incoming: IncomingRequest): void {
    const headers: [string, string][] = [
      ["Allow", this.#policy.allowedMethods.join(", ")],
      ["Accept", acceptedBodyTypes(this.#policy, "INVITE").join(", ")],
      ["Supported", this.#policy.supportedExtensions.join(", ")],
    ];
    const unavailable = this.#unavailable();
    if (unavailable) {
      incoming.respond(503, "Service Unavailable", {
        headers: [...headers, ["Retry-After", String(unavailable.retryAfterSeconds)]],
        ...this.#serverHeader(),
      });
    } else {
      incoming.respond(200, "OK", { headers, ...this.#serverHeader() });
    }
  }

  #sendStateless(request: SipRequest, flow: Flow, status: number, reason: string): void {
    try {
      const data = serializeMessage(buildResponse(request, status, reason, this.#serverHeader()));
      void this.#transports
        .get(flow.protocol)
        ?.send(data, flow)
        .catch(() => {});
    } catch {
      // Not even a response can be built from it: drop.
    }
  }

  #serverHeader(): { server?: string } {
    return this.#options.serverName ? { server: this.#options.serverName } : {};
  }
}

/**
 * §17.2.3: branch + sent-by + method (ACK counts as INVITE; a CANCEL has its own
 * transaction but finds the INVITE's with `method`). Requests without the RFC 3261
 * magic cookie (RFC 2543 peers) are matched on Call-ID, CSeq number, From tag,
 * Request-URI and top Via instead (§17.2.3, second half).
 */
export function transactionKey(request: SipRequest, method?: string): string {
  const via = request.headers.topVia();
  const m = method ?? (request.method === "ACK" ? "INVITE" : request.method);
  if (via && isRfc3261Branch(via.branch)) return `${via.branch}|${via.host}:${via.port ?? ""}|${m}`;
  const h = request.headers;
  return `2543|${h.callId()}|${h.cseq().seq}|${h.from().tag ?? ""}|${request.uri}|${via ? `${via.host}:${via.port ?? ""}` : ""}|${m}`;
}
