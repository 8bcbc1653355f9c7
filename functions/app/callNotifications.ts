import { z } from "zod";
import { type CallObservation, isCallState, type Participant, type ResultInfo, readCallChainId } from "../../shared/domain/callSession.js";

/**
 * Reads Graph's commsNotifications into call observations. Lenient about what it does
 * not use (Graph adds properties), strict about what it does.
 */
const notificationSchema = z.looseObject({
  changeType: z.enum(["created", "updated", "deleted"]),
  resourceUrl: z.string().optional(),
  /** Older payloads name it `resource`. */
  resource: z.string().optional(),
  resourceData: z.unknown().optional(),
});

export const commsNotificationsSchema = z.looseObject({ value: z.array(notificationSchema).min(1).max(100) });

export interface CallEvent {
  readonly callId: string;
  readonly observation: CallObservation;
}

const CALL_PATH = /^\/?(?:app\/)?communications\/calls\/([^/?#]+)(\/participants)?(?:\/[^?#]*)?$/i;

const identityName = (info: unknown): string => {
  const identity = (info as { identity?: Record<string, { displayName?: unknown } | undefined> } | undefined)?.identity ?? {};
  for (const kind of ["user", "guest", "application", "device", "phone"]) {
    const name = identity[kind]?.displayName;
    if (typeof name === "string" && name !== "") return name;
  }
  return "";
};

export function toParticipant(raw: unknown, left: boolean): Participant | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const p = raw as Record<string, unknown>;
  if (typeof p.id !== "string") return undefined;
  const sequence = typeof p.rosterSequenceNumber === "number" ? p.rosterSequenceNumber : 0;
  return {
    id: p.id,
    displayName: identityName(p.info),
    isInLobby: p.isInLobby === true,
    isMuted: p.isMuted === true,
    sequence,
    left,
    sharingScreen: left ? null : screenShareSource(p.mediaStreams),
  };
}

/** The source id of a participant's screen share while it sends one (Graph's mediaStream, videoBasedScreenSharing). */
function screenShareSource(streams: unknown): string | null {
  if (!Array.isArray(streams)) return null;
  for (const s of streams as Record<string, unknown>[]) {
    if (s?.mediaType !== "videoBasedScreenSharing") continue;
    if ((s.direction === "sendOnly" || s.direction === "sendReceive") && typeof s.sourceId === "string" && s.sourceId.length <= 64) return s.sourceId;
  }
  return null;
}

export function toStateObservation(raw: unknown, deleted: boolean): CallObservation | undefined {
  const call = (raw ?? {}) as { state?: unknown; resultInfo?: Partial<ResultInfo>; myParticipantId?: unknown; callChainId?: unknown };
  const state = deleted ? "terminated" : call.state;
  if (!isCallState(state)) return undefined;
  const info = call.resultInfo;
  const resultInfo =
    info && typeof info === "object"
      ? {
          code: Number(info.code ?? 0),
          subcode: Number(info.subcode ?? 0),
          message: typeof info.message === "string" ? info.message.slice(0, 500) : "",
        }
      : null;
  return {
    kind: "state",
    state,
    resultInfo,
    myParticipantId: typeof call.myParticipantId === "string" ? call.myParticipantId : null,
    callChainId: readCallChainId(call.callChainId),
  };
}

/** Each notification that concerns a call, as (call id, observation); others are skipped. */
export function readCallEvents(body: z.output<typeof commsNotificationsSchema>): CallEvent[] {
  const events: CallEvent[] = [];
  for (const notification of body.value) {
    const match = CALL_PATH.exec(notification.resourceUrl ?? notification.resource ?? "");
    if (!match?.[1]) continue;
    const callId = decodeURIComponent(match[1]);
    const deleted = notification.changeType === "deleted";
    if (match[2]) {
      const list = Array.isArray(notification.resourceData) ? notification.resourceData : [notification.resourceData];
      const updated = list.map((p) => toParticipant(p, deleted)).filter((p): p is Participant => p !== undefined);
      if (updated.length > 0) events.push({ callId, observation: { kind: "participants", updated } });
    } else if (!/\/operations\//i.test(notification.resourceUrl ?? notification.resource ?? "")) {
      const observation = toStateObservation(notification.resourceData, deleted);
      if (observation) events.push({ callId, observation });
    }
  }
  return events;
}
