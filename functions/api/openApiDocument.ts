import type { HttpRoute } from "../platform/httpRoutes.js";
import { schemas } from "./schemas.js";

/** Builds the OpenAPI 3.1 document from the registered routes, so it lists exactly what is served. */
export function buildOpenApiDocument(routes: readonly HttpRoute[], serverUrl: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = `/${route.route}`;
    const pathParameters = [...route.route.matchAll(/\{([^}:]+)[^}]*\}/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    for (const method of route.methods) {
      const { doc } = route;
      const problem = { content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } } };
      const responses: Record<string, unknown> = {};
      for (const [status, response] of Object.entries(doc.responses)) {
        responses[status] = {
          description: response.description,
          ...(response.schema
            ? { content: { "application/json": { schema: { $ref: `#/components/schemas/${response.schema}` } } } }
            : Number(status) >= 400
              ? problem
              : {}),
        };
      }
      if (!doc.anonymous) {
        responses["401"] ??= { description: "Missing or invalid bearer token", ...problem };
        responses["403"] ??= doc.tenantAdmin
          ? {
              description:
                "The token holds neither CVI.Admin nor CVI.TenantAdmin, or a tenant admin asked for another tenant than their own (or for its calls)",
              ...problem,
            }
          : { description: "The token lacks the role this operation needs (CVI.Admin unless the summary names another)", ...problem };
      }
      if (doc.requestBody) responses["400"] ??= { description: "Invalid input; `errors` names each bad field", ...problem };
      paths[path] ??= {};
      paths[path][method.toLowerCase()] = {
        operationId: route.name,
        summary: doc.summary,
        tags: [doc.tag],
        parameters: [
          ...pathParameters,
          ...(doc.query ?? []).map((q) => ({
            name: q.name,
            in: "query",
            description: q.description,
            schema: q.repeated ? { type: "array", items: { type: "string" } } : { type: "string" },
            ...(q.repeated ? { explode: true } : {}),
          })),
          ...(doc.conditional
            ? [{ name: "If-Match", in: "header", description: "Only if the resource still has this ETag", schema: { type: "string" } }]
            : []),
        ],
        ...(doc.requestBody
          ? { requestBody: { required: true, content: { "application/json": { schema: { $ref: `#/components/schemas/${doc.requestBody}` } } } } }
          : {}),
        responses,
        ...(doc.anonymous ? { security: [] } : {}),
        ...(doc.tenantAdmin ? { "x-roles": ["CVI.Admin", "CVI.TenantAdmin"] } : {}),
      };
    }
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "OpenCVI admin API",
      version: "1",
      description:
        "Tenants, video interop service providers and policies, mirroring Teams' CVI cmdlets. Roles: the operator (CVI.Admin, " +
        "a token of the operator's tenant) may call every operation for every tenant; a tenant's own admin (CVI.TenantAdmin, " +
        "a token their onboarded tenant issued) only the operations whose x-roles name CVI.TenantAdmin, for that tenant only — another tenant is " +
        "refused with 403, and a token of a tenant that is not onboarded with 401.",
    },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }],
    paths,
    components: { schemas, securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
  };
}
