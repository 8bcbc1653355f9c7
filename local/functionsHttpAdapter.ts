import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import functions, { type LogHandler } from "@azure/functions";
import type { HttpRoute } from "../functions/platform/httpRoutes.js";

export interface FunctionsHttpAdapterOptions {
  /** host.json's extensions.http.routePrefix. */
  readonly routePrefix: string;
  readonly logHandler: LogHandler;
  readonly maxBodyBytes?: number;
}

// The package is CommonJS and its classes are not visible as ESM named exports.
const { HttpRequest, HttpResponse, InvocationContext } = functions;

interface CompiledRoute {
  readonly route: HttpRoute;
  readonly pattern: RegExp;
  readonly parameterNames: readonly string[];
}

/**
 * Serves registered Functions HTTP handlers over plain node:http, as the Functions
 * host would: same route templates (from the registrations, no second table), same
 * HttpRequest/InvocationContext objects. Only the local stack uses it.
 */
export function createFunctionsRequestListener(routes: readonly HttpRoute[], options: FunctionsHttpAdapterOptions) {
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const compiled = routes.map((route) => compile(route, options.routePrefix));

  return async (incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> => {
    const socket = incoming.socket;
    try {
      const url = new URL(incoming.url ?? "/", `http://${incoming.headers.host ?? "localhost"}`);
      const method = (incoming.method ?? "GET").toUpperCase();
      const matches = compiled.map((c) => ({ c, m: c.pattern.exec(url.pathname) })).filter((x) => x.m !== null);
      if (matches.length === 0) return problem(outgoing, 404, "Not found", `no function serves ${url.pathname}`);
      const match = matches.find((x) => x.c.route.methods.includes(method as never));
      if (!match?.m) {
        const allow = [...new Set(matches.flatMap((x) => x.c.route.methods))].join(", ");
        return problem(outgoing, 405, "Method not allowed", `${method} is not supported here; use ${allow}`, { allow });
      }
      const params: Record<string, string> = {};
      match.c.parameterNames.forEach((name, i) => {
        params[name] = decodeURIComponent(match.m?.[i + 1] ?? "");
      });
      const body = await readBody(incoming, maxBodyBytes);
      if (body === undefined) {
        // Stop reading and close: draining an arbitrarily large body would be the unbounded buffer we refuse.
        outgoing.once("finish", () => socket?.destroy());
        return problem(outgoing, 413, "Request body too large", `the body may be at most ${maxBodyBytes} bytes`, { connection: "close" });
      }
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(incoming.headers)) {
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
      }
      const request = new HttpRequest({ method, url: url.toString(), headers, params, body: { bytes: body } });
      const context = new InvocationContext({ invocationId: randomUUID(), functionName: match.c.route.name, logHandler: options.logHandler });
      const result = await match.c.route.handler(request, context);
      const response = result instanceof HttpResponse ? result : new HttpResponse(result ?? {});
      const payload = Buffer.from(await response.arrayBuffer());
      const responseHeaders: Record<string, string> = {};
      response.headers.forEach((value, name) => {
        responseHeaders[name] = value;
      });
      outgoing.writeHead(response.status, responseHeaders);
      outgoing.end(payload);
    } catch (e) {
      // A handler that throws is a bug; the Functions host would answer 500 too.
      options.logHandler("error", `local adapter: ${(e as Error).message}`);
      if (!outgoing.headersSent)
        problem(
          outgoing,
          e instanceof URIError ? 400 : 500,
          "Request failed",
          e instanceof URIError ? "malformed percent-encoding in the path" : "unexpected error",
        );
      else outgoing.destroy();
    }
  };
}

function compile(route: HttpRoute, routePrefix: string): CompiledRoute {
  const parameterNames: string[] = [];
  const template = [routePrefix, route.route].filter((s) => s !== "").join("/");
  const source = template
    .split("/")
    .map((segment) => {
      const param = /^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(:[^}]*)?\??\}$/.exec(segment);
      if (!param) return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      parameterNames.push(param[2] ?? "");
      return param[1] ? "(.*)" : "([^/]+)";
    })
    .join("/");
  return { route, parameterNames, pattern: new RegExp(`^/${source}/?$`, "i") };
}

async function readBody(incoming: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of incoming as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function problem(outgoing: ServerResponse, status: number, title: string, detail: string, headers: Record<string, string> = {}): void {
  outgoing.writeHead(status, { "content-type": "application/problem+json", ...headers });
  outgoing.end(JSON.stringify({ type: `urn:opencvi:problem:http-${status}`, title, status, detail }));
}
