import type { Logger } from "pino";
import { ErrorCode, RequestStatus, type RequestStatusValue } from "../bfcp/constants.js";
import type { FloorDecision, FloorPolicy, FloorRequestState } from "../bfcp/floorPolicy.js";
import type { BfcpServerSession } from "../bfcp/serverSession.js";
import {
  type DeviceFloorLivenessOptions,
  type DeviceGoneReason,
  deviceFloorGone,
  type FloorEffect,
  type FloorEvent,
  type FloorHolder,
  NO_HOLDER,
  nextFloor,
} from "../domain/contentFloor.js";

/** What content sharing drives outside BFCP: the meeting leg's content path and the bot's role in the meeting. */
export interface ContentSessionPorts {
  /** Who presents on the media path (WebRtcMeetingLeg.presentContent): it asks the new presenter for a keyframe itself. */
  presentContent(presenter: "device" | "meeting" | undefined): void;
  /** Graph's screen-sharing role for the bot, through the control plane. */
  setSharingRole(role: "sharer" | "viewer"): Promise<void>;
}

export interface ContentSessionOptions {
  /** The floor the call's BFCP answer named (`a=floorid`). */
  readonly floorId: number;
  /** The user id the gateway's side holds the floor as when the meeting presents (FloorStatus's beneficiary). */
  readonly gatewayUserId: number;
  readonly log: Logger;
  readonly liveness?: DeviceFloorLivenessOptions;
  /** Milliseconds on a monotonic clock (tests pass their own). */
  readonly now?: () => number;
}

/**
 * One call's content sharing: the BFCP floor control server's policy (domain/contentFloor.ts
 * decides) wired to what it drives — BFCP answers and notifications to the device, the meeting
 * leg's content direction, the bot's screen-sharing role in the meeting. Floor request ids are
 * ours (the server assigns them in BFCP). The meeting's shares come in from outside
 * (`meetingShareStarted`/`Stopped`); a device that vanished while presenting is found by
 * `checkLiveness`, which the call runs every couple of seconds with its content counters.
 */
export class ContentSession implements FloorPolicy {
  readonly #o: ContentSessionOptions;
  readonly #ports: ContentSessionPorts;
  readonly #now: () => number;
  #bfcp: BfcpServerSession | undefined;
  #holder: FloorHolder = NO_HOLDER;
  #nextFloorRequestId = 1;
  /** The request id the gateway's user holds the floor under while the meeting presents. */
  #meetingFloorRequestId = 0;
  #grantedAtMs = 0;
  #lastContentAtMs: number | undefined;
  #lastContentCount = -1;
  #lastBfcpAtMs: number | undefined;

