/**
 * Bytes to SIP messages (RFC 3261 §7, §18.3; RFC 5626 §3.5.1 keep-alives).
 * `parseMessage` takes one UDP datagram; `SipStreamFramer` cuts a TCP/TLS byte
 * stream into messages. Both refuse with a SipParseError, never anything
 * else, and never hold more than the configured limits.
 */

import { type ResponseBasis, SipParseError } from "./errors.js";
import { resolveHeaderName } from "./headerNames.js";
import { parseTopViaLenient } from "./headerValues.js";
import { SipHeaders } from "./headers.js";
import type { SipMessage } from "./message.js";
import { type Uri, parseUri } from "./uri.js";
import { isToken, isWsp, parseDigits, trimWsp } from "./scanner.js";

export interface ParseLimits {
  /** Start line, header fields and the empty line that ends them. */
  readonly maxHeaderBytes: number;
  readonly maxBodyBytes: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxHeaderBytes: 16 * 1024, maxBodyBytes: 64 * 1024 };

const CR = 0x0d;
const LF = 0x0a;
const CRLFCRLF = Buffer.from("\r\n\r\n");

interface ParsedField {
  /** As written for well-known names, as received otherwise. */
  name: string;
  value: string;
  /** Lower-cased, compact forms expanded. */
  key: string;
}

/** The header section cut into its start line and unfolded fields, before any field is interpreted. */
interface Head {
  readonly startLine: string;
  readonly fields: ParsedField[];
  /** The first structural fault (a line that is no header field); reported after the start line's. */
  readonly fault: SipParseError | undefined;
}

function splitHead(text: string): Head {
  const lines = text.split("\r\n");
  const startLine = lines[0] ?? "";
  const fields: ParsedField[] = [];
  /** Continuation lines by field index; folding is rare, so kept aside. */
  let folds: Map<number, string[]> | undefined;
  let fault: SipParseError | undefined;
  const note = (detail: string) => {
    fault ??= new SipParseError(400, "Malformed header field", detail);
  };
  // Only CRLF ends a line: a bare CR or LF inside a field is how header injection hides.
  const bare = occurrences(text, "\r") !== lines.length - 1 || occurrences(text, "\n") !== lines.length - 1;
  /** Whether the last line was a field that continuation lines may extend. */
  let open = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length === 0) continue;
    if (bare && (line.includes("\r") || line.includes("\n"))) {
      note("bare CR or LF");
      open = false;
      continue;
    }
    if (isWsp(line.charCodeAt(0))) {
      // Line folding (RFC 3261 §7.3.1): the fold and the whitespace around it become one SP.
      if (!open) {
        note("continuation line without a header field");
        continue;
      }
      folds ??= new Map();
      const at = fields.length - 1;
      const pieces = folds.get(at);
      if (pieces) pieces.push(line);
      else folds.set(at, [fields[at]!.value, line]);
      continue;
    }
    const colon = line.indexOf(":");
    let nameEnd = colon;
    while (nameEnd > 0 && isWsp(line.charCodeAt(nameEnd - 1))) nameEnd--;
    const name = nameEnd > 0 ? line.slice(0, nameEnd) : "";
    if (colon < 0 || !isToken(name)) {
      note(colon < 0 ? "header line without a colon" : "bad header name");
      // Continuations of a broken line must not attach to the previous field.
      open = false;
      continue;
    }
    const [canonical, key] = resolveHeaderName(name);
    fields.push({ name: canonical, value: line.slice(colon + 1), key });
    open = true;
  }
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    const pieces = folds?.get(i);
    field.value = pieces ? joinFolded(pieces) : trimWsp(field.value);
  }
  return { startLine, fields, fault };
}

function occurrences(text: string, char: string): number {
  let count = 0;
  for (let at = text.indexOf(char); at >= 0; at = text.indexOf(char, at + 1)) count++;
  return count;
}

