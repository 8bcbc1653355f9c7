import { randomInt } from "node:crypto";
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { EventEmitter } from "node:events";
import { isIPv6 } from "node:net";
import { type BfcpClock, systemClock } from "./clock.js";
import { decodeMessage, encodeMessage } from "./codec.js";
import { ACK_PRIMITIVES, DRAFT_FLOOR_STATUS_ACK, Primitive } from "./constants.js";
import { BfcpTransactionFailedError, BfcpTransportError } from "./errors.js";
import type { BfcpMessage } from "./message.js";
import { type BfcpRequestKey, type BfcpTransport, type BfcpTransportEvents, requestKey } from "./transport.js";

export interface BfcpUdpTransportOptions {
  /** Local address to bind; 0.0.0.0 unless told. */
  readonly address?: string;
  /** Local port; 0 picks one. */
  readonly port?: number;
  /** The client's address from its SDP: where server-first messages go until its first BFCP datagram arrives. */
  readonly remote?: { readonly address: string; readonly port: number };
  readonly clock?: BfcpClock;
  /** First retransmission interval, doubled after each send (RFC 8855 §6.2.1: 500 ms). */
  readonly retransmitInitialInMs?: number;
  /** Sends of one server-initiated message before it fails (4: at 0, 0.5, 1.5 and 3.5 s, failing at 7.5 s). */
  readonly maxSends?: number;
  /** How long a reply stays cached for duplicates of its request (RFC 8855 §6.2.2: 10 s). */
  readonly replyCacheInMs?: number;
  /** Most replies kept at once; the oldest goes first. A device sends a few requests a minute; a flood must not grow memory. */
  readonly replyCacheMaxEntries?: number;
}

interface Outstanding {
  readonly bytes: Buffer;
  readonly primitive: number;
  sends: number;
  nextInMs: number;
  timer: unknown;
}

/**
 * BFCP over UDP for one call: a socket of its own, the client's address latched
 * from its first BFCP datagram (datagrams from anywhere else are dropped, so a forged
 * source changes nothing), retransmission of our server-initiated messages until
 * acknowledged, and a reply cache so a retransmitted request is answered with the
 * same bytes without being executed twice.
 */
export class BfcpUdpTransport extends EventEmitter<BfcpTransportEvents> implements BfcpTransport {
  readonly reliable = false;
  readonly #socket: Socket;
  readonly #clock: BfcpClock;
  readonly #retransmitInitialInMs: number;
  readonly #maxSends: number;
  readonly #replyCacheInMs: number;
  readonly #replyCacheMaxEntries: number;
  readonly #outstanding = new Map<number, Outstanding>();
  readonly #replies = new Map<string, { bytes: Buffer; timer: unknown }>();
  /** Transaction ids of FloorStatus replies sent lately, to recognise a draft-numbered FloorStatusAck (primitive 16) to them. */
  readonly #floorStatusReplies = new Map<number, unknown>();
  #remote: { address: string; port: number } | undefined;
  #latched = false;
  #nextTransactionId = randomInt(1, 0x8000);
  #closed = false;

