import { type CallQuality, normalizeCallQuality, teleconferenceDeviceQuality } from "../../shared/domain/callQuality.js";
import { createHash } from "node:crypto";
import { z } from "zod";
import type { BusMessage, MessagePublisher } from "../../shared/bus/messageBus.js";
import {
  type CallSessionRecord,
  type CallSummary,
  callLabel,
  callSummary,
  INITIAL_CALL_SESSION,
  mediaHostView,
  observeCall,
} from "../../shared/domain/callSession.js";
import { MEDIA_HOST_LOST } from "../../shared/domain/pool.js";
import { parseOrThrow } from "../../shared/domain/validation.js";
import { refuse, type ResolutionRefusal } from "../../shared/domain/resolution.js";
import { AuthorizationError, ConflictError, ConsentMissingError, NotFoundError, ValidationError } from "../../shared/errors.js";
import type { CallControl, CallSessionRepository, JoinedCall, Page, ScreenSharingRole } from "../ports.js";
import type { CallHistoryTokens, CallListRequest } from "./callQueries.js";
import { type CallEvent, readCallEvents, commsNotificationsSchema, toParticipant, toStateObservation } from "./callNotifications.js";
import type { ConsentService } from "./consentService.js";
import type { ResolutionService } from "./resolutionService.js";

export interface CallServiceOptions {
  /** Where Graph sends this service's call notifications. */
  readonly callbackUri: string;
  /** Whether a media host holds a live lease at this epoch (the pool): only then may it put a bot in a meeting. */
  readonly hostIsServing: (mediaHostId: string, epoch: number) => Promise<boolean>;
  readonly now: () => Date;
  readonly log: (line: string) => void;
  /** Signs and checks the history's page tokens. */
  readonly historyTokens: CallHistoryTokens;
}

/**
 * Whose calls a caller may see and end: every tenant's (an operator, CVI.Admin) or one
 * tenant's (`tenantId`: a tenant's own admin, once the admin API accepts them). Enforced
 * here, whatever the caller asks for.
 */
export interface CallScope {
  readonly tenantId?: string;
}

export const EVERY_TENANT: CallScope = {};

/** What an operator's hang-up tells the media host and Graph: the device's BYE carries this reason. */
export const HUNG_UP_BY_OPERATOR = "an operator hung up the call";
/** The same, when the tenant's own admin hung up (still endedBy "operator": ended through the admin API). */
export const HUNG_UP_BY_TENANT_ADMIN = "the tenant's admin hung up the call";

const joinRequestSchema = z.strictObject({
  tenantKey: z.string({ error: "tenantKey is required" }).min(1, "tenantKey is required").max(254),
  vtcId: z.string({ error: "vtcId is required" }).min(1, "vtcId is required").max(40),
  displayName: z
    .string({ error: "displayName is required" })
    .trim()
    .min(1, "displayName must not be empty")
    .max(256, "displayName must be at most 256 characters"),
  mediaHostId: z.string({ error: "mediaHostId is required" }).regex(/^[A-Za-z0-9._-]{1,128}$/, "mediaHostId must be 1-128 letters, digits, . _ or -"),
  mediaHostEpoch: z.number({ error: "mediaHostEpoch is required: the epoch of the host's lease" }).int().min(1),
  deviceCallId: z.string({ error: "deviceCallId is required" }).min(1).max(256),
  mediaBlob: z.string({ error: "mediaBlob is required" }).max(64 * 1024, "mediaBlob must be at most 64 KiB"),
  // Optional, for the call list: hosts that do not send them leave them null.
  dialForm: z.enum(["ivr", "direct", "direct-by-domain"], { error: "dialForm must be ivr, direct or direct-by-domain" }).nullish(),
  deviceAddress: z.string().max(100, "deviceAddress must be at most 100 characters").nullish(),
});

const screenSharingRoleSchema = z.strictObject({
  role: z.enum(["viewer", "sharer"], { error: "role must be viewer or sharer" }),
});

export type JoinOutcome =
  | {
      readonly kind: "joined";
      readonly callId: string;
      /** Microsoft's id of the call (null if Graph has not named it): the media host logs it with each line of the call. */
      readonly callChainId: string | null;
      readonly joinAsGuest: boolean;
      readonly meetingSubject: string | null;
    }
  | ResolutionRefusal;

