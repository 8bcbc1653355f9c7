import { type SipRequest, splitList } from "../message.js";
import type { Flow } from "./flow.js";

/**
 * RFC 3261 §18.2.1 and RFC 3581: the server transport notes where a request really
 * came from in its top Via — `received` when the sent-by host is not the source
 * address, and the source port in an `rport` the client asked for — so a device
 * behind NAT learns its public address, and responses travel back the way it came.
 * Mutates the request's headers; returns whether anything changed.
 */
export function stampTopVia(request: SipRequest, flow: Flow): boolean {
  const top = request.headers.topVia();
  if (!top) return false;
  const wantsRport = top.rport === true;
  const hostDiffers = top.host.replace(/^\[|\]$/g, "").toLowerCase() !== flow.remoteAddress.toLowerCase();
  if (!wantsRport && !hostDiffers) return false;
  const fields = request.headers.getAll("Via");
  const [first, ...rest] = fields;
  if (first === undefined) return false;
  const [element, ...others] = splitList(first);
  if (element === undefined) return false;
  let stamped = element.replace(/;\s*received=[^;,]*/i, "");
  if (wantsRport) stamped = stamped.replace(/;\s*rport(?=\s*(;|$))/i, `;rport=${flow.remotePort}`);
  stamped = `${stamped};received=${flow.remoteAddress}`;
  request.headers.delete("Via");
  request.headers.append("Via", [stamped, ...others].join(", "));
  for (const field of rest) request.headers.append("Via", field);
  return true;
}
