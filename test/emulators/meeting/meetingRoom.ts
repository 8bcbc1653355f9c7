import type { Logger } from "pino";
import type { RtpPacket } from "werift";
import type { ForwardedStream } from "./forwardedStream.js";
import type { LegConnectionState, LegListener, MediaKind, ParticipantKind, ParticipantLeg } from "./participantLeg.js";

/** RFC 6464 levels are -dBov: at or below this (louder than -50 dBov) a packet counts as speech. */
const SPEECH_LEVEL = 50;
/** The active speaker keeps the floor while it spoke within this long, so two talkers do not flap. */
const SPEAKER_HOLD_MS = 1000;

export interface RosterEntry {
  readonly participantId: string;
  readonly displayName: string;
  readonly kind: ParticipantKind;
  /** The page's receive slot this participant's media arrives in (null: the page itself, or no slot free). */
  readonly slot: number | null;
}

export interface RosterListener {
  roster(entries: RosterEntry[]): void;
  /** Whose screen share the meeting shows now (null: no one's). */
  sharing(sharer: string | null): void;
  /** The page's participant left the meeting: its event stream ends. */
  ended(reason: string): void;
}

export interface ParticipantSnapshot {
  readonly participantId: string;
  readonly kind: ParticipantKind;
  readonly displayName: string;
  readonly connectionState: LegConnectionState;
  /** RTP packets the SFU received from this participant. */
  readonly receivedPackets: { audio: number; video: number; content: number };
  /** RTP packets the SFU forwarded to this participant. */
  readonly sentPackets: { audio: number; video: number; content: number };
  /** Keyframe requests (PLI+FIR) the SFU sent to this participant for its main video. */
  readonly keyframeRequests: number;
  /** Keyframe requests (PLI+FIR) the SFU sent to this participant for its content video. */
  readonly contentKeyframeRequests: number;
  /** Whose media each outgoing track carries now (a bot: one; a page: one per slot). */
  readonly receives: (string | null)[];
  /** Whose screen share its content track carries now (null: no one's, or it has no content track). */
  readonly receivesContent: string | null;
  /** Whether it is the meeting's sharer. */
  readonly sharing: boolean;
}

/**
 * One meeting's forwarding. Every page receives each other participant in a slot of
 * its own (fixed transceivers instead of renegotiation; the slot map goes to the page
 * as roster events); each bot receives one audio and one video stream, the active
 * speaker's among the others: the most recent one whose audio carried an RFC 6464
 * level louder than -50 dBov, holding the floor while it keeps speaking, else the
 * first other participant who sent audio. At most one participant shares its screen
 * (the last to start): everyone else gets its content video on their content track; a
 * participant's content is forwarded only while it is the sharer. A receiver that
 * starts, a source that switches and a PLI/FIR from a receiver all ask the source for a
 * keyframe.
 */
export class MeetingRoom implements LegListener {
  readonly meetingId: string;
  readonly #legs = new Map<string, ParticipantLeg>();
  /** Per page: whose media each slot carries. */
  readonly #slots = new Map<string, (string | undefined)[]>();
  /** Who has sent audio (in the order they first did) and when they last spoke. */
  readonly #heard = new Map<string, { lastSpokeAtMs: number }>();
  #sharer: string | undefined;
  readonly #rosterListeners = new Map<string, Set<RosterListener>>();
  readonly #onLegEnded: (leg: ParticipantLeg, reason: string) => void;
  readonly #log: Logger;

  constructor(meetingId: string, log: Logger, onLegEnded: (leg: ParticipantLeg, reason: string) => void) {
    this.meetingId = meetingId;
    this.#log = log;
    this.#onLegEnded = onLegEnded;
  }

  get size(): number {
    return this.#legs.size;
  }

  get(participantId: string): ParticipantLeg | undefined {
    return this.#legs.get(participantId);
  }

  add(leg: ParticipantLeg): void {
    this.#legs.set(leg.participantId, leg);
    if (leg.kind === "person") this.#slots.set(leg.participantId, new Array(leg.videoOut.length).fill(undefined));
    this.#log.info({ meetingId: this.meetingId, participantId: leg.participantId, kind: leg.kind }, "participant's media joined");
    this.#rearrange();
  }

