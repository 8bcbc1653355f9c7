/**
 * MIME multipart bodies (RFC 2046 §5.1) as SIP carries them (RFC 5621): the parts of a
 * multipart/* body, each with its header fields and octets, nested multiparts opened.
 * Pure and bounded: any input either parses or throws a MultipartError, never anything
 * else; each nesting level is one pass over its octets; at most `maxParts` parts in all
 * and `maxDepth` levels. What the parts mean for a call is sessionBody.ts's business.
 */

import { type ContentDisposition, type MediaType, parseContentDisposition, parseMediaType } from "./headerValues.js";
import { isToken, isWsp, parseDigits, trimWsp } from "./scanner.js";

export interface MultipartLimits {
  /** Body parts in all, nested ones included. */
  readonly maxParts: number;
  /** Multipart levels, the outermost being 1 (Lync's deepest shape has 2). */
  readonly maxDepth: number;
}

export const DEFAULT_MULTIPART_LIMITS: MultipartLimits = { maxParts: 32, maxDepth: 4 };

/** Why a multipart body was refused; each is a malformed body (a 400 in SIP). */
export type MultipartFault =
  | "missing-boundary" // no boundary parameter
  | "bad-boundary" // not 1-70 bchars, or ending in a space
  | "no-delimiter" // no dash-boundary line at all
  | "no-close-delimiter" // the body ends before "--boundary--"
  | "bad-part-header" // a part's header section breaks the grammar
  | "bad-transfer-encoding" // a multipart part encoded other than 7bit, 8bit or binary (RFC 2045 §6.4)
  | "too-many-parts"
  | "too-deep";

export class MultipartError extends Error {
  override readonly name = "MultipartError";
  readonly fault: MultipartFault;

  constructor(fault: MultipartFault, detail: string) {
    // Hostile input is routine: no stack trace (as SipParseError).
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`${fault}: ${detail}`);
    Error.stackTraceLimit = stackTraceLimit;
    this.fault = fault;
  }
}

export interface BodyPart {
  /** The part's header fields in order: names as written, values unfolded and trimmed. */
  readonly headers: readonly (readonly [string, string])[];
  /** Content-Type; text/plain;charset=us-ascii when absent (RFC 2046 §5.1). */
  readonly contentType: MediaType;
  readonly disposition: ContentDisposition | undefined;
  /** Content-Length when present and a number. Only informative: the delimiters frame a part (RFC 2046). */
  readonly contentLength: number | undefined;
  /** Content-Transfer-Encoding, lower-cased; "7bit" when absent (RFC 2045 §6.1). */
  readonly transferEncoding: string;
  /** The octets between the part's header section and the CRLF of the next delimiter. */
  readonly body: Buffer;
  /** The parts of a multipart/* part. */
  readonly multipart: Multipart | undefined;
}

export interface Multipart {
  /** Lower-cased: mixed, alternative, related, … */
  readonly subtype: string;
  readonly boundary: string;
  readonly parts: readonly BodyPart[];
}

const CR = 0x0d;
const LF = 0x0a;
const DASH = 0x2d;
const CRLF = Buffer.from("\r\n");
const CRLFCRLF = Buffer.from("\r\n\r\n");
const DEFAULT_TYPE: MediaType = { type: "text", subtype: "plain", params: new Map([["charset", "us-ascii"]]) };
/** The encodings under which a multipart's own octets are left as they are (RFC 2045 §6.4). */
export const IDENTITY_ENCODINGS: readonly string[] = ["7bit", "8bit", "binary"];

/** bcharsnospace of RFC 2046 §5.1.1: DIGIT / ALPHA / ' ( ) + _ , - . / : = ? */
function isBcharNoSpace(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x27 ||
    c === 0x28 ||
    c === 0x29 ||
    c === 0x2b ||
    c === 0x5f ||
    c === 0x2c ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x2f ||
    c === 0x3a ||
    c === 0x3d ||
    c === 0x3f
  );
}

