import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { type ControlPlane, controlPlane } from "../controlPlane.js";
import type { Principal } from "./bearerTokenAuthenticator.js";
import { errorResponse } from "./problem.js";

/** What an operation adds to its request's log lines: the subject it concerns (e.g. a call by its ids), once known. */
export interface RequestLog {
  about(subject: string): void;
}

export type AdminOperation = (plane: ControlPlane, principal: Principal, log: RequestLog) => Promise<HttpResponseInit>;

export interface HandleMediaHostRequestOptions {
  /**
   * A request every host repeats every couple of seconds (its lease): when it succeeds its
   * audit line is debug, else a pool of hosts buries everything else in the log; a failure
   * is still said at the ordinary level.
   */
  readonly heartbeat?: boolean;
}

/**
 * The frame of every admin API call: authenticate and authorize the caller, run the
 * operation, turn errors into problem+json, and leave an audit line of who did what (and
 * to what, when the operation names its subject: a call by its id and callChainId).
 */
export async function handleAdminRequest(
  request: HttpRequest,
  context: InvocationContext,
  operation: AdminOperation,
  role: (plane: ControlPlane) => string | readonly string[] = (plane) => plane.config.ADMIN_AUTH_ROLE,
  options: HandleMediaHostRequestOptions = {},
): Promise<HttpResponseInit> {
  const path = new URL(request.url).pathname;
  let response: HttpResponseInit;
  let caller = "anonymous";
  let subject: string | undefined;
  const log: RequestLog = { about: (s) => (subject = s) };
  try {
    const plane = await controlPlane();
    const principal = await plane.authenticator.authenticate(request.headers.get("authorization"), role(plane));
    // An object id is unique only within its tenant: a tenant admin's line names the tenant too.
    caller = principal.homeTenantId ? `${principal.id} of tenant ${principal.homeTenantId}` : principal.id;
    response = await operation(plane, principal, log);
  } catch (e) {
    response = errorResponse(e, context, path, subject);
  }
  const about = subject ? `: ${subject}` : "";
  const status = response.status ?? 200;
  const line = `admin ${request.method} ${path} by ${caller} -> ${status}${about}`;
  if (options.heartbeat && status < 300) context.debug(line);
  else if (request.method !== "GET") context.log(line);
  return response;
}

/** The same frame for the media hosts' API: their identities hold the media-host role. */
export function handleMediaHostRequest(
  request: HttpRequest,
  context: InvocationContext,
  operation: AdminOperation,
  options: HandleMediaHostRequestOptions = {},
): Promise<HttpResponseInit> {
  return handleAdminRequest(request, context, operation, (plane) => plane.config.MEDIA_HOST_ROLE, options);
}

export function json(status: number, body: unknown, etag?: string, location?: string): HttpResponseInit {
  return {
    status,
    jsonBody: body,
    headers: { ...(etag ? { etag } : {}), ...(location ? { location } : {}) },
  };
}

export const noContent = (): HttpResponseInit => ({ status: 204 });
