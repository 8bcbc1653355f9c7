import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { type ControlPlane, controlPlane } from "../controlPlane.js";
import type { Principal } from "./bearerTokenAuthenticator.js";
import { errorResponse } from "./problem.js";

export type AdminOperation = (plane: ControlPlane, principal: Principal) => Promise<HttpResponseInit>;

/**
 * The frame of every admin API call: authenticate and authorize the caller, run the
 * operation, turn errors into problem+json, and leave an audit line of who did what.
 */
export async function handleAdminRequest(
  request: HttpRequest,
  context: InvocationContext,
  operation: AdminOperation,
  role: (plane: ControlPlane) => string | readonly string[] = (plane) => plane.config.ADMIN_AUTH_ROLE,
): Promise<HttpResponseInit> {
  const path = new URL(request.url).pathname;
  let response: HttpResponseInit;
  let caller = "anonymous";
  try {
    const plane = await controlPlane();
    const principal = await plane.authenticator.authenticate(request.headers.get("authorization"), role(plane));
    caller = principal.id;
    response = await operation(plane, principal);
  } catch (e) {
    response = errorResponse(e, context, path);
  }
  if (request.method !== "GET") context.log(`admin ${request.method} ${path} by ${caller} -> ${response.status ?? 200}`);
  return response;
}

/** The same frame for the media hosts' API: their identities hold the media-host role. */
export function handleMediaHostRequest(request: HttpRequest, context: InvocationContext, operation: AdminOperation): Promise<HttpResponseInit> {
  return handleAdminRequest(request, context, operation, (plane) => plane.config.MEDIA_HOST_ROLE);
}

export function json(status: number, body: unknown, etag?: string, location?: string): HttpResponseInit {
  return {
    status,
    jsonBody: body,
    headers: { ...(etag ? { etag } : {}), ...(location ? { location } : {}) },
  };
}

export const noContent = (): HttpResponseInit => ({ status: 204 });
