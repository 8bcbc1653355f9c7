import type { CallOutcome, CallSessionRecord, CallSummary } from "../shared/domain/callSession.js";
import type { MediaHostRecord } from "../shared/domain/pool.js";
import type { MeetingMapping, OnlineMeetingInfo } from "../shared/domain/meeting.js";
import type { PolicyAssignments } from "../shared/domain/policy.js";
import type { VideoInteropServiceProvider } from "../shared/domain/provider.js";
import type { Tenant } from "../shared/domain/tenant.js";

/**
 * What the control plane's use cases need from storage. Cosmos DB implements these
 * (adapters/cosmos); the use cases never see a container, a partition key or an ETag
 * header, only `Versioned` values and the errors of shared/errors.ts.
 */

export interface Versioned<T> {
  readonly value: T;
  /** Opaque version; pass it back as `ifMatch` to update only that version. */
  readonly etag: string;
}

export interface MutateOptions {
  /** Update only if the stored version is still this one, else PreconditionFailedError. */
  readonly ifMatch?: string;
  readonly abortSignal?: AbortSignal;
}

/**
 * A pure change applied with optimistic concurrency: called with the current value
 * (again, on fresh state, if someone else wrote in between), returns the next value —
 * or the current value itself when there is nothing to change (then nothing is written).
 */
export type Mutation<T> = (current: T) => T;

export interface Page<T> {
  readonly items: readonly T[];
  readonly continuationToken: string | undefined;
}

export interface ListOptions {
  readonly continuationToken?: string;
  readonly maxItemCount?: number;
  readonly abortSignal?: AbortSignal;
}

export interface TenantRepository {
  /** Claims the key digits service-wide; false when another tenant holds (or held) them. */
  reserveTenantKey(digits: string, tenantId: string): Promise<boolean>;
  /** Gives back a reservation whose tenant was never created. */
  releaseTenantKey(digits: string): Promise<void>;
  /** Marks the digits as never to be issued again (a retired tenant's devices may still dial them). */
  retireTenantKey(digits: string): Promise<void>;
  /** Throws ConflictError when the tenant exists. */
  create(tenant: Tenant): Promise<Versioned<Tenant>>;
  get(tenantId: string): Promise<Versioned<Tenant> | undefined>;
  /** The tenant currently holding the key digits, if any. */
  findTenantIdByKeyDigits(digits: string): Promise<string | undefined>;
  list(options?: ListOptions): Promise<Page<Tenant>>;
  update(tenantId: string, mutation: Mutation<Tenant>, options?: MutateOptions): Promise<Versioned<Tenant>>;
  /** Removes the tenant and everything stored under it (providers, grants). */
  remove(tenantId: string): Promise<void>;
}

export interface ProviderRepository {
  create(tenantId: string, provider: VideoInteropServiceProvider): Promise<Versioned<VideoInteropServiceProvider>>;
  get(tenantId: string, identity: string): Promise<Versioned<VideoInteropServiceProvider> | undefined>;
  list(tenantId: string): Promise<Versioned<VideoInteropServiceProvider>[]>;
  update(
    tenantId: string,
    identity: string,
    mutation: Mutation<VideoInteropServiceProvider>,
    options?: MutateOptions,
  ): Promise<Versioned<VideoInteropServiceProvider>>;
  /** Throws NotFoundError when there is no such provider. */
  remove(tenantId: string, identity: string, options?: MutateOptions): Promise<void>;
}

export interface UserPolicyGrant {
  readonly userId: string;
  readonly policyName: string;
  readonly grantedAt: string;
}

export interface PolicyAssignmentRepository {
  /** The tenant-wide and group grants; the built-in defaults when none were made. */
  getAssignments(tenantId: string): Promise<Versioned<PolicyAssignments>>;
  updateAssignments(tenantId: string, mutation: Mutation<PolicyAssignments>, options?: MutateOptions): Promise<Versioned<PolicyAssignments>>;
  getUserGrant(tenantId: string, userId: string): Promise<UserPolicyGrant | undefined>;
  setUserGrant(tenantId: string, grant: UserPolicyGrant): Promise<void>;
  /** Idempotent: removing a grant that is not there is not an error. */
  removeUserGrant(tenantId: string, userId: string): Promise<void>;
  listUserGrants(tenantId: string, options?: ListOptions): Promise<Page<UserPolicyGrant>>;
}

// ---- Microsoft Graph, per tenant with app-only tokens (adapters/graph) ----

