import { randomInt } from "node:crypto";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { EventEmitter } from "node:events";
import { connect, type Socket as TcpSocket } from "node:net";
import { decodeMessage, encodeMessage } from "../../../media-host/bfcp/codec.js";
import { type BfcpVersion, Primitive } from "../../../media-host/bfcp/constants.js";
import type { BfcpAttribute, BfcpMessage } from "../../../media-host/bfcp/message.js";
import { BfcpTcpFramer } from "../../../media-host/bfcp/tcpFramer.js";
import { waitFor } from "../waiting.js";

/**
 * A BFCP floor participant for tests (no Debian package speaks BFCP): a room
 * system's client side over UDP or TCP, version 1 or 2. It records every
 * message it receives with its bytes, acknowledges the server's notifications
 * over UDP (FloorRequestStatusAck, FloorStatusAck, GoodbyeAck) unless told to
 * drop some, and can send raw bytes (duplicates, split or coalesced TCP segments).
 * Over UDP it retransmits its requests until answered (RFC 8855 §6.2: T1 = 500 ms,
 * doubling) and can lose datagrams itself, both ways, to test the server through loss.
 */

export interface BfcpTestClientOptions {
  readonly transport: "udp" | "tcp";
  readonly server: { readonly address: string; readonly port: number };
  readonly version: BfcpVersion;
  readonly conferenceId: number;
  readonly userId: number;
  /** Local UDP port; 0 picks one. */
  readonly localPort?: number;
  /**
   * UDP only: lose exactly every `everyNth` datagram in each direction, each direction
   * from its own random offset (deterministic 1/n loss, no flaky runs): an outgoing one
   * is never sent, an incoming one is discarded unread.
   */
  readonly loss?: { readonly everyNth: number };
}

/** RFC 8855 §6.2.3's T1: the first retransmission of an unanswered request over UDP. */
export const BFCP_T1_IN_MS = 500;

/** Counts down to the next lost datagram of one direction. */
class DeterministicLoss {
  readonly everyNth: number;
  #countdown: number;
  lost = 0;
  passed = 0;

  constructor(everyNth: number) {
    this.everyNth = everyNth;
    this.#countdown = randomInt(1, everyNth + 1);
  }

  /** True when this datagram is lost. */
  next(): boolean {
    if (--this.#countdown > 0) {
      this.passed++;
      return false;
    }
    this.#countdown = this.everyNth;
    this.lost++;
    return true;
  }
}

export interface BfcpReceived {
  readonly message: BfcpMessage;
  readonly bytes: Buffer;
}

export interface BfcpTestClientEvents {
  received: [received: BfcpReceived];
}

const ACKS: ReadonlyMap<number, number> = new Map([
  [Primitive.FloorRequestStatus, Primitive.FloorRequestStatusAck],
  [Primitive.FloorStatus, Primitive.FloorStatusAck],
  [Primitive.Goodbye, Primitive.GoodbyeAck],
]);

export class BfcpTestClient extends EventEmitter<BfcpTestClientEvents> {
  readonly options: BfcpTestClientOptions;
  /** Everything received, in order. */
  #closing: Promise<void> | undefined;
  readonly received: BfcpReceived[] = [];
  /** Every message sent and received, in the order this client saw them (what a capture of its line should show). */
  readonly log: { readonly direction: "sent" | "received"; readonly primitive: number; readonly transactionId: number }[] = [];
  /** Bytes that did not decode. */
  readonly undecodable: Buffer[] = [];
  /** Acks sent, by the transaction id they acknowledge. */
  readonly ackedTransactionIds: number[] = [];
  /** Notifications to leave unacknowledged, counted down (loss injection). */
  dropAcks = 0;
  /** The transaction ids of the requests sent with `request`, in order. */
  readonly requestTransactionIds: number[] = [];
  /** Requests sent again because no answer came within the retransmission timer (UDP). */
  retransmissions = 0;
  readonly #lossOut: DeterministicLoss | undefined;
  readonly #lossIn: DeterministicLoss | undefined;
  readonly #udp: UdpSocket | undefined;
  readonly #tcp: TcpSocket | undefined;
  #nextTransactionId = randomInt(1, 0x8000);

