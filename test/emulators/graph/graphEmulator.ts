import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type { Modality, ResultInfo } from "@microsoft/microsoft-graph-types";
import { createRemoteJWKSet, decodeJwt, errors as joseErrors, exportJWK, generateKeyPair, type JWK, jwtVerify, SignJWT } from "jose";
import {
  badRequest,
  forbidden,
  GraphHttpError,
  isObject,
  notFound,
  type RequestIds,
  readBody,
  readJsonObject,
  requestIds,
  sendEmpty,
  sendGraphError,
  sendJson,
} from "./graphHttp.js";
import { renderOperatorPage } from "./operatorPage.js";
import {
  botParticipantJson,
  bodyPreview,
  type CallRecord,
  callJson,
  dateTimeTimeZoneToIso,
  digits,
  type EmulatedUser,
  type EventRecord,
  eventJson,
  type HumanParticipant,
  humanParticipantJson,
  joinWebUrl,
  LOBBY_SCOPES,
  type LobbyScope,
  type MeetingState,
  meetingJson,
  newChangeKey,
  newEventData,
  newGuid,
  newMeetingThreadId,
  newOutlookId,
  newPasscode,
  normalizeDateTimeTimeZone,
  onlineMeetingId,
  teamsInviteHtml,
  type VideoInteropProvider,
} from "./shapes.js";

export type { EmulatedUser, LobbyScope, VideoInteropProvider } from "./shapes.js";

/** Graph's resource id as an audience; tokens carry it or the App ID URI. */
const GRAPH_AUDIENCES = ["https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"];
const CALLING_ISSUER = "https://api.botframework.com";
const WWW_AUTHENTICATE =
  'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"';

