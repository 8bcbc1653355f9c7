import { existsSync, readFileSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, normalize, resolve, sep } from "node:path";

export interface PortalServerOptions {
  /** The built portal (portal/dist). */
  readonly directory: string;
  /** What the app reads at /config.json (see portal/src/config.ts). */
  readonly config: Readonly<Record<string, unknown>>;
  /** The Functions host the portal's /api/* goes to, as Static Web Apps links a Function App: same origin, no CORS. */
  readonly functionsUrl: string;
}

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
};

const MAX_PROXIED_BODY = 1024 * 1024;

/**
 * The portal as the local stack serves it: its static files (any path that is not a file is
 * the app's, so index.html), its run-time configuration, and /api/* passed to the Functions.
 */
export function portalListener(options: PortalServerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const root = resolve(options.directory);
  const index = join(root, "index.html");
  if (!existsSync(index)) throw new Error(`the portal is not built (${index} is missing): run scripts/setup.sh, or npm --prefix portal run build`);
  const config = JSON.stringify(options.config);
  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://portal.invalid");
    if (url.pathname === "/api" || url.pathname.startsWith("/api/")) {
      void proxy(req, res, `${options.functionsUrl}${url.pathname}${url.search}`);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("the portal's files are read-only\n");
      return;
    }
    if (url.pathname === "/config.json") {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(req.method === "HEAD" ? undefined : config);
      return;
    }
    const file = normalize(join(root, decodeURIComponent(url.pathname)));
    const inside = file === root || file.startsWith(root + sep);
    const path = inside && existsSync(file) && statSync(file).isFile() ? file : index;
    const immutable = path !== index && url.pathname.startsWith("/assets/");
    res.writeHead(200, {
      "content-type": TYPES[extname(path)] ?? "application/octet-stream",
      "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
      "x-content-type-options": "nosniff",
    });
    res.end(req.method === "HEAD" ? undefined : readFileSync(path));
  };
}

async function proxy(req: IncomingMessage, res: ServerResponse, target: string): Promise<void> {
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_PROXIED_BODY) {
        res
          .writeHead(413, { "content-type": "application/problem+json" })
          .end(JSON.stringify({ type: "about:blank", title: "Payload Too Large", status: 413, detail: "the request body is over 1 MiB" }));
        return;
      }
      chunks.push(chunk as Buffer);
    }
    const headers = new Headers();
    for (const name of ["authorization", "content-type", "accept", "if-match", "if-none-match"]) {
      const value = req.headers[name];
      if (typeof value === "string") headers.set(name, value);
    }
    const response = await fetch(target, {
      method: req.method ?? "GET",
      headers,
      ...(chunks.length ? { body: Buffer.concat(chunks) } : {}),
      redirect: "manual",
      signal: AbortSignal.timeout(30_000),
    });
    const out: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (!["content-encoding", "content-length", "transfer-encoding", "connection"].includes(name)) out[name] = value;
    });
    res.writeHead(response.status, out).end(Buffer.from(await response.arrayBuffer()));
  } catch (e) {
    res
      .writeHead(502, { "content-type": "application/problem+json" })
      .end(
        JSON.stringify({ type: "about:blank", title: "Bad Gateway", status: 502, detail: `the admin API did not answer: ${(e as Error).message}` }),
      );
  }
}
