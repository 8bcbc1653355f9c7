import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { readJsonBody } from "../platform/httpBody.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/**
 * Takes a media host out of rotation: no new calls from the next couple of seconds, its
 * calls go on until they end or the deadline, when its bots leave, its devices get a BYE
 * and it leaves the pool.
 */
export async function poolHostsDrain(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(request, context, async (plane) =>
    json(200, await plane.pool.drain(request.params.hostId ?? "", await readJsonBody(request))),
  );
}

registerHttpRoute({
  name: "poolHostsDrain",
  methods: ["POST"],
  route: "v1/pool/hosts/{hostId}/drain",
  handler: poolHostsDrain,
  doc: {
    summary: "Drain a media host (no new calls; its calls end by the deadline)",
    tag: "Pool",
    requestBody: "Drain",
    responses: {
      200: { description: "Draining", schema: "MediaHost" },
      404: { description: "No such host in the pool" },
      409: { description: "The host is dead" },
    },
  },
});
