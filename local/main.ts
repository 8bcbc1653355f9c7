#!/usr/bin/env node
// `npm start`: runs the local stack in the foreground until Ctrl-C.
import { seedDemo } from "./demo.js";
import { startLocalStack, writeLocalStackFile } from "./stack.js";

const STACK_FILE = ".local/stack.json";
const TOKEN_HOURS = 12;

try {
  // The well-known local ports: the Functions host's 7071, the Cosmos DB emulator's 8081.
  const stack = await startLocalStack({
    functionsPort: 7071,
    functionsHttpsPort: 7072,
    cosmosPort: 8081,
    entraPort: 7443,
    graphPort: 7444,
    mediaHost: { sipPort: 5060, sipTlsPort: 5061, healthPort: 8090, meetingLegPort: 8443 },
    meetingMedia: { port: 8080 },
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
  Entra ID       ${stack.entra.origin}          (emulator: tokens, admin consent)
  Tenant keys    <9 digits>@t.${stack.settings.SERVICE_DOMAIN}

Demo tenant (consented; every organizer enabled)
  Tenant         ${demo.tenantId}   key ${demo.tenantKey}
  Meeting        "OpenCVI demo meeting", VTC ID ${demo.vtcId}
  Graph emulator ${stack.graph.operatorUrl}   (meetings, calls: admit from lobby, remove, end)

Dial the demo meeting from a SIP softphone or room system (UDP or TCP ${stack.mediaHost?.ports.sipUdp}, TLS ${stack.mediaHost?.ports.sipTls}):
  Direct         sip:${demo.tenantKey.split("@")[0]}.${demo.vtcId}@127.0.0.1
  IVR            sip:${demo.tenantKey.split("@")[0]}@127.0.0.1   (then key in ${demo.vtcId}#)
  Media host     http://127.0.0.1:${stack.mediaHost?.ports.health}/healthz and /metrics

Join the same meeting from a browser (camera and microphone), and see and hear the device:
  Meeting page   ${stack.meetingMedia?.pageUrl(demo.meetingId)}

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