export interface MeetingDirectory {
  /** Teams' own look-up: `GET /communications/onlineMeetings?$filter=VideoTeleconferenceId eq '…'`. */
  findByVideoTeleconferenceId(tenantId: string, vtcId: string): Promise<OnlineMeetingInfo | undefined>;
  /** The meeting behind an invite's join link: `GET /users/{id}/onlineMeetings?$filter=JoinWebUrl eq '…'`. */
  findByJoinWebUrl(tenantId: string, organizerId: string, joinWebUrl: string): Promise<OnlineMeetingInfo | undefined>;
}

export interface CalendarEventInfo {
  readonly id: string;
  readonly organizerId: string;
  readonly subject: string;
  readonly bodyHtml: string;
  /** Graph's @odata.etag: the body is replaced only over this version. */
  readonly etag: string;
  readonly isCancelled: boolean;
  readonly joinWebUrl: string | null;
}

export interface Calendar {
  getEvent(tenantId: string, userId: string, eventId: string): Promise<CalendarEventInfo | undefined>;
  listEventIds(tenantId: string, userId: string): Promise<string[]>;
  /** Throws PreconditionFailedError when the event changed since `etag`. */
  replaceEventBody(tenantId: string, userId: string, eventId: string, bodyHtml: string, etag: string): Promise<void>;
}

export interface JoinMeetingRequest {
  readonly tenantId: string;
  readonly meeting: OnlineMeetingInfo;
  readonly callbackUri: string;
  /** The room system's name as the roster shows it. */
  readonly displayName: string;
  /** Guest join (lobby rules for guests apply) or as the app (AllowAppGuestJoinsAsAuthenticated). */
  readonly joinAsGuest: boolean;
  /** appHostedMediaConfig.blob: what the meeting's media server needs to reach the media host. */
  readonly mediaBlob: string;
}

export interface JoinedCall {
  readonly callId: string;
  readonly myParticipantId: string | null;
  /** Microsoft's id of the call (support, call quality dashboard, logTeleconferenceDeviceQuality). */
  readonly callChainId: string | null;
}

/** The bot's part in the meeting's screen share (Graph's screenSharingRole): it may send content only as sharer. */
export type ScreenSharingRole = "viewer" | "sharer";

export interface CallControl {
  /** Creates the bot's call; Graph's answer names the call, our participant and the call's callChainId (null when it does not). */
  join(request: JoinMeetingRequest): Promise<JoinedCall>;
  /** Leaves the call (our leg only); a call that is gone already is not an error. */
  leave(tenantId: string, callId: string): Promise<void>;
  keepAlive(tenantId: string, callId: string): Promise<void>;
  /** Takes (sharer) or gives up (viewer) the meeting's screen share for the bot (Graph's changeScreenSharingRole; app-hosted media only). */
  changeScreenSharingRole(tenantId: string, callId: string, role: ScreenSharingRole): Promise<void>;
  /** Reports a device's media quality for the call (Graph's logTeleconferenceDeviceQuality). */
  logDeviceQuality(tenantId: string, body: Record<string, unknown>): Promise<void>;
  /** The call as Graph has it now (state and roster), to catch up on notifications that came before we knew the call. */
  getCall(tenantId: string, callId: string): Promise<{ readonly call: unknown; readonly participants: readonly unknown[] } | undefined>;
}

export interface SubscriptionRequest {
  readonly resource: string;
  readonly changeType: string;
  readonly notificationUrl: string;
  readonly lifecycleNotificationUrl: string;
  readonly clientState: string;
  readonly expirationDateTime: Date;
}

export interface ChangeSubscriptions {
  create(tenantId: string, request: SubscriptionRequest): Promise<{ readonly id: string; readonly expirationDateTime: string }>;
  renew(tenantId: string, subscriptionId: string, expirationDateTime: Date): Promise<void>;
  reauthorize(tenantId: string, subscriptionId: string): Promise<void>;
  /** Idempotent: a subscription that is gone already is not an error. */
  remove(tenantId: string, subscriptionId: string): Promise<void>;
}

export interface ConsentProbe {
  /**
   * The application permissions the tenant has granted us, read from the `roles` of a
   * fresh app-only token. Throws ConsentMissingError when no token can be had at all.
   */
  grantedRoles(tenantId: string): Promise<readonly string[]>;
}

export interface ConsentRequest {
  /** SHA-256 of the state's nonce; the nonce itself lives only in the link. */
  readonly nonceHash: string;
  readonly expiresAt: string;
}

export interface ConsentRequestRepository {
  /** Records the tenant's one open consent request, replacing any earlier one. */
  open(tenantId: string, request: ConsentRequest): Promise<void>;
  /** Consumes the open request if it has this nonce hash: true exactly once, for one caller. */
  consume(tenantId: string, nonceHash: string): Promise<boolean>;
}

