import { portalListener } from "./portalServer.js";
import { randomBytes, randomUUID, X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { type AddressInfo, isIPv4 } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import functions, { type LogHandler, type LogLevel } from "@azure/functions";
import { closeControlPlane, controlPlane } from "../functions/controlPlane.js";
import { loadControlPlaneConfig } from "../functions/config.js";
import { httpRoutes } from "../functions/platform/httpRoutes.js";
import { timerFunctions } from "../functions/platform/timers.js";
import { createFunctionsRequestListener } from "./functionsHttpAdapter.js";
import { EmbeddedCosmos } from "./embeddedCosmos.js";
import { startFunctionsHostProcess } from "./functionsHost.js";
import { loadFunctionModules } from "./functionModules.js";
import { EntraIdEmulator, type EntraUser } from "../test/emulators/entra/entraIdEmulator.js";
import { GraphEmulator } from "../test/emulators/graph/graphEmulator.js";
import { MeetingMediaServer } from "../test/emulators/meeting/meetingMediaServer.js";
import { pino } from "pino";
import { processBus } from "../functions/adapters/bus/processBus.js";
import { ServiceBusBrokerThread } from "../test/emulators/serviceBus/serviceBusBrokerThread.js";
import { connectServiceBus } from "../shared/bus/connectServiceBus.js";
import type { MessageSubscriber } from "../shared/bus/messageBus.js";
import { loadMediaHostConfig } from "../media-host/config.js";
import { ControlPlaneClient, mediaHostCredential } from "../media-host/controlPlane/controlPlaneClient.js";
import { type ListeningPorts, MediaHost } from "../media-host/mediaHost.js";
import { ControlPlanePool } from "../edge/agent/controlPlanePool.js";
import { packageVersion } from "../media-host/version.js";
import { EdgeAgent } from "../edge/agent/edgeAgent.js";
import { workloadCredential } from "../shared/identity/workloadCredential.js";

/**
 * The one-machine default: embedded Cosmos DB, the control plane's Functions served
 * over HTTP by the local adapter, and a token issuer for the admin API. Later parts
 * (Entra ID and Graph emulators, rtpengine, media hosts) join here.
 */
export interface LocalStackOptions {
  /**
   * The address devices and people reach the stack at (an IPv4 address of this machine; default
   * 127.0.0.1). What they reach binds there and is advertised there: the SIP edge (UDP/TCP and
   * TLS), the media hosts' SIP, rtpengine's media for devices and the meeting leg's ICE, the
   * meeting page (over HTTPS on any address but loopback: a browser on another machine needs a
   * secure context for camera and microphone) and its media server's ICE. What only this
   * machine's own processes use (Cosmos DB, the Functions, the Entra ID and Graph emulators,
   * Service Bus, the control plane's callbacks, rtpengine's side towards the meeting leg) stays on
   * loopback. The TLS server certificate must cover it (`scripts/dev-tls.sh <dir> <address>`).
   */
  readonly address?: string;
  /** Functions over plain HTTP (the run command uses the Functions host's 7071). Every port defaults to 0: a free one. */
  readonly functionsPort?: number;
  /** The same Functions over HTTPS: Graph and Entra ID call back here (PUBLIC_BASE_URL). */
  readonly functionsHttpsPort?: number;
  /** Embedded Cosmos DB (the emulator's 8081 by default). */
  readonly cosmosPort?: number;
  /** The Entra ID emulator's HTTPS port. */
  readonly entraPort?: number;
  /** The Microsoft Graph emulator's HTTPS port. */
  readonly graphPort?: number;
  /** Also run a media host (rtpengine + SIP) against this control plane; ports default to free ones. */
  readonly mediaHost?: LocalMediaHostOptions;
  /**
   * The pool as in production: the SIP edge (Kamailio, kept in step with the host registry)
   * in front of these media hosts, which devices then dial through the edge. Each host runs
   * in this process with its own rtpengine and ports.
   */
  readonly pool?: {
    readonly hosts: readonly (LocalMediaHostOptions & { readonly id: string })[];
    readonly edge?: {
      /** SIP over UDP and TCP on the stack's address (devices dial it), and TLS. */
      readonly sipPort?: number;
      readonly tlsPort?: number;
      readonly metricsPort?: number;
      /** Kamailio's pid file, ctl socket (kamcmd) and list file; default a temporary directory. */
      readonly runDirectory?: string;
      /** Failed out-of-dialog requests from one address in a minute before it is banned (default 30). */
      readonly failuresBeforeBan?: number;
    };
  };
  /**
   * Call events over Service Bus (the AMQP test broker, the real SDK, Entra ID tokens)
   * instead of the in-process bus, as between Functions and media host VMs: one
   * session-enabled queue, one session per media host.
   */
  readonly serviceBus?: boolean;
  /**
   * Serve the Functions from a process of their own (another Functions instance, as Azure
   * scales them out) instead of this one; needs `serviceBus`, since call events must then
   * cross processes. This process keeps the emulators, the timers and a control plane for
   * seeding.
   */
  readonly functionsProcess?: boolean;
  /**
   * Teams' meeting media: the meeting emulator's SFU and its web page (a person joins a
   * meeting from a browser) on the stack's address, over plain HTTP on loopback (a secure
   * context for camera and microphone already) and HTTPS elsewhere; bots' app-hosted media
   * connects to it.
   */
  readonly meetingMedia?: { readonly port?: number };
  /**
   * Where the portal (a single-page app signing in through the Entra ID emulator) may be
   * redirected back to after sign-in: its SPA redirect URIs, besides the page `portal` serves.
   * Default: Vite's dev server (`http://localhost:5173/`). More can be added later with
   * `entra.addRedirectUri(stack.portalSignIn.clientId, uri, "spa")`.
   */
  readonly portalRedirectUris?: readonly string[];
  /** Lifetime of Entra ID's access tokens (default ~1 h, as Entra's). Under 5 minutes the SDK fetches a new one for every request. */
  readonly entraTokenLifetimeSeconds?: number;
  /** Where scripts/dev-tls.sh put the CA and server certificate. */
  readonly tlsDirectory?: string;
  /** Log lines of the functions at or above this level; "none" for silence. */
  readonly logLevel?: LogLevel;
  /**
   * Also gets every log line of the Functions served in this process (through their
   * InvocationContext), whatever `logLevel` says: for tests that read them.
   */
  readonly logSink?: (level: LogLevel, line: string) => void;
  /** Extra or overriding app settings (e.g. SERVICE_DOMAIN). */
  readonly settings?: Readonly<Record<string, string>>;
  /**
   * The web portal (portal/dist, which scripts/setup.sh builds) on loopback, with its
   * /config.json and /api passed through to the Functions (same origin, as Static Web Apps
   * links a Function App).
   */
  readonly portal?: { readonly port?: number; readonly directory?: string };
}

export interface LocalMediaHostOptions {
  readonly sipPort?: number;
  readonly sipTlsPort?: number;
  readonly healthPort?: number;
  /** The meeting leg's session endpoint (HTTPS), where the meeting's media server answers. */
  readonly meetingLegPort?: number;
  readonly promptsDirectory?: string;
  /** rtpengine's ports (default 30000-32767, below Linux's ephemeral ports); hosts of one stack need ranges of their own. */
  readonly rtpPorts?: readonly [number, number];
  /** The meeting leg's ICE ports (default 40001-50000). */
  readonly webRtcPorts?: readonly [number, number];
  /** Calls it takes at most (default 200). */
  readonly capacity?: number;
  /** How long a device may send nothing before its call ends (MEDIA_TIMEOUT_MS; default 30 s). */
  readonly mediaTimeoutInMs?: number;
}

export interface LocalHost {
  readonly host: MediaHost;
  readonly ports: ListeningPorts;
}

export interface StackTokenOptions {
  readonly roles?: readonly string[];
  readonly audience?: string;
  readonly expiresInSeconds?: number;
  readonly forged?: boolean;
}

export interface LocalStack {
  readonly functionsUrl: string;
  readonly adminApiUrl: string;
  /** PUBLIC_BASE_URL: the Functions over HTTPS. */
  readonly publicBaseUrl: string;
  readonly cosmosEndpoint: string;
  readonly entra: EntraIdEmulator;
  readonly graph: GraphEmulator;
  /** The service operator's own tenant, where the admin API and its roles live. */
  readonly operatorTenantId: string;
  readonly settings: Readonly<Record<string, string>>;
  /** The address devices and people reach the stack at (LocalStackOptions.address). */
  readonly address: string;
  /** The meeting emulator's media and page, when asked for: `pageUrl(meetingId)` is where a person joins. */
  readonly meetingMedia: { readonly server: MeetingMediaServer; readonly url: string; pageUrl(meetingId: string): string } | undefined;
  /** The web portal's URL, when `portal` asked for it. */
  readonly portalUrl: string | undefined;
  /** The media host, when asked for: its SIP and health ports. */
  readonly mediaHost: LocalHost | undefined;
  /** The pool's hosts, by id, when asked for. */
  readonly poolHosts: ReadonlyMap<string, LocalHost>;
  /** The SIP edge in front of the pool, when asked for. */
  readonly edge: EdgeAgent | undefined;
  /** Where media hosts of this stack reach Service Bus, when it runs one (the broker's controls included). */
  readonly serviceBus:
    | { readonly fullyQualifiedNamespace: string; readonly endpoint: string; readonly queue: string; readonly broker: ServiceBusBrokerThread }
    | undefined;
  /** What a media host of this stack authenticates with (client credentials; managed identity in Azure). */
  readonly mediaHostIdentity: { readonly tenantId: string; readonly clientId: string; readonly clientSecret: string };
  /** What a SIP edge of this stack authenticates with (role CVI.Edge). */
  readonly edgeIdentity: { readonly tenantId: string; readonly clientId: string; readonly clientSecret: string };
  /**
   * How the portal signs people in (MSAL.js: authorization code + PKCE against the Entra ID
   * emulator): its app registration, the scope it asks for the admin API, and the operator,
   * a user of the operator's tenant who holds CVI.Admin (demo tenants add their own admins).
   */
  readonly portalSignIn: {
    readonly clientId: string;
    readonly redirectUris: readonly string[];
    /** `organizations`: operators and tenant admins sign in from their own tenants. */
    readonly authority: string;
    readonly scopes: readonly string[];
    readonly operator: EntraUser;
  };
  /** A token for the admin (or media-host) API, from the Entra ID emulator; CVI.Admin by default. */
  issueToken(options?: StackTokenOptions): Promise<string>;
  stop(): Promise<void>;
}

/** The Cosmos DB emulator's published well-known key: not a secret, it only opens the local emulator. */
const EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
const HOST = "127.0.0.1";
/** The local stack's bot application id (registered with the Entra ID emulator). */
export const LOCAL_BOT_APP_ID = "6c1f2a3b-0d4e-4f5a-8b6c-7d8e9f0a1b2c";
const OPERATOR_TENANT_ID = "0b5c8e4a-1f2d-4c3b-9a8e-7f6d5c4b3a21";
const ADMIN_API_APP_ID = "3f9a2b1c-5d4e-4a7b-8c6d-2e1f0a9b8c7d";
export const ADMIN_API_APP_ID_URI = "api://opencvi-admin";
/** Entra's v2 access tokens name the API by its client id. */
const ADMIN_API_AUDIENCE = ADMIN_API_APP_ID;
/** The admin API's delegated scope: what the portal asks for on a signed-in person's behalf. */
export const ADMIN_API_USER_SCOPE = `${ADMIN_API_APP_ID_URI}/access_as_user`;
/** The app roles people hold on the admin API: the service operator sees every tenant, a tenant's admin only their own (the `tid` of their token). */
export const OPERATOR_ROLE = "CVI.Admin";
export const TENANT_ADMIN_ROLE = "CVI.TenantAdmin";
/** The portal's app registration (a single-page app). */
export const PORTAL_APP_ID = "7b2e4c6a-8d1f-4e3a-9b5c-0a1d2e3f4a5b";
const OPERATOR_USER = { userPrincipalName: "operator@opencvi-operator.onmicrosoft.com", displayName: "OpenCVI operator" };
const MEDIA_HOST_APP_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
const CONTROL_PLANE_APP_ID = "4d3c2b1a-9f8e-4d7c-8b6a-5f4e3d2c1b0a";
const SERVICE_BUS_APP_ID = "80369ed6-5f11-4dd9-bef3-692475845e77";
const SERVICE_BUS_AUDIENCE = "https://servicebus.azure.net";
const SERVICE_BUS_QUEUE = "media-host-events";
const EDGE_APP_ID = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b";
const LOCAL_MEDIA_HOST_ID = "local-media-host";
/** What the gateway's bot app asks tenants to consent to. */
export const BOT_APP_PERMISSIONS = [
  "Calls.JoinGroupCall.All",
  "Calls.JoinGroupCallAsGuest.All",
  "Calls.AccessMedia.All",
  "OnlineMeetings.Read.All",
  "Calendars.ReadWrite",
  "User.Read.All",
  "GroupMember.Read.All",
] as const;
// The package is CommonJS; its classes are not ESM named exports.
const { InvocationContext } = functions;
const LEVELS: LogLevel[] = ["trace", "debug", "information", "warning", "error", "critical", "none"];

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const tlsDirectory = options.tlsDirectory ?? ".local/tls";
  let tls: { cert: Buffer; key: Buffer };
  try {
    tls = { cert: readFileSync(join(tlsDirectory, "server.pem")), key: readFileSync(join(tlsDirectory, "server-key.pem")) };
  } catch {
    throw new Error(`no local TLS certificate in ${tlsDirectory}: run scripts/dev-tls.sh (npm start and npm test do)`);
  }
  const address = options.address ?? HOST;
  checkStackAddress(address, tls.cert, tlsDirectory);
  const servers: Server[] = [];
  // Servers are bound first (their URLs go into the settings), their handlers attached once everything is built.
  const bind = async (
    secure: boolean,
    port: number,
    what: string,
    host = HOST,
  ): Promise<{ port: number; serve: (listener: Listener) => void; release: () => Promise<void> }> => {
    let current: Listener = (_req, res) => res.writeHead(503, { "retry-after": "1" }).end();
    const handler: Listener = (req, res) => current(req, res);
    const server = secure ? createHttpsServer(tls, handler) : createHttpServer(handler);
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e: NodeJS.ErrnoException) =>
        reject(e.code === "EADDRINUSE" ? new Error(`${what} cannot listen on ${host}:${port}: the port is in use`) : e),
      );
      server.listen(port, host, resolve);
    });
    return {
      port: (server.address() as AddressInfo).port,
      serve: (listener) => {
        current = listener;
      },
      release: () =>
        new Promise<void>((resolve) => {
          servers.splice(servers.indexOf(server), 1);
          server.close(() => resolve());
        }),
    };
  };
  const stopEmulators: (() => unknown)[] = [];
  const timers: NodeJS.Timeout[] = [];
  const stopMediaHost: (() => unknown)[] = [];
  const stop = async () => {
    for (const t of timers) clearInterval(t);
    // The media host first (it may still be ending calls through the control plane), then the control plane, then the rest.
    for (const s of stopMediaHost) await s();
    await closeControlPlane();
    for (const s of stopEmulators) await s();
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.closeAllConnections?.();
            s.close(() => resolve());
          }),
      ),
    );
  };

  try {
    const cosmos = await EmbeddedCosmos.start({ ...tls, host: HOST, port: options.cosmosPort ?? 0 });
    stopEmulators.push(() => cosmos.stop());
    const cosmosPort = cosmos.port;
    const cosmosEndpoint = `https://${HOST}:${cosmosPort}`;

    const entraHost = await bind(true, options.entraPort ?? 0, "Entra ID emulator");
    const graphHost = await bind(true, options.graphPort ?? 0, "Graph emulator");
    const functionsHttp = await bind(false, options.functionsPort ?? 0, "Functions HTTP");
    const functionsHttps = await bind(true, options.functionsHttpsPort ?? 0, "Functions HTTPS");
    const publicBaseUrl = `https://${HOST}:${functionsHttps.port}`;

    const entra = new EntraIdEmulator({
      origin: `https://${HOST}:${entraHost.port}`,
      ...(options.entraTokenLifetimeSeconds ? { accessTokenLifetimeSeconds: options.entraTokenLifetimeSeconds } : {}),
    });
    await entra.start();
    entraHost.serve(emulatorListener(entra));
    // Graph answers on "localhost" (not 127.0.0.1) so the SDK's customHosts tells it apart from Entra ID.
    const graph = new GraphEmulator({
      origin: `https://localhost:${graphHost.port}`,
      tokenIssuer: { jwksUri: entra.jwksUri, issuerFor: (tenantId) => [entra.issuerFor(tenantId, "1.0"), entra.issuerFor(tenantId)] },
      botAppIds: [LOCAL_BOT_APP_ID],
    });
    await graph.start();
    stopEmulators.push(() => graph.stop());
    graphHost.serve(emulatorListener(graph));
    let meetingMedia: LocalStack["meetingMedia"];
    if (options.meetingMedia) {
      // Loopback is a secure context over plain HTTP; any other address needs HTTPS for camera and microphone.
      const secure = !isLoopback(address);
      const meetingHost = await bind(secure, options.meetingMedia.port ?? 0, "Meeting page", address);
      const url = `${secure ? "https" : "http"}://${address}:${meetingHost.port}`;
      const server = new MeetingMediaServer({
        origin: url,
        iceAddress: address,
        roster: {
          personJoined: (meetingId, displayName) => graph.addHumanParticipant(meetingId, displayName),
          personLeft: (meetingId, participantId) => {
            try {
              graph.removeHumanParticipant(meetingId, participantId);
            } catch {
              // gone already (the meeting ended)
            }
          },
          screenSharingStarted: (meetingId, participantId) => graph.startScreenSharing(meetingId, participantId),
          screenSharingStopped: (meetingId, participantId) => graph.stopScreenSharing(meetingId, participantId),
          botMediaFailed: (callId, reason) => graph.dropBotForMedia(callId, reason),
        },
      });
      meetingHost.serve(emulatorListener(server));
      graph.useMeetingMedia(server);
      stopEmulators.unshift(() => server.close());
      meetingMedia = { server, url, pageUrl: (meetingId) => `${url}/_emulator/meetings/${encodeURIComponent(meetingId)}` };
    }
    const botAppSecret = randomBytes(24).toString("base64url");
    entra.addTenant({ tenantId: OPERATOR_TENANT_ID, domain: "opencvi-operator.onmicrosoft.com", displayName: "OpenCVI operator" });
    entra.registerApplication({
      clientId: ADMIN_API_APP_ID,
      displayName: "OpenCVI admin API",
      appIdUri: ADMIN_API_APP_ID_URI,
      appRoles: [OPERATOR_ROLE, TENANT_ADMIN_ROLE, "CVI.MediaHost", "CVI.Edge"],
      // People reach it through the portal, which acts for them (delegated): `scp` access_as_user.
      delegatedScopes: ["access_as_user"],
      // v2 tokens, as an API registered today gets: issuer …/v2.0, audience = the API's client id.
      accessTokenVersion: 2,
      homeTenantId: OPERATOR_TENANT_ID,
    });
    const functionsUrl = `http://${HOST}:${functionsHttp.port}`;
    // The portal's own page is added once it listens (options.portal); Vite's dev server for work on the portal.
    const portalRedirectUris = [...(options.portalRedirectUris ?? ["http://localhost:5173/"])];
    entra.registerApplication({
      clientId: PORTAL_APP_ID,
      displayName: "OpenCVI portal",
      spaRedirectUris: portalRedirectUris,
      homeTenantId: OPERATOR_TENANT_ID,
    });
    const operator = entra.addUser({ tenantId: OPERATOR_TENANT_ID, ...OPERATOR_USER });
    entra.assignUserAppRole(OPERATOR_TENANT_ID, ADMIN_API_APP_ID_URI, operator.objectId, OPERATOR_ROLE);
    // The media hosts' identity (a managed identity in Azure): holds CVI.MediaHost on the control plane's API.
    const mediaHostIdentity = { tenantId: OPERATOR_TENANT_ID, clientId: MEDIA_HOST_APP_ID, clientSecret: randomBytes(24).toString("base64url") };
    entra.registerApplication({
      clientId: MEDIA_HOST_APP_ID,
      clientSecret: mediaHostIdentity.clientSecret,
      displayName: "OpenCVI media hosts",
      homeTenantId: OPERATOR_TENANT_ID,
    });
    entra.assignAppRole(OPERATOR_TENANT_ID, ADMIN_API_APP_ID_URI, MEDIA_HOST_APP_ID, "CVI.MediaHost");
    // The SIP edges' identity: reads the pool's hosts, nothing else.
    const edgeIdentity = { tenantId: OPERATOR_TENANT_ID, clientId: EDGE_APP_ID, clientSecret: randomBytes(24).toString("base64url") };
    entra.registerApplication({
      clientId: EDGE_APP_ID,
      clientSecret: edgeIdentity.clientSecret,
      displayName: "OpenCVI SIP edges",
      homeTenantId: OPERATOR_TENANT_ID,
    });
    entra.assignAppRole(OPERATOR_TENANT_ID, ADMIN_API_APP_ID_URI, EDGE_APP_ID, "CVI.Edge");
    entra.registerApplication({
      clientId: LOCAL_BOT_APP_ID,
      clientSecret: botAppSecret,
      displayName: "OpenCVI video interop",
      redirectUris: [`${publicBaseUrl}/api/consent/callback`],
      requiredApplicationPermissions: [...BOT_APP_PERMISSIONS],
      homeTenantId: OPERATOR_TENANT_ID,
    });

    let serviceBus: LocalStack["serviceBus"];
    const serviceBusSettings: Record<string, string> = {};
    if (options.serviceBus) {
      const broker = await ServiceBusBrokerThread.start({
        tls,
        host: HOST,
        // Entra ID tokens for Service Bus, as the real namespace takes them (RBAC decides the rest there).
        tokens: { jwksUri: entra.jwksUri, issuer: entra.issuerFor(OPERATOR_TENANT_ID, "1.0"), audience: SERVICE_BUS_AUDIENCE },
        // As infra/modules/servicebus.bicep: session-enabled, duplicate detection, 30 s locks (a dead host's session frees within them).
        queues: [{ name: SERVICE_BUS_QUEUE, requiresSession: true, duplicateDetectionWindowInMs: 10 * 60_000, lockDurationInMs: 30_000 }],
      });
      const port = broker.port;
      stopEmulators.push(() => broker.stop());
      entra.registerApplication({
        clientId: SERVICE_BUS_APP_ID,
        displayName: "Azure Service Bus",
        appIdUri: SERVICE_BUS_AUDIENCE,
        homeTenantId: OPERATOR_TENANT_ID,
      });
      // The control plane's own identity (the Function App's managed identity in Azure).
      const controlPlaneSecret = randomBytes(24).toString("base64url");
      entra.registerApplication({
        clientId: CONTROL_PLANE_APP_ID,
        clientSecret: controlPlaneSecret,
        displayName: "OpenCVI control plane",
        homeTenantId: OPERATOR_TENANT_ID,
      });
      serviceBus = { fullyQualifiedNamespace: "localhost", endpoint: `sb://localhost:${port}`, queue: SERVICE_BUS_QUEUE, broker };
      Object.assign(serviceBusSettings, {
        SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE: serviceBus.fullyQualifiedNamespace,
        SERVICE_BUS_ENDPOINT: serviceBus.endpoint,
        SERVICE_BUS_QUEUE: SERVICE_BUS_QUEUE,
        AZURE_TENANT_ID: OPERATOR_TENANT_ID,
        AZURE_CLIENT_ID: CONTROL_PLANE_APP_ID,
        AZURE_CLIENT_SECRET: controlPlaneSecret,
      });
    }

    const settings: Record<string, string> = {
      SERVICE_DOMAIN: "cvi.localhost",
      SERVICE_PROVIDER_NAME: "OpenCVI",
      COSMOS_DATABASE: "cvi",
      ...options.settings,
      COSMOS_ENDPOINT: cosmosEndpoint,
      COSMOS_KEY: EMULATOR_KEY,
      ADMIN_AUTH_ISSUER: entra.issuerFor(OPERATOR_TENANT_ID),
      ADMIN_AUTH_JWKS_URI: entra.jwksUri,
      ADMIN_AUTH_AUDIENCE: ADMIN_API_AUDIENCE,
      ADMIN_AUTH_ROLE: "CVI.Admin",
      MEDIA_HOST_ROLE: "CVI.MediaHost",
      PUBLIC_BASE_URL: publicBaseUrl,
      ENTRA_AUTHORITY_HOST: entra.origin,
      GRAPH_BASE_URL: graph.origin,
      CALL_NOTIFICATION_OPENID_CONFIG_URL: graph.callingPlatformOpenIdConfigUrl,
      BOT_APP_ID: LOCAL_BOT_APP_ID,
      // Fresh per run: the local stack's own secrets, never written anywhere.
      BOT_APP_CLIENT_SECRET: botAppSecret,
      STATE_SIGNING_KEY: randomBytes(32).toString("base64url"),
      ...serviceBusSettings,
    };
    // A stack without Service Bus must not inherit an earlier stack's settings for it.
    for (const name of ["SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE", "SERVICE_BUS_ENDPOINT", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"])
      delete process.env[name];
    Object.assign(process.env, settings);
    loadControlPlaneConfig(); // fail now, with the list of bad settings, not at the first request
    await closeControlPlane();
    await controlPlane(); // creates the database and containers

    await loadFunctionModules();
    const minimum = LEVELS.indexOf(options.logLevel ?? "information");
    const hostJson = JSON.parse(readFileSync(new URL("../../host.json", import.meta.url), "utf8")) as {
      extensions?: { http?: { routePrefix?: string } };
    };
    const routePrefix = hostJson.extensions?.http?.routePrefix ?? "api";
    const logLine: LogHandler = (level, ...args) => {
      options.logSink?.(level, args.map(String).join(" "));
      if (LEVELS.indexOf(level) >= minimum) process.stderr.write(`[${new Date().toISOString()}] ${level}: ${args.map(String).join(" ")}\n`);
    };
    const listener = createFunctionsRequestListener(httpRoutes, { routePrefix, logHandler: logLine });
    // Timer Functions run on a plain interval here (the Functions host reads their NCRONTAB schedules).
    for (const timer of timerFunctions) {
      const interval = setInterval(() => {
        const context = new InvocationContext({ invocationId: randomUUID(), functionName: timer.name, logHandler: logLine });
        Promise.resolve(timer.handler({ isPastDue: false, scheduleStatus: { last: "", next: "", lastUpdated: "" } } as never, context)).catch(
          (e: unknown) => logLine("error", `${timer.name} failed: ${(e as Error).message}`),
        );
      }, timer.localIntervalInMs);
      interval.unref();
      timers.push(interval);
    }
    if (options.functionsProcess) {
      if (!options.serviceBus) throw new Error("functionsProcess needs serviceBus: call events must reach media hosts across processes");
      await functionsHttp.release();
      await functionsHttps.release();
      const host = await startFunctionsHostProcess({ httpPort: functionsHttp.port, httpsPort: functionsHttps.port, tlsDirectory });
      stopMediaHost.push(() => host.stop());
    } else {
      functionsHttp.serve((req, res) => void listener(req, res));
      functionsHttps.serve((req, res) => void listener(req, res));
    }
    const controlPlaneUrl = `http://${HOST}:${functionsHttp.port}/${routePrefix}`;
    const logger = pino(
      {
        level:
          LEVELS.indexOf(options.logLevel ?? "information") <= LEVELS.indexOf("debug") ? "debug" : options.logLevel === "none" ? "silent" : "info",
      },
      pino.destination(2),
    );
    /** One in-process media host against this stack's control plane (its own rtpengine, ports, lease). */
    const startHost = async (id: string, spec: LocalMediaHostOptions, behindEdge: boolean): Promise<LocalHost> => {
      const config = loadMediaHostConfig({
        MEDIA_HOST_ID: id,
        CONTROL_PLANE_URL: controlPlaneUrl,
        AZURE_TENANT_ID: mediaHostIdentity.tenantId,
        AZURE_CLIENT_ID: mediaHostIdentity.clientId,
        AZURE_CLIENT_SECRET: mediaHostIdentity.clientSecret,
        AZURE_AUTHORITY_HOST: entra.origin,
      });
      let bus: MessageSubscriber = processBus;
      if (serviceBus) {
        const connection = connectServiceBus({
          fullyQualifiedNamespace: serviceBus.fullyQualifiedNamespace,
          endpoint: serviceBus.endpoint,
          queueName: serviceBus.queue,
          credential: mediaHostCredential(config),
        });
        stopMediaHost.push(() => connection.close());
        bus = connection.bus;
      }
      const [rtpPortMin, rtpPortMax] = spec.rtpPorts ?? [30000, 32767];
      const host = new MediaHost({
        mediaHostId: id,
        serviceDomain: settings.SERVICE_DOMAIN ?? "cvi.localhost",
        // Devices reach its SIP, media and meeting leg on the stack's address.
        bindHost: address,
        advertisedHost: address,
        sipUdpPort: spec.sipPort ?? 0,
        sipTcpPort: spec.sipPort ?? 0,
        sipTls: { port: spec.sipTlsPort ?? 0, options: tls },
        // Behind the edge: its requests carry the device's address in the next Via.
        ...(behindEdge
          ? {
              trustedProxies: [address],
              // Devices dial the edge's address: it is this service's.
              serviceHosts: [address],
            }
          : {}),
        capacity: spec.capacity ?? 200,
        version: packageVersion(),
        healthPort: spec.healthPort ?? 0,
        meetingLeg: {
          port: spec.meetingLegPort ?? 0,
          ...(spec.webRtcPorts ? { webRtcPortRange: spec.webRtcPorts } : {}),
          ...(spec.mediaTimeoutInMs ? { mediaTimeoutInMs: spec.mediaTimeoutInMs } : {}),
        },
        rtpPortMin,
        rtpPortMax,
        promptsDirectory: spec.promptsDirectory ?? ".local/prompts",
        controlPlane: new ControlPlaneClient(config, mediaHostCredential(config)),
        bus,
        logger: logger.child({ mediaHostId: id }),
      });
      stopMediaHost.unshift(() => host.stop());
      // Drained (cvi host drain) and out of the pool: it stops, as the process on a VM ends.
      host.once("drained", () => void host.stop());
      return { host, ports: await host.start() };
    };
    let mediaHost: LocalStack["mediaHost"];
    if (options.mediaHost) mediaHost = await startHost(LOCAL_MEDIA_HOST_ID, options.mediaHost, false);
    const poolHosts = new Map<string, LocalHost>();
    for (const spec of options.pool?.hosts ?? []) poolHosts.set(spec.id, await startHost(spec.id, spec, options.pool?.edge !== undefined));
    let edge: EdgeAgent | undefined;
    if (options.pool?.edge) {
      const spec = options.pool.edge;
      edge = new EdgeAgent({
        kamailio: {
          sipAddress: address,
          sipPort: spec.sipPort ?? 0,
          tls: { port: spec.tlsPort ?? 0, certificateFile: join(tlsDirectory, "server.pem"), privateKeyFile: join(tlsDirectory, "server-key.pem") },
          metricsPort: spec.metricsPort ?? 0,
          ...(spec.runDirectory ? { runDirectory: spec.runDirectory } : {}),
          ...(spec.failuresBeforeBan ? { failuresBeforeBan: spec.failuresBeforeBan } : {}),
          // The local stack's devices often share one address: the flood limit is a burst of a load run, not a person's.
          floodRequestsPerTwoSeconds: 5000,
        },
        pool: new ControlPlanePool({
          controlPlaneUrl,
          scope: `${ADMIN_API_APP_ID_URI}/.default`,
          credential: workloadCredential({ ...edgeIdentity, authorityHost: entra.origin }),
        }),
        logger: logger.child({ component: "edge" }),
      });
      // The edge before the hosts' rtpengines stop: its probes then see hosts go, not vanish.
      stopMediaHost.unshift(() => edge?.stop());
      await edge.start();
    }
    let portalUrl: string | undefined;
    if (options.portal) {
      const portalHttp = await bind(false, options.portal.port ?? 0, "the portal");
      portalUrl = `http://${HOST}:${portalHttp.port}`;
      // Signing in comes back to the portal's own page.
      entra.addRedirectUri(PORTAL_APP_ID, `${portalUrl}/`, "spa");
      portalHttp.serve(
        portalListener({
          directory: options.portal.directory ?? "portal/dist",
          functionsUrl,
          config: {
            apiBaseUrl: `/${routePrefix}/v1`,
            authority: `${entra.origin}/organizations`,
            knownAuthorities: [new URL(entra.origin).host],
            clientId: PORTAL_APP_ID,
            scopes: [ADMIN_API_USER_SCOPE],
          },
        }),
      );
    }
    return {
      functionsUrl,
      adminApiUrl: `${functionsUrl}/${routePrefix}`,
      publicBaseUrl,
      cosmosEndpoint,
      address,
      entra,
      graph,
      meetingMedia,
      portalUrl,
      mediaHost,
      poolHosts,
      edge,
      serviceBus,
      operatorTenantId: OPERATOR_TENANT_ID,
      mediaHostIdentity,
      edgeIdentity,
      portalSignIn: {
        clientId: PORTAL_APP_ID,
        redirectUris: portalRedirectUris,
        authority: `${entra.origin}/organizations`,
        scopes: [ADMIN_API_USER_SCOPE],
        operator,
      },
      settings,
      issueToken: (token = {}) =>
        entra.issueToken({
          tenantId: OPERATOR_TENANT_ID,
          audience: token.audience ?? ADMIN_API_AUDIENCE,
          roles: token.roles ?? ["CVI.Admin"],
          ...(token.expiresInSeconds !== undefined ? { expiresInSeconds: token.expiresInSeconds } : {}),
          ...(token.forged ? { forged: true } : {}),
        }),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Serves an emulator's `handle` (404 for what it does not serve; a crash in it is a bug of the emulator, answered 500). */
function emulatorListener(emulator: {
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
}): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    emulator.handle(req, res).then(
      (handled) => {
        if (!handled) res.writeHead(404).end();
      },
      () => {
        if (!res.headersSent) res.writeHead(500).end();
      },
    );
  };
}

function isLoopback(address: string): boolean {
  return address.startsWith("127.");
}

/**
 * The stack's address must be one of this machine's IPv4 addresses (not a wildcard: rtpengine
 * and Kamailio bind a concrete one), covered by the TLS server certificate (the edge's TLS, the
 * meeting page and the meeting legs' session endpoints serve it there).
 */
export function checkStackAddress(address: string, certificate: Buffer, tlsDirectory: string): void {
  if (!isIPv4(address) || address === "0.0.0.0")
    throw new Error(`the stack's address must be one IPv4 address of this machine (not a name or a wildcard): got "${address}"`);
  const own = Object.values(networkInterfaces())
    .flat()
    .filter((i) => i?.family === "IPv4")
    .map((i) => i?.address);
  if (!isLoopback(address) && !own.includes(address))
    throw new Error(`${address} is not an address of this machine (its IPv4 addresses: ${own.join(", ")})`);
  if (new X509Certificate(certificate).checkIP(address) === undefined)
    throw new Error(
      `the TLS server certificate in ${tlsDirectory} does not cover ${address}: run \`bash scripts/dev-tls.sh ${tlsDirectory} ${address}\` (it adds the address, keeping the CA)`,
    );
}

/** What the CLI reads to reach the local stack without flags (in .local/, git-ignored, owner-only). */
export function writeLocalStackFile(path: string, contents: { adminApiUrl: string; token: string; expiresAt: string }): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, `${JSON.stringify(contents, null, 2)}\n`, { mode: 0o600 });
}
