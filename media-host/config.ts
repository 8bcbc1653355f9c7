import { z } from "zod";

/**
 * A media host's settings (environment of its VM; the scale set's template sets them).
 * Media hosts face the internet, so they hold no Graph credentials: they reach the
 * control plane with their own identity, which carries the CVI.MediaHost app role.
 */
const httpsUrl = (name: string) =>
  z
    .string({ error: `${name} is required` })
    .url(`${name} must be an absolute URL`)
    .refine(
      (u) => u.startsWith("https://") || u.startsWith("http://127.0.0.1") || u.startsWith("http://localhost"),
      `${name} must be https (or loopback http)`,
    )
    .transform((u) => u.replace(/\/+$/, ""));

const port = (name: string, fallback: number) =>
  z.coerce
    .number({ error: `${name} must be a port number` })
    .int(`${name} must be a port number`)
    .min(0, `${name} must be 0-65535`)
    .max(65535, `${name} must be 0-65535`)
    .default(fallback);

export const mediaHostConfigSchema = z.object({
  /** This host's id: the bus delivers the events of its calls to it. */
  MEDIA_HOST_ID: z
    .string({ error: "MEDIA_HOST_ID is required" })
    .regex(/^[A-Za-z0-9._-]{1,128}$/, "MEDIA_HOST_ID must be 1-128 letters, digits, . _ or -"),
  /** The control plane's API base, e.g. https://func-cvi.azurewebsites.net/api. */
  CONTROL_PLANE_URL: httpsUrl("CONTROL_PLANE_URL"),
  /** The scope of the control plane's API (its app id URI + /.default). */
  CONTROL_PLANE_SCOPE: z.string().min(1).default("api://opencvi-admin/.default"),
  /** Entra ID: managed identity in Azure; a client secret only where there is none (the local stack). */
  AZURE_TENANT_ID: z.string().optional(),
  AZURE_CLIENT_ID: z.string().optional(),
  AZURE_CLIENT_SECRET: z.string().optional(),
  AZURE_AUTHORITY_HOST: httpsUrl("AZURE_AUTHORITY_HOST").default("https://login.microsoftonline.com"),
  /** Service Bus: the namespace (e.g. sb-cvi.servicebus.windows.net) whose topic carries this host's call events; its subscription is named MEDIA_HOST_ID. */
  SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE: z.string().min(1).optional(),
  /** A custom AMQP endpoint (amqps://host:port) in front of the namespace: local stand-ins only. */
  SERVICE_BUS_ENDPOINT: z.string().url("SERVICE_BUS_ENDPOINT must be an amqps:// URL").optional(),
  SERVICE_BUS_TOPIC: z.string().min(1).default("media-host-commands"),
  /** The domain devices dial (tenant keys are <digits>@<domain>), e.g. cvi.example.net. */
  SERVICE_DOMAIN: z.string().min(1).default("cvi.localhost"),
  /** Where SIP, RTP and health listen: the VM's own address (rtpengine binds media to a concrete interface, not 0.0.0.0). */
  SIP_BIND_HOST: z.string().min(1).optional(),
  /** The address devices reach this host at (public IP or name): written into Via, Contact and SDP. */
  SIP_ADVERTISED_HOST: z.string().min(1).optional(),
  /** SIP over UDP and TCP. */
  SIP_PORT: port("SIP_PORT", 5060),
  /** SIP over TLS, when SIP_TLS_CERT_FILE and SIP_TLS_KEY_FILE name a certificate and its key (PEM). */
  SIP_TLS_PORT: port("SIP_TLS_PORT", 5061),
  SIP_TLS_CERT_FILE: z.string().min(1).optional(),
  SIP_TLS_KEY_FILE: z.string().min(1).optional(),
  RTP_PORT_MIN: port("RTP_PORT_MIN", 30000),
  RTP_PORT_MAX: port("RTP_PORT_MAX", 40000),
  /** The meeting leg's session endpoint (the meeting's media server POSTs its SDP answer here); HTTPS when SIP TLS has a certificate. */
  MEETING_LEG_PORT: port("MEETING_LEG_PORT", 8443),
  /** How the meeting's media server reaches that endpoint (e.g. https://mh-0.cvi.example.net:8443); derived from the advertised host unless set. */
  MEETING_LEG_PUBLIC_URL: z.string().url("MEETING_LEG_PUBLIC_URL must be an https:// URL").optional(),
  /** The meeting leg's WebRTC (ICE) ports. */
  WEBRTC_PORT_MIN: port("WEBRTC_PORT_MIN", 40001),
  WEBRTC_PORT_MAX: port("WEBRTC_PORT_MAX", 50000),
  /** No media either way this long ends a call. */
  MEDIA_TIMEOUT_MS: z.coerce.number().int().min(1000).max(3600_000).default(30_000),
  /** Once the bot is in the meeting, its media must connect within this. */
  MEETING_ANSWER_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
  /** /healthz and /metrics. */
  HEALTH_PORT: port("HEALTH_PORT", 8090),
  /** The IVR's spoken prompts (WAV), made at set-up. */
  PROMPTS_DIRECTORY: z.string().min(1).default(".local/prompts"),
  /** On SIGTERM: how long calls may go on (no new ones taken) before they are ended. */
  DRAIN_GRACE_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(24 * 3600_000)
    .default(300_000),
});

export type MediaHostConfig = z.output<typeof mediaHostConfigSchema>;

export class MediaHostConfigError extends Error {
  override readonly name = "MediaHostConfigError";
}

export function loadMediaHostConfig(env: NodeJS.ProcessEnv = process.env): MediaHostConfig {
  const picked = Object.fromEntries(Object.keys(mediaHostConfigSchema.shape).map((k) => [k, env[k] === "" ? undefined : env[k]]));
  const result = mediaHostConfigSchema.safeParse(picked);
  if (!result.success) {
    throw new MediaHostConfigError(
      `invalid media host configuration:\n${result.error.issues.map((i) => `- ${String(i.path[0])}: ${i.message}`).join("\n")}`,
    );
  }
  const problems: string[] = [];
  const c = result.data;
  if (c.AZURE_CLIENT_SECRET && (!c.AZURE_TENANT_ID || !c.AZURE_CLIENT_ID))
    problems.push("AZURE_CLIENT_SECRET needs AZURE_TENANT_ID and AZURE_CLIENT_ID");
  if (Boolean(c.SIP_TLS_CERT_FILE) !== Boolean(c.SIP_TLS_KEY_FILE)) problems.push("SIP_TLS_CERT_FILE and SIP_TLS_KEY_FILE go together");
  if (c.RTP_PORT_MIN > c.RTP_PORT_MAX) problems.push("RTP_PORT_MIN must not exceed RTP_PORT_MAX");
  if (c.WEBRTC_PORT_MIN >= c.WEBRTC_PORT_MAX) problems.push("WEBRTC_PORT_MIN must be below WEBRTC_PORT_MAX (two ports at least)");
  const rtpOverlaps = c.WEBRTC_PORT_MIN <= c.RTP_PORT_MAX && c.RTP_PORT_MIN <= c.WEBRTC_PORT_MAX;
  if (rtpOverlaps) problems.push("the WEBRTC_PORT_* range must not overlap the RTP_PORT_* range (rtpengine's)");
  if (problems.length > 0) throw new MediaHostConfigError(`invalid media host configuration:\n${problems.map((p) => `- ${p}`).join("\n")}`);
  return result.data;
}
