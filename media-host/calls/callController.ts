import type { Logger } from "pino";
import type { BusMessage, MessageSubscriber, Subscription } from "../../shared/bus/messageBus.js";
import type { ControlPlaneClient } from "../controlPlane/controlPlaneClient.js";
import { ControlPlaneUnavailableError } from "../controlPlane/controlPlaneClient.js";
import { type DialPlan, parseRequestUri } from "../domain/dialString.js";
import type { FailedAttemptLimiter } from "../domain/failedAttemptLimiter.js";
import type { MediaHostMetrics } from "../observability/metrics.js";
import { type RtpengineClient, RtpengineError } from "../rtpengine/rtpengineClient.js";
import type { Dialogs } from "../sip/dialogs.js";
import type { IncomingRequest } from "../sip/incomingRequest.js";
import type { ServerDialog } from "../sip/serverDialog.js";
import { requestSource } from "../sip/proxiedSource.js";
import type { DtmfEventListener } from "../rtpengine/dtmfEventListener.js";
import { deviceLegQuality } from "../rtpengine/deviceLegQuality.js";
import { anchorMedia, answerFromDevice, offerToDevice } from "./anchorMedia.js";
import { chooseBfcpOffer } from "../bfcp/sdpAnswer.js";
import { type BfcpPorts, CallContent } from "./callContent.js";
import { putBackBfcp, setAsideBfcp } from "./contentSdp.js";
import { SessionOrigin } from "../domain/sessionOrigin.js";
import { IvrSession } from "./ivrSession.js";
import type { MediaSlot, MeetingLeg, MeetingLegFactory } from "./meetingLeg.js";
import { sessionLayout } from "./sessionLayout.js";
import type { StreamWatch } from "./streamWatch.js";
import { WaitingPrompt } from "./waitingPrompt.js";
import type { DeafStream } from "../domain/deafStreams.js";
import { Prompt } from "../domain/ivr.js";

export interface CallControllerOptions {
  readonly mediaHostId: string;
  /** This host's place in the pool: joins carry its lease's epoch, and none is made without one. */
  readonly pool: { readonly epoch: number | undefined };
  /** Whether a request's source is the SIP edge (or another trusted proxy): then the device's address is in the next Via. */
  readonly isTrustedProxy?: (address: string) => boolean;
  readonly dialPlan: DialPlan;
  readonly controlPlane: Pick<ControlPlaneClient, "resolve" | "join" | "leave" | "reportQuality" | "changeScreenSharingRole">;
  readonly rtpengine: RtpengineClient;
  readonly meetingLegs: MeetingLegFactory;
  readonly limiter: FailedAttemptLimiter;
  readonly logger: Logger;
  readonly metrics?: MediaHostMetrics;
  readonly now?: () => number;
  /** Where the IVR's spoken prompts are (scripts/setup.sh makes them in .local/prompts). */
  readonly promptsDirectory?: string;
  /** RFC 4733 digits, from rtpengine's DTMF log. */
  readonly dtmf?: Pick<DtmfEventListener, "on">;
  /** Watches each call's ports in rtpengine for the ones it stops reading (said on the call's log and in metrics). */
  readonly streamWatch?: Pick<StreamWatch, "on" | "watch" | "unwatch">;
  /**
   * Content sharing (BFCP and the slides m-line) for devices that offer it: BFCP binds on
   * `bindAddress` and our SDP names `advertisedAddress`. Without it, BFCP lines are declined.
   */
  readonly content?: {
    readonly bindAddress: string;
    readonly advertisedAddress: string;
    /** Ports BFCP may take (BFCP_PORT_MIN..MAX, open in the NSG); any free port without. */
    readonly ports?: BfcpPorts;
    readonly livenessCheckInMs?: number;
  };
}

/** What the control plane tells a media host about its bot call (shared/domain/callSession.ts mediaHostView). */
interface CallUpdate {
  readonly callId: string;
  readonly deviceCallId: string;
  readonly state: string;
  readonly inLobby: boolean;
  readonly resultInfo: { readonly message: string } | null;
  /** Who shares their screen in the meeting (not our bot); absent from a control plane that does not say. */
  readonly screenSharer?: { readonly participantId: string; readonly sourceId: string } | null;
}

