import type { HttpRequest } from "@azure/functions";
import { HttpProblem } from "./problem.js";

const MAX_BODY_BYTES = 64 * 1024;

/** Reads a JSON request body; an absent body reads as `{}` so that validation names the missing fields. */
export async function readJsonBody(request: HttpRequest): Promise<unknown> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw new HttpProblem(413, "Request body too large", `the body may be at most ${MAX_BODY_BYTES} bytes`);
  const text = await request.text();
  if (Buffer.byteLength(text) > MAX_BODY_BYTES)
    throw new HttpProblem(413, "Request body too large", `the body may be at most ${MAX_BODY_BYTES} bytes`);
  if (text.trim() === "") return {};
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i.test(type)) {
    throw new HttpProblem(415, "Unsupported media type", `send the body as application/json (got ${type.slice(0, 100) || "no content-type"})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpProblem(400, "Malformed JSON", `the request body is not valid JSON: ${(e as Error).message}`);
  }
}

/** The `If-Match` header as the opaque ETag our resources carry; absent or `*` means unconditional. */
export function ifMatchOf(request: HttpRequest): string | undefined {
  const value = request.headers.get("if-match")?.trim();
  return value === undefined || value === "" || value === "*" ? undefined : value;
}
