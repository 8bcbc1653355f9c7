import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { LogLevel } from "@azure/functions";
import { createHttpsServer as createCosmosServer } from "@vercel/cosmosdb-server";
import { resetControlPlane, controlPlane } from "../functions/controlPlane.js";
import { loadControlPlaneConfig } from "../functions/config.js";
import { httpRoutes } from "../functions/platform/httpRoutes.js";
import { createFunctionsRequestListener } from "./functionsHttpAdapter.js";
import { LocalTokenIssuer } from "./localTokenIssuer.js";

/**
 * The one-machine default: embedded Cosmos DB, the control plane's Functions served
 * over HTTP by the local adapter, and a token issuer for the admin API. Later parts
 * (Entra ID and Graph emulators, rtpengine, media hosts) join here.
 */
export interface LocalStackOptions {
  /** Functions HTTP port (the Functions host's 7071 by default; 0 picks a free one). */
  readonly functionsPort?: number;
  /** Embedded Cosmos DB port (the emulator's 8081 by default). */
  readonly cosmosPort?: number;
  /** The token issuer's HTTPS port. */
  readonly issuerPort?: number;
  /** Where scripts/dev-tls.sh put the CA and server certificate. */
  readonly tlsDirectory?: string;
  /** Log lines of the functions at or above this level; "none" for silence. */
  readonly logLevel?: LogLevel;
  /** Extra or overriding app settings (e.g. SERVICE_DOMAIN). */
  readonly settings?: Readonly<Record<string, string>>;
}

export interface LocalStack {
  readonly functionsUrl: string;
  readonly adminApiUrl: string;
  readonly cosmosEndpoint: string;
  readonly issuer: LocalTokenIssuer;
  readonly settings: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

/** The Cosmos DB emulator's published well-known key: not a secret, it only opens the local emulator. */
const EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
const HOST = "127.0.0.1";
/** The local stack's bot application id (the Entra ID emulator registers the app under it). */
export const LOCAL_BOT_APP_ID = "6c1f2a3b-0d4e-4f5a-8b6c-7d8e9f0a1b2c";
const LEVELS: LogLevel[] = ["trace", "debug", "information", "warning", "error", "critical", "none"];

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const tlsDirectory = options.tlsDirectory ?? ".local/tls";
  let tls: { cert: Buffer; key: Buffer };
  try {
    tls = { cert: readFileSync(join(tlsDirectory, "server.pem")), key: readFileSync(join(tlsDirectory, "server-key.pem")) };
  } catch {
    throw new Error(`no local TLS certificate in ${tlsDirectory}: run scripts/dev-tls.sh (npm start and npm test do)`);
  }
  const servers: Server[] = [];
  const listen = async (server: Server, port: number, what: string): Promise<number> => {
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e: NodeJS.ErrnoException) =>
        reject(e.code === "EADDRINUSE" ? new Error(`${what} cannot listen on ${HOST}:${port}: the port is in use`) : e),
      );
      server.listen(port, HOST, resolve);
    });
    return (server.address() as AddressInfo).port;
  };
  const stop = async () => {
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.closeAllConnections?.();
            s.close(() => resolve());
          }),
      ),
    );
    resetControlPlane();
  };

  try {
    const cosmosPort = await listen(createCosmosServer({ ...tls, keepAlive: true } as never), options.cosmosPort ?? 8081, "embedded Cosmos DB");
    const cosmosEndpoint = `https://${HOST}:${cosmosPort}`;

    // The issuer's origin is only known once it listens, so bind first, then create it.
    const issuerServer = createHttpsServer(tls);
    const issuerPort = await listen(issuerServer, options.issuerPort ?? 7443, "token issuer");
    const issuer = new LocalTokenIssuer(`https://${HOST}:${issuerPort}`, "api://opencvi-admin");
    await issuer.start();
    issuerServer.on("request", (req, res) => {
      if (!issuer.handle(req, res)) {
        res.writeHead(404).end();
      }
    });

    const settings: Record<string, string> = {
      SERVICE_DOMAIN: "cvi.localhost",
      SERVICE_PROVIDER_NAME: "OpenCVI",
      COSMOS_DATABASE: "cvi",
      ...options.settings,
      COSMOS_ENDPOINT: cosmosEndpoint,
      COSMOS_KEY: EMULATOR_KEY,
      ADMIN_AUTH_ISSUER: issuer.issuer,
      ADMIN_AUTH_JWKS_URI: issuer.jwksUri,
      ADMIN_AUTH_AUDIENCE: issuer.defaultAudience,
      ADMIN_AUTH_ROLE: "CVI.Admin",
      PUBLIC_BASE_URL: `https://${HOST}:${issuerPort}`,
      ENTRA_AUTHORITY_HOST: `https://${HOST}:${issuerPort}`,
      GRAPH_BASE_URL: `https://localhost:${issuerPort}`,
      CALL_NOTIFICATION_OPENID_CONFIG_URL: `https://${HOST}:${issuerPort}/local-issuer/v2.0/.well-known/openid-configuration`,
      BOT_APP_ID: LOCAL_BOT_APP_ID,
      // Fresh per run: the local stack's own secrets, never written anywhere.
      BOT_APP_CLIENT_SECRET: randomBytes(24).toString("base64url"),
      STATE_SIGNING_KEY: randomBytes(32).toString("base64url"),
    };
    Object.assign(process.env, settings);
    loadControlPlaneConfig(); // fail now, with the list of bad settings, not at the first request
    resetControlPlane();
    await controlPlane(); // creates the database and containers

    await loadFunctionModules();
    const minimum = LEVELS.indexOf(options.logLevel ?? "information");
    const hostJson = JSON.parse(readFileSync(new URL("../../host.json", import.meta.url), "utf8")) as {
      extensions?: { http?: { routePrefix?: string } };
    };
    const routePrefix = hostJson.extensions?.http?.routePrefix ?? "api";
    const listener = createFunctionsRequestListener(httpRoutes, {
      routePrefix,
      logHandler: (level, ...args) => {
        if (LEVELS.indexOf(level) >= minimum) process.stderr.write(`[${new Date().toISOString()}] ${level}: ${args.map(String).join(" ")}\n`);
      },
    });
    const functionsPort = await listen(
      createHttpServer((req, res) => void listener(req, res)),
      options.functionsPort ?? 7071,
      "Functions HTTP",
    );
    const functionsUrl = `http://${HOST}:${functionsPort}`;
    return { functionsUrl, adminApiUrl: `${functionsUrl}/${routePrefix}`, cosmosEndpoint, issuer, settings, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Imports every function module. Outside the Functions host, @azure/functions runs in
 * "test mode" and warns once per registration that it skips it; here that is expected
 * (the local adapter serves the recorded routes), so those lines are held back.
 */
async function loadFunctionModules(): Promise<void> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!/^WARNING: (Skipping call to register function|Failed to detect the Azure Functions runtime)/.test(String(args[0]))) warn(...args);
  };
  try {
    await import("../functions/handlers/index.js");
  } finally {
    console.warn = warn;
  }
}

/** What the CLI reads to reach the local stack without flags (in .local/, git-ignored, owner-only). */
export function writeLocalStackFile(path: string, contents: { adminApiUrl: string; token: string; expiresAt: string }): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, `${JSON.stringify(contents, null, 2)}\n`, { mode: 0o600 });
}
