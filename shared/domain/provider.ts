import { z } from "zod";
import { guidSchema } from "./ids.js";
import { foreignTenantKeySchema, serviceTenantKeySchema } from "./tenantKey.js";
import { parseOrThrow } from "./validation.js";
import { ValidationError } from "../errors.js";

/** The partners Teams knows by name; this service adds its own name to the list. */
export const PARTNER_PROVIDER_NAMES = ["Polycom", "BlueJeans", "Pexip", "Cisco"] as const;

/** What `New/Set/Get-CsVideoInteropServiceProvider` hold, per tenant. */
export interface VideoInteropServiceProvider {
  readonly identity: string;
  readonly tenantKey: string;
  readonly instructionUri: string | null;
  readonly allowAppGuestJoinsAsAuthenticated: boolean;
  readonly aadApplicationIds: readonly string[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface ProviderNaming {
  /** This service's own provider name (app setting SERVICE_PROVIDER_NAME). */
  readonly serviceProviderName: string;
  /** The domain of this service's tenant keys (app setting SERVICE_DOMAIN). */
  readonly serviceDomain: string;
}

export function providerNames(naming: ProviderNaming): string[] {
  return [...PARTNER_PROVIDER_NAMES, naming.serviceProviderName];
}

/** Case-insensitive match to the canonical spelling, as the cmdlets do. */
export function canonicalProviderName(value: string, naming: ProviderNaming): string | undefined {
  const lower = value.trim().toLowerCase();
  return providerNames(naming).find((n) => n.toLowerCase() === lower);
}

const INSTRUCTION_URI_MAX = 2048;

const instructionUriSchema = z
  .string({ error: "instructionUri must be a string" })
  .trim()
  .max(INSTRUCTION_URI_MAX, `instructionUri must be at most ${INSTRUCTION_URI_MAX} characters`)
  .superRefine((value, ctx) => {
    // "" (after trimming) means "no instructions": callers turn it into null.
    if (value === "") return;
    if (/[{}]/.test(value.replace(/\{[^{}]*\}/g, ""))) {
      ctx.addIssue({ code: "custom", message: "instructionUri has an unbalanced { or }; write the placeholder as {ConfId}" });
      return;
    }
    const unknown = [...value.matchAll(/\{([^}]*)\}/g)].map((m) => m[0]).filter((p) => p !== "{ConfId}");
    if (unknown.length > 0) {
      ctx.addIssue({ code: "custom", message: `instructionUri has unknown placeholder ${unknown[0]}; only {ConfId} is supported` });
      return;
    }
    let url: URL;
    try {
      url = new URL(value.replaceAll("{ConfId}", "0"));
    } catch {
      ctx.addIssue({ code: "custom", message: "instructionUri must be an absolute URI such as https://example.com/join?conf={ConfId}" });
      return;
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      ctx.addIssue({ code: "custom", message: `instructionUri must use https or http, not ${url.protocol.slice(0, -1)}` });
    }
  });

/** The cmdlet takes a semicolon-separated string; the API takes an array. Both are accepted. */
const aadApplicationIdsSchema = z
  .union([z.array(z.string({ error: "each aadApplicationIds entry must be a string" })), z.string()], {
    error: "aadApplicationIds must be an array of GUIDs or a semicolon-separated string of GUIDs",
  })
  .transform((v) =>
    typeof v === "string"
      ? v
          .split(";")
          .map((s) => s.trim())
          .filter((s) => s !== "")
      : v,
  )
  .pipe(z.array(guidSchema("each aadApplicationIds entry")))
  .transform((ids) => [...new Set(ids)])
  .refine((ids) => ids.length <= 16, "aadApplicationIds may list at most 16 distinct application ids");

const providerFields = {
  tenantKey: z.string({ error: (issue) => (issue.input === undefined ? "tenantKey is required" : "tenantKey must be a string") }),
  instructionUri: instructionUriSchema.nullable(),
  allowAppGuestJoinsAsAuthenticated: z.boolean({ error: "allowAppGuestJoinsAsAuthenticated must be true or false" }),
  aadApplicationIds: aadApplicationIdsSchema,
};

function identitySchema(naming: ProviderNaming) {
  return z.string({ error: "identity is required and must be a string" }).transform((v, ctx) => {
    const name = canonicalProviderName(v, naming);
    if (name === undefined) {
      ctx.addIssue({ code: "custom", message: `identity must be one of ${providerNames(naming).join(", ")}; got "${v.slice(0, 64)}"` });
      return z.NEVER;
    }
    return name;
  });
}

/** The tenant key's format depends on whose provider it is: ours must be one of our keys. */
function checkTenantKey(identity: string, tenantKey: string, naming: ProviderNaming): string {
  const schema = identity === naming.serviceProviderName ? serviceTenantKeySchema(naming.serviceDomain) : foreignTenantKeySchema;
  const result = schema.safeParse(tenantKey);
  if (!result.success) throw new ValidationError([{ field: "tenantKey", message: result.error.issues[0]?.message ?? "tenantKey is invalid" }]);
  return result.data;
}

export interface NewProviderInput {
  readonly identity: string;
  readonly tenantKey: string;
  readonly instructionUri: string | null;
  readonly allowAppGuestJoinsAsAuthenticated: boolean;
  readonly aadApplicationIds: readonly string[];
}

export function parseNewProvider(input: unknown, naming: ProviderNaming): NewProviderInput {
  const parsed = parseOrThrow(
    z.strictObject({
      identity: identitySchema(naming),
      tenantKey: providerFields.tenantKey.min(1, "tenantKey is required"),
      instructionUri: providerFields.instructionUri.optional().default(null),
      allowAppGuestJoinsAsAuthenticated: providerFields.allowAppGuestJoinsAsAuthenticated.optional().default(false),
      aadApplicationIds: providerFields.aadApplicationIds.optional().default([]),
    }),
    input,
  );
  return { ...parsed, tenantKey: checkTenantKey(parsed.identity, parsed.tenantKey, naming) };
}

/** `Set-CsVideoInteropServiceProvider`: only the given fields change; `instructionUri: null` clears it. */
export interface ProviderChanges {
  readonly tenantKey?: string;
  readonly instructionUri?: string | null;
  readonly allowAppGuestJoinsAsAuthenticated?: boolean;
  readonly aadApplicationIds?: readonly string[];
}

export function parseProviderChanges(input: unknown, identity: string, naming: ProviderNaming): ProviderChanges {
  const parsed = parseOrThrow(
    z
      .strictObject({
        tenantKey: providerFields.tenantKey.optional(),
        instructionUri: providerFields.instructionUri.optional(),
        allowAppGuestJoinsAsAuthenticated: providerFields.allowAppGuestJoinsAsAuthenticated.optional(),
        aadApplicationIds: providerFields.aadApplicationIds.optional(),
      })
      .refine((o) => Object.values(o).some((v) => v !== undefined), { message: "give at least one field to change" }),
    input,
  );
  const changes: { -readonly [K in keyof ProviderChanges]: ProviderChanges[K] } = {};
  if (parsed.tenantKey !== undefined) changes.tenantKey = checkTenantKey(identity, parsed.tenantKey, naming);
  if (parsed.instructionUri !== undefined) changes.instructionUri = parsed.instructionUri === "" ? null : parsed.instructionUri;
  if (parsed.allowAppGuestJoinsAsAuthenticated !== undefined) changes.allowAppGuestJoinsAsAuthenticated = parsed.allowAppGuestJoinsAsAuthenticated;
  if (parsed.aadApplicationIds !== undefined) changes.aadApplicationIds = parsed.aadApplicationIds;
  return changes;
}

export function createProvider(input: NewProviderInput, now: Date): VideoInteropServiceProvider {
  const at = now.toISOString();
  return { ...input, instructionUri: input.instructionUri === "" ? null : input.instructionUri, createdAt: at, updatedAt: at };
}

export function applyProviderChanges(current: VideoInteropServiceProvider, changes: ProviderChanges, now: Date): VideoInteropServiceProvider {
  return { ...current, ...changes, updatedAt: now.toISOString() };
}

/**
 * This service's own provider must carry the key this service issued to the tenant:
 * a device dialing that key lands in this tenant, so any other key would misroute.
 */
export function checkProviderBelongsToTenant(
  provider: Pick<VideoInteropServiceProvider, "identity" | "tenantKey">,
  tenantKey: string,
  naming: ProviderNaming,
): void {
  if (provider.identity === naming.serviceProviderName && provider.tenantKey !== tenantKey) {
    throw new ValidationError([
      { field: "tenantKey", message: `tenantKey of the ${naming.serviceProviderName} provider must be this tenant's key ${tenantKey}` },
    ]);
  }
}

/** For `Get-CsVideoInteropServiceProvider -Filter`: a regex over identities, checked before use. */
export function compileFilter(filter: string | undefined, field = "filter"): RegExp | undefined {
  if (filter === undefined || filter === "") return undefined;
  if (filter.length > 200) throw new ValidationError([{ field, message: `${field} must be at most 200 characters` }]);
  try {
    return new RegExp(filter, "i");
  } catch (e) {
    throw new ValidationError([{ field, message: `${field} is not a valid regular expression: ${(e as Error).message}` }]);
  }
}
