import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { handleMediaHostRequest, json } from "../platform/adminRequest.js";
import { readJsonBody } from "../platform/httpBody.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** For media hosts: take (epoch null) or renew the host's lease in the pool, every couple of seconds. */
export async function poolLeaseRenew(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleMediaHostRequest(
    request,
    context,
    async (plane) => json(200, await plane.pool.lease(request.params.hostId ?? "", await readJsonBody(request))),
    { heartbeat: true },
  );
}

registerHttpRoute({
  name: "poolLeaseRenew",
  methods: ["PUT"],
  route: "v1/pool/hosts/{hostId}/lease",
  handler: poolLeaseRenew,
  doc: {
    summary: "Take or renew a media host's lease (media hosts, role CVI.MediaHost)",
    tag: "Media hosts",
    requestBody: "LeaseRequest",
    responses: {
      200: { description: "Granted: the host serves until leaseUntil, draining or not", schema: "LeaseGrant" },
      409: { description: "Refused: code lease-lost (fence: end every call, register again) or host-id-in-use (retry after Retry-After)" },
    },
  },
});
