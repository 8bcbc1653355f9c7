/**
 * Who presents content in a call: the room system (under BFCP, as its floor) or someone in
 * the meeting (Teams screen sharing). One floor per call; the last one to start sharing wins,
 * both ways, because Teams has a single sharer and a room system takes the floor from whoever
 * holds it (docs/design.md, "Content"). Pure: the call feeds it events and carries out the
 * effects it returns (BFCP messages, forwarding, keyframe requests, Graph's sharing role).
 *
 * The device's floor request ids are the device's own (BFCP FLOOR-REQUEST-ID); the meeting's
 * sharer is named by its media source id. The bot's own share is not a meeting share: the
 * caller passes only other participants' shares.
 */

export type FloorHolder =
  | { readonly kind: "none" }
  | { readonly kind: "device"; readonly floorRequestId: number }
  | { readonly kind: "meeting"; readonly sourceId: string };

/** Why a device lost the floor without releasing it. */
export type DeviceGoneReason = "goodbye" | "connection-closed" | "hung-up" | "bfcp-silent" | "content-silent";

export type FloorEvent =
  | { readonly type: "deviceRequested"; readonly floorRequestId: number }
  | { readonly type: "deviceReleased"; readonly floorRequestId: number }
  | { readonly type: "deviceGone"; readonly reason: DeviceGoneReason }
  | { readonly type: "meetingShareStarted"; readonly sourceId: string }
  | { readonly type: "meetingShareStopped"; readonly sourceId: string };

export type FloorEffect =
  /** A FloorRequestStatus to the device about one of its requests. */
  | { readonly type: "answerDevice"; readonly floorRequestId: number; readonly status: "granted" | "released" | "revoked" }
  /** The device released a request it does not hold: BFCP error 7 (Floor Request ID Does Not Exist). */
  | { readonly type: "unknownFloorRequest"; readonly floorRequestId: number }
  /** A FloorStatus to the device: the floor is held by the gateway's user (someone in the meeting), or free. */
  | { readonly type: "tellDeviceFloor"; readonly heldBy: "gateway" | "nobody" }
  /** What the content streams carry from now on; a new direction starts at the source's next keyframe. */
  | { readonly type: "forward"; readonly direction: "device-to-meeting" | "meeting-to-device" | "none" }
  /** The new source's receivers have no decoder state: ask it for a keyframe at once. */
  | { readonly type: "requestKeyframe"; readonly from: "device" }
  | { readonly type: "requestKeyframe"; readonly from: "meeting"; readonly sourceId: string }
  /** Graph's changeScreenSharingRole for the bot. */
  | { readonly type: "sharingRole"; readonly role: "sharer" | "viewer" };

export interface FloorTransition {
  readonly holder: FloorHolder;
  readonly effects: readonly FloorEffect[];
}

export const NO_HOLDER: FloorHolder = { kind: "none" };

/** The next holder and what to do about it. Events that change nothing return no effects. */
export function nextFloor(holder: FloorHolder, event: FloorEvent): FloorTransition {
  switch (event.type) {
    case "deviceRequested": {
      const effects: FloorEffect[] = [];
      if (holder.kind === "device") {
        // A second request while holding (a device that lost track, or a new presentation): the new id holds it.
        if (holder.floorRequestId !== event.floorRequestId)
          effects.push({ type: "answerDevice", floorRequestId: holder.floorRequestId, status: "released" });
        effects.push({ type: "answerDevice", floorRequestId: event.floorRequestId, status: "granted" });
        return { holder: { kind: "device", floorRequestId: event.floorRequestId }, effects };
      }
      effects.push(
        { type: "answerDevice", floorRequestId: event.floorRequestId, status: "granted" },
        { type: "sharingRole", role: "sharer" },
        { type: "forward", direction: "device-to-meeting" },
        { type: "requestKeyframe", from: "device" },
      );
      return { holder: { kind: "device", floorRequestId: event.floorRequestId }, effects };
    }
    case "deviceReleased": {
      if (holder.kind !== "device" || holder.floorRequestId !== event.floorRequestId)
        return { holder, effects: [{ type: "unknownFloorRequest", floorRequestId: event.floorRequestId }] };
      return {
        holder: NO_HOLDER,
        effects: [
          { type: "answerDevice", floorRequestId: event.floorRequestId, status: "released" },
          { type: "forward", direction: "none" },
          { type: "sharingRole", role: "viewer" },
        ],
      };
    }
    case "deviceGone": {
      // Nobody left to tell on the device's side; the meeting must stop showing its frozen slide.
      if (holder.kind !== "device") return { holder, effects: [] };
      return {
        holder: NO_HOLDER,
        effects: [
          { type: "forward", direction: "none" },
          { type: "sharingRole", role: "viewer" },
        ],
      };
    }
    case "meetingShareStarted": {
      if (holder.kind === "meeting" && holder.sourceId === event.sourceId) return { holder, effects: [] };
      const effects: FloorEffect[] = [];
      if (holder.kind === "device") {
        // Teams has made someone else the sharer, so the bot is no longer: the device is preempted.
        effects.push({ type: "answerDevice", floorRequestId: holder.floorRequestId, status: "revoked" });
      }
      effects.push(
        { type: "tellDeviceFloor", heldBy: "gateway" },
        { type: "forward", direction: "meeting-to-device" },
        { type: "requestKeyframe", from: "meeting", sourceId: event.sourceId },
      );
      return { holder: { kind: "meeting", sourceId: event.sourceId }, effects };
    }
    case "meetingShareStopped": {
      if (holder.kind !== "meeting" || holder.sourceId !== event.sourceId) return { holder, effects: [] };
      return {
        holder: NO_HOLDER,
        effects: [
          { type: "tellDeviceFloor", heldBy: "nobody" },
          { type: "forward", direction: "none" },
        ],
      };
    }
  }
}

export interface DeviceFloorLivenessOptions {
  /** No content packet from the device for this long while it holds the floor: it is gone (a room that crashed mid-presentation). */
  readonly contentSilenceInMs?: number;
  /** No BFCP message at all for this long while it holds the floor (devices send Hello as a keep-alive). */
  readonly bfcpSilenceInMs?: number;
}

export const DEFAULT_CONTENT_SILENCE_MS = 6_000;
export const DEFAULT_BFCP_SILENCE_MS = 60_000;

/**
 * Whether a device holding the floor has vanished: BFCP over UDP has no connection to break,
 * so a room that crashed or lost its network keeps the floor until something notices. The
 * content timeout is short (a presentation always sends: content encoders repeat frames),
 * the BFCP one long (keep-alive Hellos come every 10–30 s, some devices send none).
 */
export function deviceFloorGone(
  holder: FloorHolder,
  at: { readonly nowMs: number; readonly grantedAtMs: number; readonly lastContentAtMs?: number; readonly lastBfcpAtMs?: number },
  options: DeviceFloorLivenessOptions = {},
): DeviceGoneReason | undefined {
  if (holder.kind !== "device") return undefined;
  const contentSince = Math.max(at.grantedAtMs, at.lastContentAtMs ?? Number.NEGATIVE_INFINITY);
  if (at.nowMs - contentSince >= (options.contentSilenceInMs ?? DEFAULT_CONTENT_SILENCE_MS)) return "content-silent";
  const bfcpSince = Math.max(at.grantedAtMs, at.lastBfcpAtMs ?? Number.NEGATIVE_INFINITY);
  if (at.nowMs - bfcpSince >= (options.bfcpSilenceInMs ?? DEFAULT_BFCP_SILENCE_MS)) return "bfcp-silent";
  return undefined;
}