const ROLES = {
  joinGroupCall: "Calls.JoinGroupCall.All",
  joinGroupCallAsGuest: "Calls.JoinGroupCallAsGuest.All",
  accessMedia: "Calls.AccessMedia.All",
  meetingsRead: ["OnlineMeetings.Read.All", "OnlineMeetings.ReadWrite.All"],
  calendarsRead: ["Calendars.Read", "Calendars.ReadWrite"],
  calendarsWrite: ["Calendars.ReadWrite"],
  usersRead: ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"],
  groupMembersRead: ["GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "Directory.ReadWrite.All"],
} as const;

/** resultInfo values from the "call end reason codes" table of the Delete call reference. */
export const RESULT = {
  hungUpByBot: { code: 200, subcode: 5001, message: "The conversation has ended." },
  meetingEnded: { code: 200, subcode: 5003, message: "The conversation has ended." },
  removed: { code: 200, subcode: 5300, message: "Participant was removed from the conversation by another participant." },
  lobbyTimeout: {
    code: 200,
    subcode: 5855,
    message: "Participant waiting in lobby was removed from the conversation after lobby inactivity timeout.",
  },
  keepAliveTimeout: { code: 408, subcode: 8537, message: "Keep Alive timeout, cleaned up inactive call." },
} as const satisfies Record<string, ResultInfo>;

export type LifecycleEvent = "reauthorizationRequired" | "subscriptionRemoved" | "missed";

/**
 * Teams' meeting media server, as far as the calling platform drives it: a bot with
 * app-hosted media that gets into the meeting is connected by its media blob; one
 * that leaves is disconnected. The meeting emulator's SFU (test/emulators/meeting/).
 */
export interface MeetingMediaPort {
  botJoined(bot: { readonly meetingId: string; readonly callId: string; readonly displayName: string; readonly blob: string }): Promise<void>;
  botLeft(callId: string, reason: string): void;
  /** The bot took (sharer) or gave up (viewer) the meeting's screen share with changeScreenSharingRole. */
  botScreenSharingRole(meetingId: string, callId: string, role: ScreenSharingRole): void;
}

export type ScreenSharingRole = "viewer" | "sharer";
const SCREEN_SHARING_ROLES: readonly string[] = ["viewer", "sharer"] satisfies ScreenSharingRole[];

/** What Teams reports when a bot's app-hosted media cannot be set up (the blob or its media endpoint failed). */
export const MEDIA_FAILED: ResultInfo = { code: 500, subcode: 5210, message: "Media connection for the call could not be established." };

export interface GraphEmulatorOptions {
  /** Where the emulator is served, e.g. https://localhost:7444 (it does not listen itself). */
  readonly origin: string;
  /**
   * The Entra ID stand-in that mints app tokens for https://graph.microsoft.com. `issuerFor`
   * may give several issuers (Graph takes both v1 `https://sts.windows.net/{tid}/` and v2 tokens).
   */
  readonly tokenIssuer: { readonly jwksUri: string; readonly issuerFor: (tenantId: string) => string | readonly string[] };
  /** Apps registered as calling bots; when given, joins by any other app are refused. */
  readonly botAppIds?: readonly string[];
  /** From the join (establishing) to established or the lobby. Default 100 ms. */
  readonly establishDelayMs?: number;
  /** How long a bot may wait in the lobby before Teams removes it (5855). Default 15 minutes. */
  readonly lobbyTimeoutMs?: number;
  /** A call without keepAlive for this long ends (408/8537). Default 45 minutes. */
  readonly keepAliveTimeoutMs?: number;
  /** A receiver must answer a notification within this. Default 3000 ms. */
  readonly notificationTimeoutMs?: number;
  /** Change and lifecycle notifications are retried until 2xx, at most this many tries. Default 4. */
  readonly notificationMaxAttempts?: number;
  /** First retry delay, doubled each time. Default 1000 ms. */
  readonly notificationRetryBaseMs?: number;
  /** The subscription validation request must be answered within this. Default 10000 ms. */
  readonly validationTimeoutMs?: number;
  /** Longest subscription lifetime for Outlook events. Default 10080 minutes. */
  readonly maxEventSubscriptionMinutes?: number;
  /** Graph requires https callbacks; the local stack may need http ones. Default false. */
  readonly allowHttpCallbacks?: boolean;
  /** How often expiry, keep-alive and lobby deadlines are checked in real time. Default 1000 ms. */
  readonly sweepIntervalMs?: number;
}

export interface DeliveryAttempt {
  readonly at: string;
  readonly status: number | null;
  readonly error: string | null;
}

/** Everything the emulator POSTed (or held back) to a callback, in order, for assertions and replays. */
export interface SentNotification {
  readonly sequence: number;
  readonly kind: "call" | "change" | "lifecycle";
  readonly url: string;
  readonly body: Record<string, any>;
  readonly callId: string | null;
  readonly subscriptionId: string | null;
  /** Call notifications: the bot's app id (the JWT audience) and the tenant (tid). */
  readonly audience: string | null;
  readonly tenantId: string;
  readonly resentFrom: number | null;
  readonly held: boolean;
  readonly attempts: DeliveryAttempt[];
  /** The Authorization header of the last attempt (call notifications). */
  authorization: string | null;
}

export interface CallSnapshot {
  readonly id: string;
  readonly tenantId: string;
  readonly appId: string;
  readonly meetingId: string;
  readonly state: string;
  readonly inLobby: boolean;
  readonly myParticipantId: string;
  /** Set by the calling platform when the call is created (a GUID); in the join's answer, GET and every call-state notification. */
  readonly callChainId: string;
  readonly callbackUri: string;
  readonly identity: { readonly kind: "application" | "guest"; readonly id: string; readonly displayName: string };
  readonly resultInfo: ResultInfo | null;
  readonly lastKeepAlive: string;
}

export interface SubscriptionSnapshot {
  readonly id: string;
  readonly tenantId: string;
  readonly appId: string;
  readonly resource: string;
  readonly changeType: string;
  readonly notificationUrl: string;
  readonly lifecycleNotificationUrl: string | null;
  readonly expirationDateTime: string;
  readonly clientState: string | null;
  readonly paused: boolean;
}

export interface TeamsMeetingEventOptions {
  readonly subject: string;
  readonly start: Date | string;
  readonly end: Date | string;
  readonly lobbyScope?: LobbyScope;
  readonly isDialInBypassEnabled?: boolean;
  /** Forces the meeting's VTC id (otherwise one is assigned when the tenant has a CVI provider). */
  readonly videoTeleconferenceId?: string | null;
  /** HTML put before the Teams join block. */
  readonly bodyHtml?: string;
}

interface AppToken {
  readonly tenantId: string;
  readonly appId: string;
  readonly objectId: string | null;
  readonly roles: ReadonlySet<string>;
}

/** A security group; members are user or group ids (nesting is what "transitive" follows). */
interface EmulatedGroup {
  readonly id: string;
  readonly displayName: string;
  readonly memberIds: Set<string>;
}

interface TenantState {
  readonly users: Map<string, EmulatedUser>;
  readonly groups: Map<string, EmulatedGroup>;
  /** userId → eventId → event. */
  readonly events: Map<string, Map<string, EventRecord>>;
  videoInterop: VideoInteropProvider | null;
}

interface SubscriptionRecord {
  readonly id: string;
  readonly tenantId: string;
  readonly appId: string;
  readonly creatorId: string | null;
  readonly resource: string;
  readonly userId: string;
  readonly changeType: string;
  readonly changeTypes: ReadonlySet<string>;
  notificationUrl: string;
  readonly lifecycleNotificationUrl: string | null;
  readonly clientState: string | null;
  readonly latestSupportedTlsVersion: string;
  /** Virtual-clock milliseconds. */
  expiration: number;
  /** After a reauthorizationRequired that pauses delivery, until reauthorize or renewal. */
  paused: boolean;
}

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

const WRITABLE_EVENT_PROPERTIES = new Set([
  "subject",
  "body",
  "start",
  "end",
  "location",
  "locations",
  "attendees",
  "isOnlineMeeting",
  "onlineMeetingProvider",
  "categories",
  "importance",
  "sensitivity",
  "showAs",
  "isReminderOn",
  "reminderMinutesBeforeStart",
  "responseRequested",
  "allowNewTimeProposals",
  "hideAttendees",
  "isAllDay",
  "recurrence",
  "transactionId",
]);
const READ_ONLY_EVENT_PROPERTIES = new Set([
  "id",
  "createdDateTime",
  "lastModifiedDateTime",
  "changeKey",
  "iCalUId",
  "uid",
  "webLink",
  "organizer",
  "onlineMeeting",
  "onlineMeetingUrl",
  "bodyPreview",
  "isOrganizer",
  "isCancelled",
  "type",
  "seriesMasterId",
  "responseStatus",
  "hasAttachments",
  "occurrenceId",
  "isDraft",
  "originalStartTimeZone",
  "originalEndTimeZone",
]);
const MODALITIES: readonly Modality[] = ["audio", "video", "videoBasedScreenSharing", "data"];
const CHANGE_TYPES = new Set(["created", "updated", "deleted"]);
const TLS_VERSIONS = new Set(["v1_0", "v1_1", "v1_2", "v1_3"]);

/** Seven fractional digits, as Graph writes DateTimeOffset values. */
const graphTime = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$10000Z");
const sameId = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * Microsoft Graph v1.0 as far as a Cloud Video Interop gateway uses it (users,
 * calendar events with Teams meetings, onlineMeetings and the VTC-id look-up, bot
 * calls with their notifications, subscriptions with change and lifecycle
 * notifications), plus the Teams calling platform's notification signer and its
 * OpenID configuration. It serves requests handed to `handle()`; controls play the
 * people on the Teams side. Test tooling only.
 */
export class GraphEmulator {
  readonly origin: string;
  /** The base URL a Graph client uses: `${origin}/v1.0`. */
  readonly graphBaseUrl: string;
  /** Stands in for https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration. */
  readonly callingPlatformOpenIdConfigUrl: string;
  readonly callingPlatformJwksUri: string;
  readonly callingPlatformIssuer = CALLING_ISSUER;
  /** The operator page for a person driving the local stack. */
  readonly operatorUrl: string;
  /** While true, new notifications are recorded but not sent; deliver them with `resend`, in any order. */
  holdNotifications = false;

  readonly #issuerFor: (tenantId: string) => string | readonly string[];
  readonly #jwks: ReturnType<typeof createRemoteJWKSet>;
  readonly #botAppIds: ReadonlySet<string> | null;
  readonly #o: Required<Omit<GraphEmulatorOptions, "origin" | "tokenIssuer" | "botAppIds">>;
  readonly #tenants = new Map<string, TenantState>();
  readonly #meetings = new Map<string, MeetingState>();
  readonly #calls = new Map<string, CallRecord>();
  /** DELETE /communications/calls/{id} requests per call, answered or not (a call ended twice shows here). */
  readonly #deleteRequests = new Map<string, number>();
  readonly #subscriptions = new Map<string, SubscriptionRecord>();
  readonly #sent: SentNotification[] = [];
  readonly #queues = new Map<string, Promise<void>>();
  readonly #pending = new Set<Promise<unknown>>();
  readonly #stop = new AbortController();
  readonly #keyId = randomUUID();
  /** Per tenant and audience, the platform's current notification token: minted once and reused, as a token lives for minutes. */
  readonly #notificationTokens = new Map<string, { readonly authorization: string; readonly expiresAtMs: number }>();
  /** App tokens whose signature was checked, until they expire: the RSA check once per token, not per request. */
  readonly #verifiedAppTokens = new Map<string, { readonly claims: Record<string, unknown>; readonly expiresAtMs: number }>();
  #keys: { privateKey: SigningKey; forgeryKey: SigningKey; publicJwk: JWK } | undefined;
  #media: MeetingMediaPort | undefined;
  readonly #deviceQuality: { tenantId: string; appId: string; quality: Record<string, unknown> }[] = [];
  #sweeper: NodeJS.Timeout | undefined;
  #clockOffset = 0;

  constructor(options: GraphEmulatorOptions) {
    this.origin = options.origin.replace(/\/+$/, "");
    this.graphBaseUrl = `${this.origin}/v1.0`;
    this.callingPlatformOpenIdConfigUrl = `${this.origin}/callingplatform/v1/.well-known/OpenIdConfiguration`;
    this.callingPlatformJwksUri = `${this.origin}/callingplatform/v1/keys`;
    this.operatorUrl = `${this.origin}/_emulator/`;
    this.#issuerFor = options.tokenIssuer.issuerFor;
    this.#jwks = createRemoteJWKSet(new URL(options.tokenIssuer.jwksUri));
    this.#botAppIds = options.botAppIds ? new Set(options.botAppIds.map((id) => id.toLowerCase())) : null;
    this.#o = {
      establishDelayMs: options.establishDelayMs ?? 100,
      lobbyTimeoutMs: options.lobbyTimeoutMs ?? 15 * 60_000,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 45 * 60_000,
      notificationTimeoutMs: options.notificationTimeoutMs ?? 3000,
      notificationMaxAttempts: Math.max(1, options.notificationMaxAttempts ?? 4),
      notificationRetryBaseMs: options.notificationRetryBaseMs ?? 1000,
      validationTimeoutMs: options.validationTimeoutMs ?? 10_000,
      maxEventSubscriptionMinutes: options.maxEventSubscriptionMinutes ?? 10080,
      allowHttpCallbacks: options.allowHttpCallbacks ?? false,
      sweepIntervalMs: options.sweepIntervalMs ?? 1000,
    };
  }

  /** Creates the calling platform's RS256 signing key and starts the deadline sweeper. */
  async start(): Promise<void> {
    const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
    const { privateKey: forgeryKey } = await generateKeyPair("RS256");
    this.#keys = { privateKey, forgeryKey, publicJwk: { ...(await exportJWK(publicKey)), kid: this.#keyId, use: "sig", alg: "RS256" } };
    this.#sweeper = setInterval(() => this.#sweep(), this.#o.sweepIntervalMs);
    this.#sweeper.unref();
  }

  /** Stops timers and aborts deliveries in flight. */
  stop(): void {
    clearInterval(this.#sweeper);
    this.#stop.abort();
  }

  // ================================================================ clock

  /** The emulator's clock: real time plus whatever `advanceClock` added. Governs expiry, keep-alive and lobby deadlines (not token lifetimes). */
  now(): number {
    return Date.now() + this.#clockOffset;
  }

  /** Moves the clock forward and applies what became due (expired subscriptions vanish, idle calls end). */
  advanceClock(ms: number): void {
    this.#clockOffset += ms;
    this.#sweep();
  }

  /** Resolves when every queued notification and pending call step has finished. */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  // ================================================================ HTTP entry

  /** Serves /v1.0/…, /callingplatform/… and /_emulator/…; returns false for any other path. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? "/", this.origin);
    const path = url.pathname;
    if (/^\/callingplatform\//i.test(path)) {
      this.#serveCallingPlatform(req, res, path);
      return true;
    }
    if (path === "/_emulator" || path.startsWith("/_emulator/")) {
      await this.#serveOperator(req, res, path).catch((e: Error) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        res.end(e.message);
      });
      return true;
    }
    if (!/^\/v1\.0(\/|$)/i.test(path)) return false;
    const ids = requestIds(req);
    try {
      this.#sweep();
      await this.#serveGraph(req, res, url, ids);
    } catch (e) {
      const error = e instanceof GraphHttpError ? e : new GraphHttpError(500, "InternalServerError", `Emulator failure: ${(e as Error).message}`);
      if (!res.headersSent) sendGraphError(res, ids, error);
      else res.end();
    }
    return true;
  }

  // ================================================================ calling platform signer

  /** A JWT as the Teams calling platform puts in `Authorization` on call notifications. `forged` signs with a key it does not publish. */
  async signCallNotificationToken(options: {
    audience: string;
    tenantId: string;
    expiresInSeconds?: number;
    forged?: boolean;
    issuer?: string;
  }): Promise<string> {
    const keys = this.#requireKeys();
    const now = Math.floor(Date.now() / 1000);
    const exp = now + (options.expiresInSeconds ?? 300);
    return new SignJWT({ tid: options.tenantId })
      .setProtectedHeader({ alg: "RS256", kid: this.#keyId, typ: "JWT" })
      .setIssuer(options.issuer ?? CALLING_ISSUER)
      .setAudience(options.audience)
      .setIssuedAt(Math.min(now, exp - 60))
      .setNotBefore(Math.min(now - 300, exp - 60))
      .setExpirationTime(exp)
      .sign(options.forged ? keys.forgeryKey : keys.privateKey);
  }

  async #notificationAuthorization(tenantId: string, audience: string): Promise<string> {
    const key = `${tenantId} ${audience}`;
    const current = this.#notificationTokens.get(key);
    if (current && current.expiresAtMs - 60_000 > Date.now()) return current.authorization;
    const authorization = `Bearer ${await this.signCallNotificationToken({ audience, tenantId })}`;
    this.#notificationTokens.set(key, { authorization, expiresAtMs: Date.now() + 300_000 });
    return authorization;
  }

  #serveCallingPlatform(req: IncomingMessage, res: ServerResponse, path: string): void {
    const keys = this.#requireKeys();
    let status = 404;
    let body: unknown = { error: "not found" };
    if (req.method !== "GET") {
      status = 405;
      body = { error: "method not allowed" };
    } else if (/^\/callingplatform\/v1\/\.well-known\/openid-?configuration$/i.test(path)) {
      status = 200;
      body = {
        issuer: CALLING_ISSUER,
        authorization_endpoint: "https://invalid.botframework.com",
        jwks_uri: this.callingPlatformJwksUri,
        id_token_signing_alg_values_supported: ["RS256"],
        token_endpoint_auth_methods_supported: ["private_key_jwt"],
      };
    } else if (/^\/callingplatform\/v1\/keys$/i.test(path)) {
      status = 200;
      body = { keys: [keys.publicJwk] };
    }
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "public, max-age=3600" });
    res.end(JSON.stringify(body));
  }

  // ================================================================ controls: directory and calendar

  addUser(tenantId: string, user: { id?: string; displayName: string; userPrincipalName: string; mail?: string | null }): EmulatedUser {
    const created: EmulatedUser = {
      id: user.id ?? newGuid(),
      displayName: user.displayName,
      userPrincipalName: user.userPrincipalName,
      mail: user.mail === undefined ? user.userPrincipalName : user.mail,
    };
    this.#tenant(tenantId).users.set(created.id, created);
    return created;
  }

  /** A group whose members are users or other groups (for group policy grants). */
  addGroup(tenantId: string, group: { id?: string; displayName: string; memberIds: readonly string[] }): { id: string } {
    const created: EmulatedGroup = {
      id: (group.id ?? newGuid()).toLowerCase(),
      displayName: group.displayName,
      memberIds: new Set(group.memberIds.map((m) => m.toLowerCase())),
    };
    this.#tenant(tenantId).groups.set(created.id, created);
    return { id: created.id };
  }

  /** Users in the group, following nested groups (cycles are safe). */
  #transitiveUsers(tenant: TenantState, groupId: string, seen = new Set<string>()): Set<string> {
    const users = new Set<string>();
    if (seen.has(groupId)) return users;
    seen.add(groupId);
    for (const member of tenant.groups.get(groupId)?.memberIds ?? []) {
      if (tenant.groups.has(member)) for (const u of this.#transitiveUsers(tenant, member, seen)) users.add(u);
      else users.add(member);
    }
    return users;
  }

  /** The tenant's CVI provider (New-CsVideoInteropServiceProvider); null removes it. */
  setVideoInteropProvider(tenantId: string, provider: VideoInteropProvider | null): void {
    this.#tenant(tenantId).videoInterop = provider;
  }

  /** The organizer creates a Teams meeting in Outlook: the event, its onlineMeeting, and change notifications. */
  createTeamsMeetingEvent(
    tenantId: string,
    userId: string,
    options: TeamsMeetingEventOptions,
  ): { eventId: string; meetingId: string; event: Record<string, unknown>; meeting: Record<string, unknown> } {
    const toDtz = (value: Date | string) => ({ dateTime: new Date(value).toISOString(), timeZone: "UTC" });
    const event = this.#createEvent(
      tenantId,
      this.#requireUser(tenantId, userId).id,
      {
        subject: options.subject,
        start: toDtz(options.start),
        end: toDtz(options.end),
        body: { contentType: "html", content: options.bodyHtml ?? "" },
        isOnlineMeeting: true,
        onlineMeetingProvider: "teamsForBusiness",
      },
      { lobbyScope: options.lobbyScope, isDialInBypassEnabled: options.isDialInBypassEnabled, videoTeleconferenceId: options.videoTeleconferenceId },
    );
    const meeting = this.#meetings.get(event.meetingId!)!;
    return { eventId: event.data.id as string, meetingId: meeting.id, event: eventJson(event), meeting: meetingJson(meeting) };
  }

  /** The organizer edits the event in Outlook (same rules as PATCH). */
  updateEvent(tenantId: string, userId: string, eventId: string, changes: Record<string, unknown>): Record<string, unknown> {
    const event = this.#requireEvent(tenantId, userId, eventId);
    this.#applyEventChanges(event, changes, {});
    this.#eventChanged(event, "updated");
    return eventJson(event);
  }

  /** The organizer cancels the meeting: the event leaves the calendar, the meeting can no longer be found or joined. */
  cancelEvent(tenantId: string, userId: string, eventId: string): void {
    this.#removeEvent(this.#requireEvent(tenantId, userId, eventId));
  }

  getEvent(tenantId: string, userId: string, eventId: string): Record<string, unknown> | undefined {
    const user = this.#findUser(tenantId, userId);
    const event = user ? this.#tenant(tenantId).events.get(user.id)?.get(eventId) : undefined;
    return event ? eventJson(event) : undefined;
  }

  // ================================================================ controls: meetings and calls

  setVideoTeleconferenceId(meetingId: string, videoTeleconferenceId: string | null): void {
    this.#requireMeeting(meetingId).videoTeleconferenceId = videoTeleconferenceId;
  }

  setLobbyScope(meetingId: string, scope: LobbyScope): void {
    if (!LOBBY_SCOPES.includes(scope)) throw new Error(`unknown lobby scope ${scope}`);
    this.#requireMeeting(meetingId).lobbyScope = scope;
  }

  /** Connect bots' app-hosted media to this meeting media server from now on. */
  useMeetingMedia(media: MeetingMediaPort): void {
    this.#media = media;
  }

  /** The meeting media server lost a bot's media: Teams drops the bot from the meeting. */
  dropBotForMedia(callId: string, reason: string): void {
    const call = this.#calls.get(callId);
    if (call && call.state !== "terminated") this.#terminate(call, { ...MEDIA_FAILED, message: `${MEDIA_FAILED.message} ${reason}` }, true);
  }

  /** An organizer admits the bot waiting in the lobby: it joins and its call becomes established. */
  admitFromLobby(callId: string): void {
    const call = this.#requireCall(callId);
    if (call.roster !== "lobby") throw new Error(`call ${callId} is not waiting in the lobby (state ${call.state})`);
    this.#join(call, this.#requireMeeting(call.meetingId));
  }

  /** Someone in the meeting removes the bot: its call ends with `resultInfo` (default 200/5300). */
  removeParticipant(callId: string, resultInfo: ResultInfo = RESULT.removed): void {
    const call = this.#requireCall(callId);
    if (call.state === "terminated") throw new Error(`call ${callId} has already ended`);
    this.#terminate(call, resultInfo, false);
  }

  /** "End meeting" for everyone: every bot call in it terminates and the people leave. */
  endMeeting(meetingId: string, resultInfo: ResultInfo = RESULT.meetingEnded): void {
    const meeting = this.#requireMeeting(meetingId);
    for (const call of this.#activeCalls(meeting.id)) this.#terminate(call, resultInfo, false, false);
    meeting.humans = [];
    meeting.screenSharer = null;
    meeting.rosterSequence++;
  }

  /** A person joins the meeting; every bot in it gets a roster update. Returns the participant id. */
  addHumanParticipant(meetingId: string, displayName: string, options: { userId?: string; isMuted?: boolean } = {}): string {
    const meeting = this.#requireMeeting(meetingId);
    const human: HumanParticipant = {
      id: newGuid(),
      displayName,
      userId: options.userId ?? null,
      isMuted: options.isMuted ?? false,
      sourceIds: [this.#sourceId(meeting), this.#sourceId(meeting), this.#sourceId(meeting)],
      rosterSequenceNumber: ++meeting.rosterSequence,
    };
    meeting.humans.push(human);
    this.#broadcastRoster(meeting);
    return human.id;
  }

  removeHumanParticipant(meetingId: string, participantId: string): void {
    const meeting = this.#requireMeeting(meetingId);
    const before = meeting.humans.length;
    meeting.humans = meeting.humans.filter((h) => h.id !== participantId);
    if (meeting.humans.length === before) throw new Error(`no participant ${participantId} in meeting ${meetingId}`);
    if (meeting.screenSharer === participantId) meeting.screenSharer = null;
    meeting.rosterSequence++;
    this.#broadcastRoster(meeting);
  }

  /**
   * A person in the meeting starts sharing their screen (the meeting page): they become the
   * sharer, whoever shared before (a person or a bot) stops; every bot gets a roster update.
   */
  startScreenSharing(meetingId: string, participantId: string): void {
    const meeting = this.#requireMeeting(meetingId);
    if (!meeting.humans.some((h) => h.id === participantId)) throw new Error(`no participant ${participantId} in meeting ${meetingId}`);
    this.#setScreenSharer(meeting, participantId);
  }

  /** A person stops sharing; nothing changes when someone else has taken the share since. */
  stopScreenSharing(meetingId: string, participantId: string): void {
    const meeting = this.#requireMeeting(meetingId);
    if (meeting.screenSharer === participantId) this.#setScreenSharer(meeting, null);
  }

  /** Who shares their screen in the meeting: a person's participant id or a bot's myParticipantId, null when no one does. */
  screenSharer(meetingId: string): string | null {
    return this.#requireMeeting(meetingId).screenSharer;
  }

  /** How many times a client asked to end the call (DELETE /communications/calls/{id}), whatever the answer. */
  deleteRequests(callId: string): number {
    return this.#deleteRequests.get(callId) ?? 0;
  }

  calls(): CallSnapshot[] {
    this.#sweep();
    return [...this.#calls.values()].map((c) => ({
      id: c.id,
      tenantId: c.tenantId,
      appId: c.appId,
      meetingId: c.meetingId,
      state: c.state,
      inLobby: c.roster === "lobby",
      myParticipantId: c.myParticipantId,
      callChainId: c.callChainId,
      callbackUri: c.callbackUri,
      identity: c.identity,
      resultInfo: c.resultInfo,
      lastKeepAlive: new Date(c.lastKeepAlive).toISOString(),
    }));
  }

  meetings(): Record<string, unknown>[] {
    return [...this.#meetings.values()].map((m) => ({
      ...meetingJson(m),
      tenantId: m.tenantId,
      eventId: m.eventId,
      cancelled: m.cancelled,
      humans: m.humans.map((h) => ({ id: h.id, displayName: h.displayName, userId: h.userId })),
    }));
  }

  subscriptions(): SubscriptionSnapshot[] {
    this.#sweep();
    return [...this.#subscriptions.values()].map((s) => ({
      id: s.id,
      tenantId: s.tenantId,
      appId: s.appId,
      resource: s.resource,
      changeType: s.changeType,
      notificationUrl: s.notificationUrl,
      lifecycleNotificationUrl: s.lifecycleNotificationUrl,
      expirationDateTime: graphTime(s.expiration),
      clientState: s.clientState,
      paused: s.paused,
    }));
  }

  // ================================================================ controls: notifications

  get sentNotifications(): readonly SentNotification[] {
    return [...this.#sent];
  }

  /**
   * Sends a recorded notification again (a duplicate, a late or reordered one, or a held one).
   * Call notifications get a freshly signed token unless `sameToken` replays the recorded header.
   */
  async resend(notification: SentNotification, options: { sameToken?: boolean } = {}): Promise<SentNotification> {
    const copy = this.#record({ ...notification, resentFrom: notification.sequence, held: false });
    if (options.sameToken && notification.authorization) copy.authorization = notification.authorization;
    await this.#deliver(copy, Boolean(options.sameToken && notification.authorization));
    return copy;
  }

  /** Sends a lifecycle notification for a subscription (it must have a lifecycleNotificationUrl). */
  sendLifecycleEvent(subscriptionId: string, lifecycleEvent: LifecycleEvent, options: { pauseDelivery?: boolean } = {}): SentNotification {
    this.#sweep();
    const sub = this.#subscriptions.get(subscriptionId);
    if (!sub) throw new Error(`no subscription ${subscriptionId}`);
    if (!sub.lifecycleNotificationUrl) throw new Error(`subscription ${subscriptionId} has no lifecycleNotificationUrl`);
    const record = this.#record({
      kind: "lifecycle",
      url: sub.lifecycleNotificationUrl,
      body: {
        value: [
          {
            subscriptionId: sub.id,
            subscriptionExpirationDateTime: graphTime(sub.expiration),
            tenantId: sub.tenantId,
            clientState: sub.clientState,
            lifecycleEvent,
          },
        ],
      },
      callId: null,
      subscriptionId: sub.id,
      audience: null,
      tenantId: sub.tenantId,
    });
    if (lifecycleEvent === "subscriptionRemoved") this.#subscriptions.delete(sub.id);
    if (lifecycleEvent === "reauthorizationRequired" && options.pauseDelivery) sub.paused = true;
    this.#enqueue(`lifecycle:${sub.id}`, record);
    return record;
  }

  // ================================================================ Graph routing

  async #serveGraph(req: IncomingMessage, res: ServerResponse, url: URL, ids: RequestIds): Promise<void> {
    const token = await this.#authenticate(req);
    let segments: string[];
    try {
      segments = url.pathname
        .replace(/^\/v1\.0\/?/i, "")
        .split("/")
        .filter(Boolean)
        .map((s) => decodeURIComponent(s));
    } catch {
      throw badRequest("The request URL has an invalid escape sequence.");
    }
    const method = req.method ?? "GET";
    const lower = segments.map((s) => s.toLowerCase());
    const route = (pattern: string) => {
      const parts = pattern.split("/");
      return parts.length === lower.length && parts.every((p, i) => p === "*" || p === lower[i]);
    };
    const allow = (...methods: string[]) => {
      if (!methods.includes(method)) throw new GraphHttpError(405, "BadRequest", `The HTTP method '${method}' is not allowed for this resource.`);
    };
    const query = url.searchParams;

    if (route("users")) {
      allow("GET");
      this.#requireRole(token, ROLES.usersRead, directoryDenied);
      return sendJson(res, ids, 200, {
        "@odata.context": `${this.graphBaseUrl}/$metadata#users`,
        value: [...this.#tenant(token.tenantId).users.values()].map(userJson),
      });
    }
    if (route("users/*")) {
      allow("GET");
      this.#requireRole(token, ROLES.usersRead, directoryDenied);
      const user = this.#findUser(token.tenantId, segments[1]!);
      if (!user)
        throw notFound(
          `Resource '${segments[1]}' does not exist or one of its queried reference-property objects are not present.`,
          "Request_ResourceNotFound",
        );
      return sendJson(res, ids, 200, { "@odata.context": `${this.graphBaseUrl}/$metadata#users/$entity`, ...userJson(user) });
    }
    if (route("users/*/transitivememberof/microsoft.graph.group")) {
      allow("GET");
      this.#requireRole(token, ROLES.groupMembersRead, directoryDenied);
      const tenant = this.#tenant(token.tenantId);
      const user = this.#findUser(token.tenantId, segments[1]!);
      if (!user)
        throw notFound(
          `Resource '${segments[1]}' does not exist or one of its queried reference-property objects are not present.`,
          "Request_ResourceNotFound",
        );
      const groups = [...tenant.groups.values()].filter((g) => this.#transitiveUsers(tenant, g.id).has(user.id.toLowerCase()));
      return sendJson(res, ids, 200, {
        "@odata.context": `${this.graphBaseUrl}/$metadata#groups`,
        value: groups.map((g) => ({ "@odata.type": "#microsoft.graph.group", id: g.id, displayName: g.displayName })),
      });
    }
    if (route("groups/*/transitivemembers/microsoft.graph.user")) {
      allow("GET");
      this.#requireRole(token, ROLES.groupMembersRead, directoryDenied);
      const tenant = this.#tenant(token.tenantId);
      const group = tenant.groups.get(lower[1]!);
      if (!group)
        throw notFound(
          `Resource '${segments[1]}' does not exist or one of its queried reference-property objects are not present.`,
          "Request_ResourceNotFound",
        );
      const users = [...this.#transitiveUsers(tenant, group.id)].map((id) => this.#findUser(token.tenantId, id)).filter((u) => u !== undefined);
      return sendJson(res, ids, 200, { "@odata.context": `${this.graphBaseUrl}/$metadata#users`, value: users.map(userJson) });
    }
    if (route("users/*/events")) return this.#serveEvents(req, res, ids, token, segments[1]!, query);
    if (route("users/*/events/*") || route("users/*/events/*/cancel"))
      return this.#serveEvent(req, res, ids, token, segments[1]!, segments[3]!, lower[4]);
    if (route("users/*/onlinemeetings") || route("users/*/onlinemeetings/*")) {
      allow("GET");
      return this.#serveUserOnlineMeetings(res, ids, token, segments[1]!, segments[3], query);
    }
    if (route("communications/onlinemeetings")) {
      allow("GET");
      return this.#serveMeetingLookup(res, ids, token, query);
    }
    if (route("communications/calls")) {
      allow("POST");
      return this.#createCall(req, res, ids, token);
    }
    if (route("communications/calls/logteleconferencedevicequality")) {
      allow("POST");
      return this.#logDeviceQuality(req, res, ids, token);
    }
    if (route("communications/calls/*") || route("communications/calls/*/*") || route("communications/calls/*/participants/*")) {
      return this.#serveCall(req, res, ids, token, segments[2]!, lower[3], segments[4]);
    }
    if (route("subscriptions")) {
      allow("GET", "POST");
      return method === "POST" ? this.#createSubscription(req, res, ids, token) : this.#listSubscriptions(res, ids, token);
    }
    if (route("subscriptions/*") || route("subscriptions/*/reauthorize"))
      return this.#serveSubscription(req, res, ids, token, segments[1]!, lower[2]);
    throw badRequest(`Resource not found for the segment '${segments[segments.length - 1] ?? ""}'.`);
  }

  async #authenticate(req: IncomingMessage): Promise<AppToken> {
    const header = req.headers.authorization;
    if (!header) throw unauthorized("Access token is empty.");
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw unauthorized("Access token is empty.");
    const jwt = match[1]!;
    const known = this.#verifiedAppTokens.get(jwt);
    if (known && known.expiresAtMs > Date.now()) return this.#appToken(known.claims);
    let claims: Record<string, unknown>;
    try {
      claims = decodeJwt(jwt);
    } catch {
      throw unauthorized("CompactToken parsing failed with error code: 80049217");
    }
    const tenantId = claims.tid;
    if (typeof tenantId !== "string" || !tenantId) throw unauthorized("Access token validation failure. The token has no tid claim.");
    try {
      const issuer = this.#issuerFor(tenantId);
      await jwtVerify(jwt, this.#jwks, {
        issuer: typeof issuer === "string" ? issuer : [...issuer],
        audience: GRAPH_AUDIENCES,
        algorithms: ["RS256"],
      });
      if (typeof claims.exp === "number") {
        if (this.#verifiedAppTokens.size > 1000) this.#verifiedAppTokens.clear();
        this.#verifiedAppTokens.set(jwt, { claims, expiresAtMs: claims.exp * 1000 });
      }
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw unauthorized("Lifetime validation failed, the token is expired.");
      if (e instanceof joseErrors.JWTClaimValidationFailed && e.claim === "aud")
        throw unauthorized("Access token validation failure. Invalid audience.");
      if (e instanceof joseErrors.JWTClaimValidationFailed && e.claim === "iss")
        throw unauthorized("Access token validation failure. Invalid issuer.");
      throw unauthorized(`Access token validation failure. (${(e as { code?: string }).code ?? (e as Error).message})`);
    }
    return this.#appToken(claims);
  }

  #appToken(claims: Record<string, unknown>): AppToken {
    const tenantId = String(claims.tid);
    if (typeof claims.scp === "string") {
      // Delegated tokens: the CVI product uses app-only tokens throughout, and the VTC look-up accepts nothing else.
      throw forbidden("This emulator accepts application (app-only) tokens only; the token carries delegated scopes (scp).");
    }
    const appId = typeof claims.appid === "string" ? claims.appid : typeof claims.azp === "string" ? claims.azp : null;
    if (!appId) throw unauthorized("Access token validation failure. The token has no appid/azp claim.");
    const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === "string") : [];
    return { tenantId, appId, objectId: typeof claims.oid === "string" ? claims.oid : null, roles: new Set(roles) };
  }

  #requireRole(token: AppToken, anyOf: readonly string[], deny: (needed: readonly string[]) => GraphHttpError): void {
    if (!anyOf.some((r) => token.roles.has(r))) throw deny(anyOf);
  }

  // ================================================================ users/{id}/events

  async #serveEvents(req: IncomingMessage, res: ServerResponse, ids: RequestIds, token: AppToken, userKey: string, query: URLSearchParams) {
    const method = req.method ?? "GET";
    if (method === "GET") {
      this.#requireRole(token, ROLES.calendarsRead, outlookDenied);
      const user = this.#requireCalendarUser(token.tenantId, userKey);
      const all = [...(this.#tenant(token.tenantId).events.get(user.id)?.values() ?? [])];
      const top = Math.min(Math.max(Number(query.get("$top") ?? query.get("top") ?? 10) || 10, 1), 1000);
      const skip = Math.max(Number(query.get("$skip") ?? query.get("skip") ?? 0) || 0, 0);
      const page = all.slice(skip, skip + top).map(eventJson);
      const body: Record<string, unknown> = {
        "@odata.context": `${this.graphBaseUrl}/$metadata#users('${encodeURIComponent(userKey)}')/events`,
        value: page,
      };
      if (skip + top < all.length)
        body["@odata.nextLink"] = `${this.graphBaseUrl}/users/${encodeURIComponent(userKey)}/events?$top=${top}&$skip=${skip + top}`;
      return sendJson(res, ids, 200, body);
    }
    if (method === "POST") {
      this.#requireRole(token, ROLES.calendarsWrite, outlookDenied);
      const user = this.#requireCalendarUser(token.tenantId, userKey);
      const body = await readJsonObject(req);
      const event = this.#createEvent(token.tenantId, user.id, body, {});
      return sendJson(res, ids, 201, {
        "@odata.context": `${this.graphBaseUrl}/$metadata#users('${encodeURIComponent(userKey)}')/events/$entity`,
        ...eventJson(event),
      });
    }
    throw new GraphHttpError(405, "BadRequest", `The HTTP method '${method}' is not allowed for this resource.`);
  }

  async #serveEvent(
    req: IncomingMessage,
    res: ServerResponse,
    ids: RequestIds,
    token: AppToken,
    userKey: string,
    eventId: string,
    action: string | undefined,
  ) {
    const method = req.method ?? "GET";
    if (action === "cancel") {
      if (method !== "POST") throw new GraphHttpError(405, "BadRequest", `The HTTP method '${method}' is not allowed for this resource.`);
      this.#requireRole(token, ROLES.calendarsWrite, outlookDenied);
      const event = this.#requireEventHttp(token.tenantId, userKey, eventId);
      await readBody(req);
      if (event.data.isOrganizer !== true)
        throw badRequest("Your request can't be completed. You need to be an organizer to cancel a meeting.", "ErrorAccessDenied");
      this.#removeEvent(event);
      return sendEmpty(res, ids, 202);
    }
    if (method === "GET") {
      this.#requireRole(token, ROLES.calendarsRead, outlookDenied);
      const event = this.#requireEventHttp(token.tenantId, userKey, eventId);
      return sendJson(res, ids, 200, {
        "@odata.context": `${this.graphBaseUrl}/$metadata#users('${encodeURIComponent(userKey)}')/events/$entity`,
        ...eventJson(event),
      });
    }
    if (method === "PATCH") {
      this.#requireRole(token, ROLES.calendarsWrite, outlookDenied);
      const event = this.#requireEventHttp(token.tenantId, userKey, eventId);
      const changes = await readJsonObject(req);
      const ifMatch = req.headers["if-match"];
      if (typeof ifMatch === "string" && ifMatch !== "*" && ifMatch !== `W/"${event.changeKey}"`) {
        throw new GraphHttpError(
          412,
          "ErrorIrresolvableConflict",
          "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
        );
      }
      this.#applyEventChanges(event, changes, {});
      this.#eventChanged(event, "updated");
      return sendJson(res, ids, 200, {
        "@odata.context": `${this.graphBaseUrl}/$metadata#users('${encodeURIComponent(userKey)}')/events/$entity`,
        ...eventJson(event),
      });
    }
    if (method === "DELETE") {
      this.#requireRole(token, ROLES.calendarsWrite, outlookDenied);
      this.#removeEvent(this.#requireEventHttp(token.tenantId, userKey, eventId));
      return sendEmpty(res, ids, 204);
    }
    throw new GraphHttpError(405, "BadRequest", `The HTTP method '${method}' is not allowed for this resource.`);
  }

  #createEvent(
    tenantId: string,
    userId: string,
    body: Record<string, unknown>,
    meetingOptions: { lobbyScope?: LobbyScope; isDialInBypassEnabled?: boolean; videoTeleconferenceId?: string | null },
  ): EventRecord {
    const user = this.#requireUser(tenantId, userId);
    if (body.start === undefined || body.end === undefined)
      throw badRequest("The event needs start and end ({dateTime, timeZone}).", "ErrorInvalidRequest");
    const now = graphTime(this.now());
    const event: EventRecord = {
      tenantId,
      userId: user.id,
      data: newEventData(newOutlookId(), user, now),
      changeKey: newChangeKey(),
      meetingId: null,
    };
    this.#applyEventChanges(event, body, meetingOptions);
    const calendars = this.#tenant(tenantId).events;
    const events = calendars.get(user.id) ?? new Map<string, EventRecord>();
    calendars.set(user.id, events);
    events.set(event.data.id as string, event);
    this.#eventChanged(event, "created");
    return event;
  }

  /** PATCH semantics of Outlook: writable properties merge; unknown ones are refused; read-only ones are ignored. */
  #applyEventChanges(
    event: EventRecord,
    changes: Record<string, unknown>,
    meetingOptions: { lobbyScope?: LobbyScope; isDialInBypassEnabled?: boolean; videoTeleconferenceId?: string | null },
  ): void {
    const next = { ...event.data };
    for (const [key, value] of Object.entries(changes)) {
      if (key.startsWith("@odata.") || READ_ONLY_EVENT_PROPERTIES.has(key)) continue;
      if (!WRITABLE_EVENT_PROPERTIES.has(key)) {
        throw badRequest(
          `The property '${key}' does not exist on type 'Microsoft.OutlookServices.Event'. Make sure to only use property names that are defined by the type or mark the type as open type.`,
          "RequestBodyRead",
        );
      }
      if (key === "body") {
        if (!isObject(value) || typeof value.content !== "string")
          throw badRequest("body must be an itemBody {contentType, content}.", "ErrorInvalidRequest");
        const contentType = String(value.contentType ?? "text").toLowerCase();
        if (contentType !== "html" && contentType !== "text")
          throw badRequest(`Invalid body contentType '${String(value.contentType)}'.`, "ErrorInvalidRequest");
        next.body = { contentType, content: contentType === "html" ? wrapHtml(value.content) : value.content };
      } else if (key === "start" || key === "end") {
        const normalized = normalizeDateTimeTimeZone(value);
        if (!normalized) throw badRequest(`${key} must be a dateTimeTimeZone {dateTime, timeZone}.`, "ErrorInvalidRequest");
        next[key] = normalized;
        next[key === "start" ? "originalStartTimeZone" : "originalEndTimeZone"] = (value as { timeZone?: string }).timeZone ?? "UTC";
      } else if (key === "subject") {
        if (value !== null && typeof value !== "string") throw badRequest("subject must be a string.", "ErrorInvalidRequest");
        next.subject = value ?? "";
      } else if (key === "isOnlineMeeting") {
        if (typeof value !== "boolean") throw badRequest("isOnlineMeeting must be a boolean.", "ErrorInvalidRequest");
        next.isOnlineMeeting = value;
      } else if (key === "onlineMeetingProvider") {
        if (!["unknown", "teamsForBusiness", "skypeForBusiness", "skypeForConsumer"].includes(String(value))) {
          throw badRequest(`Invalid onlineMeetingProvider '${String(value)}'.`, "ErrorInvalidRequest");
        }
        next.onlineMeetingProvider = value;
      } else {
        next[key] = value;
      }
    }
    const start = next.start as { dateTime: string; timeZone: string } | null;
    const end = next.end as { dateTime: string; timeZone: string } | null;
    if (start && end && Date.parse(dateTimeTimeZoneToIso(end)) < Date.parse(dateTimeTimeZoneToIso(start))) {
      throw badRequest("The event's end is before its start.", "ErrorInvalidRequest");
    }
    // Outlook's default online provider in a Teams tenant is Teams.
    if (next.isOnlineMeeting === true && (next.onlineMeetingProvider === "unknown" || next.onlineMeetingProvider === undefined)) {
      next.onlineMeetingProvider = "teamsForBusiness";
    }
    event.data = next;
    if (next.isOnlineMeeting === true && next.onlineMeetingProvider === "teamsForBusiness" && !event.meetingId) {
      const meeting = this.#createMeeting(event, meetingOptions);
      const body = next.body as { contentType: string; content: string };
      const invite = teamsInviteHtml(meeting, this.#tenant(event.tenantId).videoInterop);
      next.body = {
        contentType: "html",
        content: wrapHtml(`${body.contentType === "html" ? unwrapHtml(body.content) : escapeText(body.content)}\n${invite}`),
      };
      next.onlineMeeting = { joinUrl: meeting.joinWebUrl };
      const location = next.location as { displayName?: string } | null;
      if (!location?.displayName) {
        next.location = {
          displayName: "Microsoft Teams Meeting",
          locationType: "default",
          uniqueId: "Microsoft Teams Meeting",
          uniqueIdType: "private",
        };
        next.locations = [next.location];
      }
    }
    if (event.meetingId) {
      const meeting = this.#meetings.get(event.meetingId);
      if (meeting) {
        meeting.subject = (next.subject as string) || null;
        if (start) meeting.startDateTime = dateTimeTimeZoneToIso(start);
        if (end) meeting.endDateTime = dateTimeTimeZoneToIso(end);
      }
    }
    const finalBody = next.body as { contentType: string; content: string };
    next.bodyPreview = bodyPreview(finalBody.content, finalBody.contentType);
    next.lastModifiedDateTime = graphTime(this.now());
    event.changeKey = newChangeKey();
  }

  #createMeeting(
    event: EventRecord,
    options: { lobbyScope?: LobbyScope; isDialInBypassEnabled?: boolean; videoTeleconferenceId?: string | null },
  ): MeetingState {
    const tenant = this.#tenant(event.tenantId);
    const organizer = tenant.users.get(event.userId)!;
    const threadId = newMeetingThreadId();
    const provider = tenant.videoInterop;
    const cviEnabled =
      provider !== null && (provider.enabledOrganizerIds === undefined || provider.enabledOrganizerIds.some((id) => sameId(id, organizer.id)));
    const start = event.data.start as { dateTime: string; timeZone: string };
    const end = event.data.end as { dateTime: string; timeZone: string };
    const meeting: MeetingState = {
      id: onlineMeetingId(organizer.id, threadId),
      tenantId: event.tenantId,
      organizer,
      threadId,
      joinWebUrl: joinWebUrl(threadId, event.tenantId, organizer.id),
      creationDateTime: graphTime(this.now()),
      joinMeetingId: digits(12),
      passcode: newPasscode(),
      subject: (event.data.subject as string) || null,
      startDateTime: dateTimeTimeZoneToIso(start),
      endDateTime: dateTimeTimeZoneToIso(end),
      videoTeleconferenceId: options.videoTeleconferenceId !== undefined ? options.videoTeleconferenceId : cviEnabled ? digits(10) : null,
      lobbyScope: options.lobbyScope ?? "organization",
      isDialInBypassEnabled: options.isDialInBypassEnabled ?? false,
      eventId: event.data.id as string,
      cancelled: false,
      humans: [],
      rosterSequence: 0,
      nextSourceId: 1,
      screenSharer: null,
    };
    this.#meetings.set(meeting.id, meeting);
    event.meetingId = meeting.id;
    return meeting;
  }

  #removeEvent(event: EventRecord): void {
    this.#tenant(event.tenantId)
      .events.get(event.userId)
      ?.delete(event.data.id as string);
    event.data = { ...event.data, isCancelled: true };
    const meeting = event.meetingId ? this.#meetings.get(event.meetingId) : undefined;
    if (meeting) meeting.cancelled = true;
    this.#eventChanged(event, "deleted");
  }

  /** Change notifications to every live subscription on the organizer's /users/{id}/events. */
  #eventChanged(event: EventRecord, changeType: "created" | "updated" | "deleted"): void {
    this.#sweep();
    const eventId = event.data.id as string;
    for (const sub of this.#subscriptions.values()) {
      if (sub.tenantId !== event.tenantId || sub.userId !== event.userId || !sub.changeTypes.has(changeType) || sub.paused) continue;
      const resource = `Users/${event.userId}/Events/${eventId}`;
      const record = this.#record({
        kind: "change",
        url: sub.notificationUrl,
        body: {
          value: [
            {
              subscriptionId: sub.id,
              subscriptionExpirationDateTime: graphTime(sub.expiration),
              changeType,
              resource,
              resourceData: { "@odata.type": "#Microsoft.Graph.Event", "@odata.id": resource, "@odata.etag": `W/"${event.changeKey}"`, id: eventId },
              clientState: sub.clientState,
              tenantId: sub.tenantId,
            },
          ],
        },
        callId: null,
        subscriptionId: sub.id,
        audience: null,
        tenantId: sub.tenantId,
      });
      this.#enqueue(`subscription:${sub.id}`, record);
    }
  }

  // ================================================================ online meetings

  #serveMeetingLookup(res: ServerResponse, ids: RequestIds, token: AppToken, query: URLSearchParams): void {
    this.#requireRole(token, ROLES.meetingsRead, meetingsDenied);
    const filter = query.get("$filter") ?? query.get("filter");
    if (filter === null)
      throw badRequest(
        "This API requires a $filter on VideoTeleconferenceId (GET /communications/onlineMeetings/?$filter=VideoTeleconferenceId eq '{id}').",
      );
    const vtcId = parseEqFilter(filter, "videoteleconferenceid");
    if (vtcId === null) throw badRequest(`Invalid filter clause: expected VideoTeleconferenceId eq '{id}', got ${filter}`, "BadRequest");
    const found = [...this.#meetings.values()].filter((m) => m.tenantId === token.tenantId && !m.cancelled && m.videoTeleconferenceId === vtcId);
    sendJson(res, ids, 200, { "@odata.context": `${this.graphBaseUrl}/$metadata#communications/onlineMeetings`, value: found.map(meetingJson) });
  }

  #serveUserOnlineMeetings(
    res: ServerResponse,
    ids: RequestIds,
    token: AppToken,
    userKey: string,
    meetingId: string | undefined,
    query: URLSearchParams,
  ) {
    this.#requireRole(token, ROLES.meetingsRead, meetingsDenied);
    const user = this.#findUser(token.tenantId, userKey);
    if (!user) throw notFound(`The user '${userKey}' was not found in the tenant.`, "NotFound");
    const mine = [...this.#meetings.values()].filter((m) => m.tenantId === token.tenantId && m.organizer.id === user.id && !m.cancelled);
    if (meetingId !== undefined) {
      const meeting = mine.find((m) => m.id === meetingId);
      if (!meeting) throw notFound("The online meeting could not be found.", "NotFound");
      return sendJson(res, ids, 200, {
        "@odata.context": `${this.graphBaseUrl}/$metadata#users('${user.id}')/onlineMeetings/$entity`,
        ...meetingJson(meeting),
      });
    }
    const filter = query.get("$filter") ?? query.get("filter");
    const joinUrl = filter === null ? null : parseEqFilter(filter, "joinweburl");
    const meetingCode = filter === null ? null : parseEqFilter(filter, "joinmeetingidsettings/joinmeetingid");
    if (joinUrl === null && meetingCode === null)
      throw badRequest("This API requires $filter=JoinWebUrl eq '{url}' or joinMeetingIdSettings/joinMeetingId eq '{id}'.");
    const decodedUrl = joinUrl === null ? null : safeDecode(joinUrl);
    const found = mine.filter(
      (m) => (decodedUrl !== null && safeDecode(m.joinWebUrl) === decodedUrl) || (meetingCode !== null && m.joinMeetingId === meetingCode),
    );
    sendJson(res, ids, 200, { "@odata.context": `${this.graphBaseUrl}/$metadata#users('${user.id}')/onlineMeetings`, value: found.map(meetingJson) });
  }

  // ================================================================ calls

  /** logTeleconferenceDeviceQuality: a CVI partner's per-device media quality (Calls.AccessMedia.All). */
  async #logDeviceQuality(req: IncomingMessage, res: ServerResponse, ids: RequestIds, token: AppToken): Promise<void> {
    this.#requireRole(token, [ROLES.accessMedia], callsDenied);
    const body = await readJsonObject(req);
    const quality = body.quality;
    const problems: string[] = [];
    if (!isObject(quality)) problems.push("quality is required (teleconferenceDeviceQuality).");
    else {
      for (const field of ["callChainId", "participantId", "mediaLegId", "deviceName"])
        if (typeof quality[field] !== "string" || !quality[field]) problems.push(`quality.${field} is required.`);
      if (!Array.isArray(quality.mediaQualityList)) problems.push("quality.mediaQualityList must be an array.");
    }
    if (problems.length) throw badRequest(problems.join(" "));
    this.#deviceQuality.push({ tenantId: token.tenantId, appId: token.appId, quality: structuredClone(quality as Record<string, unknown>) });
    sendJson(res, ids, 200, {});
  }

  /** What bots reported with logTeleconferenceDeviceQuality, oldest first. */
  deviceQualityReports(): readonly { readonly tenantId: string; readonly appId: string; readonly quality: Record<string, unknown> }[] {
    return this.#deviceQuality;
  }

  async #createCall(req: IncomingMessage, res: ServerResponse, ids: RequestIds, token: AppToken): Promise<void> {
    const body = await readJsonObject(req);
    const problems: string[] = [];
    const str = (v: unknown) => (typeof v === "string" && v.trim() ? v : null);

    if (body["@odata.type"] !== undefined && body["@odata.type"] !== "#microsoft.graph.call")
      problems.push(`@odata.type must be "#microsoft.graph.call".`);
    const callbackUri = str(body.callbackUri);
    if (!callbackUri) problems.push("callbackUri is required.");
    else if (!this.#isAllowedCallback(callbackUri)) problems.push(`callbackUri must be an absolute https URL (got ${callbackUri}).`);

    const modalities = body.requestedModalities;
    if (!Array.isArray(modalities) || modalities.length === 0) problems.push("requestedModalities must be a non-empty array.");
    else {
      const unknown = modalities.filter((m) => !MODALITIES.includes(m as Modality));
      if (unknown.length) problems.push(`requestedModalities has unknown values: ${unknown.map(String).join(", ")}.`);
      if (!modalities.includes("audio")) problems.push("requestedModalities must include audio to join a meeting.");
    }

    const mediaConfig = body.mediaConfig;
    let appHosted = false;
    if (!isObject(mediaConfig)) problems.push("mediaConfig is required.");
    else if (mediaConfig["@odata.type"] === "#microsoft.graph.appHostedMediaConfig") {
      appHosted = true;
      if (!str(mediaConfig.blob)) problems.push("mediaConfig.blob is required for appHostedMediaConfig (the media session configuration).");
    } else if (mediaConfig["@odata.type"] !== "#microsoft.graph.serviceHostedMediaConfig") {
      problems.push(`mediaConfig.@odata.type must be "#microsoft.graph.appHostedMediaConfig" or "#microsoft.graph.serviceHostedMediaConfig".`);
    }

    const meetingInfo = body.meetingInfo;
    const chatInfo = body.chatInfo;
    let lookup:
      | { kind: "organizer"; organizerId: string; threadId: string }
      | { kind: "joinMeetingId"; joinMeetingId: string; passcode: string | null }
      | null = null;
    if (!isObject(meetingInfo))
      problems.push("meetingInfo is required: this emulator serves meeting joins only (no peer-to-peer or new group calls).");
    else if (meetingInfo["@odata.type"] === "#microsoft.graph.organizerMeetingInfo") {
      const organizer = isObject(meetingInfo.organizer) && isObject(meetingInfo.organizer.user) ? str(meetingInfo.organizer.user.id) : null;
      if (!organizer) problems.push("meetingInfo.organizer.user.id is required for organizerMeetingInfo.");
      const threadId = isObject(chatInfo) ? str(chatInfo.threadId) : null;
      if (!threadId) problems.push("chatInfo.threadId is required with organizerMeetingInfo.");
      if (organizer && threadId) lookup = { kind: "organizer", organizerId: organizer, threadId };
    } else if (meetingInfo["@odata.type"] === "#microsoft.graph.joinMeetingIdMeetingInfo") {
      const joinMeetingId = str(meetingInfo.joinMeetingId);
      if (!joinMeetingId) problems.push("meetingInfo.joinMeetingId is required for joinMeetingIdMeetingInfo.");
      else lookup = { kind: "joinMeetingId", joinMeetingId: joinMeetingId.replace(/\s+/g, ""), passcode: str(meetingInfo.passcode) };
    } else {
      problems.push(
        `meetingInfo.@odata.type must be "#microsoft.graph.organizerMeetingInfo" or "#microsoft.graph.joinMeetingIdMeetingInfo" (got ${String(meetingInfo["@odata.type"])}).`,
      );
    }

    let identity: CallRecord["identity"] = { kind: "application", id: token.appId, displayName: "" };
    const source = body.source;
    if (source !== undefined && source !== null) {
      const id = isObject(source) && isObject(source.identity) ? source.identity : null;
      const app = id && isObject(id.application) ? id.application : null;
      const guest = id && isObject(id.guest) ? id.guest : null;
      if (!id || (!app && !guest)) problems.push("source.identity must carry an application or a guest identity.");
      else if (app && guest) problems.push("source.identity must carry either application or guest, not both.");
      else if (guest) {
        const displayName = str(guest.displayName);
        if (!displayName) problems.push("source.identity.guest.displayName is required for a guest join.");
        identity = { kind: "guest", id: str(guest.id) ?? newGuid(), displayName: displayName ?? "" };
      } else if (app) {
        const appId = str(app.id);
        if (appId && !sameId(appId, token.appId))
          problems.push(`source.identity.application.id (${appId}) must be the calling app's id (${token.appId}).`);
        identity = { kind: "application", id: token.appId, displayName: str(app.displayName) ?? "" };
      }
    }
    const requestTenantId = body.tenantId === undefined || body.tenantId === null ? null : str(body.tenantId);
    if (body.tenantId !== undefined && body.tenantId !== null && !requestTenantId) problems.push("tenantId must be a string.");
    if (problems.length) throw badRequest(problems.join(" "));

    // Permissions are checked at creation only (keepAlive/delete/get do not re-check them).
    const guestJoin = identity.kind === "guest";
    const joinRoles = guestJoin ? [ROLES.joinGroupCallAsGuest, ROLES.joinGroupCall] : [ROLES.joinGroupCall];
    this.#requireRole(token, joinRoles, callsDenied);
    if (appHosted) this.#requireRole(token, [ROLES.accessMedia], callsDenied);
    if (this.#botAppIds && !this.#botAppIds.has(token.appId.toLowerCase())) {
      throw forbidden(`Application ${token.appId} is not registered as a calling bot (no Teams channel with calling enabled).`);
    }
    if (requestTenantId && !sameId(requestTenantId, token.tenantId)) {
      throw forbidden(`tenantId ${requestTenantId} is not the token's tenant (${token.tenantId}); cross-tenant joins are not emulated.`);
    }

    const meeting = this.#findMeetingForJoin(token.tenantId, lookup!);
    const call: CallRecord = {
      id: newGuid(),
      tenantId: token.tenantId,
      appId: token.appId,
      meetingId: meeting.id,
      callbackUri: callbackUri!,
      myParticipantId: newGuid(),
      callChainId: newGuid(),
      createdDateTime: graphTime(this.now()),
      identity,
      joinedAsGuest: guestJoin,
      requestedModalities: [...new Set(modalities as Modality[])],
      mediaConfig: structuredClone(mediaConfig as Record<string, unknown>),
      chatInfo: isObject(chatInfo) ? structuredClone(chatInfo) : { threadId: meeting.threadId, messageId: "0" },
      meetingInfo: structuredClone(meetingInfo as Record<string, unknown>),
      requestTenantId,
      sourceIds: (modalities as string[]).map(() => this.#sourceId(meeting)),
      state: "establishing",
      roster: "none",
      rosterSequenceNumber: 0,
      resultInfo: null,
      lastKeepAlive: this.now(),
      lobbyDeadline: null,
    };
    this.#calls.set(call.id, call);
    const location = `${this.graphBaseUrl}/communications/calls/${call.id}`;
    sendJson(res, ids, 201, { "@odata.context": `${this.graphBaseUrl}/$metadata#communications/calls/$entity`, ...callJson(call) }, { location });
    this.#notifyCallState(call, "updated");
    this.#later(this.#o.establishDelayMs, () => this.#progress(call));
  }

  #findMeetingForJoin(
    tenantId: string,
    lookup: { kind: "organizer"; organizerId: string; threadId: string } | { kind: "joinMeetingId"; joinMeetingId: string; passcode: string | null },
  ): MeetingState {
    const candidates = [...this.#meetings.values()].filter((m) => m.tenantId === tenantId && !m.cancelled);
    if (lookup.kind === "organizer") {
      const meeting = candidates.find((m) => m.threadId === lookup.threadId);
      if (!meeting) throw notFound(`No meeting with chat thread ${lookup.threadId} in tenant ${tenantId}.`, "NotFound");
      if (!sameId(meeting.organizer.id, lookup.organizerId)) {
        throw notFound(`The meeting of thread ${lookup.threadId} is not organized by ${lookup.organizerId}.`, "NotFound");
      }
      return meeting;
    }
    const meeting = candidates.find((m) => m.joinMeetingId === lookup.joinMeetingId);
    if (!meeting) throw notFound(`No meeting with joinMeetingId ${lookup.joinMeetingId} in tenant ${tenantId}.`, "NotFound");
    if (lookup.passcode !== meeting.passcode) throw forbidden("The meeting passcode is missing or incorrect.");
    return meeting;
  }

  async #serveCall(
    req: IncomingMessage,
    res: ServerResponse,
    ids: RequestIds,
    token: AppToken,
    callId: string,
    sub: string | undefined,
    participantId: string | undefined,
  ) {
    const method = req.method ?? "GET";
    if (method === "DELETE" && sub === undefined) this.#deleteRequests.set(callId, (this.#deleteRequests.get(callId) ?? 0) + 1);
    const call = this.#calls.get(callId);
    // A call belongs to the app (and tenant) that created it; ended calls are gone.
    if (!call || call.state === "terminated" || call.tenantId !== token.tenantId || !sameId(call.appId, token.appId)) {
      throw notFound(`Call ${callId} was not found. It may have ended.`, "NotFound");
    }
    const notAllowed = () => new GraphHttpError(405, "BadRequest", `The HTTP method '${method}' is not allowed for this resource.`);
    if (sub === undefined) {
      if (method === "GET")
        return sendJson(res, ids, 200, { "@odata.context": `${this.graphBaseUrl}/$metadata#communications/calls/$entity`, ...callJson(call) });
      if (method === "DELETE") {
        sendEmpty(res, ids, 204);
        return this.#terminate(call, RESULT.hungUpByBot, true);
      }
      throw notAllowed();
    }
    if (sub === "keepalive") {
      if (method !== "POST") throw notAllowed();
      await readBody(req);
      call.lastKeepAlive = this.now();
      return sendEmpty(res, ids, 200);
    }
    if (sub === "participants") {
      if (method !== "GET") throw notAllowed();
      const roster = this.#rosterFor(call);
      if (participantId === undefined) {
        return sendJson(res, ids, 200, {
          "@odata.context": `${this.graphBaseUrl}/$metadata#communications/calls('${call.id}')/participants`,
          value: roster,
        });
      }
      const participant = roster.find((p) => p.id === participantId);
      if (!participant) throw notFound(`Participant ${participantId} is not in call ${call.id}.`, "NotFound");
      return sendJson(res, ids, 200, participant);
    }
    if (sub === "changescreensharingrole") {
      if (method !== "POST") throw notAllowed();
      return this.#changeScreenSharingRole(req, res, ids, token, call);
    }
    throw badRequest(`Resource not found for the segment '${sub}'.`);
  }

  /** After the establishing delay: into the lobby, or straight into the meeting. */
  #progress(call: CallRecord): void {
    if (call.state !== "establishing" || call.roster !== "none") return;
    const meeting = this.#meetings.get(call.meetingId);
    if (!meeting) {
      this.#terminate(call, RESULT.meetingEnded, false);
      return;
    }
    if (this.#mustWaitInLobby(call, meeting)) {
      call.roster = "lobby";
      call.lobbyDeadline = this.now() + this.#o.lobbyTimeoutMs;
      call.rosterSequenceNumber = ++meeting.rosterSequence;
      // In the lobby the bot sees only itself; the people in the meeting see it waiting.
      this.#notifyParticipants(call, [botParticipantJson(call)]);
      this.#broadcastRoster(meeting, call.id);
      return;
    }
    this.#join(call, meeting);
  }

  /**
   * Teams' lobby: "everyone" lets all in; other scopes hold guests. An app joining
   * with its own identity counts as a tenant entity and waits only when the scope is
   * "organizer". The tenant's CVI setting AllowAppGuestJoinsAsAuthenticated makes
   * guest joins by the listed bots count as authenticated.
   */
  #mustWaitInLobby(call: CallRecord, meeting: MeetingState): boolean {
    const scope = meeting.lobbyScope;
    let guest = call.joinedAsGuest;
    const provider = this.#tenant(call.tenantId).videoInterop;
    if (guest && provider?.allowAppGuestJoinsAsAuthenticated && provider.aadApplicationIds?.some((id) => sameId(id, call.appId))) guest = false;
    if (!guest) return scope === "organizer";
    return scope !== "everyone";
  }

  #join(call: CallRecord, meeting: MeetingState): void {
    call.roster = "joined";
    call.lobbyDeadline = null;
    call.state = "established";
    call.rosterSequenceNumber = ++meeting.rosterSequence;
    this.#notifyCallState(call, "updated");
    this.#broadcastRoster(meeting);
    const blob = call.mediaConfig["@odata.type"] === "#microsoft.graph.appHostedMediaConfig" ? call.mediaConfig.blob : undefined;
    if (this.#media && typeof blob === "string") {
      const media = this.#media;
      this.#track(
        media.botJoined({ meetingId: meeting.id, callId: call.id, displayName: call.identity.displayName, blob }).catch((e: Error) => {
          // Teams cannot reach the bot's media: the call fails.
          this.#terminate(call, { ...MEDIA_FAILED, message: `${MEDIA_FAILED.message} ${e.message}` }, true);
        }),
      );
    }
  }

  #terminate(call: CallRecord, resultInfo: ResultInfo, withTerminating: boolean, broadcast = true): void {
    if (call.state === "terminated") return;
    const meeting = this.#meetings.get(call.meetingId);
    const wasInRoster = call.roster !== "none";
    if (withTerminating) {
      call.state = "terminating";
      this.#notifyCallState(call, "updated");
    }
    call.state = "terminated";
    if (wasInRoster) this.#media?.botLeft(call.id, resultInfo.message ?? "");
    if (meeting?.screenSharer === call.myParticipantId) meeting.screenSharer = null;
    call.roster = "none";
    call.lobbyDeadline = null;
    call.resultInfo = { ...resultInfo };
    this.#notifyCallState(call, "deleted");
    if (meeting && wasInRoster && broadcast) {
      meeting.rosterSequence++;
      this.#broadcastRoster(meeting);
    }
  }

  #activeCalls(meetingId: string): CallRecord[] {
    return [...this.#calls.values()].filter((c) => c.meetingId === meetingId && c.state !== "terminated");
  }

  /** What a bot sees in its participants collection: itself only while in the lobby, else everyone (lobby entries marked). */
  #rosterFor(call: CallRecord): Record<string, unknown>[] {
    if (call.roster === "lobby") return [botParticipantJson(call)];
    if (call.roster === "none") return [];
    const meeting = this.#meetings.get(call.meetingId);
    if (!meeting) return [];
    return [
      ...meeting.humans.map((h) => humanParticipantJson(h, meeting.tenantId, meeting.screenSharer === h.id)),
      ...this.#activeCalls(meeting.id)
        .filter((c) => c.roster !== "none")
        .map((c) => botParticipantJson(c, meeting.screenSharer === c.myParticipantId)),
    ];
  }

  /** Full-roster `updated` notifications to every bot that is in the meeting. */
  #broadcastRoster(meeting: MeetingState, exceptCallId?: string): void {
    for (const other of this.#activeCalls(meeting.id)) {
      if (other.roster === "joined" && other.id !== exceptCallId) this.#notifyParticipants(other, this.#rosterFor(other));
    }
  }

  #notifyCallState(call: CallRecord, changeType: "updated" | "deleted"): void {
    const resource = callJson(call);
    this.#enqueueCallNotification(call, {
      "@odata.type": "#microsoft.graph.commsNotification",
      changeType,
      resourceUrl: `/communications/calls/${call.id}`,
      callbackUri: call.callbackUri,
      resourceData: resource,
    });
  }

  #notifyParticipants(call: CallRecord, participants: Record<string, unknown>[]): void {
    this.#enqueueCallNotification(call, {
      "@odata.type": "#microsoft.graph.commsNotification",
      changeType: "updated",
      resourceUrl: `/communications/calls/${call.id}/participants`,
      callbackUri: call.callbackUri,
      resourceData: participants,
    });
  }

  #enqueueCallNotification(call: CallRecord, item: Record<string, unknown>): void {
    const record = this.#record({
      kind: "call",
      url: call.callbackUri,
      body: structuredClone({ "@odata.type": "#microsoft.graph.commsNotifications", value: [item] }),
      callId: call.id,
      subscriptionId: null,
      audience: call.appId,
      tenantId: call.tenantId,
    });
    this.#enqueue(`call:${call.id}`, record);
  }

  /**
   * The meeting's one screen share changes hands (last sharer wins): the participants whose
   * screen-sharing stream changes direction get a new roster sequence number, and every bot
   * in the meeting gets the roster.
   */
  #setScreenSharer(meeting: MeetingState, participantId: string | null): boolean {
    const before = meeting.screenSharer;
    if (before === participantId) return false;
    meeting.screenSharer = participantId;
    for (const changed of [before, participantId]) {
      if (changed === null) continue;
      const human = meeting.humans.find((h) => h.id === changed);
      if (human) human.rosterSequenceNumber = ++meeting.rosterSequence;
      const call = this.#activeCalls(meeting.id).find((c) => c.myParticipantId === changed);
      if (call) call.rosterSequenceNumber = ++meeting.rosterSequence;
    }
    this.#broadcastRoster(meeting);
    return true;
  }

  /**
   * POST /communications/calls/{id}/changeScreenSharingRole {role: viewer|sharer}: 202 and a
   * roster update to every participant (Graph v1.0). Only for calls with app-hosted media.
   */
  async #changeScreenSharingRole(req: IncomingMessage, res: ServerResponse, ids: RequestIds, token: AppToken, call: CallRecord): Promise<void> {
    this.#requireRole(token, [ROLES.accessMedia], callsDenied);
    const body = await readJsonObject(req);
    const unknown = Object.keys(body).filter((k) => k !== "role" && !k.startsWith("@odata."));
    if (unknown.length) throw badRequest(`The property '${unknown[0]}' does not exist on type 'microsoft.graph.changeScreenSharingRoleRequest'.`);
    const role = body.role;
    if (role === undefined || role === null) throw badRequest("The parameter 'role' is required.");
    if (typeof role !== "string" || !SCREEN_SHARING_ROLES.includes(role))
      throw badRequest(
        `The value '${String(typeof role === "string" ? role : JSON.stringify(role))}' is not valid for role: it must be 'viewer' or 'sharer'.`,
      );
    if (call.mediaConfig["@odata.type"] !== "#microsoft.graph.appHostedMediaConfig")
      throw badRequest("changeScreenSharingRole is only supported for group calls that use app-hosted media.");
    if (!call.requestedModalities.includes("videoBasedScreenSharing"))
      throw badRequest("The call did not request the videoBasedScreenSharing modality.");
    const meeting = this.#meetings.get(call.meetingId);
    if (call.state !== "established" || call.roster !== "joined" || !meeting)
      throw badRequest(`The call is not established in the meeting (state ${call.state}).`);
    const sharer = role === "sharer" ? call.myParticipantId : meeting.screenSharer === call.myParticipantId ? null : meeting.screenSharer;
    sendEmpty(res, ids, 202);
    if (this.#setScreenSharer(meeting, sharer)) this.#media?.botScreenSharingRole(meeting.id, call.id, role as ScreenSharingRole);
  }

  #sourceId(meeting: MeetingState): string {
    return String(meeting.nextSourceId++);
  }

  // ================================================================ subscriptions

  async #createSubscription(req: IncomingMessage, res: ServerResponse, ids: RequestIds, token: AppToken): Promise<void> {
    const body = await readJsonObject(req);
    const str = (v: unknown) => (typeof v === "string" && v.trim() ? v : null);
    const changeType = str(body.changeType);
    if (!changeType) throw badRequest("changeType is required.", "InvalidRequest");
    const changeTypes = new Set(changeType.split(",").map((s) => s.trim()));
    for (const t of changeTypes)
      if (!CHANGE_TYPES.has(t)) throw badRequest(`Invalid changeType '${t}': use created, updated, deleted (comma-separated).`, "InvalidRequest");
    const notificationUrl = str(body.notificationUrl);
    if (!notificationUrl) throw badRequest("notificationUrl is required.", "InvalidRequest");
    if (!this.#isAllowedCallback(notificationUrl))
      throw badRequest("Subscription validation request failed. Notification endpoint must be an https URL.", "ValidationError");
    const lifecycleNotificationUrl =
      body.lifecycleNotificationUrl === undefined || body.lifecycleNotificationUrl === null ? null : str(body.lifecycleNotificationUrl);
    if (body.lifecycleNotificationUrl && (!lifecycleNotificationUrl || !this.#isAllowedCallback(lifecycleNotificationUrl))) {
      throw badRequest("lifecycleNotificationUrl must be an https URL.", "InvalidRequest");
    }
    const resource = str(body.resource);
    if (!resource) throw badRequest("resource is required.", "InvalidRequest");
    const match = /^\/?users\/([^/]+)\/events\/?$/i.exec(resource);
    if (/^\/?me\//i.test(resource)) throw badRequest("/me is only valid with delegated authentication flow.", "InvalidRequest");
    if (!match) throw badRequest(`Resource '${resource}' is not supported by this emulator (only /users/{id}/events).`, "InvalidRequest");
    const clientState = body.clientState === undefined || body.clientState === null ? null : String(body.clientState);
    if (clientState !== null && clientState.length > 128) throw badRequest("clientState must be at most 128 characters.", "InvalidRequest");
    const tls =
      body.latestSupportedTlsVersion === undefined || body.latestSupportedTlsVersion === null ? "v1_2" : String(body.latestSupportedTlsVersion);
    if (!TLS_VERSIONS.has(tls)) throw badRequest(`Invalid latestSupportedTlsVersion '${tls}'.`, "InvalidRequest");
    const expiration = this.#parseExpiration(body.expirationDateTime);

    this.#requireRole(token, ROLES.calendarsRead, () =>
      forbidden(
        "Operation: Create; Exception: [Status Code: Forbidden; Reason: Access is denied. Check credentials and try again.]",
        "ExtensionError",
      ),
    );
    const user = this.#findUser(token.tenantId, safeDecode(match[1]!));
    if (!user)
      throw notFound(`Operation: Create; Exception: [Status Code: NotFound; Reason: The requested user '${match[1]}' is invalid.]`, "ExtensionError");

    const failures = await Promise.all(
      [notificationUrl, ...(lifecycleNotificationUrl ? [lifecycleNotificationUrl] : [])].map((u) => this.#validateEndpoint(u)),
    );
    const failure = failures.find((f) => f !== null);
    if (failure) throw badRequest(failure, "ValidationError");

    const sub: SubscriptionRecord = {
      id: newGuid(),
      tenantId: token.tenantId,
      appId: token.appId,
      creatorId: token.objectId,
      resource,
      userId: user.id,
      changeType: [...changeTypes].join(","),
      changeTypes,
      notificationUrl,
      lifecycleNotificationUrl,
      clientState,
      latestSupportedTlsVersion: tls,
      expiration,
      paused: false,
    };
    this.#subscriptions.set(sub.id, sub);
    sendJson(res, ids, 201, { "@odata.context": `${this.graphBaseUrl}/$metadata#subscriptions/$entity`, ...subscriptionJson(sub) });
  }

  #parseExpiration(value: unknown): number {
    if (typeof value !== "string") throw badRequest("expirationDateTime is required.", "InvalidRequest");
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) throw badRequest(`expirationDateTime '${value}' is not a valid date.`, "InvalidRequest");
    const now = this.now();
    if (ms <= now) throw badRequest("Subscription expiration can only be in the future.", "InvalidRequest");
    const max = this.#o.maxEventSubscriptionMinutes;
    // Allow a minute of skew between the client's clock and ours.
    if (ms > now + (max + 1) * 60_000) throw badRequest(`Subscription expiration can only be ${max} minutes in the future.`, "InvalidRequest");
    return ms;
  }

  /** Graph's handshake: POST {url}?validationToken=…; the answer must be 200, text/plain, and exactly the decoded token. */
  async #validateEndpoint(url: string): Promise<string | null> {
    const token = `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()}`;
    // Form-style encoding (spaces as +, lowercase escapes), the way Graph writes it.
    const encoded = encodeURIComponent(token)
      .replace(/%20/g, "+")
      .replace(/%[0-9A-F]{2}/g, (s) => s.toLowerCase());
    const target = `${url}${url.includes("?") ? "&" : "?"}validationToken=${encoded}`;
    try {
      const response = await fetch(target, {
        method: "POST",
        headers: { "content-type": "text/plain; charset=utf-8" },
        body: "",
        signal: AbortSignal.any([AbortSignal.timeout(this.#o.validationTimeoutMs), this.#stop.signal]),
      });
      const text = await response.text();
      if (response.status !== 200)
        return "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.";
      if (!/^text\/plain\b/i.test(response.headers.get("content-type") ?? "")) {
        return "Subscription validation request failed. Response must have content type text/plain.";
      }
      if (text !== token) return "Subscription validation request failed. Response must exactly match validationToken query parameter.";
      return null;
    } catch (e) {
      if ((e as Error).name === "TimeoutError") return "Subscription validation request timed out.";
      return `Subscription validation request failed. Notification endpoint could not be reached (${(e as Error).message}).`;
    }
  }

  #listSubscriptions(res: ServerResponse, ids: RequestIds, token: AppToken): void {
    const mine = [...this.#subscriptions.values()].filter((s) => s.tenantId === token.tenantId && sameId(s.appId, token.appId));
    sendJson(res, ids, 200, { "@odata.context": `${this.graphBaseUrl}/$metadata#subscriptions`, value: mine.map(subscriptionJson) });
  }

  async #serveSubscription(req: IncomingMessage, res: ServerResponse, ids: RequestIds, token: AppToken, id: string, action: string | undefined) {
    const method = req.method ?? "GET";
    const sub = this.#subscriptions.get(id);
    if (!sub || sub.tenantId !== token.tenantId || !sameId(sub.appId, token.appId)) throw notFound(`The object was not found.`, "ResourceNotFound");
    const notAllowed = () => new GraphHttpError(405, "BadRequest", `The HTTP method '${method}' is not allowed for this resource.`);
    if (action === "reauthorize") {
      if (method !== "POST") throw notAllowed();
      await readBody(req);
      this.#requireRole(token, ROLES.calendarsRead, () =>
        forbidden(
          "Operation: Reauthorize; Exception: [Status Code: Forbidden; Reason: Access is denied. Check credentials and try again.]",
          "ExtensionError",
        ),
      );
      sub.paused = false;
      return sendEmpty(res, ids, 204);
    }
    if (method === "GET")
      return sendJson(res, ids, 200, { "@odata.context": `${this.graphBaseUrl}/$metadata#subscriptions/$entity`, ...subscriptionJson(sub) });
    if (method === "DELETE") {
      this.#subscriptions.delete(sub.id);
      return sendEmpty(res, ids, 204);
    }
    if (method === "PATCH") {
      const body = await readJsonObject(req);
      for (const key of Object.keys(body)) {
        if (key !== "expirationDateTime" && key !== "notificationUrl" && !key.startsWith("@odata.")) {
          throw badRequest(`Only expirationDateTime and notificationUrl can be updated (got ${key}).`, "InvalidRequest");
        }
      }
      const expiration = body.expirationDateTime === undefined ? sub.expiration : this.#parseExpiration(body.expirationDateTime);
      // Renewing also reauthorizes, and needs the resource permission now.
      this.#requireRole(token, ROLES.calendarsRead, () =>
        forbidden(
          "Operation: Update; Exception: [Status Code: Forbidden; Reason: Access is denied. Check credentials and try again.]",
          "ExtensionError",
        ),
      );
      if (body.notificationUrl !== undefined) {
        const url = typeof body.notificationUrl === "string" ? body.notificationUrl : "";
        if (!this.#isAllowedCallback(url)) throw badRequest("notificationUrl must be an https URL.", "InvalidRequest");
        const failure = await this.#validateEndpoint(url);
        if (failure) throw badRequest(failure, "ValidationError");
        sub.notificationUrl = url;
      }
      sub.expiration = expiration;
      sub.paused = false;
      return sendJson(res, ids, 200, { "@odata.context": `${this.graphBaseUrl}/$metadata#subscriptions/$entity`, ...subscriptionJson(sub) });
    }
    throw notAllowed();
  }

  // ================================================================ delivery

  #record(
    fields: Omit<SentNotification, "sequence" | "attempts" | "authorization" | "resentFrom" | "held"> & Partial<SentNotification>,
  ): SentNotification {
    const record: SentNotification = {
      sequence: this.#sent.length + 1,
      kind: fields.kind,
      url: fields.url,
      body: fields.body,
      callId: fields.callId,
      subscriptionId: fields.subscriptionId,
      audience: fields.audience,
      tenantId: fields.tenantId,
      resentFrom: fields.resentFrom ?? null,
      held: fields.held ?? this.holdNotifications,
      attempts: [],
      authorization: null,
    };
    this.#sent.push(record);
    return record;
  }

  /** One queue per call or subscription keeps each receiver's notifications in order. */
  #enqueue(key: string, record: SentNotification): void {
    if (record.held) return;
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const next = previous.then(() => this.#deliver(record, false)).catch(() => undefined);
    this.#queues.set(key, next);
    this.#track(next);
    void next.then(() => {
      if (this.#queues.get(key) === next) this.#queues.delete(key);
    });
  }

  async #deliver(record: SentNotification, keepAuthorization: boolean): Promise<void> {
    const attempts = record.kind === "call" ? 1 : this.#o.notificationMaxAttempts;
    const payload = JSON.stringify(record.body);
    for (let attempt = 1; attempt <= attempts && !this.#stop.signal.aborted; attempt++) {
      const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" };
      if (record.kind === "call") {
        if (!keepAuthorization || !record.authorization)
          record.authorization = await this.#notificationAuthorization(record.tenantId, record.audience!);
        headers.authorization = record.authorization;
      }
      try {
        const response = await fetch(record.url, {
          method: "POST",
          headers,
          body: payload,
          signal: AbortSignal.any([AbortSignal.timeout(this.#o.notificationTimeoutMs), this.#stop.signal]),
        });
        await response.arrayBuffer().catch(() => undefined);
        record.attempts.push({ at: new Date().toISOString(), status: response.status, error: null });
        if (response.ok) return;
      } catch (e) {
        record.attempts.push({ at: new Date().toISOString(), status: null, error: (e as Error).message });
      }
      if (attempt < attempts) {
        await sleep(this.#o.notificationRetryBaseMs * 2 ** (attempt - 1), undefined, { signal: this.#stop.signal }).catch(() => undefined);
      }
    }
  }

  #later(ms: number, action: () => void): void {
    const done = sleep(ms, undefined, { signal: this.#stop.signal }).then(action, () => undefined);
    this.#track(done);
  }

  #track(promise: Promise<unknown>): void {
    const settled = promise.then(
      () => undefined,
      (e: unknown) => console.error("[graph emulator]", e),
    );
    this.#pending.add(settled);
    void settled.finally(() => this.#pending.delete(settled));
  }

  /** Applies whatever the clock made due: subscription expiry, lobby timeouts, keep-alive timeouts. */
  #sweep(): void {
    const now = this.now();
    for (const sub of this.#subscriptions.values()) if (sub.expiration <= now) this.#subscriptions.delete(sub.id);
    for (const call of this.#calls.values()) {
      if (call.state === "terminated") continue;
      if (call.roster === "lobby" && call.lobbyDeadline !== null && call.lobbyDeadline <= now) this.#terminate(call, RESULT.lobbyTimeout, false);
      else if (now - call.lastKeepAlive >= this.#o.keepAliveTimeoutMs) this.#terminate(call, RESULT.keepAliveTimeout, false);
    }
  }

  // ================================================================ operator page

  async #serveOperator(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const method = req.method ?? "GET";
    const text = (status: number, body: string, type = "text/plain; charset=utf-8") => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    this.#sweep();
    if (method === "GET" && (path === "/_emulator" || path === "/_emulator/")) {
      const meetings = [...this.#meetings.values()].map((m) => ({
        id: m.id,
        tenantId: m.tenantId,
        subject: m.subject,
        organizer: m.organizer.displayName,
        videoTeleconferenceId: m.videoTeleconferenceId,
        joinMeetingId: m.joinMeetingId,
        lobbyScope: m.lobbyScope,
        cancelled: m.cancelled,
        humans: m.humans,
      }));
      const calls = [...this.#calls.values()]
        .filter((c) => c.state !== "terminated")
        .map((c) => ({
          id: c.id,
          meetingId: c.meetingId,
          displayName: c.identity.displayName,
          appId: c.appId,
          state: c.state,
          inLobby: c.roster === "lobby",
          callChainId: c.callChainId,
        }));
      return text(200, renderOperatorPage(meetings, calls, LOBBY_SCOPES), "text/html; charset=utf-8");
    }
    if (method === "GET" && path === "/_emulator/state.json") {
      return text(
        200,
        JSON.stringify({ meetings: this.meetings(), calls: this.calls(), subscriptions: this.subscriptions() }, null, 2),
        "application/json",
      );
    }
    if (method !== "POST") return text(404, "not found");
    const form = new URLSearchParams(await readBody(req));
    const parts = path
      .split("/")
      .filter(Boolean)
      .map((s) => safeDecode(s));
    try {
      const [, kind, id, action, sub, subAction] = parts;
      if (kind === "calls" && id && action === "admit" && parts.length === 4) this.admitFromLobby(id);
      else if (kind === "calls" && id && action === "remove" && parts.length === 4) this.removeParticipant(id);
      else if (kind === "meetings" && id && action === "end" && parts.length === 4) this.endMeeting(id);
      else if (kind === "meetings" && id && action === "lobby" && parts.length === 4) this.setLobbyScope(id, String(form.get("scope")) as LobbyScope);
      else if (kind === "meetings" && id && action === "participants" && parts.length === 4) {
        const name = form.get("displayName")?.trim();
        if (!name) return text(400, "displayName is required");
        this.addHumanParticipant(id, name);
      } else if (kind === "meetings" && id && action === "participants" && sub && subAction === "remove" && parts.length === 6)
        this.removeHumanParticipant(id, sub);
      else return text(404, "not found");
    } catch (e) {
      return text(400, (e as Error).message);
    }
    res.writeHead(303, { location: "/_emulator/" });
    res.end();
  }

  // ================================================================ state helpers

  #tenant(tenantId: string): TenantState {
    const key = tenantId.toLowerCase();
    const tenant = this.#tenants.get(key) ?? { users: new Map(), groups: new Map(), events: new Map(), videoInterop: null };
    this.#tenants.set(key, tenant);
    return tenant;
  }

  /** By object id or userPrincipalName, case-insensitively, within one tenant only. */
  #findUser(tenantId: string, key: string): EmulatedUser | undefined {
    for (const user of this.#tenant(tenantId).users.values()) if (sameId(user.id, key) || sameId(user.userPrincipalName, key)) return user;
    return undefined;
  }

  #requireUser(tenantId: string, key: string): EmulatedUser {
    const user = this.#findUser(tenantId, key);
    if (!user) throw new Error(`no user ${key} in tenant ${tenantId}`);
    return user;
  }

  #requireCalendarUser(tenantId: string, key: string): EmulatedUser {
    const user = this.#findUser(tenantId, key);
    if (!user) throw notFound(`The requested user '${key}' is invalid.`, "ErrorInvalidUser");
    return user;
  }

  #requireEventHttp(tenantId: string, userKey: string, eventId: string): EventRecord {
    const user = this.#requireCalendarUser(tenantId, userKey);
    const event = this.#tenant(tenantId).events.get(user.id)?.get(eventId);
    if (!event) throw notFound("The specified object was not found in the store.", "ErrorItemNotFound");
    return event;
  }

  #requireEvent(tenantId: string, userKey: string, eventId: string): EventRecord {
    const user = this.#requireUser(tenantId, userKey);
    const event = this.#tenant(tenantId).events.get(user.id)?.get(eventId);
    if (!event) throw new Error(`no event ${eventId} for user ${userKey}`);
    return event;
  }

  #requireMeeting(meetingId: string): MeetingState {
    const meeting = this.#meetings.get(meetingId);
    if (!meeting) throw new Error(`no meeting ${meetingId}`);
    return meeting;
  }

  #requireCall(callId: string): CallRecord {
    this.#sweep();
    const call = this.#calls.get(callId);
    if (!call) throw new Error(`no call ${callId}`);
    return call;
  }

  #isAllowedCallback(value: string): boolean {
    try {
      const url = new URL(value);
      return url.protocol === "https:" || (this.#o.allowHttpCallbacks && url.protocol === "http:");
    } catch {
      return false;
    }
  }

  #requireKeys() {
    if (!this.#keys) throw new Error("GraphEmulator.start() has not run");
    return this.#keys;
  }
}