/**
 * Told which call a request concerns as soon as that is known (before anything that may
 * still fail), so the request's log lines can name it by its callChainId too.
 */
export type CallNamed = (call: { readonly callId: string; readonly callChainId: string | null }) => void;

export const CALL_UPDATED = "call.updated";
/** What a call id looks like (Graph's are GUIDs): anything else is refused before it reaches the database. */
const CALL_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** A reaper's claim on a call older than this is taken over (its instance died before the bot left). */
const REAP_CLAIM_TIMEOUT_IN_MS = 10_000;

/**
 * Bot calls into meetings for room systems: joining on a media host's request,
 * leaving, and following each call through Graph's notifications, handing every
 * change to the media host that carries the call.
 */
export class CallService {
  constructor(
    private readonly resolution: ResolutionService,
    private readonly calls: CallControl,
    private readonly sessions: CallSessionRepository,
    private readonly bus: MessagePublisher,
    private readonly consent: ConsentService,
    private readonly options: CallServiceOptions,
  ) {}

  async join(input: unknown, options: { readonly about?: CallNamed } = {}): Promise<JoinOutcome> {
    const request = parseOrThrow(joinRequestSchema, input);
    await this.#requireServing(request.mediaHostId, request.mediaHostEpoch);
    const resolved = await this.resolution.resolve(request.tenantKey, request.vtcId);
    if (resolved.kind === "refused") return resolved;
    let joined: JoinedCall;
    try {
      joined = await this.calls.join({
        tenantId: resolved.tenantId,
        meeting: resolved.meeting,
        callbackUri: this.options.callbackUri,
        displayName: request.displayName,
        joinAsGuest: resolved.joinAsGuest,
        mediaBlob: request.mediaBlob,
      });
    } catch (e) {
      if (!(e instanceof ConsentMissingError)) throw e;
      await this.consent.refresh(resolved.tenantId);
      return refuse("tenant-not-consented", "the organization no longer allows video conferencing devices to join");
    }
    options.about?.(joined);
    const now = this.options.now().toISOString();
    const record: CallSessionRecord = {
      ...INITIAL_CALL_SESSION,
      myParticipantId: joined.myParticipantId,
      callChainId: joined.callChainId,
      callId: joined.callId,
      tenantId: resolved.tenantId,
      mediaHostId: request.mediaHostId,
      mediaHostEpoch: request.mediaHostEpoch,
      deviceCallId: request.deviceCallId,
      displayName: request.displayName,
      vtcId: resolved.vtcId,
      meetingId: resolved.meeting.id,
      organizerId: resolved.meeting.organizerId,
      joinAsGuest: resolved.joinAsGuest,
      meetingSubject: resolved.meeting.subject,
      dialForm: request.dialForm ?? null,
      deviceAddress: request.deviceAddress ?? null,
      createdAt: now,
      establishedAt: null,
      endedAt: null,
      endedBy: null,
      endReason: null,
      deliveredDigest: null,
    };
    await this.sessions.create(record);
    // The host may have been declared dead while the join was on its way; the reaper looked for
    // its calls after that, so it may not have seen this one: end it here instead.
    if (!(await this.options.hostIsServing(request.mediaHostId, request.mediaHostEpoch))) {
      await this.endCallsLeftBehind(request.mediaHostId, request.mediaHostEpoch, MEDIA_HOST_LOST);
      throw new ConflictError(`media host ${request.mediaHostId} lost its lease while joining; the call was ended`);
    }
    await this.#catchUp(record);
    return {
      kind: "joined",
      callId: joined.callId,
      callChainId: joined.callChainId,
      joinAsGuest: resolved.joinAsGuest,
      meetingSubject: resolved.meeting.subject,
    };
  }

