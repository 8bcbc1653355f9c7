import { EventEmitter } from "node:events";
import { DEFAULT_TIMERS, type Scheduler, type TimerValues, TransactionTimers } from "./timers.js";

export type ServerNonInviteState = "trying" | "proceeding" | "completed" | "terminated";

export interface ServerNonInviteTransactionEvents<Response> {
  send: [response: Response];
  terminated: [];
}

export interface ServerNonInviteTransactionOptions {
  readonly reliable: boolean;
  readonly timers?: TimerValues;
  readonly scheduler: Scheduler;
}

/** RFC 3261 §17.2.2: answers retransmitted requests with the last response, then lingers (Timer J). */
export class ServerNonInviteTransaction<Response> extends EventEmitter<ServerNonInviteTransactionEvents<Response>> {
  #state: ServerNonInviteState = "trying";
  #lastResponse: Response | undefined;
  readonly #timers: TransactionTimers;
  readonly #values: TimerValues;
  readonly #reliable: boolean;

  constructor(options: ServerNonInviteTransactionOptions) {
    super();
    this.#timers = new TransactionTimers(options.scheduler);
    this.#values = options.timers ?? DEFAULT_TIMERS;
    this.#reliable = options.reliable;
  }

  get state(): ServerNonInviteState {
    return this.#state;
  }

  receiveRequest(): void {
    if ((this.#state === "proceeding" || this.#state === "completed") && this.#lastResponse !== undefined) this.emit("send", this.#lastResponse);
  }

  respond(response: Response, status: number): void {
    if (this.#state !== "trying" && this.#state !== "proceeding") throw new Error(`cannot respond ${status} in state ${this.#state}`);
    this.#lastResponse = response;
    this.emit("send", response);
    if (status < 200) {
      this.#state = "proceeding";
      return;
    }
    this.#state = "completed";
    this.#timers.start("J", this.#reliable ? 0 : 64 * this.#values.t1InMs, () => this.#terminate());
  }

  transportError(): void {
    this.#terminate();
  }

  #terminate(): void {
    if (this.#state === "terminated") return;
    this.#state = "terminated";
    this.#timers.stopAll();
    this.emit("terminated");
  }
}