interface ActiveCall {
  readonly dialog: ServerDialog;
  readonly leg: MeetingLeg;
  /** What the 200 carries: rtpengine's answer, or our offer when the INVITE had none (a delayed offer). */
  readonly deviceSdp: string;
  /** The o= line of every SDP the device gets from us (RFC 3264 §8: same origin, version up each time). */
  readonly origin: SessionOrigin;
  /** The device's media is anchored both ways once its ACK came (with the answer, after a delayed offer); false: the call is being ended. */
  readonly mediaUp: Promise<boolean>;
  readonly log: Logger;
  readonly startedAt: number;
  graphCallId: string | undefined;
  ivr: IvrSession | undefined;
  /** Speaks to the device while the bot waits in the lobby, and says why when it is not let in. */
  readonly waiting: WaitingPrompt;
  /** The bot has waited in the meeting's lobby (a later "terminated" means it was not let in). */
  wasInLobby: boolean;
  /** The meeting's screen sharer's source id, as last told. */
  screenSharerSource: string | null;
  /** The call's content floor and BFCP line, when the device offered BFCP we take. */
  readonly content: CallContent | undefined;
  /** The session's m-lines as the device last got them from us: our offers keep them in place. */
  layout: MediaSlot[];
  /** When set-up phases ended (performance.now(), ms), for the set-up phase metric. */
  readonly setup: { readonly inviteAt: number; legAt: number; anchoredAt: number; offerAt: number; joinedAt: number };
  /** Updates that came before the join's answer named the Graph call. */
  readonly early: CallUpdate[];
  finished: boolean;
}

const describeStream = (s: DeafStream) => `${s.party} ${s.kind}${s.component === "rtcp" ? " rtcp" : ""} ${s.address}:${s.port}`;

const quote = (text: string) => text.replaceAll('"', "'").replace(/[\r\n]/g, " ");

/**
 * A device's call from INVITE to BYE (direct dial): the dial string names the meeting,
 * rtpengine anchors the device's media, the control plane joins the meeting as the
 * device's bot, and the bot's fate (established, lobby, ended) drives the SIP side —
 * ringing until the bot is in, then answered; a BYE to the device when the meeting
 * ends it; the bot leaves when the device hangs up.
 */
export class CallController {
  readonly #calls = new Map<string, ActiveCall>();
  readonly #options: CallControllerOptions;
  readonly #subscription: Subscription;