  /**
   * Ends the calls a media host left behind (it died, or left the pool with calls): each
   * call is claimed with a conditional write, so however many instances run this at once,
   * one of them makes the bot leave the meeting; the record ends with `reason`. A claim
   * whose instance died before the bot left is taken over after a while. `pending` counts
   * calls that could not be finished now (Graph failing, another instance at work).
   */
  async endCallsLeftBehind(mediaHostId: string, epoch: number, reason: string): Promise<{ readonly ended: number; readonly pending: number }> {
    const now = this.options.now();
    const at = now.toISOString();
    const claimExpiredBefore = now.getTime() - REAP_CLAIM_TIMEOUT_IN_MS;
    let ended = 0;
    let pending = 0;
    await Promise.all(
      (await this.sessions.listLeftBehind(mediaHostId, epoch)).map(async (left) => {
        let claimed = false;
        let done = false;
        const { value } = await this.sessions.update(left.callId, (r) => {
          claimed = false;
          done = Boolean(r.reap?.leftMeetingAt) || (!r.reap && r.endedAt !== null);
          if (done) return r;
          if (r.reap && Date.parse(r.reap.claimedAt) > claimExpiredBefore) return r;
          claimed = true;
          return {
            ...r,
            endedAt: r.endedAt ?? at,
            endedBy: r.endedBy ?? "gateway",
            endReason: r.endedAt ? r.endReason : reason,
            reap: { claimedAt: at, leftMeetingAt: null },
          };
        });
        if (done) return;
        if (!claimed) {
          pending++;
          return;
        }
        try {
          await this.calls.leave(value.tenantId, value.callId);
          await this.sessions.update(value.callId, (r) =>
            r.reap ? { ...r, reap: { ...r.reap, leftMeetingAt: this.options.now().toISOString() } } : r,
          );
          ended++;
        } catch (e) {
          pending++;
          this.options.log(`ending ${callLabel(value)} of media host ${mediaHostId} failed: ${(e as Error).message}`.slice(0, 400));
        }
      }),
    );
    return { ended, pending };
  }