function joinFolded(pieces: readonly string[]): string {
  const words: string[] = [];
  for (const piece of pieces) {
    const trimmed = trimWsp(piece);
    if (trimmed.length > 0) words.push(trimmed);
  }
  return words.join(" ");
}

function valuesOf(head: Head, key: string): string[] {
  const out: string[] = [];
  for (const field of head.fields) if (field.key === key) out.push(field.value);
  return out;
}

function startsWithSipVersion(line: string): boolean {
  return line.length >= 4 && line.slice(0, 4).toUpperCase() === "SIP/";
}

/**
 * What a response to a broken request can be built from (RFC 3261 §8.2.6):
 * a request other than ACK, a topmost Via that says where to send it and a
 * CSeq; From, To and Call-ID are copied when present (RFC 4475 §3.3.1).
 */
function basisOf(head: Head): ResponseBasis | undefined {
  const line = head.startLine;
  if (startsWithSipVersion(line)) return undefined;
  const space = line.indexOf(" ");
  const method = space < 0 ? line : line.slice(0, space);
  if (!isToken(method) || method === "ACK") return undefined;
  const vias = valuesOf(head, "via");
  const topVia = vias[0] === undefined ? undefined : parseTopViaLenient(vias[0]);
  const cseq = valuesOf(head, "cseq")[0];
  if (topVia === undefined || cseq === undefined) return undefined;
  return {
    vias,
    topVia,
    from: valuesOf(head, "from")[0],
    to: valuesOf(head, "to")[0],
    callId: valuesOf(head, "call-id")[0],
    cseq,
    method,
  };
}

type StartLine =
  | { readonly kind: "request"; readonly method: string; readonly uri: string; readonly requestUri: Uri }
  | { readonly kind: "response"; readonly status: number; readonly reason: string };

/** SIP-Version is case-insensitive (RFC 3261 §7.1); another well-formed version is a 505 (RFC 4475 §3.1.2.16). */
function checkVersion(version: string, what: string): void {
  if (version.toUpperCase() === "SIP/2.0") return;
  const dot = version.indexOf(".");
  const major = version.slice(4, dot);
  const minor = version.slice(dot + 1);
  const wellFormed = startsWithSipVersion(version) && dot > 4 && parseDigits(major, 999) !== undefined && parseDigits(minor, 999) !== undefined;
  if (wellFormed) throw new SipParseError(505, "Version Not Supported", `${what} version is not SIP/2.0`);
  throw new SipParseError(400, `Malformed ${what}`, "bad SIP-Version");
}

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

function parseStartLine(line: string): StartLine {
  if (line.includes("\r") || line.includes("\n")) throw new SipParseError(400, "Malformed start line", "bare CR or LF");
  return startsWithSipVersion(line) ? parseStatusLine(line) : parseRequestLine(line);
}

/** Request-Line = Method SP Request-URI SP SIP-Version: exactly two single SPs (RFC 4475 §3.1.2.7-10 are refused). */
function parseRequestLine(line: string): StartLine {
  const first = line.indexOf(" ");
  const last = line.lastIndexOf(" ");
  if (first <= 0 || last === first) throw new SipParseError(400, "Malformed Request-Line", "not Method SP Request-URI SP SIP-Version");
  const method = line.slice(0, first);
  const uri = line.slice(first + 1, last);
  if (!isToken(method)) throw new SipParseError(400, "Malformed Request-Line", "method is not a token");
  checkVersion(line.slice(last + 1), "Request-Line");
  if (uri.length === 0 || uri.includes(" ") || uri.includes("\t"))
    throw new SipParseError(400, "Malformed Request-URI", "whitespace in the Request-URI");
  const requestUri = parseUri(uri, "Request-URI");
  // RFC 3261 §19.1.1: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
  if (requestUri.kind === "sip" && requestUri.headers.length > 0) {
    throw new SipParseError(400, "Malformed Request-URI", "URI headers in the Request-URI");
  }
  return { kind: "request", method, uri, requestUri };
}