  constructor(dialogs: Dialogs, bus: MessageSubscriber, options: CallControllerOptions) {
    this.#options = options;
    dialogs.onCall((invite) => this.#onInvite(dialogs, invite));
    dialogs.answerOffersWith((offer, dialog) => this.#reoffer(dialog.callId, offer));
    dialogs.offerSessionWith({
      offer: (dialog) => this.#offerSession(dialog.callId),
      answered: (answer, dialog) => this.#sessionAnswered(dialog.callId, answer),
    });
    this.#subscription = bus.subscribe(options.mediaHostId, (message) => this.#onBus(message));
    // rtpengine's call id is the SIP Call-ID, so a digit finds its call directly.
    options.dtmf?.on("dtmf", (event) => {
      if (event.digit) this.#calls.get(event.callId)?.ivr?.digit(event.digit, event.eventId);
    });
    options.streamWatch?.on("deaf", (callId, stream) => this.#streamDeaf(callId, stream));
    options.streamWatch?.on("recovered", (callId, stream) => {
      this.#calls.get(callId)?.log.info({ stream: describeStream(stream) }, "rtpengine reads the port again");
    });
  }

  /**
   * rtpengine stopped reading one of the call's ports (rtpengine 10.5 does not take it up
   * again): that direction of that media is lost for the rest of the call. Said, with what
   * still flows, so that the operator can tell a one-way call from a device's fault.
   */
  #streamDeaf(callId: string, stream: DeafStream): void {
    const call = this.#calls.get(callId);
    if (!call) return;
    this.#options.metrics?.deafStreams.inc({ party: stream.party, kind: stream.kind });
    call.log.warn(
      {
        stream: describeStream(stream),
        port: stream.port,
        queuedBytes: stream.queuedBytes,
        droppedSinceLastLook: stream.dropped,
        otherDirectionFlowing: stream.peerFlowing,
      },
      `rtpengine stopped reading the ${stream.party === "device" ? "device's" : "meeting's"} ${stream.kind}${stream.component === "rtcp" ? " RTCP" : ""} (port ${stream.port}) while it kept arriving: that direction is lost for the rest of the call`,
    );
  }

  get activeCalls(): number {
    return this.#calls.size;
  }

  /** Stops taking call events and frees the BFCP lines of calls still up (a bound socket would outlive the host). */
  async close(): Promise<void> {
    await this.#subscription.close();
    await Promise.all([...this.#calls.values()].map((call) => call.content?.close()));
  }

  /** Ends every call (shutdown after the drain grace): the bot leaves the meeting, the device gets a BYE with `reason`. */
  async endAll(reason: string): Promise<void> {
    await Promise.all(
      [...this.#calls.values()].map(async (call) => {
        if (call.graphCallId) await this.#leaveMeeting(call.graphCallId, reason, call.log, "gateway");
        if (call.dialog.state === "early") call.dialog.reject(503, "Service Unavailable", [["Reason", `SIP;cause=503;text="${quote(reason)}"`]]);
        else await call.dialog.bye(reason).catch(() => {});
      }),
    );
  }

  async #onInvite(dialogs: Dialogs, invite: IncomingRequest): Promise<void> {
    const { logger, metrics, limiter } = this.#options;
    const now = this.#options.now ?? Date.now;
    const source = requestSource(invite.request, invite.flow, this.#options.isTrustedProxy ?? (() => false));
    const callIdOfDevice = invite.request.headers.callId();
    const log = logger.child({ callId: callIdOfDevice, source });
    const target = parseRequestUri(invite.request.uri, this.#options.dialPlan);
    if (target.kind === "invalid") {
      metrics?.countInvite("refused");
      invite.respond(404, "Not Found", { reasonHeader: `SIP;cause=404;text="${quote(target.reason)}"` });
      return;
    }
    const decision = limiter.check(source, now());
    if (!decision.allowed) {
      metrics?.countInvite("refused");
      invite.respond(403, "Forbidden", {
        headers: [["Retry-After", String(decision.retryAfterSeconds)]],
        reasonHeader: 'SIP;cause=403;text="too many failed attempts"',
      });
      return;
    }
    // A delayed offer (CUCM trunks, older room systems): our offer goes in the 200, the device's answer comes in its ACK.
    const delayedOffer = invite.request.body.length === 0;
    if (decision.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, decision.delayMs));

    const dialog = dialogs.accept(invite);
    const from = invite.request.headers.from();
    const uriUser = "user" in from.uri && typeof from.uri.user === "string" ? from.uri.user : "";
    const displayName = from.displayName?.trim() || uriUser || "Video conferencing device";
    let leg: MeetingLeg | undefined;
    let content: CallContent | undefined;
    const setup = { inviteAt: performance.now(), legAt: 0, anchoredAt: 0, offerAt: 0, joinedAt: 0 };
    try {
      // BFCP never reaches rtpengine (contentSdp.ts); a call whose device offers a BFCP line we take gets a floor and a slides line.
      const offer = delayedOffer ? undefined : invite.request.body.toString();
      const aside = offer === undefined ? undefined : setAsideBfcp(offer);
      const takesContent = this.#options.content !== undefined && aside !== undefined && chooseBfcpOffer(aside.offers) !== undefined;
      // Anchor the device's media first (for a delayed offer, make ours): the SDP it will get is rtpengine's.
      leg = await this.#options.meetingLegs.create(dialog.callId, takesContent ? { acceptContent: true } : {});
      setup.legAt = performance.now();
      const origin = new SessionOrigin();
      let sdp: string;
      if (offer === undefined || aside === undefined) sdp = await offerToDevice(this.#options.rtpengine, leg, { ...this.#participants(dialog) });
      else {
        sdp = await anchorMedia(this.#options.rtpengine, leg, aside.sdp, this.#participants(dialog));
        if (takesContent) content = await this.#openContent(dialog, leg, aside, offer, log);
        if (content) sdp = putBackBfcp(sdp, content.index, content.answerLines);
      }
      const deviceSdp = origin.stamp(sdp);
      setup.anchoredAt = performance.now();
      const call: ActiveCall = {
        dialog,
        leg,
        deviceSdp,
        origin,
        mediaUp: new Promise<boolean>((resolve) => {
          dialog.once("confirmed", (answer) => {
            if (!delayedOffer) resolve(true);
            else void this.#takeAnswer(call, answer).then(resolve);
          });
        }),
        log,
        startedAt: now(),
        graphCallId: undefined,
        ivr: undefined,
        waiting: new WaitingPrompt({
          callId: dialog.callId,
          deviceTag: dialog.remoteTag ?? "device",
          rtpengine: this.#options.rtpengine,
          promptsDirectory: this.#options.promptsDirectory ?? ".local/prompts",
          log,
        }),
        wasInLobby: false,
        screenSharerSource: null,
        content,
        layout: sessionLayout(deviceSdp),
        setup,
        early: [],
        finished: false,
      };
      this.#calls.set(dialog.callId, call);
      this.#options.metrics?.activeCalls.set(this.#calls.size);
      this.#options.streamWatch?.watch(dialog.callId, dialog.remoteTag ?? "device");
      dialog.on("ended", (by, reason) => void this.#deviceSideEnded(call, by, reason));
      this.#wireMeetingLeg(call);
      // A device that offered BFCP but no slides line (Poly) gets one from our re-INVITE once the call is up.
      if (content && !call.layout.includes("slides"))
        void call.mediaUp.then((up) => {
          if (up && !call.finished) void this.#addSlides(call);
        });
      if (target.kind === "ivr") {
        // The IVR answers at once and asks for the conference ID.
        dialog.on("dtmf", (digit, eventId) => call.ivr?.digit(digit, eventId));
        void call.mediaUp.then((up) => {
          if (!up || call.finished) return;
          call.ivr = new IvrSession({
            dialog,
            tenantKey: target.tenantKey,
            source,
            rtpengine: this.#options.rtpengine,
            controlPlane: this.#options.controlPlane,
            limiter,
            promptsDirectory: this.#options.promptsDirectory ?? ".local/prompts",
            log,
            join: (meeting) =>
              void this.#join(call, target.tenantKey, meeting.vtcId, displayName, source, target.kind).catch((e: unknown) =>
                this.#joinFailed(call, e),
              ),
          });
          call.ivr.start();
        });
        dialog.answer(Buffer.from(call.deviceSdp));
        return;
      }
      dialog.ring();
      await this.#join(call, target.tenantKey, target.vtcId, displayName, source, target.kind);
    } catch (e) {
      // A host that cannot take the call (control plane unreachable, media ports used up) says 503: the edge tries another.
      const unavailable = e instanceof ControlPlaneUnavailableError || (e instanceof RtpengineError && e.outOfCapacity);
      log.error({ err: (e as Error).message }, "call set-up failed");
      if (e instanceof RtpengineError && !unavailable && !delayedOffer) {
        // rtpengine refused the device's offer (no common codec, broken SDP): the offer is the problem.
        metrics?.countInvite("refused");
        dialog.reject(488, "Not Acceptable Here", [["Reason", `SIP;cause=488;text="${quote(e.reason || "the media offer could not be anchored")}"`]]);
      } else {
        metrics?.countInvite(unavailable ? "unavailable" : "failed");
        dialog.reject(
          unavailable ? 503 : 500,
          unavailable ? "Service Unavailable" : "Server Internal Error",
          unavailable ? [["Retry-After", "30"]] : [],
        );
      }
      if (!this.#calls.has(dialog.callId)) {
        await content?.close();
        await this.#release(dialog.callId, leg);
      }
    }
  }

  /**
   * The call's floor and BFCP line. One that cannot be opened (no port) leaves the call without
   * content: its BFCP line stays declined, as rtpengine returned it.
   */
  async #openContent(dialog: ServerDialog, leg: MeetingLeg, aside: ReturnType<typeof setAsideBfcp>, offer: string, log: Logger) {
    const settings = this.#options.content;
    if (!settings) return undefined;
    try {
      const content = await CallContent.open({
        offer: aside,
        deviceOffer: offer,
        bindAddress: settings.bindAddress,
        advertisedAddress: settings.advertisedAddress,
        ...(settings.ports ? { ports: settings.ports } : {}),
        leg,
        setSharingRole: async (role) => {
          const graphCallId = this.#calls.get(dialog.callId)?.graphCallId;
          if (!graphCallId) throw new Error("the bot is not in the meeting yet");
          await this.#options.controlPlane.changeScreenSharingRole(graphCallId, role);
        },
        log,
        ...(settings.livenessCheckInMs ? { livenessCheckInMs: settings.livenessCheckInMs } : {}),
      });
      if (content)
        log.info(
          { bfcp: content.answer.transport, version: content.answer.version, floorId: content.answer.floorId },
          "content sharing offered (BFCP)",
        );
      return content;
    } catch (e) {
      log.warn({ err: (e as Error).message }, "no BFCP line for this call: content sharing declined");
      return undefined;
    }
  }

  /** Joins the meeting as the device's bot; a refusal ends the call with its reason. */
  async #join(
    call: ActiveCall,
    tenantKey: string,
    vtcId: string,
    displayName: string,
    source: string,
    dialForm: "ivr" | "direct" | "direct-by-domain",
  ): Promise<void> {
    const { limiter, metrics } = this.#options;
    const now = this.#options.now ?? Date.now;
    const { dialog, log } = call;
    const mediaHostEpoch = this.#options.pool.epoch;
    if (mediaHostEpoch === undefined)
      throw new ControlPlaneUnavailableError("this media host holds no lease in the pool (fenced, or not registered yet)");
    const mediaBlob = await call.leg.mediaBlob();
    call.setup.offerAt = performance.now();
    const joined = await this.#options.controlPlane.join({
      mediaHostEpoch,
      tenantKey,
      vtcId,
      displayName,
      deviceCallId: dialog.callId,
      mediaBlob,
      dialForm,
      deviceAddress: source,
    });
    if (joined.kind === "refused") {
      if (joined.code === "unknown-vtc-id" || joined.code === "retired-vtc-id" || joined.code === "unknown-tenant-key")
        limiter.recordFailure(source, now());
      metrics?.countInvite("refused");
      log.info({ code: joined.code }, "dial-in refused");
      if (dialog.state === "early") {
        dialog.reject(joined.sipStatus, joined.sipStatus === 404 ? "Not Found" : "Forbidden", [
          ["Reason", `SIP;cause=${joined.sipStatus};text="${quote(joined.reason)}"`],
        ]);
      } else {
        await dialog.bye(joined.reason).catch(() => {});
      }
      return;
    }
    call.graphCallId = joined.callId;
    call.setup.joinedAt = performance.now();
    // From here on every line of the call (the controller's, the IVR's, the prompts', the meeting leg's) names the
    // Graph call and its callChainId next to the SIP Call-ID: what Microsoft support and Teams' call quality know it by.
    const graphIds = { graphCallId: joined.callId, ...(joined.callChainId ? { callChainId: joined.callChainId } : {}) };
    log.setBindings(graphIds);
    call.leg.logWith(graphIds);
    limiter.recordSuccess(source, now());
    if (call.finished) {
      // The device gave up (CANCEL, BYE) while the join was on its way: the bot leaves at once.
      log.info("the device left during the join: leaving the meeting");
      await this.#leaveMeeting(joined.callId, "the device hung up while joining", log, "device");
      return;
    }
    log.info({ joinAsGuest: joined.joinAsGuest }, "joining the meeting");
    for (const update of call.early.splice(0)) this.#apply(call, update);
  }

  /** The IVR's join could not be made (control plane unreachable, host out of the pool): the caller is told and hung up on. */
  async #joinFailed(call: ActiveCall, e: unknown): Promise<void> {
    call.log.error({ err: (e as Error).message }, "joining the meeting failed");
    this.#options.metrics?.countInvite(e instanceof ControlPlaneUnavailableError ? "unavailable" : "failed");
    if (call.finished) return;
    await call.dialog.bye("the service is unavailable, please call again").catch(() => {});
  }