  /** Takes the participant out of forwarding and closes its peer connection. */
  async remove(participantId: string, reason: string): Promise<ParticipantLeg | undefined> {
    const leg = this.#legs.get(participantId);
    if (!leg) return undefined;
    this.#legs.delete(participantId);
    this.#slots.delete(participantId);
    this.#heard.delete(participantId);
    if (this.#sharer === participantId) this.#sharer = undefined;
    for (const listener of this.#rosterListeners.get(participantId) ?? []) listener.ended(reason);
    this.#rosterListeners.delete(participantId);
    this.#log.info({ meetingId: this.meetingId, participantId, reason }, "participant's media left");
    this.#rearrange();
    await leg.close();
    return leg;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#legs.keys()].map((id) => this.remove(id, "the meeting's media server closed")));
  }

  rosterFor(participantId: string): RosterEntry[] {
    const slots = this.#slots.get(participantId) ?? [];
    return [...this.#legs.values()].map((leg) => {
      const slot = slots.indexOf(leg.participantId);
      return { participantId: leg.participantId, displayName: leg.displayName, kind: leg.kind, slot: slot >= 0 ? slot : null };
    });
  }

  /** Roster events for a page; returns the unsubscribe. */
  onRoster(participantId: string, listener: RosterListener): () => void {
    const set = this.#rosterListeners.get(participantId) ?? new Set<RosterListener>();
    this.#rosterListeners.set(participantId, set);
    set.add(listener);
    listener.roster(this.rosterFor(participantId));
    listener.sharing(this.#sharer ?? null);
    return () => set.delete(listener);
  }

  get sharer(): string | undefined {
    return this.#sharer;
  }

  /**
   * `participantId` starts sharing its screen (the last sharer wins: whoever shared before stops), or with
   * undefined no one shares. Returns whether the sharer changed.
   */
  setSharer(participantId: string | undefined): boolean {
    if (participantId !== undefined && !this.#legs.has(participantId)) return false;
    if (participantId === this.#sharer) return false;
    this.#log.info({ meetingId: this.meetingId, sharer: participantId ?? null, before: this.#sharer ?? null }, "screen share changes hands");
    this.#sharer = participantId;
    this.#rearrange();
    return true;
  }

  /** `participantId` stops sharing; nothing changes when someone else has taken the share since. */
  stopSharing(participantId: string): boolean {
    return this.#sharer === participantId && this.setSharer(undefined);
  }

  snapshot(): ParticipantSnapshot[] {
    return [...this.#legs.values()].map((leg) => ({
      participantId: leg.participantId,
      kind: leg.kind,
      displayName: leg.displayName,
      connectionState: leg.connectionState,
      receivedPackets: { ...leg.received },
      sentPackets: leg.sent,
      keyframeRequests: leg.keyframeRequestsSent,
      contentKeyframeRequests: leg.contentKeyframeRequestsSent,
      receives: leg.videoOut.map((s) => s.source ?? null),
      receivesContent: leg.contentOut?.source ?? null,
      sharing: this.#sharer === leg.participantId,
    }));
  }

  // ---------------------------------------------------------------- LegListener

  media(leg: ParticipantLeg, kind: MediaKind, packet: RtpPacket, audioLevel: number | undefined): void {
    if (this.#legs.get(leg.participantId) !== leg) return;
    if (kind === "content") {
      this.#shared(leg, packet);
      return;
    }
    if (kind === "audio") this.#heardFrom(leg, audioLevel);
    for (const receiver of this.#legs.values()) {
      if (receiver === leg || !receiver.connected) continue;
      for (const stream of kind === "audio" ? receiver.audioOut : receiver.videoOut) {
        if (stream.source === leg.participantId && stream.forward(packet) === "awaiting-keyframe") leg.requestKeyframe();
      }
    }
  }

  keyframeWanted(receiver: ParticipantLeg, stream: ForwardedStream): void {
    if (stream.source) this.#legs.get(stream.source)?.requestKeyframe(stream === receiver.contentOut ? "content" : "video");
  }

  stateChanged(leg: ParticipantLeg, state: LegConnectionState): void {
    if (this.#legs.get(leg.participantId) !== leg) return;
    this.#log.debug({ meetingId: this.meetingId, participantId: leg.participantId, state }, "participant's media connection");
    if (state === "connected") {
      for (const stream of leg.videoOut) this.#keyframeFor(stream);
      if (leg.contentOut?.source) this.#legs.get(leg.contentOut.source)?.requestKeyframe("content");
    } else if (state === "failed") this.#onLegEnded(leg, "its media connection failed (ICE/DTLS)");
    else if (state === "closed") this.#onLegEnded(leg, "its media connection closed");
  }

  // ---------------------------------------------------------------- forwarding decisions

  /** Content from the sharer goes to everyone else's content track; anyone else's content (a bot that is not the sharer) goes nowhere. */
  #shared(leg: ParticipantLeg, packet: RtpPacket): void {
    if (this.#sharer !== leg.participantId) return;
    for (const receiver of this.#legs.values()) {
      if (receiver === leg || !receiver.connected || receiver.contentOut?.source !== leg.participantId) continue;
      if (receiver.contentOut.forward(packet) === "awaiting-keyframe") leg.requestKeyframe("content");
    }
  }

  #heardFrom(leg: ParticipantLeg, audioLevel: number | undefined): void {
    const now = Date.now();
    const first = !this.#heard.has(leg.participantId);
    const heard = this.#heard.get(leg.participantId) ?? { lastSpokeAtMs: Number.NEGATIVE_INFINITY };
    this.#heard.set(leg.participantId, heard);
    const speaking = audioLevel !== undefined && audioLevel <= SPEECH_LEVEL;
    if (speaking) heard.lastSpokeAtMs = now;
    if (first || speaking) this.#chooseSpeakers(speaking ? leg.participantId : undefined, now);
  }

  /** Each bot's active speaker: a new speaker takes the floor once the current one has been quiet for SPEAKER_HOLD_MS. */
  #chooseSpeakers(speaking: string | undefined, now: number): void {
    for (const bot of this.#legs.values()) {
      if (bot.kind !== "bot") continue;
      const current = bot.audioOut[0]?.source;
      let next = current;
      if (current === undefined || !this.#legs.has(current)) next = this.#speakerFor(bot);
      else if (speaking && speaking !== bot.participantId && speaking !== current) {
        const currentSpokeAt = this.#heard.get(current)?.lastSpokeAtMs ?? Number.NEGATIVE_INFINITY;
        if (now - currentSpokeAt > SPEAKER_HOLD_MS) next = speaking;
      }
      this.#forwardTo(bot, 0, next);
    }
  }

  /** With no current speaker: whoever spoke last, else the first other participant who sent audio. */
  #speakerFor(bot: ParticipantLeg): string | undefined {
    let best: string | undefined;
    let bestAt = Number.NEGATIVE_INFINITY;
    let first: string | undefined;
    for (const [id, heard] of this.#heard) {
      if (id === bot.participantId || !this.#legs.has(id)) continue;
      first ??= id;
      if (heard.lastSpokeAtMs > bestAt) {
        best = id;
        bestAt = heard.lastSpokeAtMs;
      }
    }
    return best ?? first;
  }

  /** After a join or a leave: slots of every page, speakers of every bot, and the roster. */
  #rearrange(): void {
    for (const [pageId, slots] of this.#slots) {
      const page = this.#legs.get(pageId)!;
      for (let i = 0; i < slots.length; i++) if (slots[i] !== undefined && !this.#legs.has(slots[i]!)) slots[i] = undefined;
      for (const other of this.#legs.keys()) {
        if (other === pageId || slots.includes(other)) continue;
        const free = slots.indexOf(undefined);
        if (free < 0) break;
        slots[free] = other;
      }
      for (const [i, source] of slots.entries()) this.#forwardTo(page, i, source);
    }
    this.#chooseSpeakers(undefined, Date.now());
    for (const leg of this.#legs.values()) {
      const source = leg.participantId === this.#sharer ? undefined : this.#sharer;
      // A new source: the receivers have no decoder state for it, so it is asked for a keyframe at once.
      if (leg.contentOut?.switchTo(source) && source) this.#legs.get(source)?.requestKeyframe("content");
    }
    for (const [participantId, listeners] of this.#rosterListeners) {
      const entries = this.rosterFor(participantId);
      for (const listener of listeners) {
        listener.roster(entries);
        listener.sharing(this.#sharer ?? null);
      }
    }
  }

  #forwardTo(receiver: ParticipantLeg, index: number, source: string | undefined): void {
    receiver.audioOut[index]?.switchTo(source);
    const video = receiver.videoOut[index];
    if (video?.switchTo(source)) this.#keyframeFor(video);
  }

  /** A receiver starts on `stream` (switch, or its connection came up): its source is asked for a keyframe. */
  #keyframeFor(stream: ForwardedStream): void {
    if (stream.source) this.#legs.get(stream.source)?.requestKeyframe();
  }
}
