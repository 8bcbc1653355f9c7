import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { inDialogDestination } from "./dialogRoute.js";
import { ReinviteFailedError } from "./errors.js";
import type { IncomingRequest } from "./incomingRequest.js";
import type { SipRequest, Uri } from "./message.js";
import { type OutgoingRequest, SipRequestTimeoutError, type SipStack } from "./sipStack.js";
import { DEFAULT_TIMERS, realScheduler, type Scheduler, type TimerValues, TransactionTimers } from "./transactions/timers.js";

export type DialogEndedBy = "remote" | "local" | "timeout";

export interface ServerDialogEvents {
  /** The device's ACK arrived: the call is up. `answer` is the SDP a late-offer device put in its ACK. */
  confirmed: [answer: Buffer | undefined];
  ended: [by: DialogEndedBy, reason: string];
  /** A digit from SIP INFO (application/dtmf-relay or application/dtmf); `eventId` tells repeats apart. */
  dtmf: [digit: string, eventId: string];
  /** The device asked for a keyframe (INFO application/media_control+xml picture_fast_update). */
  pictureFastUpdate: [streamId: string | undefined];
}

/** Answers an offer the device makes in the dialog (re-INVITE or UPDATE): hold, resume, codec change. */
export type OfferAnswerer = (offer: Buffer, dialog: ServerDialog) => Promise<Buffer>;

/**
 * Our side of an offer/answer we start ourselves: the offer for a re-INVITE that came without
 * one (RFC 3261 §14.2: our 2xx carries the offer, the device's ACK the answer).
 */
export interface SessionOfferer {
  /** Our offer for the session as it stands (RFC 6337: same ports, the o= version incremented). */
  offer(dialog: ServerDialog): Promise<Buffer>;
  /** The device's answer from its ACK; undefined when the ACK had none, or never came. */
  answered(answer: Buffer | undefined, dialog: ServerDialog): void | Promise<void>;
}

/** An offer for `reinvite`: as it is, or made for each attempt (after a 491 the session may have changed meanwhile). */
export type ReinviteOffer = Buffer | (() => Buffer | Promise<Buffer>);

export interface ReinviteOptions {
  /** How many times the re-INVITE is sent when the device keeps answering 491 (default 3). */
  readonly maxAttempts?: number;
  /** Gives up before the next attempt (a re-INVITE on its way is not cancelled: its answer is still ACKed). */
  readonly abortSignal?: AbortSignal;
}

/**
 * RFC 3261 §14.1: after a 491 the side that did not choose the Call-ID retries after 0–2 s
 * (the owner waits 2.1–4 s, so the two do not collide again). The device chose it: we wait 0–2 s.
 */
export const glareRetryDelayInMs = (): number => Math.random() * 2000;

/** The smallest session interval we accept (RFC 4028 recommends 90 s). */
export const MIN_SESSION_EXPIRES = 90;

/** How often a ringing dialog repeats its provisional response (well inside a proxy's ~7 s patience). */
export const DEFAULT_PROVISIONAL_REFRESH_IN_MS = 2000;

