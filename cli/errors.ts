import type { ProblemDetails } from "./apiTypes.js";

/** The process exit codes of `cvi`; documented in `cvi --help` (help.ts). */
export const ExitCode = {
  ok: 0,
  /** Anything not covered below: a server error, an answer cvi does not understand, a bug. */
  failure: 1,
  /** The command line is wrong: unknown command or option, missing or contradictory options. */
  usage: 2,
  /** The API rejected the input as invalid (HTTP 400, 413, 415, 422). */
  invalid: 3,
  /** The tenant, provider, media host or route does not exist (HTTP 404). */
  notFound: 4,
  /** The thing exists already, changed since it was read, or (a media host) is dead (HTTP 409, 412). */
  conflict: 5,
  /** No token, or the token is not accepted or lacks the admin role (HTTP 401, 403). */
  auth: 6,
  /** The admin API cannot be reached (connection refused, DNS, TLS, timeout). */
  unreachable: 7,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error cvi reports as one message line, optional detail lines and an optional hint; never with a stack. */
export class CliError extends Error {
  override readonly name: string = "CliError";
  readonly exitCode: ExitCodeValue;
  readonly details: readonly string[];
  hint: string | undefined;

  constructor(exitCode: ExitCodeValue, message: string, options: { details?: readonly string[]; hint?: string } = {}) {
    super(message);
    this.exitCode = exitCode;
    this.details = options.details ?? [];
    this.hint = options.hint;
  }
}

/** The command line is wrong; `helpCommand` is what to run for usage ("cvi tenant add"). */
export class UsageError extends CliError {
  override readonly name = "UsageError";
  constructor(message: string, helpCommand = "cvi") {
    super(ExitCode.usage, message, { hint: `Run '${helpCommand} --help' for usage.` });
  }
}

/** The API could not be reached at all. */
export class ConnectionError extends CliError {
  override readonly name = "ConnectionError";
  readonly url: string;
  constructor(url: string, message: string, hint?: string) {
    super(ExitCode.unreachable, message, hint === undefined ? {} : { hint });
    this.url = url;
  }
}

/** The API answered with an error status; `problem` is its RFC 9457 body when it sent one. */
export class ApiError extends CliError {
  override readonly name = "ApiError";
  readonly status: number;
  readonly problem: ProblemDetails | undefined;

  constructor(status: number, problem: ProblemDetails | undefined, fallbackMessage: string) {
    const fieldErrors = problem?.errors ?? [];
    const message = problem
      ? fieldErrors.length > 0
        ? `${problem.title} (HTTP ${status})`
        : `${problem.title} (HTTP ${status}): ${problem.detail}`
      : fallbackMessage;
    super(exitCodeForStatus(status), message, { details: fieldErrors.map((e) => (e.field ? `${e.field}: ${e.detail}` : e.detail)) });
    this.status = status;
    this.problem = problem;
  }
}

export function exitCodeForStatus(status: number): ExitCodeValue {
  switch (status) {
    case 400:
    case 413:
    case 415:
    case 422:
      return ExitCode.invalid;
    case 404:
      return ExitCode.notFound;
    case 409:
    case 412:
      return ExitCode.conflict;
    case 401:
    case 403:
      return ExitCode.auth;
    default:
      return ExitCode.failure;
  }
}