/** boundary := 0*69<bchars> bcharsnospace (RFC 2046 §5.1.1). */
function checkBoundary(boundary: string): void {
  if (boundary.length === 0 || boundary.length > 70) throw new MultipartError("bad-boundary", `boundary of ${boundary.length} characters (1 to 70)`);
  for (let i = 0; i < boundary.length; i++) {
    const c = boundary.charCodeAt(i);
    if (!(isBcharNoSpace(c) || (c === 0x20 && i < boundary.length - 1))) throw new MultipartError("bad-boundary", "a character outside bchars");
  }
}

/** The boundary parameter of a multipart/* media type. */
export function boundaryOf(contentType: MediaType): string {
  const boundary = contentType.params.get("boundary");
  if (boundary === undefined) throw new MultipartError("missing-boundary", `${contentType.type}/${contentType.subtype} without a boundary`);
  if (boundary === null) throw new MultipartError("bad-boundary", "boundary parameter without a value");
  checkBoundary(boundary);
  return boundary;
}

interface Delimiter {
  /** Where the delimiter's line starts: its leading CRLF, or the dash-boundary at offset 0. */
  readonly lineStart: number;
  /** The first octet after the delimiter line (after its CRLF; after the "--" of a close delimiter). */
  readonly next: number;
  readonly close: boolean;
}

/**
 * The next delimiter at or after `from`: CRLF "--" boundary, then "--" (close) or
 * transport padding (SP/HTAB) and CRLF. A line that only starts like one ("--boundaryX",
 * as an enclosing multipart's longer boundary can be) is content. The first delimiter
 * may also stand at the very start of the body (no preamble).
 */
function findDelimiter(body: Buffer, dash: Buffer, from: number): Delimiter | undefined {
  let candidate = from === 0 && body.subarray(0, dash.length).equals(dash) ? 0 : -1;
  let lineStart = 0;
  for (;;) {
    if (candidate < 0) {
      const crlf = body.indexOf(CRLF, from);
      if (crlf < 0) return undefined;
      from = crlf + 1;
      if (!body.subarray(crlf + 2, crlf + 2 + dash.length).equals(dash)) continue;
      candidate = crlf + 2;
      lineStart = crlf;
    }
    let at = candidate + dash.length;
    candidate = -1;
    if (body[at] === DASH && body[at + 1] === DASH) return { lineStart, next: at + 2, close: true };
    while (at < body.length && isWsp(body[at]!)) at++;
    if (body[at] === CR && body[at + 1] === LF) return { lineStart, next: at + 2, close: false };
  }
}

/** The octets of each part between the first delimiter and the close delimiter; preamble and epilogue are dropped. */
function splitParts(body: Buffer, boundary: string, budget: { parts: number }, maxParts: number): Buffer[] {
  const dash = Buffer.from(`--${boundary}`, "latin1");
  let delimiter = findDelimiter(body, dash, 0);
  if (delimiter === undefined) throw new MultipartError("no-delimiter", "the boundary never starts a line");
  const parts: Buffer[] = [];
  while (!delimiter.close) {
    const start = delimiter.next;
    delimiter = findDelimiter(body, dash, start);
    if (delimiter === undefined) throw new MultipartError("no-close-delimiter", `the body ends inside part ${parts.length + 1}`);
    if (++budget.parts > maxParts) throw new MultipartError("too-many-parts", `more than ${maxParts} body parts`);
    parts.push(body.subarray(start, Math.max(start, delimiter.lineStart)));
  }
  // A close delimiter straight after the first: a multipart with no part at all (RFC 2046 wants at least one).
  if (parts.length === 0) throw new MultipartError("no-close-delimiter", "no body part before the close delimiter");
  return parts;
}

/** The header fields of a part: CRLF lines, folded lines unfolded, names that are tokens. */
function parsePartHeaders(text: string): [string, string][] {
  const fields: [string, string][] = [];
  if (text.length === 0) return fields;
  const lines = text.split("\r\n");
  for (const line of lines) {
    if (line.includes("\r") || line.includes("\n")) throw new MultipartError("bad-part-header", "bare CR or LF in a part's header section");
    if (line.length === 0) continue;
    if (isWsp(line.charCodeAt(0))) {
      const last = fields.at(-1);
      if (!last) throw new MultipartError("bad-part-header", "continuation line without a header field");
      last[1] = trimWsp(`${last[1]} ${trimWsp(line)}`);
      continue;
    }
    const colon = line.indexOf(":");
    const name = colon < 0 ? "" : trimWsp(line.slice(0, colon));
    if (!isToken(name)) throw new MultipartError("bad-part-header", colon < 0 ? "header line without a colon" : "bad header name");
    fields.push([name, trimWsp(line.slice(colon + 1))]);
  }
  return fields;
}