export interface ServerDialogOptions {
  /** Our Contact URI (where the device sends in-dialog requests). */
  readonly contact: string;
  /** Answers re-INVITE/UPDATE offers; without it such offers get 488. */
  readonly answerOffer?: OfferAnswerer;
  /** Makes our offer for a re-INVITE without one and takes the ACK's answer; without it such re-INVITEs get 488. */
  readonly offerSession?: SessionOfferer;
  /** How long to wait before sending a re-INVITE again after a 491 (default `glareRetryDelayInMs`: 0–2 s). */
  readonly glareRetryDelayInMs?: () => number;
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
  readonly #scheduler: Scheduler;
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
  /** That 2xx carried our offer: the ACK carries the device's answer, which ends that offer/answer (this finishes it). */
  #answerInAck: (() => void) | undefined;
  /** The device's offer/answer in progress (to our 2xx, or its ACK when we offered): ours waits for it, another re-INVITE of the device's gets 491. */
  #theirs: { readonly done: Promise<void>; readonly finish: () => void } | undefined;
  /** A re-INVITE of ours is in progress: the device's get 491 meanwhile (RFC 3261 §14.2). */
  #ours = false;
  /** Wakes a re-INVITE waiting out its glare interval when the dialog ends. */
  #wakeGlareWait: (() => void) | undefined;

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
    this.#scheduler = options.scheduler ?? realScheduler;
    this.#timers = new TransactionTimers(this.#scheduler);
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
      this.#reinviteAcked(ack.body.length > 0 ? ack.body : undefined);
      return;
    }
    if (this.#state !== "answered") return;
    this.#state = "confirmed";
    this.#timers.stop("2xx");
    this.#timers.stop("ack");
    this.#armSessionTimer();
    this.emit("confirmed", ack.body.length > 0 ? ack.body : undefined);
  }

  /**
   * @internal a re-INVITE: with an offer (hold, resume, refresh) answered through the offer
   * answerer; without one (RFC 3261 §14.2), our offer in the 2xx and the device's answer in the
   * ACK. The 2xx is retransmitted until its ACK. While a re-INVITE of ours, or another of the
   * device's, is in progress it gets 491.
   */
  async receiveReinvite(reinvite: IncomingRequest): Promise<void> {
    if (this.#state !== "confirmed" || this.#ours || this.#theirs) {
      // RFC 3261 §14.2: an INVITE while ours is pending (or before the ACK) waits its turn.
      reinvite.respond(491, "Request Pending");
      return;
    }
    let finish: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const theirs = {
      done,
      finish: () => {
        if (this.#theirs !== theirs) return;
        this.#theirs = undefined;
        finish();
      },
    };
    this.#theirs = theirs;
    // The offer/answer ends with our 2xx when the device offered, with its ACK when we did (RFC 6337 §3.1).
    let answerDue = false;
    try {
      const offerless = reinvite.request.body.length === 0;
      const sdp = offerless ? await this.#offerSession(reinvite) : await this.#answerOffer(reinvite);
      if (sdp === undefined) return;
      const data = reinvite.respond(200, "OK", {
        headers: [["Contact", `<${this.#options.contact}>`], ...this.#refreshedSession(reinvite), ["Content-Type", "application/sdp"]],
        body: sdp,
      });
      if (data) this.#refreshTarget(reinvite.request);
      this.#armSessionTimer();
      if (!data || this.#state !== "confirmed") return;
      this.#pendingReinvite = reinvite.request.headers.cseq().seq;
      this.#answerInAck = offerless ? theirs.finish : undefined;
      answerDue = offerless;
      if (reinvite.flow.protocol === "udp") this.#retransmit(data, this.#values.t1InMs, "re2xx", () => this.#pendingReinvite !== undefined);
      // §13.3.1.4: no ACK within 64*T1 and the answer it would carry never comes either.
      this.#timers.start("reAck", 64 * this.#values.t1InMs, () => this.#reinviteAcked(undefined));
    } finally {
      if (!answerDue) theirs.finish();
    }
  }

  /** The ACK of the device's re-INVITE came (or never will: `answer` undefined after 64*T1). */
  #reinviteAcked(answer: Buffer | undefined): void {
    const finish = this.#answerInAck;
    this.#pendingReinvite = undefined;
    this.#answerInAck = undefined;
    this.#timers.stop("re2xx");
    this.#timers.stop("reAck");
    if (!finish) return;
    Promise.resolve()
      .then(() => this.#options.offerSession?.answered(answer, this))
      .catch(() => {})
      .finally(finish);
  }

  /**
   * Sends the device a re-INVITE with our offer and resolves with its answer (the 2xx's SDP),
   * after ACKing the 2xx (§13.2.2.4). A 491 (the device's own re-INVITE crossed ours) is
   * retried after `glareRetryDelayInMs` (0–2 s: the device owns the Call-ID), up to
   * `maxAttempts` times; while the device's own re-INVITE is in progress ours waits for it.
   * Fails with a ReinviteFailedError: the device's status, 408 for a timeout, `no-answer` for
   * a 2xx without SDP, 481 when the dialog is not up. One at a time: a second call while one
   * is in progress fails at once as glare (491).
   */
  async reinvite(offer: ReinviteOffer, options: ReinviteOptions = {}): Promise<Buffer> {
    const maxAttempts = Math.max(1, options.maxAttempts ?? 3);
    const signal = options.abortSignal;
    for (let attempt = 1; ; attempt++) {
      while (this.#theirs) await this.#theirs.done;
      signal?.throwIfAborted();
      if (this.#state !== "confirmed") throw new ReinviteFailedError("dialog-not-confirmed", 481, `the dialog is ${this.#state}`);
      if (this.#ours) throw new ReinviteFailedError("glare", 491, "a re-INVITE of ours is already in progress");
      this.#ours = true;
      let response: Awaited<ReturnType<SipStack["sendInvite"]>>;
      let request: OutgoingRequest;
      try {
        const body = typeof offer === "function" ? await offer() : offer;
        request = {
          ...this.#inDialog("INVITE", [
            ["Contact", `<${this.#options.contact}>`],
            ["Supported", "timer"],
            ["Content-Type", "application/sdp"],
          ]),
          body,
        };
        let ack: Buffer | undefined;
        response = await this.#stack.sendInvite(request, this.invite.flow, () => {
          if (ack) void this.#stack.sendRaw(ack, this.invite.flow).catch(() => {});
        });
        if (response.status < 300) {
          // A 2xx to a re-INVITE refreshes the remote target (§12.2.1.2); the ACK goes there.
          const contact = contactOf(response.headers.contacts());
          if (contact) this.#remoteTarget = contact;
          ack = this.#stack.sendAck(this.#inDialog("ACK", [], request), this.invite.flow);
        }
      } catch (e) {
        if (e instanceof SipRequestTimeoutError) throw new ReinviteFailedError("timeout", 408, "the device did not answer our re-INVITE");
        throw e;
      } finally {
        this.#ours = false;
      }
      if (response.status < 300) {
        if (response.body.length === 0)
          throw new ReinviteFailedError("no-answer", response.status, "the device's 2xx to our re-INVITE carried no answer");
        return response.body;
      }
      if (response.status !== 491)
        throw new ReinviteFailedError("rejected", response.status, `the device answered ${response.status} ${response.reason}`);
      if (attempt >= maxAttempts) throw new ReinviteFailedError("glare", 491, `the device answered 491 to each of our ${attempt} attempts`);
      await this.#glareWait(signal);
    }
  }

  /** §14.1: the random wait before a re-INVITE answered 491 goes again; cut short when the dialog ends. */
  #glareWait(signal: AbortSignal | undefined): Promise<void> {
    const delay = (this.#options.glareRetryDelayInMs ?? glareRetryDelayInMs)();
    return new Promise((resolve) => {
      const wake = () => {
        this.#scheduler.clearTimeout(handle);
        this.#wakeGlareWait = undefined;
        signal?.removeEventListener("abort", wake);
        resolve();
      };
      const handle = this.#scheduler.setTimeout(wake, delay);
      this.#wakeGlareWait = wake;
      if (signal?.aborted) wake();
      else signal?.addEventListener("abort", wake, { once: true });
    });
  }

  /** @internal an UPDATE: a session refresh (no body) or an offer. */
  async receiveUpdate(update: IncomingRequest): Promise<void> {
    if (update.request.body.length === 0) {
      const data = update.respond(200, "OK", { headers: [["Contact", `<${this.#options.contact}>`], ...this.#refreshedSession(update)] });
      if (data) this.#refreshTarget(update.request);
      this.#armSessionTimer();
      return;
    }
    if (this.#ours || this.#theirs) {
      // RFC 3311 §5.2: an offer while another offer/answer of the dialog is in progress waits its turn.
      update.respond(491, "Request Pending");
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
      // RFC 5168: a stream_id names the m-line's a=label (the slides line's, for content); none means main video.
      this.emit("pictureFastUpdate", /<stream_id>\s*([^<\s]+)\s*<\/stream_id>/i.exec(body)?.[1]);
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
  async requestPictureFastUpdate(streamId?: string): Promise<number> {
    if (this.#state !== "confirmed") return 0;
    // RFC 5168 §7: stream_id (the m-line's a=label) follows to_encoder; without one the device refreshes its main video.
    const stream = streamId ? `<stream_id>${streamId.replace(/[^A-Za-z0-9._~-]/g, "")}</stream_id>` : "";
    const body = Buffer.from(
      `<?xml version="1.0" encoding="utf-8" ?>\r\n<media_control><vc_primitive><to_encoder><picture_fast_update/></to_encoder>${stream}</vc_primitive></media_control>\r\n`,
    );
    const response = await this.#stack.sendRequest(
      { ...this.#inDialog("INFO", [["Content-Type", "application/media_control+xml"]]), body },
      this.invite.flow,
    );
    return response.status;
  }

  /** Hangs up from our side (the Reason header says why, with `cause`); resolves when the device has answered (or the BYE timed out). */
  bye(reason: string, cause = 200): Promise<void> {
    return this.#hangUp("local", reason, cause);
  }

  async #hangUp(by: DialogEndedBy, reason: string, cause = 200): Promise<void> {
    if (this.#state === "ended" || this.#state === "early") return;
    this.#end(by, reason);
    await this.#stack.sendRequest(this.#inDialog("BYE", [["Reason", `SIP;cause=${cause};text="${reason.replaceAll('"', "'")}"`]]), this.invite.flow);
  }

  /** A request of ours in this dialog (§12.2.1.1): addressed through the route set to the remote target, tags swapped, our CSeq. */
  #inDialog(method: string, headers: readonly (readonly [string, string])[], ackOf?: OutgoingRequest): OutgoingRequest {
    const request = this.invite.request;
    const from = request.headers.get("From") ?? "";
    const to = request.headers.get("To") ?? "";
    const destination = inDialogDestination(this.#routeSet, this.#remoteTarget);
    // An ACK for a 2xx carries its INVITE's CSeq number (§13.2.2.4); every other request a new one.
    const seq = ackOf ? (ackOf.headers.find(([name]) => name === "CSeq")?.[1].split(" ")[0] ?? "1") : String(++this.#localCSeq);
    return {
      method,
      uri: destination.uri,
      headers: [
        ...destination.routes.map((route) => ["Route", route] as const),
        ["Max-Forwards", "70"],
        ["From", to.includes(";tag=") ? to : `${to};tag=${this.localTag}`],
        ["To", from],
        ["Call-ID", this.callId],
        ["CSeq", `${seq} ${method}`],
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

  /** Our offer for a re-INVITE that came without one; 488 when nobody makes offers, 500 when making it failed. */
  async #offerSession(request: IncomingRequest): Promise<Buffer | undefined> {
    if (!this.#options.offerSession) {
      request.respond(488, "Not Acceptable Here");
      return undefined;
    }
    try {
      return await this.#options.offerSession.offer(this);
    } catch {
      request.respond(500, "Server Internal Error", { headers: [["Retry-After", "5"]] });
      return undefined;
    }
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
    this.#wakeGlareWait?.();
    this.#theirs?.finish();
    this.emit("ended", by, reason);
  }
}

function contactUri(request: SipRequest): Uri | undefined {
  return contactOf(request.headers.contacts());
}

function contactOf(contacts: ReturnType<SipRequest["headers"]["contacts"]>): Uri | undefined {
  return contacts === "*" ? undefined : contacts[0]?.uri;
}
