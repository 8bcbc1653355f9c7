import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { buildOpenApiDocument } from "../api/openApiDocument.js";
import { httpRoutes, registerHttpRoute } from "../platform/httpRoutes.js";
import { errorResponse } from "../platform/problem.js";

/** The admin API's OpenAPI document (public: it describes, it reveals no data). */
export async function openApi(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  try {
    const url = new URL(request.url);
    return { status: 200, jsonBody: buildOpenApiDocument(httpRoutes, `${url.origin}/api`) };
  } catch (e) {
    return errorResponse(e, context);
  }
}

registerHttpRoute({
  name: "openApi",
  methods: ["GET"],
  route: "openapi.json",
  handler: openApi,
  doc: { summary: "This document", tag: "Meta", anonymous: true, responses: { 200: { description: "OpenAPI 3.1 document" } } },
});
