import { readFileSync } from "node:fs";
import { pino } from "pino";
import { connectServiceBus } from "../shared/bus/connectServiceBus.js";
import { loadMediaHostConfig, MediaHostConfigError } from "./config.js";
import { ControlPlaneClient, mediaHostCredential } from "./controlPlane/controlPlaneClient.js";
import { MediaHost } from "./mediaHost.js";
import { packageVersion } from "./version.js";

/**
 * A media host on its VM: settings from the environment (media-host/config.ts), call
 * events from its Service Bus session, the control plane over HTTPS with the VM's managed
 * identity, a lease in the pool. SIGTERM (systemd stop, scale-in) drains: no new calls,
 * the current ones may go on for DRAIN_GRACE_MS, then they are ended cleanly, the host
 * leaves the pool and the process exits (0). An operator's drain ends the same way.
 */
const logger = pino({ base: { component: "media-host" } });

async function main(): Promise<void> {
  const config = loadMediaHostConfig();
  if (!config.SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE) {
    throw new MediaHostConfigError(
      "invalid media host configuration:\n- SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE is required: call events reach a media host VM over Service Bus",
    );
  }
  const bindHost = config.SIP_BIND_HOST;
  if (!bindHost || bindHost === "0.0.0.0" || bindHost === "::") {
    throw new MediaHostConfigError(
      "invalid media host configuration:\n- SIP_BIND_HOST is required: the VM's own address (rtpengine binds media to a concrete interface, not a wildcard)",
    );
  }
  // Behind 1:1 NAT (Azure public IPs) devices reach the public address; on a flat network the bound one.
  const advertisedHost = config.SIP_ADVERTISED_HOST ?? bindHost;
  const log = logger.child({ mediaHostId: config.MEDIA_HOST_ID });
  const credential = mediaHostCredential(config);
  const serviceBus = connectServiceBus({
    fullyQualifiedNamespace: config.SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE,
    endpoint: config.SERVICE_BUS_ENDPOINT,
    queueName: config.SERVICE_BUS_QUEUE,
    credential,
  });
  const tls =
    config.SIP_TLS_CERT_FILE && config.SIP_TLS_KEY_FILE
      ? { port: config.SIP_TLS_PORT, options: { cert: readFileSync(config.SIP_TLS_CERT_FILE), key: readFileSync(config.SIP_TLS_KEY_FILE) } }
      : undefined;
  const host = new MediaHost({
    mediaHostId: config.MEDIA_HOST_ID,
    serviceDomain: config.SERVICE_DOMAIN,
    bindHost,
    advertisedHost,
    sipUdpPort: config.SIP_PORT,
    sipTcpPort: config.SIP_PORT,
    ...(tls ? { sipTls: tls } : {}),
    ...(config.SIP_CONTACT_HOST ? { sipContactHost: config.SIP_CONTACT_HOST } : {}),
    edgeTransport: config.SIP_EDGE_TRANSPORT,
    trustedProxies: config.SIP_TRUSTED_PROXIES,
    serviceHosts: config.SIP_SERVICE_HOSTS,
    capacity: config.MAX_CALLS,
    version: packageVersion(),
    healthPort: config.HEALTH_PORT,
    meetingLeg: {
      port: config.MEETING_LEG_PORT,
      ...(config.MEETING_LEG_PUBLIC_URL ? { publicBaseUrl: config.MEETING_LEG_PUBLIC_URL } : {}),
      webRtcPortRange: [config.WEBRTC_PORT_MIN, config.WEBRTC_PORT_MAX],
      mediaTimeoutInMs: config.MEDIA_TIMEOUT_MS,
      answerTimeoutInMs: config.MEETING_ANSWER_TIMEOUT_MS,
    },
    bfcpPortRange: [config.BFCP_PORT_MIN, config.BFCP_PORT_MAX],
    rtpPortMin: config.RTP_PORT_MIN,
    rtpPortMax: config.RTP_PORT_MAX,
    rtpengineRealtimePriority: config.RTPENGINE_REALTIME_PRIORITY,
    promptsDirectory: config.PROMPTS_DIRECTORY,
    controlPlane: new ControlPlaneClient(config, credential),
    bus: serviceBus.bus,
    logger: log,
  });
  const ports = await host.start();
  log.info({ ports }, "media host listening");

  let stopping = false;
  const exit = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ why }, "stopping");
    await host.stop();
    await serviceBus.close();
    log.info("stopped");
    process.exit(0);
  };
  // Drained by the operator (or by our own SIGTERM): out of the pool, nothing left to do.
  host.once("drained", () => void exit("drained"));
  const shutdown = async (signal: string) => {
    log.info({ signal, activeCalls: host.activeCalls, graceInMs: config.DRAIN_GRACE_MS }, "draining");
    await host.drain(config.DRAIN_GRACE_MS);
    await exit(signal);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((e: unknown) => {
  // Configuration problems are the operator's to fix: say what, without a stack trace.
  if (e instanceof MediaHostConfigError) logger.fatal(e.message);
  else logger.fatal({ err: e }, "the media host could not start");
  process.exit(1);
});
