import { mkdirSync } from "node:fs";
import { pino } from "pino";
import { workloadCredential } from "../../shared/identity/workloadCredential.js";
import { loadEdgeConfig } from "./config.js";
import { ControlPlanePool } from "./controlPlanePool.js";
import { EdgeAgent } from "./edgeAgent.js";
import { EdgeConfigError, KamailioNotInstalledError } from "./errors.js";

/**
 * A SIP edge on its VM (`node dist/edge/agent/main.js`): Kamailio with edge/kamailio.cfg,
 * kept in step with the pool. Settings from the environment (edge/agent/config.ts); the
 * pool from the control plane with the VM's managed identity. SIGTERM stops Kamailio;
 * Kamailio ending on its own ends the agent (exit 1), and systemd starts both again.
 */
const logger = pino({ base: { component: "edge" } });

async function main(): Promise<void> {
  const config = loadEdgeConfig();
  const log = logger.child({ edgeId: config.EDGE_ID });
  mkdirSync(config.EDGE_RUN_DIRECTORY, { recursive: true, mode: 0o750 });
  const agent = new EdgeAgent({
    kamailio: {
      sipAddress: config.EDGE_SIP_ADDRESS,
      sipPort: config.EDGE_SIP_PORT,
      ...(config.EDGE_ADVERTISED_ADDRESS ? { advertisedAddress: config.EDGE_ADVERTISED_ADDRESS } : {}),
      ...(config.EDGE_TLS_CERT_FILE && config.EDGE_TLS_KEY_FILE
        ? { tls: { port: config.EDGE_TLS_PORT, certificateFile: config.EDGE_TLS_CERT_FILE, privateKeyFile: config.EDGE_TLS_KEY_FILE } }
        : {}),
      rpcPort: config.EDGE_RPC_PORT,
      metricsPort: config.EDGE_METRICS_PORT,
      runDirectory: config.EDGE_RUN_DIRECTORY,
      floodRequestsPerTwoSeconds: config.EDGE_FLOOD_REQUESTS,
      failuresBeforeBan: config.EDGE_FAILURES_BAN,
      banSeconds: config.EDGE_BAN_SECONDS,
      inviteTimeoutInMs: config.EDGE_INVITE_TIMEOUT_MS,
    },
    pool: new ControlPlanePool({
      controlPlaneUrl: config.CONTROL_PLANE_URL,
      scope: config.CONTROL_PLANE_SCOPE,
      credential: workloadCredential({
        tenantId: config.AZURE_TENANT_ID,
        clientId: config.AZURE_CLIENT_ID,
        clientSecret: config.AZURE_CLIENT_SECRET,
        authorityHost: config.AZURE_AUTHORITY_HOST,
      }),
    }),
    syncIntervalInMs: config.POOL_SYNC_INTERVAL_MS,
    logger: log,
  });
  await agent.start();
  agent.once("exited", () => process.exit(1));
  const shutdown = (signal: string) => {
    log.info({ signal }, "edge: stopping");
    agent.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

main().catch((e: unknown) => {
  // Configuration and installation problems are the operator's to fix: say what, without a stack trace.
  if (e instanceof EdgeConfigError || e instanceof KamailioNotInstalledError) logger.fatal(e.message);
  else logger.fatal({ err: e }, "the edge could not start");
  process.exit(1);
});
