import type { OnlineMeetingInfo } from "./meeting.js";

/** Why a dialed (tenant key, VTC ID) leads to no meeting: each code has its SIP answer and a sentence the IVR can speak. */
export type RefusalCode = "unknown-tenant-key" | "tenant-not-consented" | "unknown-vtc-id" | "retired-vtc-id" | "organizer-not-enabled";

export const REFUSAL_SIP_STATUS: Readonly<Record<RefusalCode, 403 | 404>> = {
  "unknown-tenant-key": 404,
  "tenant-not-consented": 403,
  "unknown-vtc-id": 404,
  "retired-vtc-id": 404,
  "organizer-not-enabled": 403,
};

export interface ResolutionRefusal {
  readonly kind: "refused";
  readonly code: RefusalCode;
  readonly reason: string;
  readonly sipStatus: 403 | 404;
}

export interface ResolvedMeeting {
  readonly kind: "resolved";
  readonly tenantId: string;
  readonly tenantName: string;
  readonly vtcId: string;
  readonly meeting: OnlineMeetingInfo;
  /** Join as a guest (lobby rules for guests apply) unless the provider says AllowAppGuestJoinsAsAuthenticated. */
  readonly joinAsGuest: boolean;
  readonly instructionUri: string | null;
}

export type Resolution = ResolvedMeeting | ResolutionRefusal;

export function refuse(code: RefusalCode, reason: string): ResolutionRefusal {
  return { kind: "refused", code, reason, sipStatus: REFUSAL_SIP_STATUS[code] };
}