/** Status-Line = SIP-Version SP Status-Code SP Reason-Phrase; a missing final SP is tolerated (RFC 4475 §3.1.1.13). */
function parseStatusLine(line: string): StartLine {
  const first = line.indexOf(" ");
  if (first < 0) throw new SipParseError(400, "Malformed Status-Line", "no status code");
  checkVersion(line.slice(0, first), "Status-Line");
  const second = line.indexOf(" ", first + 1);
  const code = second < 0 ? line.slice(first + 1) : line.slice(first + 1, second);
  const status = code.length === 3 ? parseDigits(code, 699) : undefined;
  if (status === undefined || status < 100 || !Number.isFinite(status))
    throw new SipParseError(400, "Malformed Status-Line", "status code is not 100..699");
  const reason = second < 0 ? "" : line.slice(second + 1);
  if (hasControl(reason)) throw new SipParseError(400, "Malformed Status-Line", "control character in the reason phrase");
  return { kind: "response", status, reason };
}

/** The header fields every request and response carries (RFC 3261 §8.1.1), and those the gateway relies on, parsed now so that nothing throws later. */
function validateHeaders(headers: SipHeaders): void {
  if (headers.vias().length === 0) throw new SipParseError(400, "Missing Via");
  headers.from();
  headers.to();
  headers.callId();
  headers.cseq();
  headers.maxForwards();
  headers.contentLength();
  headers.contentType();
  headers.contacts();
  headers.routes();
  headers.recordRoutes();
  headers.require();
  headers.proxyRequire();
  headers.sessionExpires();
  headers.minSE();
}

function buildMessage(head: Head, body: Buffer): SipMessage {
  const start = parseStartLine(head.startLine);
  if (head.fault) throw head.fault;
  const headers = SipHeaders.fromParsed(head.fields);
  validateHeaders(headers);
  if (start.kind === "request") return { kind: "request", method: start.method, uri: start.uri, requestUri: start.requestUri, headers, body };
  return { kind: "response", status: start.status, reason: start.reason, headers, body };
}

/** Runs `step`, attaching what a response can be built from to any SipParseError it throws. */
function withBasis<T>(head: Head, step: () => T): T {
  try {
    return step();
  } catch (error) {
    if (error instanceof SipParseError && error.basis === undefined) throw error.withBasis(basisOf(head));
    throw error;
  }
}

/** The one Content-Length of a head: undefined when absent; a 400 when repeated or not a number (RFC 4475 §3.1.2.3, §3.3.9). */
function contentLengthOf(head: Head): number | undefined {
  const values = valuesOf(head, "content-length");
  if (values.length === 0) return undefined;
  if (values.length > 1) throw new SipParseError(400, "Multiple Content-Length headers");
  const length = parseDigits(values[0]!, Number.MAX_SAFE_INTEGER);
  if (length === undefined || !Number.isFinite(length)) throw new SipParseError(400, "Malformed Content-Length");
  return length;
}

function limitsOf(limits: Partial<ParseLimits> | undefined): ParseLimits {
  return { ...DEFAULT_PARSE_LIMITS, ...limits };
}

/** A datagram that holds only CRs and LFs: a keep-alive (RFC 5626 §3.5.1 style), to be ignored, not parsed. */
export function isKeepAlive(datagram: Uint8Array): boolean {
  if (datagram.length === 0) return false;
  for (const byte of datagram) if (byte !== CR && byte !== LF) return false;
  return true;
}

/**
 * Parses one UDP datagram. Content-Length may be absent (the body is the rest
 * of the datagram); octets beyond it are ignored (RFC 3261 §18.3, RFC 4475
 * §3.1.1.8); a Content-Length beyond the datagram is a 400 (§3.1.2.2).
 */
