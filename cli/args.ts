import { parseArgs } from "node:util";
import { UsageError } from "./errors.js";
import type { CommandSpec, GroupSpec, OptionSpec, OptionValues } from "./spec.js";

/** Options every command takes, before or after the command words. */
export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  url: { type: "string", placeholder: "URL", description: "The admin API's base URL (env CVI_URL), e.g. http://127.0.0.1:7071/api" },
  token: {
    type: "string",
    placeholder: "TOKEN",
    description: "A bearer token with the CVI.Admin app role (env CVI_TOKEN, preferable: other local users can see command lines)",
  },
  json: { type: "boolean", description: "Print the API's JSON instead of tables (for scripts)" },
  help: { type: "boolean", short: "h", description: "Show help for cvi, a command group or a command" },
  version: { type: "boolean", description: "Print cvi's version" },
};

export interface GlobalValues {
  readonly url: string | undefined;
  readonly token: string | undefined;
  readonly json: boolean;
}

export type Invocation =
  | { readonly kind: "help"; readonly group?: GroupSpec; readonly command?: CommandSpec }
  | { readonly kind: "version" }
  | {
      readonly kind: "run";
      readonly group: GroupSpec;
      readonly command: CommandSpec;
      readonly options: OptionValues;
      readonly positionals: readonly string[];
      readonly globals: GlobalValues;
    };

type Token = ReturnType<typeof parseArgs>["tokens"] extends (infer T)[] | undefined ? T : never;

const BOOLEAN_WORDS: Readonly<Record<string, string>> = { true: "true", false: "false", $true: "true", $false: "false" };

/**
 * Parses `cvi [global options] <group> <command> [options] [arguments]`. Global
 * options may also follow the command. Every problem is a UsageError naming the
 * command whose --help to read.
 */
export function parseInvocation(argv: readonly string[], groups: readonly GroupSpec[]): Invocation {
  const allOptions = { ...GLOBAL_OPTIONS, ...Object.assign({}, ...groups.flatMap((g) => g.commands.map((c) => c.options))) } as Record<
    string,
    OptionSpec
  >;
  const args = expandOptionalBooleans(argv, allOptions);
  // Non-strict, with every option any command knows, so that a value-taking option's
  // value is never mistaken for a command word; each token is checked below.
  const { tokens } = parseArgs({ args, options: toParseArgsConfig(allOptions), strict: false, allowPositionals: true, tokens: true });
  const words = tokens.filter((t) => t.kind === "positional");
  const wants = (name: string) => tokens.some((t) => t.kind === "option" && t.name === name);

  const groupWord = words[0];
  if (groupWord === undefined) {
    if (wants("help")) return { kind: "help" };
    checkOptions(tokens, GLOBAL_OPTIONS, "cvi");
    if (wants("version")) return { kind: "version" };
    throw new UsageError("no command given", "cvi");
  }
  const group = groups.find((g) => g.name === groupWord.value);
  if (!group) {
    checkOptions(
      tokens.filter((t) => t.index < groupWord.index),
      allOptions,
      "cvi",
    );
    throw new UsageError(`unknown command '${groupWord.value}'; commands are ${groups.map((g) => g.name).join(", ")}`, "cvi");
  }
  const commandWord = words[1];
  if (commandWord === undefined) {
    if (wants("help")) return { kind: "help", group };
    checkOptions(tokens, GLOBAL_OPTIONS, `cvi ${group.name}`);
    throw new UsageError(`'cvi ${group.name}' needs a sub-command: ${group.commands.map((c) => c.name).join(", ")}`, `cvi ${group.name}`);
  }
  const command = group.commands.find((c) => c.name === commandWord.value);
  if (!command) {
    throw new UsageError(
      `unknown command 'cvi ${group.name} ${commandWord.value}'; '${group.name}' has ${group.commands.map((c) => c.name).join(", ")}`,
      `cvi ${group.name}`,
    );
  }
  const commandLine = `cvi ${group.name} ${command.name}`;
  if (wants("help")) return { kind: "help", group, command };

  const specs = { ...GLOBAL_OPTIONS, ...command.options };
  const rest = tokens.filter((t) => t !== groupWord && t !== commandWord);
  checkOptions(rest, specs, commandLine);
  const values: Record<string, string | boolean | string[] | undefined> = {};
  const positionals: string[] = [];
  for (const token of rest) {
    if (token.kind === "positional") positionals.push(token.value);
    if (token.kind !== "option") continue;
    const spec = specs[token.name] as OptionSpec;
    const value = spec.type === "boolean" ? true : normalizeValue(token.value ?? "", spec, token.rawName, commandLine);
    if (spec.multiple) values[token.name] = [...((values[token.name] as string[] | undefined) ?? []), String(value)];
    else values[token.name] = value;
  }

  const declared = command.positionals ?? [];
  if (positionals.length > declared.length) {
    const extra = positionals[declared.length] ?? "";
    throw new UsageError(`unexpected argument '${extra}' for '${commandLine}'`, commandLine);
  }
  const missingPositional = declared.find((p, i) => p.required && positionals[i] === undefined);
  if (missingPositional) throw new UsageError(`'${commandLine}' needs <${missingPositional.name}>`, commandLine);
  const missing = Object.entries(command.options)
    .filter(([name, spec]) => spec.required && values[name] === undefined)
    .map(([name]) => `--${name}`);
  if (missing.length > 0) {
    throw new UsageError(`missing required option${missing.length > 1 ? "s" : ""} ${missing.join(", ")} for '${commandLine}'`, commandLine);
  }

  const { url, token, json, help: _help, version: _version, ...options } = values;
  return {
    kind: "run",
    group,
    command,
    options,
    positionals,
    globals: { url: url as string | undefined, token: token as string | undefined, json: json === true },
  };
}