export interface MeetingMappingRepository {
  /** Claims the VTC ID for the meeting; false when the ID is taken (active or retired). */
  claim(mapping: MeetingMapping): Promise<boolean>;
  get(vtcId: string): Promise<MeetingMapping | undefined>;
  retire(vtcId: string, at: Date): Promise<void>;
  /** The VTC ID given to an organizer's calendar event, if any. */
  findVtcIdForEvent(tenantId: string, organizerId: string, eventId: string): Promise<string | undefined>;
  unlinkEvent(tenantId: string, organizerId: string, eventId: string): Promise<void>;
  /** Links the event to the VTC ID unless it is linked already; returns the VTC ID that holds the link. */
  linkEvent(tenantId: string, organizerId: string, eventId: string, vtcId: string): Promise<string>;
}

/** Which ended calls a history page shows: those that started in [from, to), optionally narrowed. */
export interface CallHistoryQuery {
  readonly from: Date;
  readonly to: Date;
  readonly tenantId?: string;
  readonly outcome?: CallOutcome;
  /** The end reason as recorded, exactly. */
  readonly endReason?: string;
}

export interface CallSessionRepository {
  /** Throws ConflictError when a session with this call id exists. */
  create(session: CallSessionRecord): Promise<void>;
  get(callId: string): Promise<Versioned<CallSessionRecord> | undefined>;
  /** `beforeWrite` runs before each write of the mutation's result; when it throws, nothing is written. */
  update(
    callId: string,
    mutation: Mutation<CallSessionRecord>,
    options?: { readonly beforeWrite?: (next: CallSessionRecord, current: CallSessionRecord) => Promise<void> },
  ): Promise<Versioned<CallSessionRecord>>;
  /** Calls that have not ended, for keep-alives (a cross-partition query: a timer's, not a call path's). */
  listActive(): Promise<CallSessionRecord[]>;
  /**
   * Live calls, newest first, optionally one tenant's: cross-partition, bounded by the calls
   * the pool carries now (an operator's look, not a call path).
   */
  listLive(options?: { readonly tenantId?: string }): Promise<CallSessionRecord[]>;
  /**
   * Ended calls, newest first, a page at a time. The continuation token is the repository's
   * own (the caller must only hand back one it issued for the same query): a page reads at
   * most one partition per day of the window.
   */
  listEnded(query: CallHistoryQuery, options: ListOptions): Promise<Page<CallSummary>>;
  /**
   * The calls a lost media host (this epoch or an earlier one) leaves behind: not ended, or
   * ended for it without the bot having left yet. Cross-partition, bounded by that host's
   * calls: the reaper's, not a call path's.
   */
  listLeftBehind(mediaHostId: string, epoch: number): Promise<CallSessionRecord[]>;
}

/** What a transition of a media host's record decides: write this record, remove it, or leave it (undefined). */
export type HostTransition = { readonly write: MediaHostRecord } | { readonly remove: true } | undefined;

export interface MediaHostRepository {
  get(hostId: string): Promise<MediaHostRecord | undefined>;
  /** The pool's hosts (one partition). */
  list(): Promise<MediaHostRecord[]>;
  /**
   * Applies `decide` to the stored record (undefined when there is none) under optimistic
   * concurrency: on a lost race it runs again on the fresh record, so two writers never
   * both act on one state (e.g. two reapers declaring one host dead). Resolves with the
   * record as it now is (undefined once removed or never created).
   */
  transition(hostId: string, decide: (current: MediaHostRecord | undefined) => HostTransition): Promise<MediaHostRecord | undefined>;
}

export type { OnlineMeetingInfo };

export interface DirectoryUser {
  /** Entra object id (lower case). */
  readonly id: string;
  readonly userPrincipalName: string | null;
}

export interface Directory {
  /** A user by object id or user principal name. */
  user(tenantId: string, idOrUserPrincipalName: string): Promise<DirectoryUser | undefined>;
  /** The ids of the groups the user is a member of, directly or through other groups. */
  groupIdsOf(tenantId: string, userId: string): Promise<string[]>;
  /** Every user's id in the tenant (for tenant-wide grants). */
  listUserIds(tenantId: string): Promise<string[]>;
  /** The ids of a group's users, directly or through nested groups. */
  memberIdsOf(tenantId: string, groupId: string): Promise<string[]>;
}

export interface OrganizerSubscription {
  readonly userId: string;
  readonly subscriptionId: string;
  readonly expiresAt: string;
}

export interface OrganizerSubscriptionRepository {
  get(tenantId: string, userId: string): Promise<OrganizerSubscription | undefined>;
  findBySubscriptionId(tenantId: string, subscriptionId: string): Promise<OrganizerSubscription | undefined>;
  list(tenantId: string): Promise<OrganizerSubscription[]>;
  put(tenantId: string, subscription: OrganizerSubscription): Promise<void>;
  remove(tenantId: string, userId: string): Promise<void>;
}
