import { z } from "zod";

/**
 * The control plane's settings. Names are the Function App's app settings as
 * infra/main.bicep sets them; validated once at start so a bad deployment fails
 * with one clear line per setting instead of at the first request.
 */
const hostname = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

const httpsUrl = (name: string) =>
  z
    .string({ error: `${name} is required` })
    .url(`${name} must be an absolute URL`)
    .refine((u) => u.startsWith("https://"), `${name} must be an https:// URL`);

export const controlPlaneConfigSchema = z.object({
  COSMOS_ENDPOINT: httpsUrl("COSMOS_ENDPOINT"),
  /** Only where managed identity is unavailable (the local stack's embedded Cosmos). Never logged. */
  COSMOS_KEY: z.string().min(1).optional(),
  COSMOS_DATABASE: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,255}$/, "COSMOS_DATABASE must be 1-255 letters, digits, _ or -")
    .default("cvi"),
  SERVICE_DOMAIN: z
    .string({ error: "SERVICE_DOMAIN is required (tenant keys are <digits>@t.<SERVICE_DOMAIN>)" })
    .transform((s) => s.toLowerCase())
    .refine((s) => hostname.test(s), "SERVICE_DOMAIN must be a DNS name such as cvi.example.net"),
  SERVICE_PROVIDER_NAME: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9]{1,31}$/, "SERVICE_PROVIDER_NAME must be 2-32 letters and digits, starting with a letter")
    .refine(
      (n) => !["polycom", "bluejeans", "pexip", "cisco", "defaultprovider"].includes(n.toLowerCase()),
      "SERVICE_PROVIDER_NAME must not be a partner's name",
    )
    .default("OpenCVI"),
  ADMIN_AUTH_ISSUER: z
    .string({ error: "ADMIN_AUTH_ISSUER is required (the token issuer, e.g. https://login.microsoftonline.com/<tenant>/v2.0)" })
    .url("ADMIN_AUTH_ISSUER must be an absolute URL"),
  ADMIN_AUTH_JWKS_URI: httpsUrl("ADMIN_AUTH_JWKS_URI"),
  ADMIN_AUTH_AUDIENCE: z
    .string({ error: "ADMIN_AUTH_AUDIENCE is required (the admin API's app id URI or client id)" })
    .min(1, "ADMIN_AUTH_AUDIENCE must not be empty"),
  ADMIN_AUTH_ROLE: z.string().min(1).default("CVI.Admin"),
  /**
   * The app role of a tenant's own admin, signing in from their tenant (issuer: ADMIN_AUTH_ISSUER
   * with the operator's tenant id replaced by theirs): they see and change only that tenant.
   */
  TENANT_ADMIN_ROLE: z.string().min(1).default("CVI.TenantAdmin"),
  /** The app role media hosts' identities hold to use the resolution and join API (same issuer and audience as the admin API). */
  MEDIA_HOST_ROLE: z.string().min(1).default("CVI.MediaHost"),
  /** App role the SIP edges' identities hold to read the pool's hosts. */
  EDGE_ROLE: z.string().min(1).default("CVI.Edge"),

  /** Where Graph and the admin's browser reach these Functions (callbacks, notification URLs, consent redirect). */
  PUBLIC_BASE_URL: httpsUrl("PUBLIC_BASE_URL").transform((u) => u.replace(/\/+$/, "")),
  /** Entra ID's authority host; the SDK asks it for app-only tokens per tenant. */
  ENTRA_AUTHORITY_HOST: httpsUrl("ENTRA_AUTHORITY_HOST")
    .default("https://login.microsoftonline.com")
    .transform((u) => u.replace(/\/+$/, "")),
  GRAPH_BASE_URL: httpsUrl("GRAPH_BASE_URL")
    .default("https://graph.microsoft.com")
    .transform((u) => u.replace(/\/+$/, "")),
  /** Our multi-tenant Entra app (the bot): tenants consent to it, Graph calls back with it as audience. */
  BOT_APP_ID: z
    .string({ error: "BOT_APP_ID is required (the gateway's Entra application id)" })
    .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, "BOT_APP_ID must be a GUID"),
  /** The bot app's client secret: a Key Vault reference in Azure. Never logged, never stored. */
  BOT_APP_CLIENT_SECRET: z
    .string({ error: "BOT_APP_CLIENT_SECRET is required (a Key Vault reference in Azure)" })
    .min(1, "BOT_APP_CLIENT_SECRET must not be empty"),
  /** Signs consent `state` and derives subscription clientState values (Key Vault in Azure). */
  STATE_SIGNING_KEY: z
    .string({ error: "STATE_SIGNING_KEY is required (32+ random characters, a Key Vault reference in Azure)" })
    .min(32, "STATE_SIGNING_KEY must be at least 32 characters"),
  /** The Teams calling platform's OpenID configuration, whose keys sign call notifications. */
  CALL_NOTIFICATION_OPENID_CONFIG_URL: httpsUrl("CALL_NOTIFICATION_OPENID_CONFIG_URL").default(
    "https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration",
  ),
  CALL_NOTIFICATION_ISSUERS: z
    .string()
    .default("https://api.botframework.com,https://graph.microsoft.com")
    .transform((s) =>
      s
        .split(",")
        .map((i) => i.trim())
        .filter((i) => i !== ""),
    ),
  /**
   * Service Bus namespace (e.g. sb-cvi.servicebus.windows.net) whose topic carries call
   * events to the media hosts. Unset: the one-machine in-process bus (the local stack).
   */
  SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE: z.string().min(1).optional(),
  /** A custom AMQP endpoint (amqps://host:port) in front of the namespace: local stand-ins only. */
  SERVICE_BUS_ENDPOINT: z.string().url("SERVICE_BUS_ENDPOINT must be an amqps:// URL").optional(),
  /** The session-enabled queue of call events: one session per media host (session id = host id). */
  SERVICE_BUS_QUEUE: z.string().min(1).default("media-host-events"),
  /**
   * The Function App's own identity for Service Bus: its managed identity in Azure (none
   * of these set, or AZURE_CLIENT_ID for a user-assigned one); a client secret only where
   * there is no managed identity (the local stack).
   */
  AZURE_TENANT_ID: z.string().min(1).optional(),
  AZURE_CLIENT_ID: z.string().min(1).optional(),
  AZURE_CLIENT_SECRET: z.string().min(1).optional(),
});

export type ControlPlaneConfig = z.output<typeof controlPlaneConfigSchema>;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** Settings whose values are secrets: they never appear in messages, logs or Cosmos DB. */
export const SECRET_SETTINGS = ["COSMOS_KEY", "BOT_APP_CLIENT_SECRET", "STATE_SIGNING_KEY", "AZURE_CLIENT_SECRET"] as const;

/** Reads the settings from `env`; throws a ConfigError listing every missing or invalid one. */
export function loadControlPlaneConfig(env: NodeJS.ProcessEnv = process.env): ControlPlaneConfig {
  const picked = Object.fromEntries(Object.keys(controlPlaneConfigSchema.shape).map((k) => [k, env[k] === "" ? undefined : env[k]]));
  const result = controlPlaneConfigSchema.safeParse(picked);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `- ${String(i.path[0])}: ${i.message}`);
  throw new ConfigError(`invalid control plane configuration:\n${lines.join("\n")}`);
}
