import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { ValidationError } from "../../shared/errors.js";
import { handleMediaHostRequest, noContent } from "../platform/adminRequest.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** For media hosts: the host leaves the pool (drained, shutting down); calls it still owned are ended for it. */
export async function poolLeaseRelease(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleMediaHostRequest(request, context, async (plane) => {
    const epoch = Number(request.query.get("epoch"));
    if (!Number.isInteger(epoch) || epoch < 1)
      throw new ValidationError([{ field: "epoch", message: "epoch must be the epoch of the host's lease (an integer from 1)" }]);
    await plane.pool.release(request.params.hostId ?? "", epoch);
    return noContent();
  });
}

registerHttpRoute({
  name: "poolLeaseRelease",
  methods: ["DELETE"],
  route: "v1/pool/hosts/{hostId}/lease",
  handler: poolLeaseRelease,
  doc: {
    summary: "A media host leaves the pool (media hosts, role CVI.MediaHost)",
    tag: "Media hosts",
    query: [{ name: "epoch", description: "The epoch of the lease being given up" }],
    responses: { 204: { description: "Left (or was not in the pool)" }, 409: { description: "The host is at another epoch" } },
  },
});
