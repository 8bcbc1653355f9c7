/** The calls API's shapes (the admin API's CallSummary and call record; see functions/handlers/calls*.ts). */
export interface CallSummary {
  readonly callId: string;
  readonly tenantId: string;
  readonly meetingId: string;
  readonly meetingSubject: string | null;
  readonly vtcId: string;
  readonly displayName: string;
  readonly deviceAddress: string | null;
  readonly dialForm: "ivr" | "direct" | "direct-by-domain" | null;
  readonly mediaHostId: string;
  readonly state: string;
  readonly inLobby: boolean;
  readonly createdAt: string;
  readonly lobbyAt: string | null;
  readonly establishedAt: string | null;
  readonly endedAt: string | null;
  readonly endedBy: string | null;
  readonly endReason: string | null;
  readonly outcome: "connected" | "not-connected" | null;
}

export interface MediaStreamQuality {
  readonly kind: "audio" | "video";
  readonly packetsSent: number;
  readonly packetsReceived: number;
  readonly packetsLost: number;
  readonly jitterMs: number | null;
  readonly roundTripMs: number | null;
}

export interface CallRecord extends CallSummary {
  readonly quality?: { readonly deviceLeg: readonly MediaStreamQuality[]; readonly meetingLeg: readonly MediaStreamQuality[] } | null;
}

export const DIAL_FORM: Record<string, string> = {
  ivr: "IVR (conference ID keyed in)",
  direct: "Direct (key.id@domain)",
  "direct-by-domain": "Direct, by the tenant's domain",
};

/** Who ended a call, in words. */
export const ENDED_BY: Record<string, string> = {
  device: "the device",
  meeting: "the meeting",
  gateway: "the gateway",
  operator: "an operator",
};

/** How long ago (or how long), in words a person reads at a glance. */
export function duration(fromIso: string, to: number = Date.now()): string {
  const seconds = Math.max(0, Math.round((to - Date.parse(fromIso)) / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${s} s` : `${s} s`;
}