  /**
   * The meeting leg's side of the call: its failure ends the call (the bot leaves, the
   * device is told why); keyframe requests cross between the device and the meeting.
   */
  #wireMeetingLeg(call: ActiveCall): void {
    const { leg, dialog, log } = call;
    leg.on("ended", (reason) => void this.#meetingLegEnded(call, reason));
    leg.on("keyframeNeeded", (stream) => {
      const label = stream === "content" ? call.content?.contentLabel : undefined;
      if (stream === "content" && !label) return;
      dialog.requestPictureFastUpdate(label).catch((e: Error) => log.debug({ err: e.message }, "picture_fast_update INFO failed"));
    });
    dialog.on("pictureFastUpdate", (streamId) =>
      leg.requestKeyframe(streamId !== undefined && streamId === call.content?.contentLabel ? "content" : "video"),
    );
    leg.on("connected", () => log.info("meeting media connected"));
    leg.on("keyframeRequested", (towards, via) => this.#options.metrics?.countKeyframeRequest(towards, via));
  }

  /** The meeting's media is gone: the whole call ends, both sides told why. */
  async #meetingLegEnded(call: ActiveCall, reason: string): Promise<void> {
    if (call.finished) return;
    call.log.warn({ reason }, "the meeting leg ended: ending the call");
    this.#options.metrics?.countMeetingLegEnded(reason);
    const graphCallId = call.graphCallId;
    if (call.dialog.state === "early") call.dialog.reject(480, "Temporarily Unavailable", [["Reason", `SIP;cause=480;text="${quote(reason)}"`]]);
    else await call.dialog.bye(reason).catch(() => {});
    // The dialog's "ended" (local) leaves nothing to the meeting: do it here, with the reason.
    if (graphCallId) await this.#leaveMeeting(graphCallId, reason, call.log, "gateway");
  }

