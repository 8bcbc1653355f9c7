import type { ErrorCodeValue, RequestStatusValue } from "./constants.js";

/** One floor request as the floor logic sees it: what FLOOR-REQUEST-INFORMATION reports. */
export interface FloorRequestState {
  readonly floorRequestId: number;
  readonly floorIds: readonly number[];
  readonly status: RequestStatusValue;
  readonly queuePosition?: number;
  /** Whose request it is, when not the device's own (the gateway's user holding the floor for the meeting). */
  readonly beneficiary?: { readonly userId: number; readonly displayName?: string; readonly uri?: string };
  readonly statusInfo?: string;
}

/** The floor logic's refusal, answered with an Error message. */
export interface FloorPolicyRefusal {
  readonly error: ErrorCodeValue;
  readonly info?: string;
}

export type FloorDecision = FloorRequestState | FloorPolicyRefusal;

export function isRefusal(decision: FloorDecision): decision is FloorPolicyRefusal {
  return "error" in decision;
}

/**
 * What the BFCP server session asks the floor logic. The session has already
 * checked the conference, the user and the floor ids; the policy decides.
 * Changes the policy makes on its own (a revocation, the meeting taking the
 * floor) go out through the session's notify methods.
 */
export interface FloorPolicy {
  /** FloorRequest from `userId` for `floorIds`. */
  request(request: { readonly userId: number; readonly floorIds: readonly number[]; readonly priority?: number }): FloorDecision;
  /** FloorRelease of one of the user's requests. */
  release(request: { readonly userId: number; readonly floorRequestId: number }): FloorDecision;
  /** FloorRequestQuery: where a request stands. */
  query(request: { readonly userId: number; readonly floorRequestId: number }): FloorDecision;
  /** FloorQuery: the requests holding or waiting for a floor. */
  floorStatus(floorId: number): readonly FloorRequestState[];
  /** UserQuery: the user's own requests. */
  requestsOf(userId: number): readonly FloorRequestState[];
}
