import type { HttpRequest, HttpResponseInit } from "@azure/functions";

/**
 * Graph's subscription validation: it POSTs `?validationToken=…` and wants the decoded
 * token back as text/plain within 10 seconds, before any notification is sent.
 */
export function validationTokenResponse(request: HttpRequest): HttpResponseInit | undefined {
  const token = request.query.get("validationToken");
  if (token === null) return undefined;
  if (token.length > 1024) return { status: 400, headers: { "content-type": "text/plain" }, body: "validationToken too long" };
  return { status: 200, headers: { "content-type": "text/plain; charset=utf-8" }, body: token };
}
