import type { CallQuality } from "./callQuality.js";
/**
 * A bot call's state as the control plane knows it from Graph call notifications.
 * Notifications arrive at least once and out of order (establishing after
 * established), so every field merges monotonically: applying the same
 * notification twice, or a set of them in any order, converges to one state.
 */

/** Graph call states in the order a call moves through them; ours only ever moves forward. */
const STATE_ORDER = ["incoming", "establishing", "ringing", "established", "terminating", "terminated"] as const;
export type CallState = (typeof STATE_ORDER)[number];

export function isCallState(value: unknown): value is CallState {
  return typeof value === "string" && (STATE_ORDER as readonly string[]).includes(value);
}

export interface ResultInfo {
  readonly code: number;
  readonly subcode: number;
  readonly message: string;
}

export interface Participant {
  readonly id: string;
  readonly displayName: string;
  readonly isInLobby: boolean;
  readonly isMuted: boolean;
  /** Graph's rosterSequenceNumber: the newer roster entry wins, whatever the arrival order. */
  readonly sequence: number;
  /** Kept (as a tombstone) after leaving, so a late "still here" update cannot bring it back. */
  readonly left: boolean;
  /**
   * The source id of its screen share while it shares (its videoBasedScreenSharing stream
   * sends), else null. Absent in records written before it was kept: read as null.
   */
  readonly sharingScreen?: string | null;
}

export interface CallSessionState {
  readonly state: CallState;
  /** Our own participant in the meeting, once Graph has named it. */
  readonly myParticipantId: string | null;
  /**
   * Graph's callChainId: Microsoft's id of the call (a GUID the calling platform sets when the
   * bot's call is created), what Microsoft support and the call quality dashboard know it by.
   * The join's answer names it; a notification names it too, should the answer not have.
   */
  readonly callChainId: string | null;
  readonly participants: readonly Participant[];
  readonly resultInfo: ResultInfo | null;
}

/** What one notification says, reduced to what changes the session. */
export type CallObservation =
  | {
      readonly kind: "state";
      readonly state: CallState;
      readonly resultInfo: ResultInfo | null;
      readonly myParticipantId: string | null;
      readonly callChainId: string | null;
    }
  | { readonly kind: "participants"; readonly updated: readonly Participant[] };

export const INITIAL_CALL_SESSION: CallSessionState = {
  state: "establishing",
  myParticipantId: null,
  callChainId: null,
  participants: [],
  resultInfo: null,
};

const rank = (state: CallState) => STATE_ORDER.indexOf(state);

