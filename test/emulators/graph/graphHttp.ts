import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/** What Graph puts on its JSON answers; clients must not insist on a bare "application/json". */
export const ODATA_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/** An error answered in Graph's shape: `{error:{code, message, innerError:{date, request-id, client-request-id}}}`. */
export class GraphHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string, code = "BadRequest") => new GraphHttpError(400, code, message);
export const notFound = (message: string, code = "ResourceNotFound") => new GraphHttpError(404, code, message);
export const forbidden = (message: string, code = "Forbidden") => new GraphHttpError(403, code, message);

/** The ids Graph stamps on every answer; `client-request-id` is echoed when the client sent one (the SDK does). */
export interface RequestIds {
  readonly requestId: string;
  readonly clientRequestId: string;
}

export function requestIds(req: IncomingMessage): RequestIds {
  const sent = req.headers["client-request-id"];
  const requestId = randomUUID();
  return { requestId, clientRequestId: typeof sent === "string" && sent ? sent : requestId };
}

function baseHeaders(ids: RequestIds): Record<string, string> {
  return { "request-id": ids.requestId, "client-request-id": ids.clientRequestId, "cache-control": "no-cache" };
}

export function sendJson(res: ServerResponse, ids: RequestIds, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...baseHeaders(ids), "content-type": ODATA_JSON, "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, ids: RequestIds, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...baseHeaders(ids), "content-length": "0", ...headers });
  res.end();
}

export function sendGraphError(res: ServerResponse, ids: RequestIds, error: GraphHttpError): void {
  sendJson(
    res,
    ids,
    error.status,
    {
      error: {
        code: error.code,
        message: error.message,
        innerError: { date: new Date().toISOString().replace(/\.\d+Z$/, ""), "request-id": ids.requestId, "client-request-id": ids.clientRequestId },
      },
    },
    { ...error.headers },
  );
}

const MAX_BODY = 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new GraphHttpError(413, "RequestEntityTooLarge", "The request body is larger than this emulator accepts (1 MiB).");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** A JSON object body, or 400 the way Graph words an unreadable payload. */
export async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = await readBody(req);
  if (!text.trim()) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw badRequest("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.");
  }
  if (!isObject(parsed)) throw badRequest("The request payload must be a JSON object.");
  return parsed;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
