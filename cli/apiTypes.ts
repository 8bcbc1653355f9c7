/**
 * The admin API's JSON bodies as the CLI sees them. They are the domain types the
 * server serializes (functions/api/schemas.ts documents the same shapes), imported as
 * types only: the CLI loads none of the server's code at run time.
 */
import type { ProblemDetails as ServerProblemDetails } from "../functions/platform/problem.js";
import type { MediaStreamQuality as DomainMediaStreamQuality } from "../shared/domain/callQuality.js";
import type { CallSummary as DomainCallSummary } from "../shared/domain/callSession.js";
import type { UserPolicyGrant } from "../functions/ports.js";
import type {
  EffectivePolicy as DomainEffectivePolicy,
  PolicyAssignments as DomainPolicyAssignments,
  VideoInteropPolicy,
} from "../shared/domain/policy.js";
import type { HostView } from "../shared/domain/pool.js";
import type { VideoInteropServiceProvider } from "../shared/domain/provider.js";
import type { Tenant as DomainTenant } from "../shared/domain/tenant.js";

export type Tenant = DomainTenant;
export type Provider = VideoInteropServiceProvider;
export type Policy = VideoInteropPolicy;
export type PolicyAssignments = DomainPolicyAssignments;
export type UserGrant = UserPolicyGrant;
export type EffectivePolicy = DomainEffectivePolicy;
export type ProblemDetails = ServerProblemDetails;
/** A media host of the pool: its record, and `status` "unresponsive" once its lease lapsed but before it is declared dead. */
export type MediaHost = HostView;

/** The pool's hosts, with the control plane's clock to compare their leases with. */
export interface MediaHostList {
  readonly value: readonly MediaHost[];
  readonly now: string;
}

/** How long a drain lasts: until `deadline`, or for `deadlineInMinutes`; neither means the API's default (60 minutes). */
export interface DrainRequest {
  readonly deadline?: string;
  readonly deadlineInMinutes?: number;
}

export interface NewTenant {
  readonly tenantId: string;
  readonly name: string;
}

export interface NewProvider {
  readonly identity: string;
  readonly tenantKey: string;
  readonly instructionUri?: string | null;
  readonly allowAppGuestJoinsAsAuthenticated?: boolean;
  /** An array of GUIDs, or the cmdlet's "id1;id2" string. */
  readonly aadApplicationIds?: readonly string[] | string;
}

/** `Set-CsVideoInteropServiceProvider`: any subset; `instructionUri: null` clears it. */
export interface ProviderChanges {
  readonly tenantKey?: string;
  readonly instructionUri?: string | null;
  readonly allowAppGuestJoinsAsAuthenticated?: boolean;
  readonly aadApplicationIds?: readonly string[] | string;
}

/** A list answer; `continuationToken` is present while more pages follow. */
export interface Page<T> {
  readonly value: readonly T[];
  readonly continuationToken?: string;
}

/** A single resource with the ETag its answer carried (for `--if-match`). */
export interface Tagged<T> {
  readonly value: T;
  readonly etag: string | undefined;
}

/** One call in the live list or the history (GET /v1/calls). */
export type CallSummary = DomainCallSummary;

export type MediaStreamQuality = DomainMediaStreamQuality;

/** One call's record (GET /v1/calls/{id}). */
export interface CallRecord extends Omit<CallSummary, "inLobby" | "outcome" | "lobbyAt"> {
  /** Absent when it never waited in the lobby. */
  readonly lobbyAt?: string;
  readonly mediaHostEpoch: number;
  readonly deviceCallId: string;
  readonly organizerId: string;
  readonly joinAsGuest: boolean;
  readonly participants: readonly { readonly id: string; readonly displayName: string; readonly isInLobby: boolean; readonly left: boolean }[];
  readonly resultInfo: { readonly code: number; readonly subcode: number; readonly message: string } | null;
  readonly quality?: { readonly deviceLeg: readonly MediaStreamQuality[]; readonly meetingLeg: readonly MediaStreamQuality[] } | null;
}

/** History filters (GET /v1/calls?state=ended). */
export interface CallHistoryFilters {
  readonly tenant?: string;
  readonly from?: string;
  readonly to?: string;
  readonly outcome?: string;
  readonly reason?: string;
}
