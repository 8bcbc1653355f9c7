import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** Puts a draining media host back into rotation. */
export async function poolHostsUndrain(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(request, context, async (plane) => json(200, await plane.pool.undrain(request.params.hostId ?? "")));
}

registerHttpRoute({
  name: "poolHostsUndrain",
  methods: ["POST"],
  route: "v1/pool/hosts/{hostId}/undrain",
  handler: poolHostsUndrain,
  doc: {
    summary: "Put a draining media host back into rotation",
    tag: "Pool",
    responses: {
      200: { description: "Active again", schema: "MediaHost" },
      404: { description: "No such host in the pool (a drained host that left is gone)" },
      409: { description: "The host is dead: it comes back by registering again" },
    },
  },
});