export function applyCallObservation(session: CallSessionState, observation: CallObservation): CallSessionState {
  if (observation.kind === "state") {
    // Ids Graph names once: the first one given stays, from whichever observation, even a stale one.
    const myParticipantId = session.myParticipantId ?? observation.myParticipantId;
    const callChainId = session.callChainId ?? observation.callChainId;
    if (rank(observation.state) < rank(session.state)) return { ...session, myParticipantId, callChainId };
    // Only a terminated observation's resultInfo counts (earlier states do not carry a meaningful
    // one, and taking it would make the result depend on arrival order); the first one given is final.
    const terminal = observation.state === "terminated" ? observation.resultInfo : null;
    const resultInfo = session.state === "terminated" ? (session.resultInfo ?? terminal) : (terminal ?? session.resultInfo);
    return { ...session, state: observation.state, resultInfo, myParticipantId, callChainId };
  }
  const byId = new Map(session.participants.map((p) => [p.id, p]));
  for (const p of observation.updated) {
    const known = byId.get(p.id);
    // Newer sequence wins; at equal sequence "left" wins, so the merge does not depend on order.
    if (!known || p.sequence > known.sequence || (p.sequence === known.sequence && p.left && !known.left)) byId.set(p.id, p);
  }
  return { ...session, participants: [...byId.values()].sort((a, b) => a.id.localeCompare(b.id)) };
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A callChainId as Graph gives it (a GUID), else null: what is kept goes into log lines and reports to Microsoft. */
export function readCallChainId(value: unknown): string | null {
  return typeof value === "string" && GUID.test(value) ? value : null;
}

/** How a control-plane log line names a call: Graph's call id and its callChainId, so either finds every line of it. */
export function callLabel(call: { readonly callId: string; readonly callChainId: string | null }): string {
  return `call ${call.callId} (callChainId ${call.callChainId ?? "unknown"})`;
}

/** Whether our participant waits in the meeting lobby: only before the call is established. */
export function isInLobby(session: CallSessionState): boolean {
  if (rank(session.state) >= rank("established")) return false;
  return session.participants.some((p) => p.id === session.myParticipantId && p.isInLobby && !p.left);
}

/**
 * Who shares their screen in the meeting besides our bot: the present participant whose
 * screen-sharing stream sends (Teams has one sharer; while a hand-over is half seen, the
 * latest roster entry wins), with the stream's source id; null when nobody else shares.
 */
export function screenSharer(session: CallSessionState): { readonly participantId: string; readonly sourceId: string } | null {
  let sharer: Participant | undefined;
  for (const p of session.participants)
    if (!p.left && p.sharingScreen && p.id !== session.myParticipantId && (!sharer || p.sequence > sharer.sequence)) sharer = p;
  return sharer?.sharingScreen ? { participantId: sharer.id, sourceId: sharer.sharingScreen } : null;
}

/** Who is in the meeting now (left participants are kept only as tombstones). */
export function presentParticipants(session: CallSessionState): Participant[] {
  return session.participants.filter((p) => !p.left);
}

/** Who ended a call, for the call detail record: an operator is someone hanging it up through the admin API. */
export type EndedBy = "device" | "meeting" | "gateway" | "operator";

/** How the device dialed (media-host/domain/dialString.ts): through the IVR, or straight to the meeting. */
export type DialForm = "ivr" | "direct" | "direct-by-domain";
export const DIAL_FORMS: readonly DialForm[] = ["ivr", "direct", "direct-by-domain"];

/** The call detail record: one per room-system call, kept after the call ends. */
export interface CallSessionRecord extends CallSessionState {
  readonly callId: string;
  readonly tenantId: string;
  /** The media host that carries the call's media; call events go to it. */
  readonly mediaHostId: string;
  /** The host's lease epoch when it joined: a host that died and came back never owns the calls of its past life. */
  readonly mediaHostEpoch: number;
  /** The media host's own id for the device leg (its SIP Call-ID). */
  readonly deviceCallId: string;
  readonly displayName: string;
  readonly vtcId: string;
  readonly meetingId: string;
  readonly organizerId: string;
  readonly joinAsGuest: boolean;
  /** The meeting's subject when the join resolved it (absent on records written before it was kept). */
  readonly meetingSubject?: string | null;
  /** How the device dialed, when its media host said so (absent or null otherwise). */
  readonly dialForm?: DialForm | null;
  /** The device's address as its media host saw it (IP:port), when the host said so. */
  readonly deviceAddress?: string | null;
  /** Phases: the bot's call created, first seen waiting in the lobby (absent if never), established in the meeting, ended. */
  readonly createdAt: string;
  readonly lobbyAt?: string;
  readonly establishedAt: string | null;
  readonly endedAt: string | null;
  readonly endedBy: EndedBy | null;
  readonly endReason: string | null;
  /** Digest of the view last handed to the media host: written only once the hand-off happened, so a lost one is redone. */
  readonly deliveredDigest: string | null;
  /**
   * How many views were handed over: part of each hand-off's message id, so a view that comes
   * back (nobody shares the screen again) is a new message, while a replay is still the same one.
   */
  readonly deliveredViews?: number;
  /** Media quality per leg, as the media host measured it at the end of the call (absent before). */
  readonly quality?: CallQuality | null;
  /**
   * Set when the control plane ended the call for its media host, which died or left the
   * pool: claimed once (so one instance leaves the meeting), done once the bot has left.
   */
  readonly reap?: { readonly claimedAt: string; readonly leftMeetingAt: string | null } | null;
}

/**
 * How an ended call went, for call history: "connected" once it was established in the
 * meeting, "not-connected" when it ended before (refused, not let in from the lobby,
 * failed on the way); null while it is live.
 */
export type CallOutcome = "connected" | "not-connected";
export const CALL_OUTCOMES: readonly CallOutcome[] = ["connected", "not-connected"];

export function callOutcome(record: Pick<CallSessionRecord, "endedAt" | "establishedAt">): CallOutcome | null {
  if (record.endedAt === null) return null;
  return record.establishedAt === null ? "not-connected" : "connected";
}

/** Applies an observation and stamps the phase timestamps it implies. */
export function observeCall(record: CallSessionRecord, observation: CallObservation, now: Date): CallSessionRecord {
  const next = applyCallObservation(record, observation);
  const at = now.toISOString();
  // Stamped whenever an "established" is seen, even late (after "terminated"), so arrival order does not matter.
  const sawEstablished = next.state === "established" || (observation.kind === "state" && observation.state === "established");
  const establishedAt = record.establishedAt ?? (sawEstablished ? at : null);
  // Only set once seen, so records that never waited (and those written before it was kept) do not change.
  const lobbyAt = record.lobbyAt ?? (isInLobby(next) ? at : undefined);
  const ended = next.state === "terminated" && record.endedAt === null;
  return {
    ...record,
    ...next,
    ...(lobbyAt ? { lobbyAt } : {}),
    establishedAt,
    endedAt: ended ? at : record.endedAt,
    endedBy: ended ? (record.endedBy ?? "meeting") : record.endedBy,
    endReason: ended ? (record.endReason ?? next.resultInfo?.message ?? "the meeting ended the call") : record.endReason,
  };
}

/**
 * What the media host is told about the call: the part of the record it acts on. The
 * roster stays in the record (the admin API shows it): people coming and going in a
 * meeting would otherwise each be a bus message to every bot's media host.
 */
export function mediaHostView(record: CallSessionRecord): {
  state: CallState;
  inLobby: boolean;
  resultInfo: ResultInfo | null;
  screenSharer: { readonly participantId: string; readonly sourceId: string } | null;
} {
  return { state: record.state, inLobby: isInLobby(record), resultInfo: record.resultInfo, screenSharer: screenSharer(record) };
}

/** One line of the live-calls list or the call history: what an operator looks a call up by. */
export interface CallSummary {
  readonly callId: string;
  readonly callChainId: string | null;
  readonly tenantId: string;
  readonly meetingId: string;
  readonly meetingSubject: string | null;
  readonly vtcId: string;
  readonly displayName: string;
  readonly deviceAddress: string | null;
  readonly dialForm: DialForm | null;
  readonly mediaHostId: string;
  readonly state: CallState;
  readonly inLobby: boolean;
  readonly createdAt: string;
  readonly lobbyAt: string | null;
  readonly establishedAt: string | null;
  readonly endedAt: string | null;
  readonly endedBy: EndedBy | null;
  readonly endReason: string | null;
  readonly outcome: CallOutcome | null;
}

export function callSummary(record: CallSessionRecord): CallSummary {
  return {
    callId: record.callId,
    callChainId: record.callChainId,
    tenantId: record.tenantId,
    meetingId: record.meetingId,
    meetingSubject: record.meetingSubject ?? null,
    vtcId: record.vtcId,
    displayName: record.displayName,
    deviceAddress: record.deviceAddress ?? null,
    dialForm: record.dialForm ?? null,
    mediaHostId: record.mediaHostId,
    state: record.state,
    inLobby: isInLobby(record),
    createdAt: record.createdAt,
    lobbyAt: record.lobbyAt ?? null,
    establishedAt: record.establishedAt,
    endedAt: record.endedAt,
    endedBy: record.endedBy,
    endReason: record.endReason,
    outcome: callOutcome(record),
  };
}
