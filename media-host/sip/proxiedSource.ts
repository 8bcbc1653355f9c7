import type { SipRequest } from "./message.js";
import type { Flow } from "./transport/flow.js";

/**
 * Where a request really comes from. Behind the SIP edge every request arrives from the
 * edge; the edge (a trusted proxy) put the device's address in the Via below its own
 * (`received`, RFC 3261 §18.2.1, when the device's sent-by was not its address). Anyone
 * else's Via is never believed: a device cannot claim another's address.
 */
export function requestSource(request: SipRequest, flow: Flow, isTrustedProxy: (address: string) => boolean): string {
  if (!isTrustedProxy(flow.remoteAddress)) return flow.remoteAddress;
  const device = request.headers.vias()[1];
  if (!device) return flow.remoteAddress;
  return (device.received ?? device.host).replace(/^\[|\]$/g, "");
}
