/**
 * The checks a user agent server makes on a well-formed request before acting
 * on it (RFC 3261 §8.2.1-8.2.3, and §16.3 for a proxy). These are the RFC 4475
 * messages that parse but must still be refused: the parser accepts them, this
 * says with which status.
 */

import type { MediaType } from "./headerValues.js";
import type { SipRequest } from "./message.js";

export interface RequestPolicy {
  /** "uas" for the gateway, which ends the SIP leg; "proxy" checks what a forwarding element checks instead. */
  readonly role: "uas" | "proxy";
  /** Methods handled; a known method outside this list gets a 405 with Allow. */
  readonly allowedMethods: readonly string[];
  /** Option tags implemented; anything else in Require (Proxy-Require for a proxy) gets a 420. */
  readonly supportedExtensions: readonly string[];
  /** Request-URI schemes served (default sip and sips); others get a 416. */
  readonly uriSchemes?: readonly string[];
  /** Body types understood (default application/sdp); others get a 415 with Accept. */
  readonly acceptedBodyTypes?: readonly string[];
  /**
   * Multipart types (RFC 5621) taken in the requests that carry a session description
   * (SESSION_BODY_METHODS), whose SDP part the stack then picks (sessionBody.ts); in
   * other requests, and by default, they get a 415 like any type not understood.
   */
  readonly multipartBodyTypes?: readonly string[];
  /** Body types an answer to INVITE or UPDATE carries (default application/sdp); an Accept that allows none of them gets a 406. */
  readonly answerBodyTypes?: readonly string[];
}

export interface RequestRejection {
  readonly status: number;
  readonly reason: string;
  /** Header fields the response needs (Allow, Unsupported, Accept). */
  readonly headers: readonly (readonly [string, string])[];
  /** False for an ACK, which is never answered: drop it instead. */
  readonly respondable: boolean;
}

/** The methods of RFC 3261 and of the extensions in common use; any other is unknown (501). */
export const KNOWN_METHODS: readonly string[] = [
  "INVITE",
  "ACK",
  "BYE",
  "CANCEL",
  "OPTIONS",
  "REGISTER",
  "PRACK",
  "SUBSCRIBE",
  "NOTIFY",
  "PUBLISH",
  "INFO",
  "REFER",
  "MESSAGE",
  "UPDATE",
];

const SDP = ["application/sdp"];

/** The requests whose body is a session description (offer or answer, RFC 3261 §13, RFC 3311, RFC 3262). */
export const SESSION_BODY_METHODS: readonly string[] = ["INVITE", "ACK", "UPDATE", "PRACK"];

/** The multipart types a user agent takes (RFC 5621: mixed always, alternative for offers like Lync's). */
export const MULTIPART_BODY_TYPES: readonly string[] = ["multipart/mixed", "multipart/alternative"];

/** The body types a request of `method` may carry under `policy`: multipart ones only where a session description goes. */
export function acceptedBodyTypes(policy: Pick<RequestPolicy, "acceptedBodyTypes" | "multipartBodyTypes">, method: string): readonly string[] {
  const types = policy.acceptedBodyTypes ?? SDP;
  const multipart = SESSION_BODY_METHODS.includes(method) ? (policy.multipartBodyTypes ?? []) : [];
  return multipart.length === 0 ? types : [...types, ...multipart];
}

function mediaTypeOf(range: MediaType): string {
  return `${range.type}/${range.subtype}`;
}

function accepts(range: MediaType, type: string): boolean {
  if (range.params.get("q") !== undefined && Number(range.params.get("q")) === 0) return false;
  const [major] = type.split("/");
  return (range.type === "*" && range.subtype === "*") || (range.type === major && range.subtype === "*") || mediaTypeOf(range) === type;
}

/**
 * Undefined when the request may be acted on; otherwise the status to refuse
 * it with. Order follows RFC 3261 §8.2: method, then Request-URI, then
 * extensions, then content.
 */
export function checkRequestSanity(request: SipRequest, policy: RequestPolicy): RequestRejection | undefined {
  const respondable = request.method !== "ACK";
  const refuse = (status: number, reason: string, headers: readonly (readonly [string, string])[] = []): RequestRejection => ({
    status,
    reason,
    headers,
    respondable,
  });
  const h = request.headers;
  const known = KNOWN_METHODS.includes(request.method) || policy.allowedMethods.includes(request.method);

  // §21.5.2: an unrecognised method is a 501, even when CSeq disagrees with it (RFC 4475 §3.1.2.18).
  if (!known) return refuse(501, "Not Implemented", [["Allow", policy.allowedMethods.join(", ")]]);
  // RFC 4475 §3.1.2.17: the CSeq method must be the Request-Line method.
  if (h.cseq().method !== request.method) return refuse(400, "CSeq Method Mismatch");
  // §8.2.1: known but not handled here.
  if (!policy.allowedMethods.includes(request.method)) return refuse(405, "Method Not Allowed", [["Allow", policy.allowedMethods.join(", ")]]);

  // §8.2.2.1 (and §16.3 step 2): a scheme that is not served (RFC 4475 §3.3.2, §3.3.3).
  const schemes = policy.uriSchemes ?? ["sip", "sips"];
  if (!schemes.includes(request.requestUri.scheme)) return refuse(416, "Unsupported URI Scheme");

  if (policy.role === "proxy") {
    // §16.3 step 3: no hops left; a proxy may still answer an OPTIONS itself (RFC 4475 §3.3.11).
    if (h.maxForwards() === 0 && request.method !== "OPTIONS") return refuse(483, "Too Many Hops");
    const unsupported = h.proxyRequire().filter((tag) => !policy.supportedExtensions.includes(tag));
    if (unsupported.length > 0) return refuse(420, "Bad Extension", [["Unsupported", unsupported.join(", ")]]);
    return undefined;
  }

  // A registrar needs a SIP or SIPS address of record in To (RFC 4475 §3.3.4).
  if (request.method === "REGISTER") {
    const aor = h.to().uri;
    if (aor.kind !== "sip") return refuse(400, "Bad Address of Record");
  }

  // §8.2.2.3: Require is ignored in CANCEL and ACK.
  if (request.method !== "ACK" && request.method !== "CANCEL") {
    const unsupported = h.require().filter((tag) => !policy.supportedExtensions.includes(tag));
    if (unsupported.length > 0) return refuse(420, "Bad Extension", [["Unsupported", unsupported.join(", ")]]);
  }

  // §8.2.3: a body must say what it is, in a type understood here (RFC 4475 §3.3.6).
  const bodyTypes = acceptedBodyTypes(policy, request.method);
  if (request.body.length > 0) {
    const type = h.contentType();
    if (type === undefined) return refuse(400, "Missing Content-Type");
    if (!bodyTypes.includes(mediaTypeOf(type))) return refuse(415, "Unsupported Media Type", [["Accept", bodyTypes.join(", ")]]);
    const encodings = h.values("Content-Encoding").filter((encoding) => encoding.toLowerCase() !== "identity");
    if (encodings.length > 0) return refuse(415, "Unsupported Media Type", [["Accept-Encoding", "identity"]]);
  }

  // The answer to an INVITE or UPDATE carries SDP; an Accept that rules it out cannot be satisfied (RFC 4475 §3.3.15).
  if ((request.method === "INVITE" || request.method === "UPDATE") && h.has("Accept")) {
    const answerTypes = policy.answerBodyTypes ?? SDP;
    const ranges = h.accept();
    if (!answerTypes.some((type) => ranges.some((range) => accepts(range, type)))) {
      return refuse(406, "Not Acceptable");
    }
  }
  return undefined;
}
