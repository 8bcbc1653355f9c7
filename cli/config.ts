import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { CliError, ExitCode, UsageError } from "./errors.js";
import { oneLine } from "./format.js";

/** Where the Functions host (and the local stack) serve the admin API by default. */
export const DEFAULT_URL = "http://127.0.0.1:7071/api";
/** What `npm start` writes (local/main.ts): the local stack's URL and an admin token. */
export const STACK_FILE = ".local/stack.json";

export interface Connection {
  readonly url: string;
  readonly token: string;
  readonly tokenSource: "--token" | "CVI_TOKEN" | "stack file";
  /** The stack file the token came from, when it did. */
  readonly stackFile: string | undefined;
  readonly timeoutMs: number;
}

export interface ConnectionInputs {
  readonly url: string | undefined;
  readonly token: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly now: Date;
}

interface StackFile {
  readonly path: string;
  readonly adminApiUrl: string;
  readonly token: string;
  readonly expiresAt: string | undefined;
}

/**
 * URL: --url, else CVI_URL, else the stack file's, else DEFAULT_URL. Token: --token,
 * else CVI_TOKEN, else the stack file's, but only for the stack file's own URL (a local
 * token is never sent to another server).
 */
export function resolveConnection(inputs: ConnectionInputs): Connection {
  const given = (value: string | undefined) => (value === undefined || value.trim() === "" ? undefined : value.trim());
  const stack = readStackFile(inputs.env, inputs.cwd);
  const rawUrl = given(inputs.url) ?? given(inputs.env.CVI_URL) ?? stack?.adminApiUrl ?? DEFAULT_URL;
  const url = checkUrl(rawUrl, given(inputs.url) !== undefined ? "--url" : given(inputs.env.CVI_URL) !== undefined ? "CVI_URL" : "the URL");
  const timeoutMs = timeoutOf(inputs.env.CVI_TIMEOUT);

  const optionToken = given(inputs.token);
  if (optionToken !== undefined) return { url, token: checkToken(optionToken, "--token"), tokenSource: "--token", stackFile: undefined, timeoutMs };
  const envToken = given(inputs.env.CVI_TOKEN);
  if (envToken !== undefined) return { url, token: checkToken(envToken, "CVI_TOKEN"), tokenSource: "CVI_TOKEN", stackFile: undefined, timeoutMs };

  if (stack && sameUrl(stack.adminApiUrl, url)) {
    const expires = stack.expiresAt === undefined ? Number.NaN : Date.parse(stack.expiresAt);
    if (!Number.isNaN(expires) && expires <= inputs.now.getTime()) {
      throw new CliError(ExitCode.auth, `the admin token in ${stack.path} expired at ${stack.expiresAt}`, {
        hint: "restart the local stack (`npm start`) for a fresh one, or pass --token",
      });
    }
    return { url, token: stack.token, tokenSource: "stack file", stackFile: stack.path, timeoutMs };
  }
  const elsewhere = stack ? ` (${stack.path} holds a token for ${stack.adminApiUrl} only)` : "";
  throw new CliError(ExitCode.auth, `no admin API token for ${url}${elsewhere}`, {
    hint:
      "pass --token TOKEN or set CVI_TOKEN; or start the local stack with `npm start`, " +
      `which writes ${STACK_FILE} for cvi to read from the current directory (or from the file in CVI_STACK_FILE)`,
  });
}

function readStackFile(env: Readonly<Record<string, string | undefined>>, cwd: string): StackFile | undefined {
  const named = env.CVI_STACK_FILE?.trim() || undefined;
  const path = named ?? STACK_FILE;
  const fullPath = isAbsolute(path) ? path : join(cwd, path);
  let text: string;
  try {
    text = readFileSync(fullPath, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CliError(ExitCode.failure, `cannot read ${path}: ${(e as Error).message}`);
  }
  const bad = (why: string) =>
    new CliError(ExitCode.failure, `${path} is not a local stack file: ${why}`, {
      hint: "restart the local stack (`npm start`) to rewrite it, or delete it",
    });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw bad(oneLine((e as Error).message, 120));
  }
  const file = (typeof parsed === "object" && parsed !== null ? parsed : {}) as Record<string, unknown>;
  if (typeof file.adminApiUrl !== "string" || typeof file.token !== "string") throw bad("it needs adminApiUrl and token");
  return {
    path,
    adminApiUrl: file.adminApiUrl.replace(/\/+$/, ""),
    token: file.token.trim(),
    expiresAt: typeof file.expiresAt === "string" ? file.expiresAt : undefined,
  };
}

function checkUrl(value: string, source: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${source} '${oneLine(value, 100)}' is not an absolute URL; use e.g. ${DEFAULT_URL}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`${source} must use http or https, not ${url.protocol.slice(0, -1)}; use e.g. ${DEFAULT_URL}`);
  }
  if (url.search || url.hash) throw new UsageError(`${source} must be the admin API's base URL without ?query or #fragment; use e.g. ${DEFAULT_URL}`);
  return value.replace(/\/+$/, "");
}

/** A bearer token is one run of visible ASCII; anything else could not even be sent as a header. */
function checkToken(token: string, source: string): string {
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new CliError(ExitCode.auth, `the token in ${source} contains spaces or control characters`, {
      hint: "pass the bare token, without 'Bearer '",
    });
  }
  return token;
}

function sameUrl(a: string, b: string): boolean {
  try {
    return new URL(a).href.replace(/\/+$/, "") === new URL(b).href.replace(/\/+$/, "");
  } catch {
    return false;
  }
}

function timeoutOf(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return 30_000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`CVI_TIMEOUT must be a number of seconds, not '${oneLine(value, 40)}'`);
  return Math.round(seconds * 1000);
}
