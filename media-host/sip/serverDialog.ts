import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { inDialogDestination } from "./dialogRoute.js";
import type { IncomingRequest } from "./incomingRequest.js";
import type { SipRequest, Uri } from "./message.js";
import type { OutgoingRequest, SipStack } from "./sipStack.js";
import { DEFAULT_TIMERS, realScheduler, type Scheduler, type TimerValues, TransactionTimers } from "./transactions/timers.js";

export type DialogEndedBy = "remote" | "local" | "timeout";

export interface ServerDialogEvents {
  /** The device's ACK arrived: the call is up. `answer` is the SDP a late-offer device put in its ACK. */
  confirmed: [answer: Buffer | undefined];
  ended: [by: DialogEndedBy, reason: string];
  /** A digit from SIP INFO (application/dtmf-relay or application/dtmf); `eventId` tells repeats apart. */
  dtmf: [digit: string, eventId: string];
  /** The device asked for a keyframe (INFO application/media_control+xml picture_fast_update). */
  pictureFastUpdate: [];
}

/** Answers an offer the device makes in the dialog (re-INVITE or UPDATE): hold, resume, codec change. */
export type OfferAnswerer = (offer: Buffer, dialog: ServerDialog) => Promise<Buffer>;

/** The smallest session interval we accept (RFC 4028 recommends 90 s). */
export const MIN_SESSION_EXPIRES = 90;

/** How often a ringing dialog repeats its provisional response (well inside a proxy's ~7 s patience). */
export const DEFAULT_PROVISIONAL_REFRESH_IN_MS = 2000;

export interface ServerDialogOptions {
  /** Our Contact URI (where the device sends in-dialog requests). */
  readonly contact: string;
  /** Answers re-INVITE/UPDATE offers; without it such offers get 488. */
  readonly answerOffer?: OfferAnswerer;
  /**
   * While ringing, the provisional response is sent again this often (RFC 3261 §13.3.1.1):
   * a stateful proxy that hears nothing gives up on us (Kamailio's fr_inv_timer, rewound by
   * each provisional) and moves the call elsewhere. Default 2000; 0 sends it once.
   */
  readonly provisionalRefreshInMs?: number;
  readonly timers?: TimerValues;
  readonly scheduler?: Scheduler;
}

