import { EventEmitter } from "node:events";
import { DEFAULT_TIMERS, type Scheduler, type TimerValues, TransactionTimers } from "./timers.js";

export type ServerInviteState = "proceeding" | "completed" | "confirmed" | "accepted" | "terminated";

export interface ServerInviteTransactionEvents<Response> {
  /** Send (or resend) this response over the transport. */
  send: [response: Response];
  /** No ACK came for a non-2xx final response (Timer H): the dialog-forming attempt failed. */
  timeout: [];
  terminated: [];
}

export interface ServerInviteTransactionOptions {
  /** Reliable transports (TCP/TLS) retransmit nothing and linger for no time. */
  readonly reliable: boolean;
  readonly timers?: TimerValues;
  readonly scheduler: Scheduler;
}

/**
 * The INVITE server transaction of RFC 3261 §17.2.1 with RFC 6026's "Accepted" state:
 * after a 2xx it stays to absorb INVITE retransmissions (Timer L) while the UAS core
 * retransmits the 2xx until the ACK, which is not part of this transaction.
 */
export class ServerInviteTransaction<Response> extends EventEmitter<ServerInviteTransactionEvents<Response>> {
  #state: ServerInviteState = "proceeding";
  #lastResponse: Response | undefined;
  readonly #timers: TransactionTimers;
  readonly #values: TimerValues;
  readonly #reliable: boolean;

  constructor(options: ServerInviteTransactionOptions) {
    super();
    this.#timers = new TransactionTimers(options.scheduler);
    this.#values = options.timers ?? DEFAULT_TIMERS;
    this.#reliable = options.reliable;
  }

  get state(): ServerInviteState {
    return this.#state;
  }

  /** A retransmission of the INVITE arrived. */
  receiveRequest(): void {
    if ((this.#state === "proceeding" || this.#state === "completed") && this.#lastResponse !== undefined) this.emit("send", this.#lastResponse);
  }

  /** The TU answers: provisional, 2xx or a final failure. */
  respond(response: Response, status: number): void {
    if (this.#state !== "proceeding") throw new Error(`cannot respond ${status} in state ${this.#state}`);
    this.#lastResponse = response;
    this.emit("send", response);
    if (status < 200) return;
    if (status < 300) {
      this.#state = "accepted";
      this.#timers.start("L", 64 * this.#values.t1InMs, () => this.#terminate());
      return;
    }
    this.#state = "completed";
    if (!this.#reliable) this.#retransmit(this.#values.t1InMs);
    this.#timers.start("H", 64 * this.#values.t1InMs, () => {
      this.emit("timeout");
      this.#terminate();
    });
  }

  /** An ACK for our non-2xx final response. */
  receiveAck(): void {
    if (this.#state !== "completed") return;
    this.#state = "confirmed";
    this.#timers.stop("G");
    this.#timers.stop("H");
    this.#timers.start("I", this.#reliable ? 0 : this.#values.t4InMs, () => this.#terminate());
  }

  /** The transport failed while sending (RFC 3261 §17.2.4). */
  transportError(): void {
    this.#terminate();
  }

  #retransmit(intervalInMs: number): void {
    this.#timers.start("G", intervalInMs, () => {
      if (this.#state !== "completed" || this.#lastResponse === undefined) return;
      this.emit("send", this.#lastResponse);
      this.#retransmit(Math.min(2 * intervalInMs, this.#values.t2InMs));
    });
  }

  #terminate(): void {
    if (this.#state === "terminated") return;
    this.#state = "terminated";
    this.#timers.stopAll();
    this.emit("terminated");
  }
}
