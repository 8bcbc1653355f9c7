import { z } from "zod";

const guidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isGuid(value: string): boolean {
  return guidPattern.test(value);
}

/** A GUID as Entra ID writes them (lower case), e.g. a tenant id, app id or object id. */
export const guidSchema = (what: string) =>
  z
    .string({ error: `${what} is required and must be a string` })
    .trim()
    .refine(isGuid, { message: `${what} must be a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47` })
    .transform((s) => s.toLowerCase());

/** A user as the cmdlets accept one: an Entra object id (GUID) or a user principal name. */
export const userIdSchema = z
  .string({ error: "user is required and must be a string" })
  .trim()
  .min(1, "user must not be empty")
  .max(320, "user must be at most 320 characters")
  .refine((s) => isGuid(s) || /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s), {
    message: "user must be an object id (GUID) or a user principal name like alice@contoso.com",
  })
  .transform((s) => s.toLowerCase());
