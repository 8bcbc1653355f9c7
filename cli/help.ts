import { GLOBAL_OPTIONS } from "./args.js";
import { DEFAULT_URL, STACK_FILE } from "./config.js";
import type { CommandSpec, GroupSpec, OptionSpec } from "./spec.js";

const WIDTH = 100;

export const EXIT_CODES: readonly (readonly [number, string])[] = [
  [0, "success"],
  [1, "any other error (a server error, an answer cvi does not understand)"],
  [2, "usage error: unknown command or option, missing or contradictory options (nothing was sent)"],
  [3, "the API rejected the input as invalid (HTTP 400, 413, 415); each field's problem is listed"],
  [4, "not found: no such tenant, provider, media host or route (HTTP 404)"],
  [5, "conflict: it exists already or, for a media host, is dead (HTTP 409), or it changed since it was read, i.e. a stale --if-match (HTTP 412)"],
  [6, "authentication or authorization: no token, a token not accepted, or one without the CVI.Admin role (HTTP 401, 403)"],
  [7, "cannot reach the admin API (connection refused, DNS, TLS, timeout)"],
];

export function topHelp(groups: readonly GroupSpec[]): string {
  const commands = groups.flatMap((g) =>
    g.commands.map((c) => [`${g.name} ${c.name}`, c.cmdlet ? `${c.summary} (${c.cmdlet})` : c.summary] as const),
  );
  return [
    "cvi: manage an OpenCVI gateway (Cloud Video Interop for Microsoft Teams) through its admin API.",
    "Its commands mirror the Teams CVI cmdlets.",
    "",
    "Usage: cvi <command> <sub-command> [options]",
    "       cvi [<command> [<sub-command>]] --help",
    "",
    "Commands:",
    ...columns(commands, 2),
    "",
    "Global options (before or after the command):",
    ...optionLines(GLOBAL_OPTIONS),
    "",
    "Connection:",
    ...wrap(
      `The URL is --url, else CVI_URL, else adminApiUrl from ${STACK_FILE}, else ${DEFAULT_URL}. ` +
        `The token is --token, else CVI_TOKEN, else the token in ${STACK_FILE} (used only with that file's own URL). ` +
        `The local stack (\`npm start\`) writes ${STACK_FILE}; cvi reads it from the current directory, or from the file ` +
        "named by CVI_STACK_FILE. CVI_TIMEOUT sets the per-request timeout in seconds (default 30); CVI_DEBUG=1 adds " +
        "stack traces to error messages (for bug reports).",
      2,
    ),
    "",
    "Exit codes:",
    ...columns(
      EXIT_CODES.map(([code, text]) => [String(code), text] as const),
      2,
    ),
    "",
    "Run 'cvi <command> --help' or 'cvi <command> <sub-command> --help' for details.",
  ]
    .map((l) => `${l}\n`)
    .join("");
}

export function groupHelp(group: GroupSpec): string {
  return [
    `cvi ${group.name}: ${group.summary}`,
    "",
    `Usage: cvi ${group.name} <sub-command> [options]`,
    "",
    "Sub-commands:",
    ...columns(
      group.commands.map((c) => [c.name, c.cmdlet ? `${c.summary} (${c.cmdlet})` : c.summary] as const),
      2,
    ),
    "",
    `Run 'cvi ${group.name} <sub-command> --help' for its options, 'cvi --help' for the global options and exit codes.`,
  ]
    .map((l) => `${l}\n`)
    .join("");
}

export function commandHelp(group: GroupSpec, command: CommandSpec): string {
  const name = `cvi ${group.name} ${command.name}`;
  const required = Object.entries(command.options)
    .filter(([, spec]) => spec.required)
    .map(([option, spec]) => optionLabel(option, spec));
  const hasOptional = Object.values(command.options).some((spec) => !spec.required);
  const positionals = (command.positionals ?? []).map((p) => (p.required ? `<${p.name}>` : `[<${p.name}>]`));
  const usage = [name, ...positionals, ...required, ...(hasOptional ? ["[options]"] : [])].join(" ");
  const lines = [`${name}: ${command.summary}`];
  if (command.cmdlet) lines.push(`Mirrors ${command.cmdlet}.`);
  if (command.description) lines.push("", ...wrap(command.description, 0));
  lines.push("", `Usage: ${usage}`);
  if ((command.positionals ?? []).length > 0) {
    lines.push(
      "",
      "Arguments:",
      ...columns(
        (command.positionals ?? []).map((p) => [`<${p.name}>`, p.description] as const),
        2,
      ),
    );
  }
  if (Object.keys(command.options).length > 0) lines.push("", "Options:", ...optionLines(command.options));
  lines.push("", "Global options: --url URL, --token TOKEN, --json, -h/--help (see 'cvi --help').");
  if (command.notes?.length) lines.push("", ...command.notes.flatMap((n) => wrap(n, 0)));
  if (command.examples?.length) lines.push("", "Examples:", ...command.examples.map((e) => `  ${e}`));
  lines.push(
    "",
    "Exit codes: 0 success, 1 other error, 2 usage error, 3 invalid input, 4 not found, 5 conflict or stale --if-match,",
    "6 no or bad token, 7 API unreachable (details: 'cvi --help').",
  );
  return lines.map((l) => `${l}\n`).join("");
}

function optionLabel(name: string, spec: OptionSpec): string {
  const flag = `${spec.short ? `-${spec.short}, ` : ""}--${name}`;
  if (spec.type === "boolean") return flag;
  if (spec.type === "optional-boolean") return `${flag} [true|false]`;
  return `${flag} ${spec.placeholder ?? "VALUE"}`;
}

function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  return columns(
    Object.entries(options).map(([name, spec]) => {
      const notes = [spec.required ? "required" : "", spec.multiple ? "repeatable" : ""].filter((n) => n !== "");
      return [optionLabel(name, spec), `${spec.description}${notes.length > 0 ? ` (${notes.join(", ")})` : ""}`] as const;
    }),
    2,
  );
}

/** Two columns: the terms aligned, the descriptions wrapped under each other. */
function columns(rows: readonly (readonly [string, string])[], indent: number): string[] {
  // Terms too long for the column get a line of their own.
  const width = Math.max(0, ...rows.map(([term]) => term.length).filter((n) => n <= 30));
  const pad = " ".repeat(indent);
  return rows.flatMap(([term, text]) => {
    const body = wrap(text, indent + width + 2);
    if (term.length > width) return [`${pad}${term}`, ...body];
    const [first = "", ...more] = body;
    return [`${pad}${term.padEnd(width)}  ${first.trimStart()}`, ...more];
  });
}

/** Wraps text at WIDTH, every line indented by `indent` spaces. */
function wrap(text: string, indent: number): string[] {
  const pad = " ".repeat(indent);
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && pad.length + line.length + 1 + word.length > WIDTH) {
      lines.push(pad + line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(pad + line);
  return lines;
}
