import { z } from "zod";
import { portSetting as port, readSettings, serviceUrlSetting } from "../../shared/config/settings.js";
import { EdgeConfigError } from "./errors.js";

/**
 * The SIP edge's settings (environment of its VM; the scale set's template writes them).
 * The edge reads the pool from the control plane with its own identity, which holds the
 * app role CVI.Edge and nothing else.
 */
export const edgeConfigSchema = z.object({
  /** This edge's name in logs (the VM's name). */
  EDGE_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,128}$/, "EDGE_ID must be 1-128 letters, digits, . _ or -")
    .default("edge"),
  CONTROL_PLANE_URL: serviceUrlSetting("CONTROL_PLANE_URL"),
  CONTROL_PLANE_SCOPE: z.string().min(1).default("api://opencvi-admin/.default"),
  /** Entra ID: managed identity in Azure; a client secret only where there is none (the local stack). */
  AZURE_TENANT_ID: z.string().optional(),
  AZURE_CLIENT_ID: z.string().optional(),
  AZURE_CLIENT_SECRET: z.string().optional(),
  AZURE_AUTHORITY_HOST: serviceUrlSetting("AZURE_AUTHORITY_HOST").default("https://login.microsoftonline.com"),
  /** The VM's own address: SIP binds to it (Kamailio needs an interface's address). */
  EDGE_SIP_ADDRESS: z
    .string({ error: "EDGE_SIP_ADDRESS is required: the address SIP binds to (the VM's own, not 0.0.0.0)" })
    .regex(/^[0-9A-Fa-f:.]+$/, "EDGE_SIP_ADDRESS must be an IP address")
    .refine((a) => a !== "0.0.0.0" && a !== "::", "EDGE_SIP_ADDRESS must be an interface's address, not a wildcard"),
  EDGE_SIP_PORT: port("EDGE_SIP_PORT", 5060),
  /** The public address in front (the load balancer's), written into Via and Record-Route. */
  EDGE_ADVERTISED_ADDRESS: z.string().min(1).optional(),
  EDGE_TLS_PORT: port("EDGE_TLS_PORT", 5061),
  /** SIP over TLS when both are set (PEM files). */
  EDGE_TLS_CERT_FILE: z.string().min(1).optional(),
  EDGE_TLS_KEY_FILE: z.string().min(1).optional(),
  /** Kamailio's JSON-RPC, on 127.0.0.1 only. */
  EDGE_RPC_PORT: port("EDGE_RPC_PORT", 5090),
  /** Prometheus /metrics, on EDGE_SIP_ADDRESS. */
  EDGE_METRICS_PORT: port("EDGE_METRICS_PORT", 9090),
  /** Kamailio's pid file, ctl socket (kamcmd) and list file. */
  EDGE_RUN_DIRECTORY: z.string().min(1).default("/run/opencvi-edge"),
  EDGE_FLOOD_REQUESTS: z.coerce.number().int().min(10).max(100_000).default(400),
  EDGE_FAILURES_BAN: z.coerce.number().int().min(1).max(100_000).default(30),
  EDGE_BAN_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
  EDGE_INVITE_TIMEOUT_MS: z.coerce.number().int().min(3000).max(120_000).default(7000),
  POOL_SYNC_INTERVAL_MS: z.coerce.number().int().min(200).max(60_000).default(1000),
});

export type EdgeConfig = z.output<typeof edgeConfigSchema>;

export function loadEdgeConfig(env: NodeJS.ProcessEnv = process.env): EdgeConfig {
  const c = readSettings(edgeConfigSchema, env, (lines) => new EdgeConfigError(`invalid edge configuration:\n${lines.join("\n")}`));
  const problems: string[] = [];
  if (c.AZURE_CLIENT_SECRET && (!c.AZURE_TENANT_ID || !c.AZURE_CLIENT_ID))
    problems.push("AZURE_CLIENT_SECRET needs AZURE_TENANT_ID and AZURE_CLIENT_ID");
  if (Boolean(c.EDGE_TLS_CERT_FILE) !== Boolean(c.EDGE_TLS_KEY_FILE)) problems.push("EDGE_TLS_CERT_FILE and EDGE_TLS_KEY_FILE go together");
  if (problems.length > 0) throw new EdgeConfigError(`invalid edge configuration:\n${problems.map((p) => `- ${p}`).join("\n")}`);
  return c;
}
