import { z } from "zod";
import { guidSchema } from "./ids.js";
import { parseOrThrow } from "./validation.js";

/**
 * A Microsoft 365 tenant onboarded by the operator. Consent is the tenant admin's
 * grant of our Entra ID app's application permissions (the identity issue fills it in).
 */
export type ConsentState =
  | { readonly status: "none" }
  /** Every permission dial-in needs was granted; `missing` lists optional ones that were not (invite coordinates). */
  | { readonly status: "granted"; readonly roles: readonly string[]; readonly missing: readonly string[]; readonly grantedAt: string }
  /** Consent was given but without some permission dial-in needs. */
  | { readonly status: "incomplete"; readonly roles: readonly string[]; readonly missing: readonly string[]; readonly checkedAt: string }
  | { readonly status: "declined"; readonly declinedAt: string; readonly reason: string }
  | { readonly status: "revoked"; readonly revokedAt: string; readonly reason: string };

export interface Tenant {
  readonly tenantId: string;
  readonly name: string;
  readonly tenantKey: string;
  readonly consent: ConsentState;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export const tenantNameSchema = z
  .string({ error: "name is required and must be a string" })
  .trim()
  .min(1, "name must not be empty")
  .max(256, "name must be at most 256 characters")
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), { message: "name must not contain control characters" });

export const newTenantSchema = z.strictObject({
  tenantId: guidSchema("tenantId"),
  name: tenantNameSchema,
});
export type NewTenant = z.output<typeof newTenantSchema>;

export function parseNewTenant(input: unknown): NewTenant {
  return parseOrThrow(newTenantSchema, input);
}

export function createTenant(input: NewTenant, tenantKey: string, now: Date): Tenant {
  const at = now.toISOString();
  return { ...input, tenantKey, consent: { status: "none" }, createdAt: at, updatedAt: at };
}
