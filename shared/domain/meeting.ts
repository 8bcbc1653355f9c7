/** A Teams meeting as far as joining it goes (from Graph's onlineMeeting). */
export interface OnlineMeetingInfo {
  readonly id: string;
  readonly joinWebUrl: string;
  readonly videoTeleconferenceId: string | null;
  /** The organizer's Entra object id. */
  readonly organizerId: string;
  readonly subject: string | null;
  readonly chatInfo: { readonly threadId: string; readonly messageId: string; readonly replyChainMessageId: string | null };
}

/**
 * A VTC conference ID this service handed out (or adopted from Teams) for a meeting.
 * Retired when the meeting is cancelled or its organizer loses the policy; a retired
 * ID is never reused, so a stale invite cannot lead into someone else's meeting.
 */
export interface MeetingMapping {
  readonly vtcId: string;
  readonly tenantId: string;
  readonly organizerId: string;
  readonly eventId: string | null;
  readonly meeting: OnlineMeetingInfo;
  readonly status: "active" | "retired";
  readonly createdAt: string;
  readonly retiredAt: string | null;
}
