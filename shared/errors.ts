/**
 * The few errors a caller can act on. Each maps to one HTTP status (and, on the
 * SIP side, to one SIP status) at the edge; nothing else is expected to escape.
 */

/** One problem with one field of the input; `field` is a JSON-pointer-like path ("aadApplicationIds/2"). */
export interface FieldIssue {
  readonly field: string;
  readonly message: string;
}

/** The input is wrong; fix the listed fields and try again. */
export class ValidationError extends Error {
  override readonly name = "ValidationError";
  readonly issues: readonly FieldIssue[];
  constructor(issues: readonly FieldIssue[], message?: string) {
    super(message ?? issues.map((i) => (i.field ? `${i.field}: ${i.message}` : i.message)).join("; "));
    this.issues = issues;
  }
}

/** The thing addressed does not exist (or no longer exists). */
export class NotFoundError extends Error {
  override readonly name = "NotFoundError";
}

/** The thing to create exists already, or the request contradicts current state. */
export class ConflictError extends Error {
  override readonly name = "ConflictError";
  /** A machine-readable reason, for clients that act on it (e.g. "lease-lost"). */
  readonly code: string | undefined;
  /** When trying again may succeed. */
  readonly retryAfterInMs: number | undefined;
  constructor(message: string, options: { readonly code?: string; readonly retryAfterInMs?: number } = {}) {
    super(message);
    this.code = options.code;
    this.retryAfterInMs = options.retryAfterInMs;
  }
}

/** The caller's copy is stale (If-Match did not match): re-read and retry. */
export class PreconditionFailedError extends Error {
  override readonly name = "PreconditionFailedError";
}

/** No valid credentials were presented (missing, malformed, expired or forged token). */
export class AuthenticationError extends Error {
  override readonly name = "AuthenticationError";
}

/** Valid credentials, but they do not carry the permission this operation needs. */
export class AuthorizationError extends Error {
  override readonly name = "AuthorizationError";
}

/** The tenant has not (or no longer) consented to the gateway's app: nothing can be done in it. */
export class ConsentMissingError extends Error {
  override readonly name = "ConsentMissingError";
}
