import type { HttpResponseInit, InvocationContext } from "@azure/functions";
import {
  AuthenticationError,
  AuthorizationError,
  ConflictError,
  NotFoundError,
  PreconditionFailedError,
  ValidationError,
} from "../../shared/errors.js";
import type { ResolutionRefusal } from "../../shared/domain/resolution.js";
import { TokenValidationUnavailableError } from "./bearerTokenAuthenticator.js";

/** An RFC 9457 problem detail; `errors` lists field-level problems of a 400. */
export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance?: string;
  readonly errors?: readonly { readonly field: string; readonly detail: string }[];
}

/** A problem the HTTP layer itself finds (body not JSON, wrong media type, too large). */
export class HttpProblem extends Error {
  override readonly name = "HttpProblem";
  readonly status: number;
  readonly title: string;
  constructor(status: number, title: string, detail: string) {
    super(detail);
    this.status = status;
    this.title = title;
  }
}

const PROBLEM_TYPE = "urn:opencvi:problem:";

export function problemResponse(problem: ProblemDetails, headers: Record<string, string> = {}): HttpResponseInit {
  return {
    status: problem.status,
    headers: { "content-type": "application/problem+json", ...headers },
    body: JSON.stringify(problem),
  };
}

/** A dialed meeting that cannot be joined: the media host answers the device with `sipStatus` and can speak `detail`. */
export function refusalResponse(refusal: ResolutionRefusal, instance?: string): HttpResponseInit {
  return problemResponse({
    ...problem(refusal.sipStatus, `refused:${refusal.code}`, "Refused", refusal.reason, instance),
    code: refusal.code,
    sipStatus: refusal.sipStatus,
  } as ProblemDetails);
}

function problem(status: number, slug: string, title: string, detail: string, instance: string | undefined): ProblemDetails {
  return { type: `${PROBLEM_TYPE}${slug}`, title, status, detail, ...(instance ? { instance } : {}) };
}

/**
 * Maps an error to its response. Client mistakes get their 4xx with what was wrong;
 * anything unexpected is logged (name and message only: driver errors can carry
 * request headers with credentials) and answered with a 500 that names the invocation.
 * `subject` (what the request concerns, e.g. a call by its ids) ends the logged line.
 */
export function errorResponse(error: unknown, context: InvocationContext, instance?: string, subject?: string): HttpResponseInit {
  if (error instanceof ValidationError) {
    return problemResponse({
      ...problem(400, "validation", "The request is not valid", error.message, instance),
      errors: error.issues.map((i) => ({ field: i.field, detail: i.message })),
    });
  }
  if (error instanceof HttpProblem) return problemResponse(problem(error.status, `http-${error.status}`, error.title, error.message, instance));
  if (error instanceof AuthenticationError) {
    return problemResponse(problem(401, "unauthenticated", "Authentication required", error.message, instance), {
      "www-authenticate": `Bearer error="invalid_token", error_description="${error.message.replaceAll('"', "'")}"`,
    });
  }
  if (error instanceof AuthorizationError) return problemResponse(problem(403, "forbidden", "Not allowed", error.message, instance));
  if (error instanceof NotFoundError) return problemResponse(problem(404, "not-found", "Not found", error.message, instance));
  if (error instanceof ConflictError) {
    return problemResponse(
      {
        ...problem(409, error.code ?? "conflict", "Conflict", error.message, instance),
        ...(error.code ? { code: error.code } : {}),
      } as ProblemDetails,
      error.retryAfterInMs !== undefined ? { "retry-after": String(Math.max(1, Math.ceil(error.retryAfterInMs / 1000))) } : {},
    );
  }
  if (error instanceof PreconditionFailedError)
    return problemResponse(problem(412, "precondition-failed", "Precondition failed", error.message, instance));
  if (error instanceof TokenValidationUnavailableError) {
    context.warn(`token validation unavailable: ${error.message}${subject ? ` (${subject})` : ""}`);
    return problemResponse(problem(503, "unavailable", "Service unavailable", error.message, instance), { "retry-after": "5" });
  }
  const described = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  context.error(`unexpected error: ${described.slice(0, 500)}${subject ? ` (${subject})` : ""}`);
  return problemResponse(
    problem(500, "internal", "Internal error", `an unexpected error occurred; quote invocation ${context.invocationId} to the operator`, instance),
  );
}
