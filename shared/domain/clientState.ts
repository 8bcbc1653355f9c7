import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * The secret Graph echoes in every change notification of a subscription. Derived
 * from a key and the organizer it watches, so it is never stored, and a notification
 * can be checked against the organizer its resource names.
 */
export function clientStateFor(key: string, tenantId: string, userId: string): string {
  return createHmac("sha256", key).update(`opencvi-client-state:${tenantId.toLowerCase()}:${userId.toLowerCase()}`).digest("base64url");
}

export function isClientStateFor(key: string, tenantId: string, userId: string, clientState: unknown): boolean {
  if (typeof clientState !== "string") return false;
  const expected = Buffer.from(clientStateFor(key, tenantId, userId));
  const given = Buffer.from(clientState);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
