import { ErrorCode, RequestStatus } from "./constants.js";
import type { FloorDecision, FloorPolicy, FloorRequestState } from "./floorPolicy.js";

interface Held extends FloorRequestState {
  readonly userId: number;
}

/**
 * The simplest floor logic: every request is granted at once and takes the
 * floor from whoever held it (its request turns Revoked). A stand-in for tests
 * of the BFCP room; the call's floor logic (device ↔ meeting) replaces it.
 */
export class LastRequesterWinsFloorPolicy implements FloorPolicy {
  readonly #requests = new Map<number, Held>();
  #nextFloorRequestId = 1;

  request(request: { readonly userId: number; readonly floorIds: readonly number[] }): FloorDecision {
    for (const [id, held] of this.#requests) {
      if (held.status === RequestStatus.Granted && held.floorIds.some((f) => request.floorIds.includes(f))) {
        this.#requests.set(id, { ...held, status: RequestStatus.Revoked });
      }
    }
    const granted: Held = {
      userId: request.userId,
      floorRequestId: this.#nextFloorRequestId++,
      floorIds: [...request.floorIds],
      status: RequestStatus.Granted,
    };
    this.#requests.set(granted.floorRequestId, granted);
    return this.#public(granted);
  }

  release(request: { readonly userId: number; readonly floorRequestId: number }): FloorDecision {
    const held = this.#requests.get(request.floorRequestId);
    if (!held || held.userId !== request.userId)
      return { error: ErrorCode.FloorRequestIdDoesNotExist, info: `no floor request ${request.floorRequestId}` };
    this.#requests.delete(request.floorRequestId);
    return this.#public({ ...held, status: RequestStatus.Released });
  }

  query(request: { readonly userId: number; readonly floorRequestId: number }): FloorDecision {
    const held = this.#requests.get(request.floorRequestId);
    if (!held) return { error: ErrorCode.FloorRequestIdDoesNotExist, info: `no floor request ${request.floorRequestId}` };
    return this.#public(held);
  }

  floorStatus(floorId: number): readonly FloorRequestState[] {
    return [...this.#requests.values()].filter((r) => r.status === RequestStatus.Granted && r.floorIds.includes(floorId)).map((r) => this.#public(r));
  }

  requestsOf(userId: number): readonly FloorRequestState[] {
    return [...this.#requests.values()].filter((r) => r.userId === userId).map((r) => this.#public(r));
  }

  #public(held: Held): FloorRequestState {
    const { userId: _userId, ...state } = held;
    return state;
  }
}