function single(fields: readonly (readonly [string, string])[], name: string): string | undefined {
  let found: string | undefined;
  for (const [field, value] of fields) {
    if (field.toLowerCase() !== name) continue;
    if (found !== undefined) throw new MultipartError("bad-part-header", `more than one ${name}`);
    found = value;
  }
  return found;
}

/** A header value parsed with the SIP grammar; its SipParseError becomes a MultipartError. */
function parsed<T>(value: string | undefined, parse: (value: string) => T, what: string): T | undefined {
  if (value === undefined) return undefined;
  try {
    return parse(value);
  } catch {
    throw new MultipartError("bad-part-header", `malformed ${what}`);
  }
}

function parsePart(bytes: Buffer, depth: number, budget: { parts: number }, limits: MultipartLimits): BodyPart {
  // body-part := MIME-part-headers [CRLF *OCTET]: no headers when it opens with the empty line;
  // headers only (no content) when the empty line never comes (its CRLF went to the delimiter).
  let headerEnd: number;
  let contentStart: number;
  if (bytes[0] === CR && bytes[1] === LF) {
    headerEnd = 0;
    contentStart = 2;
  } else {
    const blank = bytes.indexOf(CRLFCRLF);
    headerEnd = blank < 0 ? bytes.length : blank;
    contentStart = blank < 0 ? bytes.length : blank + 4;
  }
  const headers = parsePartHeaders(bytes.toString("latin1", 0, headerEnd));
  const contentType = parsed(single(headers, "content-type"), (v) => parseMediaType(v), "Content-Type") ?? DEFAULT_TYPE;
  const disposition = parsed(single(headers, "content-disposition"), parseContentDisposition, "Content-Disposition");
  const lengthText = single(headers, "content-length");
  const length = lengthText === undefined ? undefined : parseDigits(lengthText, Number.MAX_SAFE_INTEGER);
  const encodingText = single(headers, "content-transfer-encoding");
  if (encodingText !== undefined && !isToken(encodingText)) throw new MultipartError("bad-part-header", "malformed Content-Transfer-Encoding");
  const transferEncoding = encodingText?.toLowerCase() ?? "7bit";
  const body = bytes.subarray(contentStart);
  let multipart: Multipart | undefined;
  if (contentType.type === "multipart") {
    if (!IDENTITY_ENCODINGS.includes(transferEncoding))
      throw new MultipartError("bad-transfer-encoding", `a multipart part encoded ${transferEncoding} (RFC 2045 §6.4)`);
    multipart = parseLevel(body, contentType, depth + 1, budget, limits);
  }
  return {
    headers,
    contentType,
    disposition,
    contentLength: length !== undefined && Number.isFinite(length) ? length : undefined,
    transferEncoding,
    body,
    multipart,
  };
}

function parseLevel(body: Buffer, contentType: MediaType, depth: number, budget: { parts: number }, limits: MultipartLimits): Multipart {
  if (depth > limits.maxDepth) throw new MultipartError("too-deep", `multipart nested more than ${limits.maxDepth} deep`);
  const boundary = boundaryOf(contentType);
  const parts = splitParts(body, boundary, budget, limits.maxParts).map((bytes) => parsePart(bytes, depth, budget, limits));
  return { subtype: contentType.subtype, boundary, parts };
}

/**
 * Parses a body whose Content-Type is multipart/* (the caller checks the type; the
 * boundary comes from its parameter). Preamble and epilogue are ignored; parts keep
 * their octets as received (no transfer decoding); multipart parts are opened.
 */
export function parseMultipart(body: Buffer, contentType: MediaType, limits?: Partial<MultipartLimits>): Multipart {
  if (contentType.type !== "multipart") throw new MultipartError("missing-boundary", `${contentType.type}/${contentType.subtype} is not multipart`);
  return parseLevel(body, contentType, 1, { parts: 0 }, { ...DEFAULT_MULTIPART_LIMITS, ...limits });
}
