import type { MediaStreamQuality } from "../../shared/domain/callQuality.js";

export interface MeetingLegEvents {
  /** Media flows with the meeting (ICE and DTLS done). */
  connected: [];
  /** The leg is gone on the meeting side (ICE/DTLS failure, media timeout, the meeting's media server ended it): the call ends with `reason`. */
  ended: [reason: string];
  /** The meeting wants a keyframe and the device takes no RTCP keyframe requests: ask it over SIP (INFO picture_fast_update), of its slides for "content". */
  keyframeNeeded: [stream: "video" | "content"];
  /** A keyframe request was passed on (for metrics). */
  keyframeRequested: [towards: "device" | "meeting", via: "rtcp" | "sip-info"];
}

/**
 * The meeting side of a call's media, behind one interface so SIP and rtpengine code
 * never depend on how the meeting's media is reached (WebRTC here; another meeting
 * media path would implement this too). See docs/design.md, "The meeting leg contract".
 */
export interface MeetingLeg {
  /** rtpengine's SDP offer towards the meeting → the answer (where the meeting side receives). At set-up and for every in-dialog offer. */
  answer(offerTowardsMeeting: string): Promise<string>;
  /**
   * The gateway offers (a device's INVITE or re-INVITE without SDP): the meeting side's own offer
   * towards rtpengine, which rtpengine turns into the device's. At set-up and for every such re-INVITE.
   */
  offer(options?: MeetingLegOfferOptions): Promise<string>;
  /** rtpengine's answer to `offer` (the device's answer, from the meeting side): where the meeting side sends. Throws when it accepts no media. */
  answered(answerTowardsMeeting: string): Promise<void>;
  /** The join's appHostedMediaConfig blob: what the meeting's media server needs to connect (after the first `answer` or `offer`). */
  mediaBlob(): Promise<string>;
  /** The bot is in the meeting (past any lobby): the meeting's media is due. */
  admitted(): void;
  /** The device asked for a keyframe (RTCP or SIP INFO): ask the meeting's video source (its screen's sharer for "content"). */
  requestKeyframe(stream?: "video" | "content"): void;
  /**
   * Who presents content (the call's content floor): the device's slides to the meeting as the
   * bot's screen share, the meeting's shared screen to the device, or nobody. The new presenter is
   * asked for a keyframe and forwarded from it. A leg made without `acceptContent` ignores it.
   */
  presentContent(presenter: "device" | "meeting" | undefined): void;
  /** Content packets the device has sent so far (a presenter that falls silent loses the floor). */
  readonly contentPacketsFromDevice: number;
  /** Per-stream figures of the meeting leg (for the call record at the end). */
  quality(): Promise<MediaStreamQuality[]>;
  /** Adds fields to every later log line of the leg (the Graph call's ids, once the join answered). */
  logWith(fields: Readonly<Record<string, string>>): void;
  on<E extends keyof MeetingLegEvents>(event: E, listener: (...args: MeetingLegEvents[E]) => void): unknown;
  close(): Promise<void>;
}

/**
 * One m-line of the session as the device knows it, for an offer of ours that must keep the
 * session's m-lines in place (RFC 3264 §8): the bridge's audio, main video or slides, or a line
 * the bridge does not carry (BFCP, a second audio…) kept as it was, disabled.
 */
export type MediaSlot = "audio" | "video" | "slides" | { readonly disabled: string };

export interface MeetingLegOfferOptions {
  /** The session's m-lines so far; the bridge's lines go in their places, a slides line not in it is appended. */
  readonly layout?: readonly MediaSlot[];
  /** The slides line's `a=label` (what the BFCP floor names); a leg that takes content offers it. */
  readonly contentLabel?: string;
}

export interface MeetingLegCreateOptions {
  /** Take the device's slides m-line (content sharing under BFCP): only for a call that has a floor. */
  readonly acceptContent?: boolean;
}

export interface MeetingLegFactory {
  create(callId: string, options?: MeetingLegCreateOptions): Promise<MeetingLeg>;
}
