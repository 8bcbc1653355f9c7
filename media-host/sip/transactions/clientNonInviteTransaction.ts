import { EventEmitter } from "node:events";
import { DEFAULT_TIMERS, type Scheduler, type TimerValues, TransactionTimers } from "./timers.js";

export type ClientNonInviteState = "trying" | "proceeding" | "completed" | "terminated";

export interface ClientNonInviteTransactionEvents<Request, Response> {
  send: [request: Request];
  response: [response: Response, status: number];
  /** No final response in time (Timer F): treat as a 408. */
  timeout: [];
  terminated: [];
}

export interface ClientNonInviteTransactionOptions {
  readonly reliable: boolean;
  readonly timers?: TimerValues;
  readonly scheduler: Scheduler;
}

/** RFC 3261 §17.1.2: BYE, INFO, UPDATE, OPTIONS… sent by us, retransmitted on UDP (Timer E) until answered. */
export class ClientNonInviteTransaction<Request, Response> extends EventEmitter<ClientNonInviteTransactionEvents<Request, Response>> {
  #state: ClientNonInviteState = "trying";
  readonly #request: Request;
  readonly #timers: TransactionTimers;
  readonly #values: TimerValues;
  readonly #reliable: boolean;

  constructor(request: Request, options: ClientNonInviteTransactionOptions) {
    super();
    this.#request = request;
    this.#timers = new TransactionTimers(options.scheduler);
    this.#values = options.timers ?? DEFAULT_TIMERS;
    this.#reliable = options.reliable;
  }

  get state(): ClientNonInviteState {
    return this.#state;
  }

  start(): void {
    this.emit("send", this.#request);
    if (!this.#reliable) this.#retransmit(this.#values.t1InMs);
    this.#timers.start("F", 64 * this.#values.t1InMs, () => {
      if (this.#state !== "trying" && this.#state !== "proceeding") return;
      this.emit("timeout");
      this.#terminate();
    });
  }

  receiveResponse(response: Response, status: number): void {
    if (this.#state !== "trying" && this.#state !== "proceeding") return; // retransmitted final: absorbed
    if (status < 200) {
      this.#state = "proceeding";
      this.emit("response", response, status);
      return;
    }
    this.#state = "completed";
    this.#timers.stop("E");
    this.#timers.stop("F");
    this.emit("response", response, status);
    this.#timers.start("K", this.#reliable ? 0 : this.#values.t4InMs, () => this.#terminate());
  }

  transportError(): void {
    if (this.#state === "trying" || this.#state === "proceeding") this.emit("timeout");
    this.#terminate();
  }

  #retransmit(intervalInMs: number): void {
    this.#timers.start("E", intervalInMs, () => {
      if (this.#state !== "trying" && this.#state !== "proceeding") return;
      this.emit("send", this.#request);
      // In Proceeding the interval is T2; in Trying it doubles up to T2.
      this.#retransmit(this.#state === "proceeding" ? this.#values.t2InMs : Math.min(2 * intervalInMs, this.#values.t2InMs));
    });
  }

  #terminate(): void {
    if (this.#state === "terminated") return;
    this.#state = "terminated";
    this.#timers.stopAll();
    this.emit("terminated");
  }
}
