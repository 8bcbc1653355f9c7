/**
 * SIP messages as the rest of the media host sees them (RFC 3261 §7), and the
 * typed pieces their header fields parse into. The start line keeps what was
 * received (`uri`, `reason`) so that what is written back is what came in;
 * the parsed forms sit beside it.
 */

import type { SipHeaders } from "./headers.js";
import type { Uri } from "./uri.js";

export interface SipRequest {
  readonly kind: "request";
  /** Case-sensitive (RFC 3261 §7.1): "RE%47IST%45R" is an extension method, not REGISTER. */
  readonly method: string;
  /** The Request-URI as received; this is what is serialized. */
  readonly uri: string;
  /** The Request-URI parsed; any scheme parses (416 for unsupported ones is the application's answer). */
  readonly requestUri: Uri;
  readonly headers: SipHeaders;
  readonly body: Buffer;
}

export interface SipResponse {
  readonly kind: "response";
  /** 100..699. */
  readonly status: number;
  /** Possibly empty; any UTF-8 text (RFC 4475 §3.1.1.12). */
  readonly reason: string;
  readonly headers: SipHeaders;
  readonly body: Buffer;
}

export type SipMessage = SipRequest | SipResponse;

export { SipHeaders, type HeaderField } from "./headers.js";
export { canonicalHeaderName } from "./headerNames.js";
export {
  type CSeq,
  type Contact,
  type MediaType,
  type NameAddr,
  type ReasonValue,
  type SessionExpires,
  type Via,
  MAX_UINT32,
  isRfc3261Branch,
  parseCSeq,
  parseContacts,
  parseMediaType,
  parseNameAddr,
  parseNameAddrList,
  parseSessionExpires,
  parseVias,
  splitList,
} from "./headerValues.js";
export { type HostKind, type OtherUri, type Params, type SipUri, type TelUri, type Uri, parseHost, parseUri } from "./uri.js";
export { percentDecode } from "./scanner.js";
