import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** One media host of the pool. */
export async function poolHostsGet(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(request, context, async (plane) => json(200, await plane.pool.get(request.params.hostId ?? "")));
}

registerHttpRoute({
  name: "poolHostsGet",
  methods: ["GET"],
  route: "v1/pool/hosts/{hostId}",
  handler: poolHostsGet,
  doc: {
    summary: "Get a media host of the pool",
    tag: "Pool",
    responses: { 200: { description: "The host", schema: "MediaHost" }, 404: { description: "No such host in the pool" } },
  },
});
