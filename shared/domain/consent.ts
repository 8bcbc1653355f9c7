import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { ConsentState } from "./tenant.js";

/** Application permissions without which a room system cannot join a tenant's meetings. */
export const CALL_PERMISSIONS = [
  "Calls.JoinGroupCall.All",
  "Calls.JoinGroupCallAsGuest.All",
  "Calls.AccessMedia.All",
  "OnlineMeetings.Read.All",
] as const;
/**
 * Needed to write the video-device block into organizers' invites, and to find who an
 * organizer is and which groups they belong to (group and UPN grants).
 */
export const INVITE_PERMISSIONS = ["Calendars.ReadWrite", "User.Read.All", "GroupMember.Read.All"] as const;

/** What the tenant's app token says about consent, as the state we keep. */
export function consentFromRoles(roles: readonly string[], now: Date): ConsentState {
  const granted = new Set(roles);
  const missingForCalls = CALL_PERMISSIONS.filter((p) => !granted.has(p));
  const missingForInvites = INVITE_PERMISSIONS.filter((p) => !granted.has(p));
  if (roles.length === 0)
    return { status: "revoked", revokedAt: now.toISOString(), reason: "the tenant's app token carries no application permissions" };
  if (missingForCalls.length > 0) {
    return { status: "incomplete", roles: [...roles], missing: [...missingForCalls, ...missingForInvites], checkedAt: now.toISOString() };
  }
  return { status: "granted", roles: [...roles], missing: missingForInvites, grantedAt: now.toISOString() };
}

/** Whether room systems may join this tenant's meetings, and if not, a reason a caller can hear. */
export function dialInRefusal(consent: ConsentState): string | undefined {
  switch (consent.status) {
    case "granted":
      return undefined;
    case "none":
      return "the organization has not enabled video conferencing devices yet";
    case "declined":
      return "the organization's administrator declined access for video conferencing devices";
    case "incomplete":
      return `the organization's consent lacks ${consent.missing.filter((m) => (CALL_PERMISSIONS as readonly string[]).includes(m)).join(", ")}`;
    case "revoked":
      return "the organization has withdrawn access for video conferencing devices";
  }
}

/**
 * The `state` of an admin-consent request: names the tenant, carries a nonce and an
 * expiry, signed with HMAC so it cannot be forged. The nonce's hash is stored with the
 * tenant and consumed by the callback, which makes the state single-use.
 */
export interface ConsentStateClaims {
  readonly tenantId: string;
  readonly nonce: string;
  readonly expiresAt: Date;
}

const b64 = (s: string) => Buffer.from(s).toString("base64url");

function sign(payload: string, key: string): string {
  return createHmac("sha256", key).update(`opencvi-consent-state:${payload}`).digest("base64url");
}

export function encodeConsentState(claims: ConsentStateClaims, key: string): string {
  const payload = b64(JSON.stringify({ t: claims.tenantId, n: claims.nonce, e: Math.floor(claims.expiresAt.getTime() / 1000) }));
  return `${payload}.${sign(payload, key)}`;
}

export type ConsentStateCheck = { readonly ok: true; readonly claims: ConsentStateClaims } | { readonly ok: false; readonly reason: string };

export function decodeConsentState(state: string, key: string, now: Date): ConsentStateCheck {
  const [payload, signature, ...rest] = state.split(".");
  if (!payload || !signature || rest.length > 0 || state.length > 2048) return { ok: false, reason: "the consent request's state is malformed" };
  const expected = Buffer.from(sign(payload, key));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given))
    return { ok: false, reason: "the consent request's state was not issued by this service" };
  let parsed: { t?: unknown; n?: unknown; e?: unknown } | null;
  try {
    parsed = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    return { ok: false, reason: "the consent request's state is malformed" };
  }
  // JSON "null" parses to null; an expiry out of Date's range gives an invalid date.
  if (parsed === null || typeof parsed.t !== "string" || typeof parsed.n !== "string" || typeof parsed.e !== "number")
    return { ok: false, reason: "the consent request's state is malformed" };
  const expiresAt = new Date(parsed.e * 1000);
  if (Number.isNaN(expiresAt.getTime())) return { ok: false, reason: "the consent request's state is malformed" };
  if (expiresAt.getTime() <= now.getTime()) return { ok: false, reason: "the consent link has expired; ask the operator for a new one" };
  return { ok: true, claims: { tenantId: parsed.t, nonce: parsed.n, expiresAt } };
}

/** Stored instead of the nonce itself. */
export function hashNonce(nonce: string): string {
  return createHash("sha256").update(nonce).digest("base64url");
}