  private constructor(options: BfcpTestClientOptions, udp: UdpSocket | undefined, tcp: TcpSocket | undefined) {
    super();
    this.options = options;
    this.#udp = udp;
    this.#tcp = tcp;
    if (udp && options.loss) {
      this.#lossOut = new DeterministicLoss(options.loss.everyNth);
      this.#lossIn = new DeterministicLoss(options.loss.everyNth);
    }
    if (udp) udp.on("message", (data) => !this.#lossIn?.next() && this.#onBytes(data));
    if (tcp) {
      const framer = new BfcpTcpFramer();
      tcp.on("data", (chunk: Buffer) => {
        for (const bytes of framer.push(chunk)) this.#onBytes(bytes);
      });
    }
  }

  static async connect(options: BfcpTestClientOptions): Promise<BfcpTestClient> {
    if (options.transport === "udp") {
      const udp = createSocket("udp4");
      await new Promise<void>((resolve) => udp.bind(options.localPort ?? 0, "127.0.0.1", resolve));
      return new BfcpTestClient(options, udp, undefined);
    }
    const tcp = connect({ host: options.server.address, port: options.server.port });
    await new Promise<void>((resolve, reject) => {
      tcp.once("connect", resolve);
      tcp.once("error", reject);
    });
    tcp.setNoDelay(true);
    return new BfcpTestClient(options, undefined, tcp);
  }

  get localPort(): number {
    return this.#udp ? this.#udp.address().port : (this.#tcp?.localPort ?? 0);
  }

  /** The bytes of a request from this client (fresh transaction id unless given). */
  encodeRequest(primitive: number, attributes: readonly BfcpAttribute[] = [], overrides: Partial<BfcpMessage> = {}): Buffer {
    return encodeMessage({
      version: this.options.version,
      responder: false,
      primitive,
      conferenceId: this.options.conferenceId,
      transactionId: this.#allocateTransactionId(),
      userId: this.options.userId,
      attributes,
      ...overrides,
    });
  }

  /** Datagrams lost on purpose so far, each way (`loss`). */
  get lost(): { readonly outgoing: number; readonly incoming: number; readonly passedOutgoing: number; readonly passedIncoming: number } {
    return {
      outgoing: this.#lossOut?.lost ?? 0,
      incoming: this.#lossIn?.lost ?? 0,
      passedOutgoing: this.#lossOut?.passed ?? 0,
      passedIncoming: this.#lossIn?.passed ?? 0,
    };
  }

  async sendRaw(bytes: Buffer): Promise<void> {
    const sent = decodeMessage(bytes);
    if (sent.ok) this.log.push({ direction: "sent", primitive: sent.message.primitive, transactionId: sent.message.transactionId });
    if (this.#udp) {
      if (this.#lossOut?.next()) return;
      await new Promise<void>((resolve, reject) =>
        this.#udp!.send(bytes, this.options.server.port, this.options.server.address, (error) => (error ? reject(error) : resolve())),
      );
    } else {
      await new Promise<void>((resolve, reject) => this.#tcp!.write(bytes, (error) => (error ? reject(error) : resolve())));
    }
  }

  /**
   * Sends a request and waits for the answer with its transaction id; over UDP the same
   * bytes go again after 500 ms, 1 s, 2 s, … without one (RFC 8855 §6.2.3), until `timeoutInMs`.
   */
  async request(
    primitive: number,
    attributes: readonly BfcpAttribute[] = [],
    overrides: Partial<BfcpMessage> = {},
    timeoutInMs = 5000,
  ): Promise<BfcpReceived> {
    const bytes = this.encodeRequest(primitive, attributes, overrides);
    const transactionId = bytes.readUInt16BE(8);
    const seen = this.received.length;
    // Over UDP the server's own requests (notifications) carry its transaction ids, which may equal
    // ours: there only an answer (R set, RFC 8855 §5.1) counts. TCP and version 1 have no R to go by.
    const isAnswer = (r: BfcpReceived) => r.message.transactionId === transactionId && (!this.#udp || r.message.version === 1 || r.message.responder);
    const what = `the answer to transaction ${transactionId}`;
    this.requestTransactionIds.push(transactionId);
    await this.sendRaw(bytes);
    if (!this.#udp) return await this.#answer(isAnswer, what, seen, timeoutInMs);
    const deadline = performance.now() + timeoutInMs;
    for (let timerInMs = BFCP_T1_IN_MS; ; timerInMs *= 2) {
      const left = deadline - performance.now();
      try {
        return await this.#answer(isAnswer, what, seen, Math.max(1, Math.min(timerInMs, left)));
      } catch (error) {
        if (timerInMs >= left) throw error;
      }
      this.retransmissions++;
      await this.sendRaw(bytes);
    }
  }

  /** The first message from index `from` on that `predicate` takes, as soon as it arrives (answer times are measured). */
  #answer(predicate: (received: BfcpReceived) => boolean, what: string, from: number, timeoutInMs: number): Promise<BfcpReceived> {
    const already = this.received.slice(from).find(predicate);
    if (already) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const onReceived = (received: BfcpReceived) => {
        if (!predicate(received)) return;
        clearTimeout(timer);
        this.off("received", onReceived);
        resolve(received);
      };
      const timer = setTimeout(() => {
        this.off("received", onReceived);
        reject(new Error(`timed out after ${timeoutInMs} ms waiting for ${what}`));
      }, timeoutInMs);
      this.on("received", onReceived);
    });
  }

  /** Waits for a received message matching `predicate`, among those from index `from` on. */
  async waitForMessage(predicate: (received: BfcpReceived) => boolean, what: string, from = 0, timeoutInMs = 5000): Promise<BfcpReceived> {
    return await waitFor(() => this.received.slice(from).find(predicate), what, timeoutInMs);
  }

  hello(): Promise<BfcpReceived> {
    return this.request(Primitive.Hello);
  }

  floorRequest(floorId: number): Promise<BfcpReceived> {
    return this.request(Primitive.FloorRequest, [{ kind: "floorId", id: floorId }]);
  }

  floorRelease(floorRequestId: number): Promise<BfcpReceived> {
    return this.request(Primitive.FloorRelease, [{ kind: "floorRequestId", id: floorRequestId }]);
  }

  floorQuery(floorId: number): Promise<BfcpReceived> {
    return this.request(Primitive.FloorQuery, [{ kind: "floorId", id: floorId }]);
  }

  goodbye(): Promise<BfcpReceived> {
    return this.request(Primitive.Goodbye);
  }

  /** Closes its socket; closing again is a no-op (a test may hang up mid-way and still clean up). */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#udp) await new Promise<void>((resolve) => this.#udp!.close(() => resolve()));
    if (this.#tcp && !this.#tcp.destroyed) {
      const closed = new Promise<void>((resolve) => this.#tcp!.once("close", () => resolve()));
      this.#tcp.end();
      await closed;
    }
  }

  #allocateTransactionId(): number {
    const id = this.#nextTransactionId;
    this.#nextTransactionId = id >= 0xffff ? 1 : id + 1;
    return id;
  }

  #onBytes(bytes: Buffer): void {
    const result = decodeMessage(bytes);
    if (!result.ok) {
      this.undecodable.push(Buffer.from(bytes));
      return;
    }
    const received = { message: result.message, bytes: Buffer.from(bytes) };
    this.log.push({ direction: "received", primitive: result.message.primitive, transactionId: result.message.transactionId });
    this.received.push(received);
    this.emit("received", received);
    const ack = ACKS.get(result.message.primitive);
    if (ack !== undefined && this.#udp && !result.message.responder) {
      if (this.dropAcks > 0) {
        this.dropAcks--;
        return;
      }
      this.ackedTransactionIds.push(result.message.transactionId);
      void this.sendRaw(
        encodeMessage({
          version: result.message.version,
          responder: true,
          primitive: ack,
          conferenceId: result.message.conferenceId,
          transactionId: result.message.transactionId,
          userId: result.message.userId,
          attributes: [],
        }),
      );
    }
  }
}
