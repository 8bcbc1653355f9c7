/**
 * SIP messages to bytes, and responses built from requests (RFC 3261 §7,
 * §8.2.6). Header fields are written in their order with CRLF line ends;
 * Content-Length is always recomputed from the body, never trusted.
 */

import type { SipParseError } from "./errors.js";
import { headerKey } from "./headerNames.js";
import { parseNameAddr } from "./headerValues.js";
import { SipHeaders } from "./headers.js";
import type { SipMessage, SipRequest, SipResponse } from "./message.js";
import { isToken } from "./scanner.js";

function hasLineBreak(text: string): boolean {
  return text.includes("\r") || text.includes("\n");
}

function hasWhitespace(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) <= 0x20) return true;
  return false;
}

/** The message as it goes on the wire. Throws a TypeError for a start line that would not be SIP (a programming error). */
export function serializeMessage(message: SipMessage): Buffer {
  const lines: string[] = [];
  if (message.kind === "request") {
    if (!isToken(message.method)) throw new TypeError(`not a SIP method: ${JSON.stringify(message.method)}`);
    if (message.uri.length === 0 || hasWhitespace(message.uri)) throw new TypeError(`not a Request-URI: ${JSON.stringify(message.uri)}`);
    lines.push(`${message.method} ${message.uri} SIP/2.0`);
  } else {
    if (!Number.isInteger(message.status) || message.status < 100 || message.status > 699) throw new TypeError(`not a SIP status: ${message.status}`);
    if (hasLineBreak(message.reason)) throw new TypeError("reason phrase holds a line break");
    lines.push(`SIP/2.0 ${message.status} ${message.reason}`);
  }
  let lengthWritten = false;
  for (const { name, value } of message.headers) {
    if (headerKey(name) === "content-length") {
      // Written once, where the first one was, with the length of the body actually sent.
      if (!lengthWritten) lines.push(`Content-Length: ${message.body.length}`);
      lengthWritten = true;
      continue;
    }
    lines.push(`${name}: ${value}`);
  }
  if (!lengthWritten) lines.push(`Content-Length: ${message.body.length}`);
  lines.push("", "");
  const head = Buffer.from(lines.join("\r\n"), "utf8");
  return message.body.length === 0 ? head : Buffer.concat([head, message.body]);
}

export interface ResponseOptions {
  /** Added to To when it has no tag yet (RFC 3261 §8.2.6.2); must be a token. */
  readonly toTag?: string;
  readonly server?: string;
  /** A Reason header field value (RFC 3326), e.g. `SIP;cause=480;text="No meeting"`. */
  readonly reasonHeader?: string;
  /** More header fields, appended in order. */
  readonly headers?: Iterable<readonly [string, string]>;
  readonly body?: Buffer;
}

interface Copied {
  readonly vias: readonly string[];
  readonly from: string | undefined;
  readonly to: string | undefined;
  readonly callId: string | undefined;
  readonly cseq: string | undefined;
  readonly timestamp: string | undefined;
}

function toHasTag(to: string): boolean {
  try {
    return parseNameAddr(to, "To").tag !== undefined;
  } catch {
    // A To that cannot be read gets no tag: there is nothing sound to add it to.
    return true;
  }
}

function respond(copied: Copied, status: number, reason: string, options: ResponseOptions): SipResponse {
  if (options.toTag !== undefined && !isToken(options.toTag)) throw new TypeError("a To tag must be a token");
  const headers = new SipHeaders();
  for (const via of copied.vias) headers.append("Via", via);
  if (copied.from !== undefined) headers.append("From", copied.from);
  if (copied.to !== undefined) {
    const tagged = options.toTag !== undefined && !toHasTag(copied.to) ? `${copied.to};tag=${options.toTag}` : copied.to;
    headers.append("To", tagged);
  }
  if (copied.callId !== undefined) headers.append("Call-ID", copied.callId);
  if (copied.cseq !== undefined) headers.append("CSeq", copied.cseq);
  if (copied.timestamp !== undefined) headers.append("Timestamp", copied.timestamp);
  if (options.server !== undefined) headers.append("Server", options.server);
  if (options.reasonHeader !== undefined) headers.append("Reason", options.reasonHeader);
  for (const [name, value] of options.headers ?? []) headers.append(name, value);
  const response: SipResponse = { kind: "response", status, reason, headers, body: options.body ?? Buffer.alloc(0) };
  // Fail here, where the caller can see it, rather than when the response is sent.
  if (!Number.isInteger(status) || status < 100 || status > 699) throw new TypeError(`not a SIP status: ${status}`);
  if (hasLineBreak(reason)) throw new TypeError("reason phrase holds a line break");
  return response;
}

/**
 * A response to `request` per RFC 3261 §8.2.6: every Via in order, From, To
 * (with `toTag` added when it has none), Call-ID and CSeq copied; Timestamp
 * too for a 100 (§8.2.6.1); then Server, Reason and any extra fields.
 */
export function buildResponse(request: SipRequest, status: number, reason: string, options: ResponseOptions = {}): SipResponse {
  const h = request.headers;
  return respond(
    {
      vias: h.getAll("Via"),
      from: h.get("From"),
      to: h.get("To"),
      callId: h.get("Call-ID"),
      cseq: h.get("CSeq"),
      timestamp: status === 100 ? h.get("Timestamp") : undefined,
    },
    status,
    reason,
    options,
  );
}

/** The response to a request the parser refused, or undefined when none may be sent (not respondable). */
export function buildErrorResponse(error: SipParseError, options: ResponseOptions = {}): SipResponse | undefined {
  const basis = error.basis;
  if (basis === undefined) return undefined;
  return respond(
    { vias: basis.vias, from: basis.from, to: basis.to, callId: basis.callId, cseq: basis.cseq, timestamp: undefined },
    error.status,
    error.reason,
    options,
  );
}