export function parseMessage(datagram: Buffer, limits?: Partial<ParseLimits>): SipMessage {
  const { maxHeaderBytes, maxBodyBytes } = limitsOf(limits);
  let start = 0;
  // CRLFs before the start line are ignored (RFC 3261 §7.5).
  while (start + 1 < datagram.length && datagram[start] === CR && datagram[start + 1] === LF) start += 2;
  if (start >= datagram.length) throw new SipParseError(400, "Empty message");
  let headEnd = datagram.indexOf(CRLFCRLF, start);
  let bodyStart = headEnd + 4;
  if (headEnd < 0) {
    // No empty line: acceptable only when the datagram ends right after a header line (the datagram frames it).
    if (datagram.length - start > maxHeaderBytes) throw new SipParseError(513, "Message Too Large", "header section over the limit");
    if (datagram[datagram.length - 2] !== CR || datagram[datagram.length - 1] !== LF)
      throw new SipParseError(400, "Incomplete message", "no empty line after the header fields");
    headEnd = datagram.length - 2;
    bodyStart = datagram.length;
  }
  if (bodyStart - start > maxHeaderBytes) throw new SipParseError(513, "Message Too Large", "header section over the limit");
  const head = splitHead(datagram.toString("utf8", start, headEnd));
  return withBasis(head, () => {
    const declared = contentLengthOf(head);
    const available = datagram.length - bodyStart;
    const length = declared ?? available;
    if (length > maxBodyBytes) throw new SipParseError(413, "Request Entity Too Large", "body over the limit");
    if (length > available) throw new SipParseError(400, "Content-Length Mismatch", "Content-Length larger than the datagram");
    const body = Buffer.from(datagram.subarray(bodyStart, bodyStart + length));
    return buildMessage(head, body);
  });
}

/** What a stream yields: a message, an RFC 5626 ping to answer with one CRLF, or a well-framed message that is invalid (answer it; the stream goes on). */
export type StreamItem =
  | { readonly kind: "message"; readonly message: SipMessage }
  | { readonly kind: "ping" }
  | { readonly kind: "invalid"; readonly error: SipParseError };

/**
 * Cuts a TCP or TLS byte stream into SIP messages. Content-Length is
 * mandatory; a framing error (none, several, not a number, over the limit, or
 * a header section that never ends) cannot be recovered from: it is thrown,
 * and the connection should be closed (RFC 4475 §3.1.2.3, §3.3.9). The bytes
 * held never exceed maxHeaderBytes + maxBodyBytes.
 */
export class SipStreamFramer {
  readonly limits: ParseLimits;
  private buffer: Buffer;
  private start = 0;
  private end = 0;
  /** Where the search for the empty line resumes (everything before has been searched). */
  private searched = 0;
  /** CRLFs seen in a row between messages: two make a ping. */
  private crlfs = 0;
  private pending: { head: Head; bodyStart: number; bodyLength: number } | undefined;
  private readonly queue: Buffer[] = [];
  private queueOffset = 0;
  private failure: SipParseError | undefined;

  constructor(limits?: Partial<ParseLimits>) {
    this.limits = limitsOf(limits);
    this.buffer = Buffer.alloc(Math.min(4096, this.capacity));
  }

  /** The most bytes ever held. */
  get capacity(): number {
    return this.limits.maxHeaderBytes + this.limits.maxBodyBytes;
  }

  get bufferedBytes(): number {
    return this.end - this.start;
  }

  /** The framing error that ended this stream, if any. */
  get failed(): SipParseError | undefined {
    return this.failure;
  }

  /**
   * Takes the next chunk and yields what it completes. Iterate the result to
   * the end: items are cut lazily, and a framing error is thrown after the
   * items that preceded it.
   */
  push(chunk: Uint8Array): Generator<StreamItem, void, undefined> {
    // Copied: the caller may reuse its buffer before the items are iterated.
    if (chunk.length > 0) this.queue.push(Buffer.from(chunk));
    return this.drain();
  }

  private *drain(): Generator<StreamItem, void, undefined> {
    for (;;) {
      if (this.failure) throw this.failure;
      let item: StreamItem | undefined;
      try {
        item = this.next();
      } catch (error) {
        if (error instanceof SipParseError) this.failure = error;
        throw error;
      }
      if (item) {
        yield item;
        continue;
      }
      if (!this.fill()) return;
    }
  }

