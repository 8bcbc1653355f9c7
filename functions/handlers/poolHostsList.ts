import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** The pool's media hosts with their state, lease and load: for operators, and for the SIP edges that route to them. */
export async function poolHostsList(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane) => json(200, { value: await plane.pool.list(), now: new Date().toISOString() }),
    (plane) => [plane.config.ADMIN_AUTH_ROLE, plane.config.EDGE_ROLE],
  );
}

registerHttpRoute({
  name: "poolHostsList",
  methods: ["GET"],
  route: "v1/pool/hosts",
  handler: poolHostsList,
  doc: {
    summary: "List the pool's media hosts (role CVI.Admin, or CVI.Edge for the SIP edges)",
    tag: "Pool",
    responses: { 200: { description: "The hosts, and the control plane's clock to compare their leases with", schema: "MediaHostList" } },
  },
});
