/**
 * Where a request of ours inside a dialog goes (RFC 3261 §12.2.1.1): the route set, fixed
 * when the dialog is established (§12.1.1: the INVITE's Record-Route URIs, in order), and
 * the remote target, which target refreshes move (§12.2.2). This is how a record-routing
 * proxy (the SIP edge) stays on the path of the BYEs, INFOs and UPDATEs we send.
 */

import { percentDecode } from "./scanner.js";
import type { Uri } from "./uri.js";

export interface InDialogDestination {
  /** The Request-URI. */
  readonly uri: string;
  /** The Route header field values, in order (none for an empty route set). */
  readonly routes: readonly string[];
}

/**
 * §12.2.1.1: with an empty route set, or a loose router first (`lr`), the Request-URI is the
 * remote target and the Route is the route set; with a strict router first (RFC 2543), the
 * Request-URI is that router's URI and the Route is the rest of the route set, then the
 * remote target.
 */
export function inDialogDestination(routeSet: readonly Uri[], remoteTarget: Uri): InDialogDestination {
  const [first, ...rest] = routeSet;
  if (first === undefined) return { uri: remoteTarget.raw, routes: [] };
  if (first.kind === "sip" && first.params.has("lr")) return { uri: remoteTarget.raw, routes: routeSet.map(routeValue) };
  return { uri: asRequestUri(first), routes: [...rest.map(routeValue), routeValue(remoteTarget)] };
}

/** A route-param carrying the URI with all its parameters (§12.2.1.1: "including all parameters"). */
function routeValue(uri: Uri): string {
  return `<${uri.raw}>`;
}

/**
 * The URI as a Request-URI may carry it (§19.1.1's table): without the method parameter and
 * without URI headers. The user part may hold ";" and "?", so only what follows it is cut.
 */
export function asRequestUri(uri: Uri): string {
  if (uri.kind !== "sip") return uri.raw;
  const raw = uri.raw;
  const schemeEnd = raw.indexOf(":") + 1;
  // The parser ends userinfo at the first "@" (neither host, parameters nor headers may hold one unescaped).
  const at = raw.indexOf("@", schemeEnd);
  const hostStart = at < 0 ? schemeEnd : at + 1;
  const question = raw.indexOf("?", hostStart);
  const [hostPort = "", ...params] = raw.slice(hostStart, question < 0 ? raw.length : question).split(";");
  const kept = params.filter((param) => paramName(param) !== "method");
  return `${raw.slice(0, hostStart)}${[hostPort, ...kept].join(";")}`;
}

function paramName(param: string): string {
  const equals = param.indexOf("=");
  return percentDecode(equals < 0 ? param : param.slice(0, equals)).toLowerCase();
}
