import { z } from "zod";
import { listSetting as list, portSetting as port, readSettings, serviceUrlSetting as httpsUrl } from "../shared/config/settings.js";

/**
 * A media host's settings (environment of its VM; the scale set's template sets them).
 * Media hosts face the internet, so they hold no Graph credentials: they reach the
 * control plane with their own identity, which carries the CVI.MediaHost app role.
 */
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
  /** The session-enabled queue of call events: one session per media host (session id = host id). */
  SERVICE_BUS_QUEUE: z.string().min(1).default("media-host-events"),
  /** The domain devices dial (tenant keys are <digits>@<domain>), e.g. cvi.example.net. */
  SERVICE_DOMAIN: z.string().min(1).default("cvi.localhost"),
  /** Where SIP, RTP and health listen: the VM's own address (rtpengine binds media to a concrete interface, not 0.0.0.0). */
  SIP_BIND_HOST: z.string().min(1).optional(),
  /** The address devices reach this host's media at (public IP or name): written into SDP (and into Via and Contact unless SIP_CONTACT_HOST is set). */
  SIP_ADVERTISED_HOST: z.string().min(1).optional(),
  /** The address the SIP edge reaches this host at (its private address behind the edge): Via, Contact, and the SIP URI it registers in the pool. */
  SIP_CONTACT_HOST: z.string().min(1).optional(),
  /** How the SIP edge sends this host its calls. */
  SIP_EDGE_TRANSPORT: z.enum(["udp", "tcp"], { error: "SIP_EDGE_TRANSPORT must be udp or tcp" }).default("udp"),
  /** The SIP edge's addresses or CIDR blocks (comma-separated): their requests carry the device's address in the next Via. */
  SIP_TRUSTED_PROXIES: list("SIP_TRUSTED_PROXIES", /^[0-9A-Fa-f:.]+(?:\/\d{1,3})?$/, "an IP address or CIDR block"),
  /** Names and addresses devices dial that are this service (the edge's public address and DNS names), comma-separated. */
  SIP_SERVICE_HOSTS: list("SIP_SERVICE_HOSTS", /^[A-Za-z0-9.:[\]-]+$/, "a host name or address"),
  /** Calls this host takes at most: the SIP edge sends no more (maxload), and more get 503. */
  MAX_CALLS: z.coerce.number({ error: "MAX_CALLS must be a number" }).int().min(1).max(100_000).default(60),
  /** SIP over UDP and TCP. */
  SIP_PORT: port("SIP_PORT", 5060),
  /** SIP over TLS, when SIP_TLS_CERT_FILE and SIP_TLS_KEY_FILE name a certificate and its key (PEM). */
  SIP_TLS_PORT: port("SIP_TLS_PORT", 5061),
  SIP_TLS_CERT_FILE: z.string().min(1).optional(),
  SIP_TLS_KEY_FILE: z.string().min(1).optional(),
  RTP_PORT_MIN: port("RTP_PORT_MIN", 30000),
  RTP_PORT_MAX: port("RTP_PORT_MAX", 40000),
  /** rtpengine's media threads run real-time (SCHED_RR) at this priority so nothing on the VM can stall them; 0 turns it off. Needs LimitRTPRIO (the unit sets it) or CAP_SYS_NICE. */
  RTPENGINE_REALTIME_PRIORITY: z.coerce.number({ error: "RTPENGINE_REALTIME_PRIORITY must be a number" }).int().min(0).max(99).default(10),
  /** The meeting leg's session endpoint (the meeting's media server POSTs its SDP answer here); HTTPS when SIP TLS has a certificate. */
  MEETING_LEG_PORT: port("MEETING_LEG_PORT", 8443),
  /** How the meeting's media server reaches that endpoint (e.g. https://mh-0.cvi.example.net:8443); derived from the advertised host unless set. */
  MEETING_LEG_PUBLIC_URL: z.string().url("MEETING_LEG_PUBLIC_URL must be an https:// URL").optional(),
  /** The meeting leg's WebRTC (ICE) ports. */
  WEBRTC_PORT_MIN: port("WEBRTC_PORT_MIN", 40001),
  WEBRTC_PORT_MAX: port("WEBRTC_PORT_MAX", 50000),
  /** Content sharing's BFCP (UDP or TCP, one port per call that has a floor), on the device-facing address. */
  BFCP_PORT_MIN: port("BFCP_PORT_MIN", 50001),
  BFCP_PORT_MAX: port("BFCP_PORT_MAX", 51000),
  /** No media from the device this long ends its call (not on hold). The meeting's silence never does: a room alone in a meeting waits; ICE consent tells when the meeting's media server is gone. */
  MEDIA_TIMEOUT_MS: z.coerce.number().int().min(1000).max(3600_000).default(30_000),
  /** Once the bot is in the meeting, its media must connect within this. */
  MEETING_ANSWER_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
  /** /healthz and /metrics. */
  HEALTH_PORT: port("HEALTH_PORT", 8090),
  /** The IVR's spoken prompts (WAV), made at set-up. */
  PROMPTS_DIRECTORY: z.string().min(1).default(".local/prompts"),
  /** On SIGTERM: how long calls may go on (no new ones taken) before they are ended and the host leaves the pool. */
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
  const c = readSettings(mediaHostConfigSchema, env, (lines) => new MediaHostConfigError(`invalid media host configuration:\n${lines.join("\n")}`));
  const problems: string[] = [];
  if (c.AZURE_CLIENT_SECRET && (!c.AZURE_TENANT_ID || !c.AZURE_CLIENT_ID))
    problems.push("AZURE_CLIENT_SECRET needs AZURE_TENANT_ID and AZURE_CLIENT_ID");
  if (Boolean(c.SIP_TLS_CERT_FILE) !== Boolean(c.SIP_TLS_KEY_FILE)) problems.push("SIP_TLS_CERT_FILE and SIP_TLS_KEY_FILE go together");
  if (c.RTP_PORT_MIN > c.RTP_PORT_MAX) problems.push("RTP_PORT_MIN must not exceed RTP_PORT_MAX");
  if (c.WEBRTC_PORT_MIN >= c.WEBRTC_PORT_MAX) problems.push("WEBRTC_PORT_MIN must be below WEBRTC_PORT_MAX (two ports at least)");
  if (c.BFCP_PORT_MIN >= c.BFCP_PORT_MAX) problems.push("BFCP_PORT_MIN must be below BFCP_PORT_MAX (two ports at least)");
  const overlaps = (a: [number, number], b: [number, number]) => a[0] <= b[1] && b[0] <= a[1];
  if (
    overlaps([c.BFCP_PORT_MIN, c.BFCP_PORT_MAX], [c.RTP_PORT_MIN, c.RTP_PORT_MAX]) ||
    overlaps([c.BFCP_PORT_MIN, c.BFCP_PORT_MAX], [c.WEBRTC_PORT_MIN, c.WEBRTC_PORT_MAX])
  )
    problems.push("the BFCP_PORT_* range must not overlap the RTP_PORT_* or WEBRTC_PORT_* ranges");
  if (overlaps([c.WEBRTC_PORT_MIN, c.WEBRTC_PORT_MAX], [c.RTP_PORT_MIN, c.RTP_PORT_MAX]))
    problems.push("the WEBRTC_PORT_* range must not overlap the RTP_PORT_* range (rtpengine's)");
  if (problems.length > 0) throw new MediaHostConfigError(`invalid media host configuration:\n${problems.map((p) => `- ${p}`).join("\n")}`);
  return c;
}
