import { z } from "zod";

/**
 * Tenant keys look like `813878896@t.cvi.example.net`: nine digits, unique across
 * the service, drawn at random so that one tenant's key says nothing about another's.
 * The digits are what a room system dials, so they never start with 0 (some dial
 * plans strip leading zeros).
 */
export const TENANT_KEY_DIGITS = 9;

export interface TenantKey {
  readonly digits: string;
  readonly domain: string;
}

/** A source of uniform random integers in [0, maxExclusive); production passes crypto.randomInt. */
export type RandomInt = (maxExclusive: number) => number;

export function generateTenantKeyDigits(randomInt: RandomInt): string {
  const low = 10 ** (TENANT_KEY_DIGITS - 1);
  return String(low + randomInt(9 * low));
}

export function formatTenantKey(digits: string, serviceDomain: string): string {
  return `${digits}@t.${serviceDomain}`;
}

const digitsPattern = new RegExp(`^[1-9][0-9]{${TENANT_KEY_DIGITS - 1}}$`);

export function parseTenantKey(value: string, serviceDomain: string): TenantKey | undefined {
  const at = value.indexOf("@");
  if (at < 0) return undefined;
  const digits = value.slice(0, at);
  const host = value.slice(at + 1).toLowerCase();
  if (!digitsPattern.test(digits) || host !== `t.${serviceDomain.toLowerCase()}`) return undefined;
  return { digits, domain: serviceDomain.toLowerCase() };
}

/** The service's own key format, for the tenant key of this service's provider and look-ups. */
export const serviceTenantKeySchema = (serviceDomain: string) =>
  z
    .string({ error: "tenantKey is required and must be a string" })
    .trim()
    .refine((s) => parseTenantKey(s, serviceDomain) !== undefined, {
      message: `tenantKey must be ${TENANT_KEY_DIGITS} digits (not starting with 0) followed by @t.${serviceDomain}, e.g. 813878896@t.${serviceDomain}`,
    })
    .transform((s) => s.toLowerCase());

/**
 * Another provider's tenant key (Polycom `813878896@t.plcm.vc`, Pexip, Cisco, …):
 * their formats differ, so only the common shape is checked — a dialable user part
 * and a host name.
 */
export const foreignTenantKeySchema = z
  .string({ error: "tenantKey is required and must be a string" })
  .trim()
  .max(254, "tenantKey must be at most 254 characters")
  .refine((s) => /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}@(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/.test(s), {
    message: "tenantKey must look like <key>@<host>, e.g. 813878896@t.plcm.vc",
  })
  .transform((s) => s.toLowerCase());