  /** The bot leaves the meeting; a failure is logged, not thrown (the call is over for the device either way). */
  async #leaveMeeting(graphCallId: string, reason: string, log: Logger, endedBy: "device" | "gateway"): Promise<void> {
    await this.#options.controlPlane
      .leave(graphCallId, reason, { endedBy })
      .catch((e: Error) => log.warn({ err: e.message }, "leaving the meeting failed"));
  }

  /** A device's offer inside the call (hold, resume, codec change): through rtpengine and the meeting leg again. */
  async #reoffer(callId: string, offer: Buffer): Promise<Buffer> {
    const call = this.#calls.get(callId);
    if (!call) throw new Error(`no call ${callId}`);
    const answer = call.origin.stamp(await this.#negotiate(call, offer));
    call.layout = sessionLayout(answer);
    return Buffer.from(answer);
  }

  /** A re-INVITE without an offer (MCUs and SBCs ask so after a transfer): a fresh offer of the session, same ports (RFC 6337). */
  async #offerSession(callId: string): Promise<Buffer> {
    const call = this.#calls.get(callId);
    if (!call) throw new Error(`no call ${callId}`);
    return Buffer.from(await this.#gatewayOffer(call));
  }

  /**
   * Our offer of the session to the device (rtpengine's, from the bridge's side): the session's
   * m-lines in place (our BFCP line back where it was), a slides line when the call has a floor.
   */
  async #gatewayOffer(call: ActiveCall): Promise<string> {
    const { content } = call;
    let sdp = await offerToDevice(this.#options.rtpengine, call.leg, {
      ...this.#participants(call.dialog),
      offer: { layout: call.layout, ...(content?.contentLabel ? { contentLabel: content.contentLabel } : {}) },
    });
    if (content) sdp = putBackBfcp(sdp, content.index, content.offerLines);
    const stamped = call.origin.stamp(sdp);
    call.layout = sessionLayout(stamped);
    return stamped;
  }

  /** The re-INVITE that adds a slides line (devices that offer BFCP without one wait for the far end's). */
  async #addSlides(call: ActiveCall): Promise<void> {
    try {
      await this.offerSessionToDevice(call.dialog.callId);
      call.log.info({ slides: call.layout.includes("slides") }, "slides line offered to the device (re-INVITE)");
    } catch (e) {
      call.log.warn({ err: (e as Error).message }, "the device did not take our re-INVITE adding a slides line: content stays off for it");
    }
  }

  /** The ACK's answer to the offer our 200 made (a re-INVITE without SDP): none, or none usable, ends the call. */
  async #sessionAnswered(callId: string, answer: Buffer | undefined): Promise<void> {
    const call = this.#calls.get(callId);
    if (call) await this.#takeAnswer(call, answer);
  }

  /**
   * Sends the device a re-INVITE with a fresh offer of the session (rtpengine's, from our side) and
   * takes its answer into rtpengine and the meeting leg. A refused or failed re-INVITE leaves the call
   * as it was and rejects (ReinviteFailedError: the device's status, 408 for a timeout).
   */
  async offerSessionToDevice(callId: string): Promise<void> {
    const call = this.#calls.get(callId);
    if (!call) throw new Error(`no call ${callId}`);
    const participants = this.#participants(call.dialog);
    const layout = call.layout;
    let answer: Buffer;
    try {
      answer = await call.dialog.reinvite(async () => Buffer.from(await this.#gatewayOffer(call)));
    } catch (e) {
      call.layout = layout;
      throw e;
    }
    await answerFromDevice(this.#options.rtpengine, call.leg, answer.toString(), participants);
  }

  /**
   * The device's answer to our offer (a delayed offer's, from its ACK) into rtpengine and the meeting
   * leg. Without one, or with one neither takes (nothing in common, broken SDP), the call cannot
   * carry media: the device gets a BYE saying why, the bot leaves, rtpengine forgets the call.
   */
  async #takeAnswer(call: ActiveCall, answer: Buffer | undefined): Promise<boolean> {
    if (call.finished) return false;
    let reason: string;
    if (!answer) reason = "no SDP answer in the ACK";
    else {
      try {
        await answerFromDevice(this.#options.rtpengine, call.leg, answer.toString(), this.#participants(call.dialog));
        return true;
      } catch (e) {
        call.log.warn({ err: (e as Error).message }, "the device's answer could not be used");
        reason = "the SDP answer in the ACK could not be used";
      }
    }
    call.log.warn({ reason }, "ending the call: the device answered our offer with nothing usable");
    const graphCallId = call.graphCallId;
    await call.dialog.bye(reason, 488).catch(() => {});
    // Our BYE ends the dialog "locally", which leaves the meeting to whoever ended it: here, us.
    if (graphCallId) await this.#leaveMeeting(graphCallId, reason, call.log, "gateway");
    return false;
  }

  /** rtpengine's call and monologues for a dialog: the SIP Call-ID, the device's tag and ours. */
  #participants(dialog: ServerDialog) {
    return { callId: dialog.callId, deviceTag: dialog.remoteTag ?? "device", gatewayTag: dialog.localTag };
  }

  /**
   * The device's offer inside the call through rtpengine, the meeting leg answering the other side
   * (see anchorMedia); its BFCP lines kept from rtpengine, ours answered again when it still offers it.
   */
  async #negotiate(call: ActiveCall, deviceOffer: Buffer): Promise<string> {
    const aside = setAsideBfcp(deviceOffer.toString());
    const answer = await anchorMedia(this.#options.rtpengine, call.leg, aside.sdp, this.#participants(call.dialog));
    const lines = call.content?.answerLinesFor(aside);
    return lines && call.content ? putBackBfcp(answer, call.content.index, lines) : answer;
  }

  async #onBus(message: BusMessage): Promise<void> {
    if (message.subject !== "call.updated") return;
    const update = message.body as CallUpdate;
    const call = this.#calls.get(update.deviceCallId);
    if (!call) return; // ended already, or another host's: nothing to do
    if (call.graphCallId === undefined) call.early.push(update);
    else this.#apply(call, update);
  }

  #apply(call: ActiveCall, update: CallUpdate): void {
    if (call.finished) return;
    const { dialog } = call;
    if (update.state === "terminated") {
      const reason = update.resultInfo?.message || "the meeting ended the call";
      if (dialog.state === "early") {
        dialog.reject(480, "Temporarily Unavailable", [["Reason", `SIP;cause=480;text="${quote(reason)}"`]]);
      } else if (call.wasInLobby && call.waiting.playing) {
        // Never let in (denied, or the lobby timed out): the caller hears why, then the BYE.
        call.waiting.playOnce(Prompt.NotAdmitted).then(() => dialog.bye(reason).catch(() => {}));
      } else {
        void dialog.bye(reason).catch(() => {});
      }
      return;
    }
    // In the meeting (or waiting in its lobby): the device is answered and its media flows.
    if ((update.state === "established" || update.inLobby) && dialog.state === "early") {
      dialog.answer(Buffer.from(call.deviceSdp));
      this.#options.metrics?.setupSeconds.observe(((this.#options.now ?? Date.now)() - call.startedAt) / 1000);
      this.#observeSetupPhases(call);
      this.#options.metrics?.countInvite("answered");
    }
    if (update.state === "established" && !update.inLobby) call.leg.admitted();
    const sharer = update.screenSharer?.sourceId ?? null;
    if (update.screenSharer !== undefined && sharer !== call.screenSharerSource) {
      call.screenSharerSource = sharer;
      if (update.screenSharer)
        call.log.info({ participantId: update.screenSharer.participantId, sourceId: sharer }, "someone in the meeting shares their screen");
      else call.log.info("nobody in the meeting shares their screen");
      call.content?.meetingSharer(sharer);
    }
    if (update.inLobby && !call.wasInLobby) {
      call.wasInLobby = true;
      // The device's media must reach rtpengine before a prompt can: once confirmed (ACK, with the answer to a delayed offer), it can.
      void call.mediaUp.then((up) => up && !call.finished && call.waiting.loop(Prompt.WaitingInLobby));
    } else if (!update.inLobby && update.state === "established" && call.waiting.playing) {
      call.log.info("admitted from the lobby");
      void call.waiting.stop();
    }
  }

  /** A direct dial answered: how long each of its set-up phases took (IVR calls are answered before joining: not counted). */
  #observeSetupPhases(call: ActiveCall): void {
    const { inviteAt, legAt, anchoredAt, offerAt, joinedAt } = call.setup;
    const phases = this.#options.metrics?.setupPhaseSeconds;
    if (!phases || call.ivr || !legAt || !anchoredAt || !offerAt || !joinedAt) return;
    const now = performance.now();
    phases.observe({ phase: "meeting-leg" }, (legAt - inviteAt) / 1000);
    phases.observe({ phase: "anchor" }, (anchoredAt - legAt) / 1000);
    phases.observe({ phase: "meeting-offer" }, (offerAt - anchoredAt) / 1000);
    phases.observe({ phase: "join-request" }, (joinedAt - offerAt) / 1000);
    phases.observe({ phase: "until-established" }, (now - joinedAt) / 1000);
  }

  /** The dialog ended (device BYE, our BYE, a CANCEL, no ACK): leave the meeting and free the media. */
  async #deviceSideEnded(call: ActiveCall, by: string, reason: string): Promise<void> {
    if (call.finished) return;
    call.finished = true;
    call.ivr?.close();
    void call.waiting.stop();
    void call.content?.close();
    this.#calls.delete(call.dialog.callId);
    this.#options.streamWatch?.unwatch(call.dialog.callId);
    this.#options.metrics?.activeCalls.set(this.#calls.size);
    call.log.info({ by, reason }, "call ended");
    if (call.graphCallId && by !== "local") await this.#leaveMeeting(call.graphCallId, reason, call.log, by === "remote" ? "device" : "gateway");
    await this.#reportQuality(call);
    await this.#release(call.dialog.callId, call.leg);
  }

  /** Both legs' figures, read before the media is freed, into the call record (and Teams' quality reporting). */
  async #reportQuality(call: ActiveCall): Promise<void> {
    if (!call.graphCallId) return;
    try {
      const [query, meetingLeg] = await Promise.all([
        this.#options.rtpengine.query({ "call-id": call.dialog.callId, "from-tag": call.dialog.remoteTag ?? "device" }),
        call.leg.quality(),
      ]);
      const quality = { deviceLeg: deviceLegQuality(query, call.dialog.remoteTag ?? "device"), meetingLeg };
      call.log.info({ quality }, "call quality");
      // No packet either way (a signalling-only call): there is no media quality to keep or report.
      const carried = [...quality.deviceLeg, ...quality.meetingLeg].some((s) => s.packetsReceived > 0 || s.packetsSent > 0);
      if (!carried) return;
      await this.#options.controlPlane.reportQuality(call.graphCallId, quality);
    } catch (e) {
      call.log.warn({ err: (e as Error).message }, "reporting the call's quality failed");
    }
  }

  async #release(callId: string, leg: MeetingLeg | undefined): Promise<void> {
    await this.#options.rtpengine.delete({ "call-id": callId }).catch(() => {});
    await leg?.close().catch(() => {});
  }
}