  constructor(ports: ContentSessionPorts, options: ContentSessionOptions) {
    this.#ports = ports;
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /** The device's BFCP session this policy answers for; its going away is the device's. */
  attach(bfcp: BfcpServerSession): void {
    this.#bfcp = bfcp;
    bfcp.on("clientGone", () => this.deviceGone("connection-closed"));
    bfcp.on("transactionFailed", (e) => this.#o.log.debug({ err: e.message }, "a BFCP notification went unacknowledged"));
  }

  get holder(): FloorHolder {
    return this.#holder;
  }

  // FloorPolicy: what the BFCP session asks.

  request(_request: { readonly userId: number; readonly floorIds: readonly number[] }): FloorDecision {
    this.#lastBfcpAtMs = this.#now();
    const floorRequestId = this.#nextFloorRequestId++;
    this.#apply({ type: "deviceRequested", floorRequestId });
    this.#grantedAtMs = this.#now();
    return this.#state(floorRequestId, RequestStatus.Granted);
  }

  release(request: { readonly userId: number; readonly floorRequestId: number }): FloorDecision {
    this.#lastBfcpAtMs = this.#now();
    const effects = this.#apply({ type: "deviceReleased", floorRequestId: request.floorRequestId });
    if (effects.some((e) => e.type === "unknownFloorRequest"))
      return { error: ErrorCode.FloorRequestIdDoesNotExist, info: `floor request ${request.floorRequestId} is not held` };
    return this.#state(request.floorRequestId, RequestStatus.Released);
  }

  query(request: { readonly userId: number; readonly floorRequestId: number }): FloorDecision {
    this.#lastBfcpAtMs = this.#now();
    if (this.#holder.kind === "device" && this.#holder.floorRequestId === request.floorRequestId)
      return this.#state(request.floorRequestId, RequestStatus.Granted);
    return { error: ErrorCode.FloorRequestIdDoesNotExist, info: `floor request ${request.floorRequestId} is not held` };
  }

  floorStatus(_floorId: number): readonly FloorRequestState[] {
    this.#lastBfcpAtMs = this.#now();
    return this.#holders();
  }

  requestsOf(_userId: number): readonly FloorRequestState[] {
    return this.#holder.kind === "device" ? [this.#state(this.#holder.floorRequestId, RequestStatus.Granted)] : [];
  }

  // Events from the rest of the call.

  /** Someone in the meeting started sharing their screen (not the bot). */
  meetingShareStarted(sourceId: string): void {
    this.#apply({ type: "meetingShareStarted", sourceId });
  }

  meetingShareStopped(sourceId: string): void {
    this.#apply({ type: "meetingShareStopped", sourceId });
  }

  /** The device is gone (hung up, its BFCP connection closed, or found silent). */
  deviceGone(reason: DeviceGoneReason): void {
    const holder = this.#holder;
    const effects = this.#apply({ type: "deviceGone", reason });
    // A device found silent may still be there: tell it, so it stops showing itself as presenting.
    if (holder.kind === "device" && effects.length && (reason === "content-silent" || reason === "bfcp-silent"))
      this.#tell((b) => b.notifyFloorRequestStatus(this.#state(holder.floorRequestId, RequestStatus.Revoked)));
  }

  /** Any BFCP message from the device (keep-alive Hellos included) keeps it alive. */
  bfcpHeard(): void {
    this.#lastBfcpAtMs = this.#now();
  }

  /** Run every couple of seconds with the device's content packet count: a presenter that went silent loses the floor. */
  checkLiveness(deviceContentPackets: number): void {
    const now = this.#now();
    if (deviceContentPackets !== this.#lastContentCount) {
      this.#lastContentCount = deviceContentPackets;
      this.#lastContentAtMs = now;
    }
    const gone = deviceFloorGone(
      this.#holder,
      {
        nowMs: now,
        grantedAtMs: this.#grantedAtMs,
        ...(this.#lastContentAtMs !== undefined ? { lastContentAtMs: this.#lastContentAtMs } : {}),
        ...(this.#lastBfcpAtMs !== undefined ? { lastBfcpAtMs: this.#lastBfcpAtMs } : {}),
      },
      this.#o.liveness,
    );
    if (gone) {
      this.#o.log.info({ reason: gone }, "the device lost the content floor: it went silent while presenting");
      this.deviceGone(gone);
    }
  }

  #apply(event: FloorEvent): readonly FloorEffect[] {
    const before = this.#holder;
    const { holder, effects } = nextFloor(before, event);
    this.#holder = holder;
    if (holder.kind === "meeting" && before.kind !== "meeting") this.#meetingFloorRequestId = this.#nextFloorRequestId++;
    for (const effect of effects) this.#carryOut(effect);
    if (effects.length) this.#o.log.info({ event: event.type, holder: holder.kind }, "content floor");
    return effects;
  }

  #carryOut(effect: FloorEffect): void {
    switch (effect.type) {
      case "answerDevice":
        // Granted and released answers to the device's own requests are the BFCP replies; the rest are notifications.
        if (effect.status === "revoked") this.#tell((b) => b.notifyFloorRequestStatus(this.#state(effect.floorRequestId, RequestStatus.Revoked)));
        else if (effect.status === "released" && this.#holder.kind === "device" && this.#holder.floorRequestId !== effect.floorRequestId)
          this.#tell((b) => b.notifyFloorRequestStatus(this.#state(effect.floorRequestId, RequestStatus.Released)));
        return;
      case "tellDeviceFloor":
        this.#tell((b) => b.notifyFloorStatus(this.#o.floorId, this.#holders()));
        return;
      case "forward":
        this.#ports.presentContent(
          effect.direction === "device-to-meeting" ? "device" : effect.direction === "meeting-to-device" ? "meeting" : undefined,
        );
        return;
      case "requestKeyframe":
        // The content bridge asks the new presenter itself when its direction changes.
        return;
      case "sharingRole":
        void this.#ports
          .setSharingRole(effect.role)
          .catch((e: Error) => this.#o.log.warn({ err: e.message, role: effect.role }, "the bot's screen sharing role could not be changed"));
        return;
      case "unknownFloorRequest":
        return;
    }
  }

  /**
   * A notification to the device; one that cannot go (a TCP device not connected yet, a UDP one
   * with no address) is logged: the device learns the floor's state when it next asks.
   */
  #tell(notify: (bfcp: BfcpServerSession) => number): void {
    if (!this.#bfcp) return;
    try {
      notify(this.#bfcp);
    } catch (e) {
      this.#o.log.info({ err: (e as Error).message }, "a BFCP notification could not be sent");
    }
  }

  #holders(): FloorRequestState[] {
    if (this.#holder.kind === "device") return [this.#state(this.#holder.floorRequestId, RequestStatus.Granted)];
    if (this.#holder.kind === "meeting")
      return [
        {
          ...this.#state(this.#meetingFloorRequestId, RequestStatus.Granted),
          beneficiary: { userId: this.#o.gatewayUserId, displayName: "Teams meeting" },
        },
      ];
    return [];
  }

  #state(floorRequestId: number, status: RequestStatusValue): FloorRequestState {
    return { floorRequestId, floorIds: [this.#o.floorId], status };
  }
}
