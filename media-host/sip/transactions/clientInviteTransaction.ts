import { EventEmitter } from "node:events";
import { DEFAULT_TIMERS, type Scheduler, type TimerValues, TransactionTimers } from "./timers.js";

export type ClientInviteState = "calling" | "proceeding" | "completed" | "accepted" | "terminated";

export interface ClientInviteTransactionEvents<Request, Response> {
  /** Send (or resend) the INVITE, or the ACK for a failure response. */
  send: [message: Request];
  /** A response for the TU (each 2xx retransmission too: the TU ACKs 2xx itself). */
  response: [response: Response, status: number];
  /** No final response in time (Timer B): treat as a 408. */
  timeout: [];
  terminated: [];
}

export interface ClientInviteTransactionOptions<Request, Response> {
  readonly reliable: boolean;
  readonly timers?: TimerValues;
  readonly scheduler: Scheduler;
  /** The ACK for a non-2xx final response, which the transaction itself sends (§17.1.1.3). */
  readonly ackFor: (response: Response) => Request;
}

/** The INVITE client transaction of RFC 3261 §17.1.1 with RFC 6026's "Accepted" state (Timer M). */
export class ClientInviteTransaction<Request, Response> extends EventEmitter<ClientInviteTransactionEvents<Request, Response>> {
  #state: ClientInviteState = "calling";
  #ack: Request | undefined;
  readonly #request: Request;
  readonly #timers: TransactionTimers;
  readonly #values: TimerValues;
  readonly #options: ClientInviteTransactionOptions<Request, Response>;

  constructor(request: Request, options: ClientInviteTransactionOptions<Request, Response>) {
    super();
    this.#request = request;
    this.#options = options;
    this.#timers = new TransactionTimers(options.scheduler);
    this.#values = options.timers ?? DEFAULT_TIMERS;
  }

  get state(): ClientInviteState {
    return this.#state;
  }

  /** Sends the INVITE and arms Timers A (unreliable transports) and B. */
  start(): void {
    this.emit("send", this.#request);
    if (!this.#options.reliable) this.#retransmit(this.#values.t1InMs);
    this.#timers.start("B", 64 * this.#values.t1InMs, () => {
      if (this.#state !== "calling" && this.#state !== "proceeding") return;
      this.emit("timeout");
      this.#terminate();
    });
  }

  receiveResponse(response: Response, status: number): void {
    switch (this.#state) {
      case "calling":
      case "proceeding":
        this.#timers.stop("A");
        if (status < 200) {
          this.#state = "proceeding";
          this.emit("response", response, status);
        } else if (status < 300) {
          this.#state = "accepted";
          this.#timers.stop("B");
          this.emit("response", response, status);
          this.#timers.start("M", 64 * this.#values.t1InMs, () => this.#terminate());
        } else {
          this.#state = "completed";
          this.#timers.stop("B");
          this.#ack = this.#options.ackFor(response);
          this.emit("send", this.#ack);
          this.emit("response", response, status);
          this.#timers.start("D", this.#options.reliable ? 0 : 32_000, () => this.#terminate());
        }
        return;
      case "completed":
        // A retransmitted failure response: our ACK was lost.
        if (status >= 300 && this.#ack !== undefined) this.emit("send", this.#ack);
        return;
      case "accepted":
        if (status >= 200 && status < 300) this.emit("response", response, status);
        return;
      case "terminated":
        return;
    }
  }

  transportError(): void {
    if (this.#state === "calling" || this.#state === "proceeding") this.emit("timeout");
    this.#terminate();
  }

  #retransmit(intervalInMs: number): void {
    this.#timers.start("A", intervalInMs, () => {
      if (this.#state !== "calling") return;
      this.emit("send", this.#request);
      this.#retransmit(2 * intervalInMs);
    });
  }

  #terminate(): void {
    if (this.#state === "terminated") return;
    this.#state = "terminated";
    this.#timers.stopAll();
    this.emit("terminated");
  }
}