/**
 * The dialog a device's INVITE creates on our side (RFC 3261 §12–13, UAS). It answers
 * with a 2xx and retransmits it until the ACK (§13.3.1.4: the core's job, not the
 * transaction's), ends the call with a BYE if no ACK ever comes, and carries the BYEs
 * of either side. The 1xx and 2xx that establish it copy the INVITE's Record-Route, and
 * our in-dialog requests follow the route set (§12.2.1.1), so a record-routing proxy
 * stays on the path; they still leave over the flow the INVITE came on, which is what
 * reaches that proxy, or a device behind NAT.
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
  /** The INVITE's Record-Route fields as received: copied into the responses that establish the dialog (§12.1.1). */
  readonly #recordRoute: readonly (readonly [string, string])[];
  /** §12.1.1: the Record-Route URIs in order, fixed for the life of the dialog. */
  readonly #routeSet: readonly Uri[];
  /** Where our requests are addressed: the device's Contact, moved by target refreshes (§12.2.2). */
  #remoteTarget: Uri;
  #state: "early" | "answered" | "confirmed" | "ended" = "early";
  #localCSeq = 1;
  /** RFC 4028: the interval and who refreshes; undefined when the device does not do session timers. */
  #session: { seconds: number; refresher: "uac" | "uas" } | undefined;
  /** The 2xx of a re-INVITE being retransmitted until its ACK (by CSeq). */
  #pendingReinvite: number | undefined;

  constructor(stack: SipStack, invite: IncomingRequest, options: ServerDialogOptions) {
    super();
    this.#stack = stack;
    this.invite = invite;
    this.#options = options;
    this.callId = invite.request.headers.callId();
    this.remoteTag = invite.request.headers.from().tag;
    this.#recordRoute = invite.request.headers.getAll("Record-Route").map((value) => ["Record-Route", value] as const);
    this.#routeSet = invite.request.headers.recordRoutes().map((route) => route.uri);
    // An INVITE without a Contact is broken; its Request-URI is the least wrong target.
    this.#remoteTarget = contactUri(invite.request) ?? invite.request.requestUri;
    this.#timers = new TransactionTimers(options.scheduler ?? realScheduler);
    this.#values = options.timers ?? DEFAULT_TIMERS;
  }

  get state(): "early" | "answered" | "confirmed" | "ended" {
    return this.#state;
  }

  /**
   * A provisional response in the dialog (180 Ringing while the bot joins), repeated every
   * `provisionalRefreshInMs` until the final response, a CANCEL or the end of the dialog.
   */
  ring(status = 180, reason = "Ringing"): void {
    if (this.#state !== "early" || this.invite.answered) return;
    this.invite.respond(status, reason, { toTag: this.localTag, headers: [...this.#recordRoute, ["Contact", `<${this.#options.contact}>`]] });
    const every = this.#options.provisionalRefreshInMs ?? DEFAULT_PROVISIONAL_REFRESH_IN_MS;
    if (every > 0) {
      this.#timers.start("ringing", every, () => {
        try {
          this.ring(status, reason);
        } catch {
          // The INVITE's transaction ended under us (its connection closed): nothing left to keep alive.
        }
      });
    }
  }

  /**
   * Answers with a 2xx carrying `sdp` (the answer, or our offer when the INVITE had none),
   * retransmitted until the ACK. Agrees session timers when the device asks (RFC 4028).
   */
  answer(sdp: Buffer, headers: readonly (readonly [string, string])[] = []): void {
    if (this.#state !== "early") return;
    const request = this.invite.request;
    const asked = request.headers.sessionExpires();
    const supportsTimer = request.headers.supported().includes("timer");
    if (asked && asked.deltaSeconds < MIN_SESSION_EXPIRES) {
      this.reject(422, "Session Interval Too Small", [["Min-SE", String(MIN_SESSION_EXPIRES)]]);
      return;
    }
    const sessionHeaders: [string, string][] = [];
    if (asked || supportsTimer) {
      const seconds = asked?.deltaSeconds ?? 1800;
      // The device refreshes when it offered to (or did not say and supports timers); else we do.
      const refresher = asked?.refresher === "uas" || !supportsTimer ? "uas" : "uac";
      this.#session = { seconds, refresher };
      sessionHeaders.push(["Session-Expires", `${seconds};refresher=${refresher}`]);
      if (supportsTimer) sessionHeaders.push(["Require", "timer"]);
    }
    const data = this.invite.respond(200, "OK", {
      toTag: this.localTag,
      headers: [
        ...this.#recordRoute,
        ["Contact", `<${this.#options.contact}>`],
        ["Supported", "timer"],
        ...sessionHeaders,
        ["Content-Type", "application/sdp"],
        ...headers,
      ],
      body: sdp,
    });
    if (!data) return; // cancelled meanwhile
    this.#state = "answered";
    this.#timers.stop("ringing");
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

  /** @internal the device CANCELled the INVITE before our answer (the stack sends the 487): the dialog ends, by the device. */
  receiveCancel(): void {
    if (this.#state === "early") this.#end("remote", "CANCEL from the device");
  }

  /** @internal the dialogs registry hands over an ACK for one of our 2xx. */
  receiveAck(ack: SipRequest): void {
    if (this.#pendingReinvite !== undefined && ack.headers.cseq().seq === this.#pendingReinvite) {
      this.#pendingReinvite = undefined;
      this.#timers.stop("re2xx");
      return;
    }
    if (this.#state !== "answered") return;
    this.#state = "confirmed";
    this.#timers.stop("2xx");
    this.#timers.stop("ack");
    this.#armSessionTimer();
    this.emit("confirmed", ack.body.length > 0 ? ack.body : undefined);
  }

  /** @internal a re-INVITE (hold, resume, refresh): answered through the offer answerer, 2xx retransmitted until its ACK. */
  async receiveReinvite(reinvite: IncomingRequest): Promise<void> {
    if (this.#state !== "confirmed") {
      // RFC 3261 §14.2: an INVITE while ours is pending (or before the ACK) waits its turn.
      reinvite.respond(491, "Request Pending");
      return;
    }
    const sdp = await this.#answerOffer(reinvite);
    if (sdp === undefined) return;
    const data = reinvite.respond(200, "OK", {
      headers: [["Contact", `<${this.#options.contact}>`], ...this.#refreshedSession(reinvite), ["Content-Type", "application/sdp"]],
      body: sdp,
    });
    if (data) this.#refreshTarget(reinvite.request);
    this.#armSessionTimer();
    if (!data || reinvite.flow.protocol !== "udp") return;
    this.#pendingReinvite = reinvite.request.headers.cseq().seq;
    this.#retransmit(data, this.#values.t1InMs, "re2xx", () => this.#pendingReinvite !== undefined);
  }

  /** @internal an UPDATE: a session refresh (no body) or an offer. */
  async receiveUpdate(update: IncomingRequest): Promise<void> {
    if (update.request.body.length === 0) {
      const data = update.respond(200, "OK", { headers: [["Contact", `<${this.#options.contact}>`], ...this.#refreshedSession(update)] });
      if (data) this.#refreshTarget(update.request);
      this.#armSessionTimer();
      return;
    }
    const sdp = await this.#answerOffer(update);
    if (sdp === undefined) return;
    const data = update.respond(200, "OK", {
      headers: [["Contact", `<${this.#options.contact}>`], ...this.#refreshedSession(update), ["Content-Type", "application/sdp"]],
      body: sdp,
    });
    if (data) this.#refreshTarget(update.request);
    this.#armSessionTimer();
  }

  /** @internal an INFO: DTMF (two formats) or a keyframe request. */
  receiveInfo(info: IncomingRequest): void {
    const type = info.request.headers.contentType();
    const mediaType = type ? `${type.type}/${type.subtype}`.toLowerCase() : "";
    const body = info.request.body.toString("utf8");
    const eventId = `info:${this.callId}:${info.request.headers.cseq().seq}`;
    if (mediaType === "application/dtmf-relay") {
      const digit = /^\s*Signal\s*=\s*([0-9A-D*#])/im.exec(body)?.[1];
      if (digit) this.emit("dtmf", digit.toUpperCase(), eventId);
    } else if (mediaType === "application/dtmf") {
      const digit = /^\s*([0-9A-D*#])\s*$/i.exec(body)?.[1];
      if (digit) this.emit("dtmf", digit.toUpperCase(), eventId);
    } else if (mediaType === "application/media_control+xml" && /picture_fast_update/i.test(body)) {
      this.emit("pictureFastUpdate");
    }
    info.respond(200, "OK");
  }

  /** @internal the device hung up. */
  receiveBye(bye: IncomingRequest): void {
    bye.respond(200, "OK");
    this.#end("remote", "BYE from the device");
  }

  /**
   * Asks the device for a keyframe the SIP way (INFO application/media_control+xml,
   * RFC 5168), for devices that do not take RTCP PLI/FIR. Resolves with the device's status.
   */
  async requestPictureFastUpdate(): Promise<number> {
    if (this.#state !== "confirmed") return 0;
    const body = Buffer.from(
      '<?xml version="1.0" encoding="utf-8" ?>\r\n<media_control><vc_primitive><to_encoder><picture_fast_update/></to_encoder></vc_primitive></media_control>\r\n',
    );
    const response = await this.#stack.sendRequest(
      { ...this.#inDialog("INFO", [["Content-Type", "application/media_control+xml"]]), body },
      this.invite.flow,
    );
    return response.status;
  }

  /** Hangs up from our side; resolves when the device has answered (or the BYE timed out). */
  bye(reason: string): Promise<void> {
    return this.#hangUp("local", reason);
  }

  async #hangUp(by: DialogEndedBy, reason: string): Promise<void> {
    if (this.#state === "ended" || this.#state === "early") return;
    this.#end(by, reason);
    await this.#stack.sendRequest(this.#inDialog("BYE", [["Reason", `SIP;cause=200;text="${reason.replaceAll('"', "'")}"`]]), this.invite.flow);
  }

  /** A request of ours in this dialog (§12.2.1.1): addressed through the route set to the remote target, tags swapped, our CSeq. */
  #inDialog(method: string, headers: readonly (readonly [string, string])[]): OutgoingRequest {
    const request = this.invite.request;
    const from = request.headers.get("From") ?? "";
    const to = request.headers.get("To") ?? "";
    const destination = inDialogDestination(this.#routeSet, this.#remoteTarget);
    this.#localCSeq++;
    return {
      method,
      uri: destination.uri,
      headers: [
        ...destination.routes.map((route) => ["Route", route] as const),
        ["Max-Forwards", "70"],
        ["From", to.includes(";tag=") ? to : `${to};tag=${this.localTag}`],
        ["To", from],
        ["Call-ID", this.callId],
        ["CSeq", `${this.#localCSeq} ${method}`],
        ...headers,
      ],
    };
  }

  /** §12.2.2: a target refresh answered 2xx moves the remote target to its Contact (the route set stays). */
  #refreshTarget(request: SipRequest): void {
    this.#remoteTarget = contactUri(request) ?? this.#remoteTarget;
  }

  #retransmit(data: Buffer, intervalInMs: number, timer = "2xx", stillDue = () => this.#state === "answered"): void {
    this.#timers.start(timer, intervalInMs, () => {
      if (!stillDue()) return;
      void this.#stack.sendRaw(data, this.invite.flow).catch(() => {});
      if (intervalInMs < 64 * this.#values.t1InMs) this.#retransmit(data, Math.min(2 * intervalInMs, this.#values.t2InMs), timer, stillDue);
    });
  }

  async #answerOffer(request: IncomingRequest): Promise<Buffer | undefined> {
    if (!this.#options.answerOffer) {
      request.respond(488, "Not Acceptable Here");
      return undefined;
    }
    try {
      return await this.#options.answerOffer(request.request.body, this);
    } catch {
      request.respond(488, "Not Acceptable Here");
      return undefined;
    }
  }

  /** The Session-Expires of a refresh's answer: the device's new interval (at least ours), same refresher rule. */
  #refreshedSession(request: IncomingRequest): [string, string][] {
    const asked = request.request.headers.sessionExpires();
    if (!asked && !this.#session) return [];
    const seconds = Math.max(asked?.deltaSeconds ?? this.#session?.seconds ?? 1800, MIN_SESSION_EXPIRES);
    const refresher = asked?.refresher ?? this.#session?.refresher ?? "uac";
    this.#session = { seconds, refresher };
    return [["Session-Expires", `${seconds};refresher=${refresher}`]];
  }

  /**
   * RFC 4028 §10: when the device refreshes and misses it, the session is dead: BYE
   * before it expires (interval − min(32 s, interval/3)). When we refresh, an UPDATE at half time.
   */
  #armSessionTimer(): void {
    const session = this.#session;
    if (!session || this.#state !== "confirmed") return;
    if (session.refresher === "uac") {
      const deadline = session.seconds - Math.min(32, session.seconds / 3);
      this.#timers.start("session", deadline * 1000, () => void this.#hangUp("local", "session timer expired").catch(() => {}));
    } else {
      this.#timers.start("session", (session.seconds / 2) * 1000, () => void this.#refresh());
    }
  }

  async #refresh(): Promise<void> {
    if (this.#state !== "confirmed" || !this.#session) return;
    try {
      const response = await this.#stack.sendRequest(
        this.#inDialog("UPDATE", [["Session-Expires", `${this.#session.seconds};refresher=uas`]]),
        this.invite.flow,
      );
      if (response.status >= 300) throw new Error(`refresh answered ${response.status}`);
      this.#armSessionTimer();
    } catch {
      await this.#hangUp("local", "session refresh failed");
    }
  }

  #end(by: DialogEndedBy, reason: string): void {
    if (this.#state === "ended") return;
    this.#state = "ended";
    this.#timers.stopAll();
    this.emit("ended", by, reason);
  }
}

function contactUri(request: SipRequest): Uri | undefined {
  const contacts = request.headers.contacts();
  return contacts === "*" ? undefined : contacts[0]?.uri;
}