  async #requireServing(mediaHostId: string, epoch: number): Promise<void> {
    if (!(await this.options.hostIsServing(mediaHostId, epoch)))
      throw new ConflictError(`media host ${mediaHostId} holds no live lease at epoch ${epoch}: it must not join meetings (it fences itself)`);
  }

  /** The device hung up, or the media host ended the call (drain deadline, media failure): leave the meeting and close the record. */
  async leave(
    callId: string,
    reason: string,
    endedBy: "device" | "gateway" = "device",
    options: { readonly about?: CallNamed } = {},
  ): Promise<CallSessionRecord> {
    const now = this.options.now().toISOString();
    const { value } = await this.sessions.update(callId, (r) =>
      r.endedAt ? r : { ...r, endedAt: now, endedBy, endReason: reason.slice(0, 300) || "the device hung up" },
    );
    options.about?.(value);
    await this.calls.leave(value.tenantId, callId);
    return value;
  }

  /**
   * The media host's measurements at the end of a call: kept in the call record and
   * reported to Teams (logTeleconferenceDeviceQuality) for the tenant's call quality
   * dashboard. A report for a call that already has one changes nothing.
   */
  async recordQuality(callId: string, quality: CallQuality, options: { readonly about?: CallNamed } = {}): Promise<CallSessionRecord> {
    let first = false;
    const { value } = await this.sessions.update(callId, (r) => {
      first = false;
      if (r.quality) return r;
      first = true;
      return { ...r, quality: normalizeCallQuality(quality) };
    });
    options.about?.(value);
    if (!first) return value;
    if (value.callChainId === null) {
      // Teams files the report under the call's callChainId: without one there is nothing to file it under.
      this.options.log(`the quality of ${callLabel(value)} is kept but not reported to Teams: Graph never named its callChainId`);
      return value;
    }
    const body = teleconferenceDeviceQuality({
      callChainId: value.callChainId,
      participantId: value.myParticipantId ?? value.callId,
      deviceName: value.displayName,
      mediaLegId: value.deviceCallId,
      quality,
    });
    await this.calls
      .logDeviceQuality(value.tenantId, body)
      .catch((e: Error) => this.options.log(`reporting the quality of ${callLabel(value)} failed: ${e.message}`.slice(0, 400)));
    return value;
  }

  /**
   * The media host's bot takes (sharer) or gives up (viewer) the meeting's screen share, before it
   * sends content or after it stops. Graph's role is a state: asking twice for the same role is the
   * same as asking once. An ended call is refused (409); one Graph no longer knows is 404.
   */
  async changeScreenSharingRole(
    callId: string,
    input: unknown,
    options: { readonly about?: CallNamed } = {},
  ): Promise<{ readonly callId: string; readonly role: ScreenSharingRole }> {
    const { role } = parseOrThrow(screenSharingRoleSchema, input);
    const session = await this.sessions.get(callId);
    if (!session) throw new NotFoundError(`no call ${callId}`);
    options.about?.(session.value);
    if (session.value.endedAt) throw new ConflictError(`call ${callId} has ended: it can no longer share`);
    await this.calls.changeScreenSharingRole(session.value.tenantId, callId, role);
    return { callId, role };
  }

  /**
   * Graph ends a call not kept alive for 45 minutes; a keep-alive for every live call
   * every 15 minutes keeps long meetings up. A call Graph no longer knows is read back
   * and closed.
   */
  async keepAllAlive(): Promise<{ readonly kept: number; readonly failed: number }> {
    let kept = 0;
    let failed = 0;
    for (const session of await this.sessions.listActive()) {
      try {
        await this.calls.keepAlive(session.tenantId, session.callId);
        kept++;
      } catch (e) {
        failed++;
        if (e instanceof NotFoundError) await this.#catchUp(session);
        else this.options.log(`keep-alive of ${callLabel(session)} failed: ${(e as Error).message}`.slice(0, 400));
      }
    }
    return { kept, failed };
  }

  get(callId: string) {
    return this.sessions.get(callId);
  }

  /** One call's record, if the scope may see it (another tenant's call is refused, not hidden). */
  async show(callId: string, scope: CallScope) {
    if (!CALL_ID.test(callId))
      throw new ValidationError([{ field: "callId", message: "callId must be a call's id: 1-128 letters, digits, '.', '_', ':' or '-'" }]);
    const session = await this.sessions.get(callId);
    if (!session) throw new NotFoundError(`call ${callId} is not known`);
    requireInScope(scope, session.value.tenantId);
    return session;
  }

  /** Live calls (all of them: they are bounded by the pool's capacity), or a page of ended ones. */
  async list(request: CallListRequest, scope: CallScope): Promise<Page<CallSummary>> {
    if (request.state === "live") {
      const tenantId = request.tenantId ?? scope.tenantId;
      if (tenantId) requireInScope(scope, tenantId);
      const live = await this.sessions.listLive(tenantId ? { tenantId } : {});
      return { items: live.map(callSummary), continuationToken: undefined };
    }
    const { query, position } = request.continuationToken
      ? this.options.historyTokens.read(request.continuationToken, request.named)
      : { query: request.query!, position: undefined };
    const scoped = query.tenantId || !scope.tenantId ? query : { ...query, tenantId: scope.tenantId };
    if (scoped.tenantId) requireInScope(scope, scoped.tenantId);
    const page = await this.sessions.listEnded(scoped, { maxItemCount: request.top, ...(position ? { continuationToken: position } : {}) });
    return {
      items: page.items,
      continuationToken: page.continuationToken ? this.options.historyTokens.issue(scoped, page.continuationToken) : undefined,
    };
  }

  /**
   * An operator, or the tenant's own admin (`reason` says which), ends a live call: the record ends (by "operator"), the media host is told
   * the call terminated (so the device gets a BYE with the reason), and the bot leaves the
   * meeting. A call that has ended already is a ConflictError naming how it ended; if an
   * operator ended it, the bot's leaving is repeated first (Graph's 404 for a call that is
   * gone is no error), so a hang-up whose leave failed can simply be retried.
   */
  async hangUp(callId: string, scope: CallScope, options: { readonly about?: CallNamed; readonly reason?: string } = {}): Promise<CallSessionRecord> {
    const reason = options.reason ?? HUNG_UP_BY_OPERATOR;
    const current = await this.show(callId, scope);
    options.about?.(current.value);
    const at = this.options.now().toISOString();
    let endedNow = false;
    await this.#observe(callId, (r) => {
      endedNow = r.endedAt === null;
      if (!endedNow) return r;
      // The state the media host acts on: terminated, with our reason (a later "terminated" from Graph keeps it).
      return {
        ...r,
        state: "terminated",
        resultInfo: { code: 0, subcode: 0, message: reason },
        endedAt: at,
        endedBy: "operator",
        endReason: reason,
      };
    });
    const ended = (await this.sessions.get(callId))?.value ?? current.value;
    if (!endedNow) {
      if (ended.endedBy === "operator") await this.calls.leave(ended.tenantId, callId);
      throw new ConflictError(`${callLabel(ended)} has ended already (at ${ended.endedAt}, by ${ended.endedBy}: ${ended.endReason})`, {
        code: "call-ended",
      });
    }
    await this.calls.leave(ended.tenantId, callId);
    this.options.log(`${callLabel(ended)} hung up by an operator`);
    return ended;
  }

  /**
   * Applies a validated commsNotifications payload sent for `tenantId` (the token's tid).
   * Idempotent: a replay changes nothing and hands nothing new to the media host.
   */
  async applyNotifications(tenantId: string, body: unknown): Promise<{ readonly applied: number; readonly ignored: number }> {
    const events = readCallEvents(parseOrThrow(commsNotificationsSchema, body));
    let applied = 0;
    let ignored = 0;
    for (const event of events) {
      if (await this.#apply(tenantId, event)) applied++;
      else ignored++;
    }
    return { applied, ignored };
  }

  async #apply(tenantId: string, event: CallEvent): Promise<boolean> {
    const now = this.options.now();
    let foreign: CallSessionRecord | undefined;
    try {
      await this.#observe(event.callId, (r) => {
        foreign = r.tenantId !== tenantId ? r : undefined;
        return foreign ? r : observeCall(r, event.observation, now);
      });
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
      // Graph can notify before the join's answer reached us; #catchUp reads the state then.
      const callChainId = event.observation.kind === "state" ? event.observation.callChainId : null;
      this.options.log(`notification for unknown ${callLabel({ callId: event.callId, callChainId })} acknowledged`);
      return false;
    }
    if (foreign) {
      this.options.log(`notification for ${callLabel(foreign)} came with tenant ${tenantId}, not the call's; ignored`);
      return false;
    }
    return true;
  }

  /** Reads the call from Graph once the record exists, so nothing said before is lost. */
  async #catchUp(record: CallSessionRecord): Promise<void> {
    const current = await this.calls.getCall(record.tenantId, record.callId);
    const now = this.options.now();
    const observations = current
      ? [
          toStateObservation(current.call, false),
          { kind: "participants" as const, updated: current.participants.map((p) => toParticipant(p, false)).filter((p) => p !== undefined) },
        ]
      : [toStateObservation({}, true)];
    await this.#observe(record.callId, (r) => observations.reduce((acc, o) => (o ? observeCall(acc, o, now) : acc), r));
  }

  /**
   * Applies an observation to the record and hands the media host the call's new view
   * unless that exact view was handed over already. The hand-off happens before the
   * write that records it (and again if the write loses a race), so a stored record
   * never claims a delivery that did not happen; a replay after a failed write hands
   * the same view over again, which the bus drops as a duplicate (the message id is
   * the view's digest). A replay that changes nothing writes nothing.
   */
  async #observe(callId: string, observe: (record: CallSessionRecord) => CallSessionRecord): Promise<void> {
    await this.sessions.update(
      callId,
      (r) => {
        const observed = observe(r);
        const digest = viewDigest(observed);
        const next =
          digest === observed.deliveredDigest
            ? observed
            : { ...observed, deliveredDigest: digest, deliveredViews: (observed.deliveredViews ?? 0) + 1 };
        return JSON.stringify(next) === JSON.stringify(r) ? r : next;
      },
      {
        beforeWrite: async (next, current) => {
          if (next.deliveredDigest === current.deliveredDigest || next.deliveredDigest === null) return;
          // The host is gone (its calls were ended for it): nobody would read the message.
          if (next.reap) return;
          const message: BusMessage = {
            messageId: `${next.callId}:${next.deliveredViews ?? 0}:${next.deliveredDigest}`,
            orderingKey: next.callId,
            to: next.mediaHostId,
            subject: CALL_UPDATED,
            body: { callId: next.callId, deviceCallId: next.deviceCallId, ...mediaHostView(next) },
          };
          await this.bus.publish([message]);
        },
      },
    );
  }
}

function requireInScope(scope: CallScope, tenantId: string): void {
  if (scope.tenantId !== undefined && scope.tenantId !== tenantId.toLowerCase())
    throw new AuthorizationError(`tenant ${tenantId} is outside the caller's tenant`);
}

function viewDigest(record: CallSessionRecord): string {
  return createHash("sha256")
    .update(JSON.stringify(mediaHostView(record)))
    .digest("base64url")
    .slice(0, 22);
}