// ---------------------------------------------------------------- module helpers

const directoryDenied = () => forbidden("Insufficient privileges to complete the operation.", "Authorization_RequestDenied");
/** Graph's 401 for a token it does not accept, with its challenge. */
const unauthorized = (message: string) => new GraphHttpError(401, "InvalidAuthenticationToken", message, { "www-authenticate": WWW_AUTHENTICATE });
const outlookDenied = () => forbidden("Access is denied. Check credentials and try again.", "ErrorAccessDenied");
const meetingsDenied = (needed: readonly string[]) =>
  forbidden(`Application does not have permission to read online meetings (needs one of ${needed.join(", ")}).`, "Forbidden");
const callsDenied = (needed: readonly string[]) =>
  forbidden(`Insufficient enterprise tenant permissions, cannot access this API (needs ${needed.join(" or ")}).`, "Forbidden");

function userJson(user: EmulatedUser): Record<string, unknown> {
  return {
    id: user.id,
    displayName: user.displayName,
    userPrincipalName: user.userPrincipalName,
    mail: user.mail,
    businessPhones: [],
    givenName: null,
    surname: null,
    jobTitle: null,
    mobilePhone: null,
    officeLocation: null,
    preferredLanguage: null,
  };
}

function subscriptionJson(sub: SubscriptionRecord): Record<string, unknown> {
  return {
    id: sub.id,
    resource: sub.resource,
    applicationId: sub.appId,
    changeType: sub.changeType,
    clientState: sub.clientState,
    notificationUrl: sub.notificationUrl,
    notificationQueryOptions: null,
    lifecycleNotificationUrl: sub.lifecycleNotificationUrl,
    expirationDateTime: graphTime(sub.expiration),
    creatorId: sub.creatorId,
    includeResourceData: false,
    latestSupportedTlsVersion: sub.latestSupportedTlsVersion,
    encryptionCertificate: null,
    encryptionCertificateId: null,
    notificationUrlAppId: null,
  };
}

/**
 * `Property eq 'value'` as Graph accepts it: property name in any case, single quotes
 * (a doubled quote escapes one), whitespace around the operator. Null when it does not match.
 */
function parseEqFilter(filter: string, property: string): string | null {
  const escaped = property.replace(/[/]/g, "\\/");
  const match = new RegExp(`^\\s*${escaped}\\s+eq\\s+'((?:[^']|'')*)'\\s*$`, "i").exec(filter);
  return match ? match[1]!.replace(/''/g, "'") : null;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Outlook stores HTML bodies as whole documents. */
function wrapHtml(content: string): string {
  if (/^\s*<html[\s>]/i.test(content)) return content;
  return `<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n</head>\r\n<body>\r\n${content}\r\n</body>\r\n</html>\r\n`;
}

function unwrapHtml(content: string): string {
  const body = /<body[^>]*>([\s\S]*)<\/body>/i.exec(content);
  return (body ? body[1]! : content).trim();
}

function escapeText(content: string): string {
  return content.replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]!);
}
