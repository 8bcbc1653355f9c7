import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { LogHandler } from "@azure/functions";
import { loadControlPlaneConfig } from "../functions/config.js";
import { closeControlPlane } from "../functions/controlPlane.js";
import { httpRoutes } from "../functions/platform/httpRoutes.js";
import { loadFunctionModules } from "./functionModules.js";
import { createFunctionsRequestListener } from "./functionsHttpAdapter.js";

const SELF = fileURLToPath(import.meta.url);
const READY = "functions host ready";

export interface FunctionsHostProcess {
  stop(): Promise<void>;
}

/**
 * Another instance of the Functions, in a process of its own, serving HTTP and HTTPS on
 * the given ports with the app settings of this process's environment: what Azure does
 * when it scales the Function App out. The local stack uses it to spread load over cores.
 */
export async function startFunctionsHostProcess(options: {
  httpPort: number;
  httpsPort: number;
  tlsDirectory: string;
}): Promise<FunctionsHostProcess> {
  const child: ChildProcess = spawn(process.execPath, [SELF, String(options.httpPort), String(options.httpsPort), options.tlsDirectory], {
    env: process.env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the Functions host process did not start in time")), 30_000);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line !== READY) return;
      clearTimeout(timer);
      resolve();
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the Functions host process exited (${code}) while starting`));
    });
  });
  return {
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

// Run as a script: serve the Functions until SIGTERM.
if (process.argv[1] === SELF) {
  const [httpPort, httpsPort, tlsDirectory] = process.argv.slice(2);
  loadControlPlaneConfig(); // fail at once, naming every bad setting
  await loadFunctionModules();
  const hostJson = JSON.parse(readFileSync(new URL("../../host.json", import.meta.url), "utf8")) as {
    extensions?: { http?: { routePrefix?: string } };
  };
  const logHandler: LogHandler = (level, ...args) => {
    if (level === "error" || level === "critical") process.stderr.write(`[functions host] ${level}: ${args.map(String).join(" ")}\n`);
  };
  const listener = createFunctionsRequestListener(httpRoutes, { routePrefix: hostJson.extensions?.http?.routePrefix ?? "api", logHandler });
  const tls = { cert: readFileSync(join(tlsDirectory ?? "", "server.pem")), key: readFileSync(join(tlsDirectory ?? "", "server-key.pem")) };
  const servers = [createHttpServer((req, res) => void listener(req, res)), createHttpsServer(tls, (req, res) => void listener(req, res))];
  await Promise.all(
    servers.map((server, i) => new Promise<void>((resolve) => server.listen(Number(i === 0 ? httpPort : httpsPort), "127.0.0.1", resolve))),
  );
  process.stdout.write(`${READY}\n`);
  process.once("SIGTERM", () => {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    closeControlPlane().finally(() => process.exit(0));
  });
}
