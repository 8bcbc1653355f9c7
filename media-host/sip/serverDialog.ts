import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type { IncomingRequest } from "./incomingRequest.js";
import type { SipStack } from "./sipStack.js";
import { DEFAULT_TIMERS, realScheduler, type Scheduler, type TimerValues, TransactionTimers } from "./transactions/timers.js";

export type DialogEndedBy = "remote" | "local" | "timeout";

export interface ServerDialogEvents {
  /** The device's ACK arrived: the call is up. */
  confirmed: [];
  ended: [by: DialogEndedBy, reason: string];
}

export interface ServerDialogOptions {
  /** Our Contact URI (where the device sends in-dialog requests). */
  readonly contact: string;
  readonly timers?: TimerValues;
  readonly scheduler?: Scheduler;
}

/**
 * The dialog a device's INVITE creates on our side (RFC 3261 §12–13, UAS). It answers
 * with a 2xx and retransmits it until the ACK (§13.3.1.4: the core's job, not the
 * transaction's), ends the call with a BYE if no ACK ever comes, and carries the BYEs
 * of either side. In-dialog requests go over the flow the INVITE came on, which is
 * what reaches a device behind NAT.
 */
export class ServerDialog extends EventEmitter<ServerDialogEvents> {
  readonly callId: string;
  readonly localTag = randomBytes(8).toString("hex");
  readonly remoteTag: string | undefined;
  readonly invite: IncomingRequest;
  readonly #stack: SipStack;
  readonly #options: ServerDialogOptions;
  readonly #timers: TransactionTimers;
  readonly #values: TimerValues;
  #state: "early" | "answered" | "confirmed" | "ended" = "early";
  #localCSeq = 1;

  constructor(stack: SipStack, invite: IncomingRequest, options: ServerDialogOptions) {
    super();
    this.#stack = stack;
    this.invite = invite;
    this.#options = options;
    this.callId = invite.request.headers.callId();
    this.remoteTag = invite.request.headers.from().tag;
    this.#timers = new TransactionTimers(options.scheduler ?? realScheduler);
    this.#values = options.timers ?? DEFAULT_TIMERS;
  }

  get state(): "early" | "answered" | "confirmed" | "ended" {
    return this.#state;
  }

  /** A provisional response in the dialog (180 Ringing while the bot joins). */
  ring(status = 180, reason = "Ringing"): void {
    if (this.#state === "early") this.invite.respond(status, reason, { toTag: this.localTag, headers: [["Contact", `<${this.#options.contact}>`]] });
  }

  /** Answers with a 2xx carrying `sdp`, retransmitted until the ACK. */
  answer(sdp: Buffer, headers: readonly (readonly [string, string])[] = []): void {
    if (this.#state !== "early") return;
    const data = this.invite.respond(200, "OK", {
      toTag: this.localTag,
      headers: [["Contact", `<${this.#options.contact}>`], ["Content-Type", "application/sdp"], ...headers],
      body: sdp,
    });
    if (!data) return; // cancelled meanwhile
    this.#state = "answered";
    if (this.invite.flow.protocol === "udp") this.#retransmit(data, this.#values.t1InMs);
    this.#timers.start("ack", 64 * this.#values.t1InMs, () => {
      if (this.#state !== "answered") return;
      this.#hangUp("timeout", "no ACK for the 2xx").catch(() => {});
    });
  }

  /** Refuses the INVITE with a final failure (the dialog never forms). */
  reject(status: number, reason: string, headers: readonly (readonly [string, string])[] = []): void {
    if (this.#state !== "early") return;
    this.invite.respond(status, reason, { toTag: this.localTag, headers });
    this.#end("local", `${status} ${reason}`);
  }

  /** @internal the dialogs registry hands over the ACK for our 2xx. */
  receiveAck(): void {
    if (this.#state !== "answered") return;
    this.#state = "confirmed";
    this.#timers.stopAll();
    this.emit("confirmed");
  }

  /** @internal the device hung up. */
  receiveBye(bye: IncomingRequest): void {
    bye.respond(200, "OK");
    this.#end("remote", "BYE from the device");
  }

  /** Hangs up from our side; resolves when the device has answered (or the BYE timed out). */
  bye(reason: string): Promise<void> {
    return this.#hangUp("local", reason);
  }

  async #hangUp(by: DialogEndedBy, reason: string): Promise<void> {
    if (this.#state === "ended" || this.#state === "early") return;
    const request = this.invite.request;
    const from = request.headers.get("From") ?? "";
    const to = request.headers.get("To") ?? "";
    const contact = request.headers.contacts();
    const target = contact !== "*" && contact[0] ? contact[0].uri.raw : request.uri;
    this.#end(by, reason);
    this.#localCSeq++;
    await this.#stack.sendRequest(
      {
        method: "BYE",
        uri: target,
        headers: [
          ["Max-Forwards", "70"],
          ["From", to.includes(";tag=") ? to : `${to};tag=${this.localTag}`],
          ["To", from],
          ["Call-ID", this.callId],
          ["CSeq", `${this.#localCSeq} BYE`],
          ["Reason", `SIP;cause=200;text="${reason.replaceAll('"', "'")}"`],
        ],
      },
      this.invite.flow,
    );
  }

  #retransmit(data: Buffer, intervalInMs: number): void {
    this.#timers.start("2xx", intervalInMs, () => {
      if (this.#state !== "answered") return;
      void this.#stack.sendRaw(data, this.invite.flow).catch(() => {});
      this.#retransmit(data, Math.min(2 * intervalInMs, this.#values.t2InMs));
    });
  }

  #end(by: DialogEndedBy, reason: string): void {
    if (this.#state === "ended") return;
    this.#state = "ended";
    this.#timers.stopAll();
    this.emit("ended", by, reason);
  }
}
