import type { AdminClient } from "./adminClient.js";

/**
 * How commands declare themselves: their options (parsed by args.ts, listed by
 * help.ts) and what they do. A command checks its options before it asks for the
 * client, so a wrong command line never needs a token or a reachable API.
 */
export interface OptionSpec {
  /**
   * "string" takes a value; "boolean" is a flag; "optional-boolean" is a flag that may be
   * followed by true or false (as a cmdlet's -Switch:$false), e.g. `--x`, `--x false`, `--x=false`.
   */
  readonly type: "string" | "boolean" | "optional-boolean";
  readonly multiple?: boolean;
  readonly short?: string;
  readonly required?: boolean;
  /** The value's name in the help text ("GUID"). */
  readonly placeholder?: string;
  readonly description: string;
}

export interface PositionalSpec {
  readonly name: string;
  readonly required: boolean;
  readonly description: string;
}

export type OptionValues = Readonly<Record<string, string | boolean | readonly string[] | undefined>>;

export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface CommandContext {
  readonly options: OptionValues;
  readonly positionals: readonly string[];
  /** --json: print the API's JSON instead of tables. */
  readonly json: boolean;
  readonly out: Output;
  /** "cvi tenant add", for messages that point to --help. */
  readonly commandLine: string;
  /** The local clock, for "4 s ago" where the API's answer carries no clock of its own. */
  now(): Date;
  /** The API client; resolving it needs a token (the first moment cvi may fail for want of one). */
  client(): AdminClient;
}

export interface CommandSpec {
  readonly name: string;
  /** One line, for the command listings. */
  readonly summary: string;
  /** The Teams cmdlet this command mirrors, if any. */
  readonly cmdlet?: string;
  readonly description?: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly positionals?: readonly PositionalSpec[];
  readonly examples?: readonly string[];
  /** Extra help paragraphs after the options. */
  readonly notes?: readonly string[];
  run(context: CommandContext): Promise<void>;
}

export interface GroupSpec {
  readonly name: string;
  readonly summary: string;
  readonly commands: readonly CommandSpec[];
}