  private constructor(socket: Socket, options: BfcpUdpTransportOptions) {
    super();
    this.#socket = socket;
    this.#clock = options.clock ?? systemClock;
    this.#retransmitInitialInMs = options.retransmitInitialInMs ?? 500;
    this.#maxSends = options.maxSends ?? 4;
    this.#replyCacheInMs = options.replyCacheInMs ?? 10_000;
    this.#replyCacheMaxEntries = options.replyCacheMaxEntries ?? 256;
    this.#remote = options.remote ? { ...options.remote } : undefined;
    socket.on("message", (data, rinfo) => this.#onDatagram(data, rinfo));
    // A send error (ICMP unreachable surfaced on some systems) must not crash the host; retransmission covers loss.
    socket.on("error", () => {});
  }

  static async create(options: BfcpUdpTransportOptions = {}): Promise<BfcpUdpTransport> {
    const address = options.address ?? "0.0.0.0";
    const socket = createSocket(isIPv6(address) ? "udp6" : "udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(options.port ?? 0, address, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    return new BfcpUdpTransport(socket, options);
  }

  get localPort(): number {
    return this.#socket.address().port;
  }

  /** Where we send: the latched source, or the SDP address before the client's first BFCP datagram. */
  get remote(): { readonly address: string; readonly port: number } | undefined {
    return this.#remote;
  }

  get outstandingTransactions(): number {
    return this.#outstanding.size;
  }

  reply(request: BfcpRequestKey, response: BfcpMessage): void {
    const bytes = encodeMessage(response);
    const key = requestKey(request);
    const previous = this.#replies.get(key);
    if (previous) {
      this.#clock.clearTimeout(previous.timer);
      this.#replies.delete(key);
    }
    if (this.#replies.size >= this.#replyCacheMaxEntries) {
      const [oldestKey, oldest] = this.#replies.entries().next().value!;
      this.#clock.clearTimeout(oldest.timer);
      this.#replies.delete(oldestKey);
    }
    const timer = this.#clock.setTimeout(() => this.#replies.delete(key), this.#replyCacheInMs);
    this.#replies.set(key, { bytes, timer });
    if (response.primitive === Primitive.FloorStatus) this.#rememberFloorStatusReply(response.transactionId);
    this.#transmit(bytes);
  }

  send(message: Omit<BfcpMessage, "transactionId">): number {
    if (this.#closed) throw new BfcpTransportError("closed", "BFCP UDP transport is closed");
    if (!this.#remote) throw new BfcpTransportError("noRemoteAddress", "no address for the BFCP client: none in its SDP and no datagram yet");
    const transactionId = this.#allocateTransactionId();
    const bytes = encodeMessage({ ...message, transactionId });
    const outstanding: Outstanding = { bytes, primitive: message.primitive, sends: 0, nextInMs: this.#retransmitInitialInMs, timer: undefined };
    this.#outstanding.set(transactionId, outstanding);
    this.#sendAgain(transactionId, outstanding);
    return transactionId;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const o of this.#outstanding.values()) this.#clock.clearTimeout(o.timer);
    for (const r of this.#replies.values()) this.#clock.clearTimeout(r.timer);
    for (const timer of this.#floorStatusReplies.values()) this.#clock.clearTimeout(timer);
    this.#outstanding.clear();
    this.#replies.clear();
    this.#floorStatusReplies.clear();
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  #sendAgain(transactionId: number, outstanding: Outstanding): void {
    if (outstanding.sends >= this.#maxSends) {
      this.#outstanding.delete(transactionId);
      this.emit("transactionFailed", new BfcpTransactionFailedError(outstanding.primitive, transactionId, outstanding.sends));
      return;
    }
    outstanding.sends++;
    this.#transmit(outstanding.bytes);
    outstanding.timer = this.#clock.setTimeout(() => this.#sendAgain(transactionId, outstanding), outstanding.nextInMs);
    outstanding.nextInMs *= 2;
  }

  #allocateTransactionId(): number {
    // Non-zero and not in flight: over UDP the transaction id is what the client's ack names.
    for (;;) {
      const id = this.#nextTransactionId;
      this.#nextTransactionId = id >= 0xffff ? 1 : id + 1;
      if (!this.#outstanding.has(id)) return id;
    }
  }

  #rememberFloorStatusReply(transactionId: number): void {
    const previous = this.#floorStatusReplies.get(transactionId);
    if (previous !== undefined) {
      this.#clock.clearTimeout(previous);
      this.#floorStatusReplies.delete(transactionId);
    }
    if (this.#floorStatusReplies.size >= this.#replyCacheMaxEntries) {
      const [oldestId, oldestTimer] = this.#floorStatusReplies.entries().next().value!;
      this.#clock.clearTimeout(oldestTimer);
      this.#floorStatusReplies.delete(oldestId);
    }
    this.#floorStatusReplies.set(
      transactionId,
      this.#clock.setTimeout(() => this.#floorStatusReplies.delete(transactionId), this.#replyCacheInMs),
    );
  }

  /** Primitive 16 naming a FloorStatus of ours is a draft-numbered FloorStatusAck, not an RFC 8855 Goodbye. */
  #isDraftFloorStatusAck(message: BfcpMessage): boolean {
    if (message.primitive !== DRAFT_FLOOR_STATUS_ACK) return false;
    return this.#outstanding.get(message.transactionId)?.primitive === Primitive.FloorStatus || this.#floorStatusReplies.has(message.transactionId);
  }

  #transmit(bytes: Buffer): void {
    if (this.#closed || !this.#remote) return;
    this.#socket.send(bytes, this.#remote.port, this.#remote.address);
  }

  #onDatagram(data: Buffer, rinfo: RemoteInfo): void {
    if (this.#closed) return;
    if (this.#latched && (rinfo.address !== this.#remote?.address || rinfo.port !== this.#remote.port)) return;
    const result = decodeMessage(data);
    if (!this.#latched) {
      // Latch on BFCP only: a stray datagram that is not even a BFCP header must not capture the call's address.
      const version = result.ok ? result.message.version : result.error.header?.version;
      if (version !== 1 && version !== 2) return;
      this.#remote = { address: rinfo.address, port: rinfo.port };
      this.#latched = true;
    }
    if (!result.ok) {
      const cached = result.error.header && this.#replies.get(requestKey(result.error.header));
      if (cached) this.#transmit(cached.bytes);
      else this.emit("invalid", result.error);
      return;
    }
    const message = result.message;
    // An ack (or any response, R set: Cisco acks with primitives 0x5b/0x5d) names our transaction by its id.
    if (message.responder || ACK_PRIMITIVES.has(message.primitive) || this.#isDraftFloorStatusAck(message)) {
      const outstanding = this.#outstanding.get(message.transactionId);
      if (outstanding) {
        this.#clock.clearTimeout(outstanding.timer);
        this.#outstanding.delete(message.transactionId);
      }
      return;
    }
    const cached = this.#replies.get(requestKey(message));
    if (cached) {
      this.#transmit(cached.bytes);
      return;
    }
    this.emit("message", message);
  }
}