/**
 * `--x` (optional-boolean) becomes `--x=true`, and `--x false` becomes `--x=false`, so
 * that the strict token checks below see one value-taking option.
 */
function expandOptionalBooleans(argv: readonly string[], options: Readonly<Record<string, OptionSpec>>): string[] {
  const result: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      result.push(...argv.slice(i));
      break;
    }
    const name = arg.startsWith("--") && !arg.includes("=") ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === "optional-boolean") {
      const next = argv[i + 1];
      if (next !== undefined && BOOLEAN_WORDS[next.toLowerCase()] !== undefined) {
        result.push(`${arg}=${next}`);
        i++;
      } else {
        result.push(`${arg}=true`);
      }
      continue;
    }
    result.push(arg);
  }
  return result;
}

function toParseArgsConfig(options: Readonly<Record<string, OptionSpec>>) {
  return Object.fromEntries(
    Object.entries(options).map(([name, spec]) => [
      name,
      { type: spec.type === "boolean" ? ("boolean" as const) : ("string" as const), ...(spec.short ? { short: spec.short } : {}) },
    ]),
  );
}

/** Each option must be known here, carry a value exactly when it takes one, and appear once unless repeatable. */
function checkOptions(tokens: readonly Token[], specs: Readonly<Record<string, OptionSpec>>, commandLine: string): void {
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    const spec = specs[token.name];
    if (!spec) throw new UsageError(`unknown option ${token.rawName} for '${commandLine}'`, commandLine);
    if (spec.type === "boolean") {
      if (token.value !== undefined) throw new UsageError(`option ${token.rawName} takes no value (got '${token.value}')`, commandLine);
    } else if (token.value === undefined) {
      throw new UsageError(`option ${token.rawName} needs a value`, commandLine);
    } else if (!token.inlineValue && token.value.startsWith("-") && token.value.length > 1) {
      throw new UsageError(
        `option ${token.rawName} needs a value, got option-like '${token.value}' (to pass a value starting with '-', write ${token.rawName}=${token.value})`,
        commandLine,
      );
    }
    if (seen.has(token.name) && !spec.multiple) throw new UsageError(`option ${token.rawName} is given more than once`, commandLine);
    seen.add(token.name);
  }
}

function normalizeValue(value: string, spec: OptionSpec, rawName: string, commandLine: string): string {
  if (spec.type !== "optional-boolean") return value;
  const normalized = BOOLEAN_WORDS[value.toLowerCase()];
  if (normalized === undefined) throw new UsageError(`option ${rawName} takes true or false, not '${value}'`, commandLine);
  return normalized;
}

// Typed access to parsed option values.

export function stringOption(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === "string" ? value : undefined;
}

export function listOption(values: OptionValues, name: string): readonly string[] {
  const value = values[name];
  return Array.isArray(value) ? value : typeof value === "string" ? [value] : [];
}

export function flagOption(values: OptionValues, name: string): boolean {
  return values[name] === true;
}

/** An optional-boolean option: undefined when absent. */
export function booleanOption(values: OptionValues, name: string): boolean | undefined {
  const value = values[name];
  return value === undefined ? undefined : value === true || value === "true";
}

/** A whole number option; anything else is a usage error. */
export function integerOption(values: OptionValues, name: string, commandLine: string): number | undefined {
  const value = stringOption(values, name);
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`option --${name} takes a whole number, not '${value}'`, commandLine);
  return Number(value.trim());
}