  /** Moves queued bytes into the buffer, as many as fit; false when nothing was queued. */
  private fill(): boolean {
    const chunk = this.queue[0];
    if (chunk === undefined) return false;
    const room = this.capacity - this.bufferedBytes;
    const take = Math.min(room, chunk.length - this.queueOffset);
    // Cannot happen: a full buffer always holds a complete message or a framing error.
    if (take <= 0) throw new Error("SipStreamFramer: buffer full without a message");
    this.reserve(take);
    chunk.copy(this.buffer, this.end, this.queueOffset, this.queueOffset + take);
    this.end += take;
    this.queueOffset += take;
    if (this.queueOffset === chunk.length) {
      this.queue.shift();
      this.queueOffset = 0;
    }
    return true;
  }

  private reserve(extra: number): void {
    if (this.end + extra <= this.buffer.length) return;
    const held = this.bufferedBytes;
    if (held + extra <= this.buffer.length && this.start > 0) {
      this.buffer.copy(this.buffer, 0, this.start, this.end);
    } else {
      let size = this.buffer.length;
      while (size < held + extra) size *= 2;
      const grown = Buffer.alloc(Math.min(size, this.capacity));
      this.buffer.copy(grown, 0, this.start, this.end);
      this.buffer = grown;
    }
    this.shift(this.start);
  }

  private shift(by: number): void {
    this.start -= by;
    this.end -= by;
    this.searched = Math.max(this.searched - by, this.start);
    if (this.pending) this.pending = { ...this.pending, bodyStart: this.pending.bodyStart - by };
  }

  private next(): StreamItem | undefined {
    if (this.pending === undefined) {
      // Between messages: CRLF keep-alives are skipped, CRLFCRLF is a ping (RFC 5626 §3.5.1, RFC 3261 §7.5).
      while (this.start < this.end && this.buffer[this.start] === CR) {
        if (this.start + 1 >= this.end) return undefined;
        if (this.buffer[this.start + 1] !== LF) break;
        this.start += 2;
        this.crlfs++;
        if (this.crlfs === 2) {
          this.crlfs = 0;
          return { kind: "ping" };
        }
      }
      if (this.start === this.end) return undefined;
      this.crlfs = 0;
      const { maxHeaderBytes, maxBodyBytes } = this.limits;
      const from = Math.max(this.start, this.searched - 3);
      const found = this.buffer.subarray(from, this.end).indexOf(CRLFCRLF);
      if (found < 0) {
        this.searched = this.end;
        if (this.bufferedBytes >= maxHeaderBytes) throw new SipParseError(513, "Message Too Large", "header section over the limit");
        return undefined;
      }
      const headEnd = from + found;
      if (headEnd + 4 - this.start > maxHeaderBytes) throw new SipParseError(513, "Message Too Large", "header section over the limit");
      const head = splitHead(this.buffer.toString("utf8", this.start, headEnd));
      const bodyLength = withBasis(head, () => {
        const length = contentLengthOf(head);
        if (length === undefined) throw new SipParseError(400, "Missing Content-Length", "Content-Length is mandatory on a stream");
        if (length > maxBodyBytes) throw new SipParseError(413, "Request Entity Too Large", "body over the limit");
        return length;
      });
      this.pending = { head, bodyStart: headEnd + 4, bodyLength };
    }
    const { head, bodyStart, bodyLength } = this.pending;
    if (this.end - bodyStart < bodyLength) return undefined;
    const body = Buffer.from(this.buffer.subarray(bodyStart, bodyStart + bodyLength));
    this.start = bodyStart + bodyLength;
    this.searched = this.start;
    this.pending = undefined;
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
      this.searched = 0;
    }
    try {
      return { kind: "message", message: withBasis(head, () => buildMessage(head, body)) };
    } catch (error) {
      if (error instanceof SipParseError) return { kind: "invalid", error };
      throw error;
    }
  }
}
