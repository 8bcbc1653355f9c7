import { readFileSync } from "node:fs";
import { AdminClient } from "./adminClient.js";
import { parseInvocation } from "./args.js";
import { commandGroups } from "./commands/index.js";
import { type Connection, resolveConnection } from "./config.js";
import { ApiError, CliError, ExitCode, UsageError } from "./errors.js";
import { clean, oneLine } from "./format.js";
import { commandHelp, groupHelp, topHelp } from "./help.js";
import type { CommandContext, Output } from "./spec.js";

export interface Environment extends Output {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly now?: () => Date;
}

/** Runs one cvi command line; returns the exit code. Never throws, never prints a stack (unless CVI_DEBUG is set). */
export async function main(argv: readonly string[], environment: Environment): Promise<number> {
  let connection: Connection | undefined;
  try {
    const invocation = parseInvocation(argv, commandGroups);
    if (invocation.kind === "version") {
      environment.stdout(`cvi ${version()}\n`);
      return ExitCode.ok;
    }
    if (invocation.kind === "help") {
      const { group, command } = invocation;
      environment.stdout(group && command ? commandHelp(group, command) : group ? groupHelp(group) : topHelp(commandGroups));
      return ExitCode.ok;
    }
    const { globals } = invocation;
    let client: AdminClient | undefined;
    const context: CommandContext = {
      options: invocation.options,
      positionals: invocation.positionals,
      json: globals.json,
      out: environment,
      commandLine: `cvi ${invocation.group.name} ${invocation.command.name}`,
      now: () => environment.now?.() ?? new Date(),
      client() {
        if (!client) {
          connection = resolveConnection({
            url: globals.url,
            token: globals.token,
            env: environment.env,
            cwd: environment.cwd,
            now: environment.now?.() ?? new Date(),
          });
          client = new AdminClient({
            baseUrl: connection.url,
            token: connection.token,
            timeoutMs: connection.timeoutMs,
            userAgent: `opencvi-cli/${version()}`,
          });
        }
        return client;
      },
    };
    await invocation.command.run(context);
    return ExitCode.ok;
  } catch (error) {
    return report(error, connection, environment);
  }
}

function report(error: unknown, connection: Connection | undefined, environment: Environment): number {
  if (!(error instanceof CliError)) {
    const described = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    environment.stderr(`cvi: unexpected error: ${oneLine(described, 500)}\n`);
    if (environment.env.CVI_DEBUG && error instanceof Error && error.stack) environment.stderr(`${error.stack}\n`);
    else environment.stderr("This is a bug in cvi; run again with CVI_DEBUG=1 for details, and report it.\n");
    return ExitCode.failure;
  }
  const hint = error.hint ?? (error instanceof ApiError ? apiHint(error, connection) : undefined);
  const lines = [
    `cvi: ${clean(error.message)}`,
    ...error.details.map((d) => `  ${clean(d)}`),
    ...(hint ? [error instanceof UsageError ? hint : `hint: ${hint}`] : []),
  ];
  environment.stderr(lines.map((l) => `${l}\n`).join(""));
  if (environment.env.CVI_DEBUG && error.stack) environment.stderr(`${error.stack}\n`);
  return error.exitCode;
}

/** What to do about an error answer, where the answer alone does not say. */
function apiHint(error: ApiError, connection: Connection | undefined): string | undefined {
  switch (error.status) {
    case 401:
      return connection?.tokenSource === "stack file"
        ? `the token in ${connection.stackFile} was not accepted: restart the local stack (\`npm start\`) for a fresh one, or pass --token`
        : `pass a valid admin API token with --token or CVI_TOKEN (the ${connection?.tokenSource ?? "given"} one was not accepted)`;
    case 403:
      // A tenant admin's token (CVI.TenantAdmin) holds the role, but only for its own tenant.
      if (/only on their own tenant/.test(error.problem?.detail ?? ""))
        return "a tenant admin's token reaches only its own tenant: use the operator's (CVI.Admin) for any other";
      return "the token is valid but lacks the admin API's app role (CVI.Admin): use a token issued with that role";
    case 404:
      // Our API's own "not found" names the tenant or provider; anything else means the URL is off.
      if (error.problem?.type === "urn:opencvi:problem:not-found") return undefined;
      return `is ${connection?.url ?? "the URL"} the admin API's base URL (the one ending in /api)?`;
    case 412:
      return "it changed since you read it: read it again for its current ETag, check your change still applies, and retry";
    default:
      return error.status >= 500
        ? `the admin API at ${connection?.url ?? "the URL"} failed; retry later, or tell its operator the detail above`
        : undefined;
  }
}

let cachedVersion: string | undefined;

function version(): string {
  if (cachedVersion === undefined) {
    try {
      // dist/cli/main.js -> package.json at the repository root.
      const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown };
      cachedVersion = typeof pkg.version === "string" ? pkg.version : "unknown";
    } catch {
      cachedVersion = "unknown";
    }
  }
  return cachedVersion;
}
