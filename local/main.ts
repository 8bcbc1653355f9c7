#!/usr/bin/env node
// `npm start`: runs the local stack in the foreground until Ctrl-C.
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { seedDemo } from "./demo.js";
import { startLocalStack, writeLocalStackFile } from "./stack.js";

const STACK_FILE = ".local/stack.json";
const TOKEN_HOURS = 12;
/** Where room systems and browsers reach the stack: this machine's LAN address for devices elsewhere (loopback by default). */
const ADDRESS = process.env.OPENCVI_ADDRESS?.trim() || "127.0.0.1";

try {
  // The well-known local ports: the Functions host's 7071, the Cosmos DB emulator's 8081.
  mkdirSync(".local/edge", { recursive: true });
  const stack = await startLocalStack({
    address: ADDRESS,
    functionsPort: 7071,
    functionsHttpsPort: 7072,
    cosmosPort: 8081,
    entraPort: 7443,
    graphPort: 7444,
    // The pool as in production: devices dial the SIP edge (Kamailio) on 5060/5061, which places
    // each call on the media host with the fewest calls and moves it on if that host fails.
    pool: {
      edge: { sipPort: 5060, tlsPort: 5061, metricsPort: 9090, runDirectory: resolve(".local/edge") },
      hosts: [
        {
          id: "mh-1",
          sipPort: 5070,
          sipTlsPort: 5071,
          healthPort: 8091,
          meetingLegPort: 8443,
          rtpPorts: [30000, 31399],
          webRtcPorts: [40001, 44999],
        },
        {
          id: "mh-2",
          sipPort: 5080,
          sipTlsPort: 5081,
          healthPort: 8092,
          meetingLegPort: 8444,
          rtpPorts: [31400, 32767],
          webRtcPorts: [45000, 49999],
        },
      ],
    },
    meetingMedia: { port: 8080 },
    portal: { port: 8088 },
    logLevel: (process.env.LOCAL_LOG_LEVEL as never) ?? "information",
  });
  const demo = await seedDemo(stack);
  const token = await stack.issueToken({ expiresInSeconds: TOKEN_HOURS * 3600 });
  const expiresAt = new Date(Date.now() + TOKEN_HOURS * 3600_000).toISOString();
  writeLocalStackFile(STACK_FILE, { adminApiUrl: stack.adminApiUrl, token, expiresAt });
  process.stdout.write(`
OpenCVI local stack is up.

  Admin API      ${stack.adminApiUrl}/v1        (Azure Functions handlers, served locally)
  OpenAPI        ${stack.adminApiUrl}/openapi.json
  Cosmos DB      ${stack.cosmosEndpoint}          (embedded, in memory: data lasts until you stop)
  Callbacks      ${stack.publicBaseUrl}/api        (the same Functions over HTTPS, for Graph and Entra ID)
  Entra ID       ${stack.entra.origin}          (emulator: tokens, admin consent, people's sign-in)
  Tenant keys    <9 digits>@t.${stack.settings.SERVICE_DOMAIN}

Demo tenant (consented; every organizer enabled)
  Tenant         ${demo.tenantId}   key ${demo.tenantKey}
  Meeting        "OpenCVI demo meeting", VTC ID ${demo.vtcId}
  Graph emulator ${stack.graph.operatorUrl}   (meetings, calls: admit from lobby, remove, end)

The web portal   ${stack.portalUrl}/   (tenants, providers and policies, live calls, call history)
Sign-in (MSAL.js, authorization code + PKCE; app ${stack.portalSignIn.clientId}, authority ${stack.portalSignIn.authority}, scope ${stack.portalSignIn.scopes.join(" ")})
  Operator       ${stack.portalSignIn.operator.userPrincipalName}   (CVI.Admin: every tenant)
  Tenant admin   ${demo.admin.userPrincipalName}   (CVI.TenantAdmin in the demo tenant: the admin API holds them to it)
  (pick the account on the emulator's page: there are no passwords)

Dial the demo meeting from a SIP softphone or room system, through the SIP edge (UDP or TCP ${stack.edge?.endpoints.sipPort}, TLS ${stack.edge?.endpoints.tlsPort}):
  Direct         sip:${demo.tenantKey.split("@")[0]}.${demo.vtcId}@${stack.address}
  IVR            sip:${demo.tenantKey.split("@")[0]}@${stack.address}   (then key in ${demo.vtcId}#)
  SIP edge       ${stack.edge?.endpoints.metricsUrl}   (kamcmd -s ${stack.edge?.endpoints.ctlSocket} dispatcher.list)
${[...stack.poolHosts].map(([id, { ports }]) => `  Media host     ${id}: SIP ${ports.sipUdp}, http://${stack.address}:${ports.health}/healthz and /metrics`).join("\n")}
  The pool       ./cvi host list     (drain one: ./cvi host drain mh-2; back: ./cvi host undrain mh-2)

Join the same meeting from a browser (camera and microphone), and see and hear the device:
  Meeting page   ${stack.meetingMedia?.pageUrl(demo.meetingId)}
${
  stack.address.startsWith("127.")
    ? "  (on this machine; OPENCVI_ADDRESS=<this machine's LAN address> npm start puts devices and the page on the LAN)"
    : `  (HTTPS: trust the local CA ${resolve(".local/tls/ca.pem")} in the browser, or accept its warning)`
}

An admin token (role CVI.Admin, valid ${TOKEN_HOURS} h) is in ${STACK_FILE}; the cvi CLI uses it by default.
For other clients:  export CVI_TOKEN='${token}'

Try, in another terminal:
  ./cvi tenant add --tenant-id 72f988bf-86f1-41af-91ab-2d7cd011db47 --name Contoso
  ./cvi provider new --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 --identity OpenCVI --tenant-key <the key printed above>
  ./cvi policy grant --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 --policy OpenCVIServiceProviderEnabled --global
  ./cvi --help

Ctrl-C stops.
`);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping…\n`);
    stack.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
} catch (e) {
  process.stderr.write(`local stack failed to start: ${(e as Error).message}\n`);
  process.exit(1);
}
