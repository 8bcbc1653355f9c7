import type { RandomInt } from "./tenantKey.js";

/**
 * VTC conference IDs: numeric strings (Teams issues 9 or 10 digits, leading zeros
 * possible), so always strings. Ours are 10 random digits without a leading zero,
 * unique among the service's active meetings (the store enforces that).
 */
export const VTC_ID_DIGITS = 10;

export function generateVtcId(randomInt: RandomInt): string {
  const low = 10 ** (VTC_ID_DIGITS - 1);
  return String(low + randomInt(9 * low));
}

/** Accepts what people type and invites show: "112 718 073 9", "112-718-0739", "1127180739". */
export function normalizeVtcId(value: string): string | undefined {
  const digits = value.replace(/[\s.\-_]/g, "");
  return /^[0-9]{6,16}$/.test(digits) ? digits : undefined;
}

/** "1127180739" → "112 718 073 9", as invites print it. */
export function formatVtcId(vtcId: string): string {
  return vtcId.replace(/(\d{3})(?=\d)/g, "$1 ");
}
