/**
 * Typed values of the header fields the gateway reads (RFC 3261 §20, §25.1;
 * RFC 3326 Reason; RFC 3581 rport; RFC 4028 session timers). Each parser takes
 * one unfolded header field value and throws a 400 SipParseError naming the
 * header when the value breaks the grammar.
 */

import { DIGIT, HOST, Scanner, TOKEN, VALUE, allInClass, hasClass, isToken, isWsp, malformed, parseDigits, trimWsp } from "./scanner.js";
import { type HostKind, type Params, type Uri, parseHost, parsePort, parseUri } from "./uri.js";

export const MAX_UINT32 = 4294967295;

const DQUOTE = 0x22;
const COMMA = 0x2c;
const SLASH = 0x2f;
const COLON = 0x3a;
const SEMI = 0x3b;
const LT = 0x3c;
const EQUALS = 0x3d;
const GT = 0x3e;
const LBRACKET = 0x5b;
const BACKSLASH = 0x5c;

export interface Via {
  readonly protocolName: string;
  readonly protocolVersion: string;
  /** Upper-cased: UDP, TCP, TLS, SCTP, WS, WSS or any extension token. */
  readonly transport: string;
  readonly host: string;
  readonly hostKind: HostKind;
  readonly port: number | undefined;
  readonly branch: string | undefined;
  readonly received: string | undefined;
  /** RFC 3581: true when present without a value (a request to fill it in), the port when filled in. */
  readonly rport: number | true | undefined;
  readonly maddr: string | undefined;
  readonly ttl: number | undefined;
  readonly params: Params;
}

/** name-addr or addr-spec with its header parameters (From, To, Contact, Route, ...). */
export interface NameAddr {
  /** Unquoted and unescaped when it was a quoted-string; the tokens as written otherwise. */
  readonly displayName: string | undefined;
  readonly uri: Uri;
  /** Whether the URI was enclosed in <> (name-addr) rather than a bare addr-spec. */
  readonly bracketed: boolean;
  readonly params: Params;
  readonly tag: string | undefined;
}

export interface Contact extends NameAddr {
  /** The expires parameter; values above 2**32-1 are clamped, non-numeric ones ignored (RFC 4475 §3.1.2.4). */
  readonly expires: number | undefined;
  readonly q: number | undefined;
}

export interface CSeq {
  readonly seq: number;
  readonly method: string;
}

export interface MediaType {
  /** Lower-cased. */
  readonly type: string;
  /** Lower-cased. */
  readonly subtype: string;
  readonly params: Params;
}

/** Content-Disposition (RFC 3261 §20.11, RFC 3204 handling, RFC 5621). */
export interface ContentDisposition {
  /** Lower-cased: session, render, icon, alert, signal, early-session or any extension token. */
  readonly type: string;
  /** "required" when the parameter is absent or has any other value (RFC 3261 §20.11, RFC 3204 §5). */
  readonly handling: "optional" | "required";
  readonly params: Params;
}

export interface SessionExpires {
  readonly deltaSeconds: number;
  readonly refresher: "uac" | "uas" | undefined;
  readonly params: Params;
}

export interface ReasonValue {
  /** "SIP", "Q.850" or an extension token. */
  readonly protocol: string;
  readonly cause: number | undefined;
  readonly text: string | undefined;
  readonly params: Params;
}

/** Splits a header value on the commas that separate list elements (not those inside quotes or <>). */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let from = 0;
  let inQuotes = false;
  let inAngle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (inQuotes) {
      if (c === BACKSLASH) i++;
      else if (c === DQUOTE) inQuotes = false;
      continue;
    }
    if (c === DQUOTE) inQuotes = true;
    else if (c === LT) inAngle = true;
    else if (c === GT) inAngle = false;
    else if (c === COMMA && !inAngle) {
      out.push(value.slice(from, i));
      from = i + 1;
    }
  }
  out.push(value.slice(from));
  return out;
}

/** The non-empty elements of a list value; an empty element (",,") is a 400 in the lists that carry addresses. */
function listElements(value: string, what: string): string[] {
  const elements = value.includes(",") ? splitList(value) : [value];
  for (const element of elements) {
    if (trimWsp(element).length === 0) malformed(what, "empty list element");
  }
  return elements;
}

/** *( SEMI generic-param ), with SWS around ";" and "="; a repeated name is a 400 (RFC 3261 §7.3.1). */
function parseParams(sc: Scanner): Map<string, string | null> {
  const params = new Map<string, string | null>();
  for (;;) {
    sc.skipWs();
    if (!sc.eat(SEMI)) return params;
    sc.skipWs();
    const name = sc.token("empty parameter").toLowerCase();
    sc.skipWs();
    let value: string | null = null;
    if (sc.eat(EQUALS)) {
      sc.skipWs();
      if (sc.peek() === DQUOTE) value = sc.quotedString();
      else {
        value = sc.run(VALUE);
        if (value.length === 0) sc.fail("empty parameter value");
      }
    }
    if (params.has(name)) sc.fail("repeated parameter");
    params.set(name, value);
  }
}

function readHost(sc: Scanner): { host: string; hostKind: HostKind } {
  const from = sc.pos;
  if (sc.peek() === LBRACKET) {
    const close = sc.text.indexOf("]", from);
    if (close < 0) sc.fail("unterminated IPv6 reference");
    sc.pos = close + 1;
  } else {
    sc.run(HOST);
  }
  return parseHost(sc.text.slice(from, sc.pos), sc.what);
}

function expectEnd(sc: Scanner): void {
  sc.skipWs();
  if (!sc.done) sc.fail("unexpected character");
}

/** Every via-parm of one Via header field value. */
export function parseVias(value: string): Via[] {
  const out: Via[] = [];
  for (const element of listElements(value, "Via")) out.push(parseViaParm(element, true));
  return out;
}

/**
 * The topmost via-parm as far as it can be understood: all of it when valid,
 * otherwise sent-protocol and sent-by alone, so that even a request with broken
 * Via parameters can be answered (RFC 4475 §3.1.2.1).
 */
export function parseTopViaLenient(value: string): Via | undefined {
  const first = splitList(value)[0] ?? "";
  try {
    return parseViaParm(first, true);
  } catch {
    try {
      const semi = first.indexOf(";");
      return parseViaParm(semi < 0 ? first : first.slice(0, semi), false);
    } catch {
      return undefined;
    }
  }
}

function parseViaParm(text: string, withParams: boolean): Via {
  const sc: Scanner = new Scanner(text, "Via");
  sc.skipWs();
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport, SLASH = SWS "/" SWS
  const protocolName = sc.token("no protocol name");
  sc.skipWs();
  sc.expect(SLASH, "no / after the protocol name");
  sc.skipWs();
  const protocolVersion = sc.token("no protocol version");
  sc.skipWs();
  sc.expect(SLASH, "no / after the protocol version");
  sc.skipWs();
  const transport = sc.token("no transport").toUpperCase();
  if (!sc.skipWs()) sc.fail("no LWS before sent-by");
  const { host, hostKind } = readHost(sc);
  sc.skipWs();
  let port: number | undefined;
  if (sc.eat(COLON)) {
    sc.skipWs();
    port = parsePort(sc.run(DIGIT), "Via");
  }
  const params = withParams ? parseParams(sc) : new Map<string, string | null>();
  expectEnd(sc);

  const branch = params.get("branch");
  if (branch === null) sc.fail("branch without a value");
  const received = params.get("received");
  if (received === null) sc.fail("received without a value");
  if (received !== undefined) parseHost(received.includes(":") && !received.startsWith("[") ? `[${received}]` : received, "Via");
  const maddr = params.get("maddr");
  if (maddr === null) sc.fail("maddr without a value");
  if (maddr !== undefined) parseHost(maddr, "Via");
  const ttlText = params.get("ttl");
  let ttl: number | undefined;
  if (ttlText !== undefined) {
    ttl = parseDigits(ttlText ?? "", 255);
    if (ttl === undefined || !Number.isFinite(ttl)) sc.fail("ttl is not 0..255");
  }
  const rportText = params.get("rport");
  const rport = rportText === undefined ? undefined : rportText === null ? true : parsePort(rportText, "Via");
  return {
    protocolName,
    protocolVersion,
    transport,
    host,
    hostKind,
    port,
    branch,
    received,
    rport,
    maddr,
    ttl,
    params,
  };
}

/** A branch minted per RFC 3261 §8.1.1.7 (magic cookie plus something unique); otherwise RFC 2543 matching applies (RFC 4475 §3.2.1). */
export function isRfc3261Branch(branch: string | undefined): boolean {
  return branch !== undefined && branch.length > 7 && branch.startsWith("z9hG4bK");
}

/** One display-name word: a token, or (leniently) non-ASCII text that devices put in unquoted names. */
function displayWord(sc: Scanner): string {
  const from = sc.pos;
  while (!sc.done) {
    const c = sc.peek();
    if (!(hasClass(c, TOKEN) || c >= 0x80)) break;
    sc.pos++;
  }
  return sc.text.slice(from, sc.pos);
}

/** ( name-addr / addr-spec ) *( SEMI generic-param ). */
export function parseNameAddr(text: string, what: string): NameAddr {
  const sc: Scanner = new Scanner(text, what);
  sc.skipWs();
  let displayName: string | undefined;
  let bracketed = false;
  const first = sc.peek();
  if (first === DQUOTE) {
    displayName = sc.quotedString();
    sc.skipWs();
    if (sc.peek() !== LT) sc.fail("display name without <URI>");
    bracketed = true;
  } else if (first === LT) {
    bracketed = true;
  } else {
    const start = sc.pos;
    if (displayWord(sc).length === 0) sc.fail("expected a display name or a URI");
    if (sc.peek() === COLON) {
      sc.pos = start;
    } else {
      let end = sc.pos;
      for (;;) {
        sc.skipWs();
        if (sc.peek() === LT) break;
        if (displayWord(sc).length === 0) sc.fail("non-token character in an unquoted display name");
        end = sc.pos;
      }
      displayName = text.slice(start, end);
      bracketed = true;
    }
  }

  let uri: Uri;
  if (bracketed) {
    sc.pos++;
    const close = text.indexOf(">", sc.pos);
    if (close < 0) sc.fail("unterminated <URI>");
    const raw = text.slice(sc.pos, close);
    if (raw.length === 0 || isWsp(raw.charCodeAt(0)) || isWsp(raw.charCodeAt(raw.length - 1))) sc.fail("whitespace inside <URI>");
    uri = parseUri(raw, what);
    sc.pos = close + 1;
  } else {
    const start = sc.pos;
    while (!sc.done && !isWsp(sc.peek()) && sc.peek() !== SEMI) sc.pos++;
    const raw = text.slice(start, sc.pos);
    // RFC 3261 §20: a URI holding a comma, question mark or semicolon must be in <> (RFC 4475 §3.1.2.13).
    if (raw.includes("?") || raw.includes(",")) sc.fail("a URI with ? or , must be enclosed in <>");
    uri = parseUri(raw, what);
  }
  const params = parseParams(sc);
  expectEnd(sc);
  const tag = params.get("tag");
  if (tag === null) sc.fail("tag without a value");
  return { displayName, uri, bracketed, params, tag };
}

/** Every address of a list header (Route, Record-Route, Path, ...). */
export function parseNameAddrList(value: string, what: string): NameAddr[] {
  const out: NameAddr[] = [];
  for (const element of listElements(value, what)) out.push(parseNameAddr(element, what));
  return out;
}

function parseExpiresText(text: string | null | undefined): number | undefined {
  if (text === undefined || text === null) return undefined;
  const value = parseDigits(trimWsp(text), MAX_UINT32);
  return value === undefined ? undefined : Math.min(value, MAX_UINT32);
}

/** qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ); undefined when malformed. */
function parseQ(text: string | null | undefined): number | undefined {
  if (text === undefined || text === null || text.length === 0 || text.length > 5) return undefined;
  const whole = text.charCodeAt(0);
  if (whole !== 0x30 && whole !== 0x31) return undefined;
  if (text.length > 1 && (text.charCodeAt(1) !== 0x2e || !allInClass(text, 2, text.length, DIGIT, false))) return undefined;
  const value = Number(text);
  return value <= 1 ? value : undefined;
}

/** The Contact addresses, or "*" (only meaningful in a REGISTER). */
export function parseContacts(value: string): Contact[] | "*" {
  if (trimWsp(value) === "*") return "*";
  const out: Contact[] = [];
  for (const element of listElements(value, "Contact")) {
    const address = parseNameAddr(element, "Contact");
    out.push({ ...address, expires: parseExpiresText(address.params.get("expires")), q: parseQ(address.params.get("q")) });
  }
  return out;
}

/** CSeq = 1*DIGIT LWS Method; the number must fit 32 bits unsigned (RFC 3261 §8.1.1.5, §20.16). */
export function parseCSeq(value: string): CSeq {
  const sc: Scanner = new Scanner(value, "CSeq");
  sc.skipWs();
  const seq = parseDigits(sc.run(DIGIT), MAX_UINT32);
  if (seq === undefined) sc.fail("no sequence number");
  if (!Number.isFinite(seq)) sc.fail("sequence number above 2**32-1");
  if (!sc.skipWs()) sc.fail("no LWS before the method");
  const method = sc.token("no method");
  expectEnd(sc);
  return { seq, method };
}

/** Call-ID = word [ "@" word ], read leniently as one run of visible ASCII. */
export function parseCallId(value: string): string {
  const id = trimWsp(value);
  if (id.length === 0) malformed("Call-ID", "empty Call-ID");
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) malformed("Call-ID", "Call-ID is not one word");
  }
  return id;
}

/** A header whose value is one decimal integer no larger than `max`. */
export function parseBoundedInteger(value: string, what: string, max: number): number {
  const number = parseDigits(trimWsp(value), max);
  if (number === undefined) malformed(what, "not a number");
  if (!Number.isFinite(number)) malformed(what, `above ${max}`);
  return number;
}

/** Expires: delta-seconds, clamped to 2**32-1; undefined when not a number (RFC 2543 allowed a date there). */
export function parseExpires(value: string): number | undefined {
  return parseExpiresText(value);
}

/** media-type (Content-Type) or media-range (Accept, where "*" is a token too). */
export function parseMediaType(value: string, what = "Content-Type"): MediaType {
  const sc: Scanner = new Scanner(value, what);
  sc.skipWs();
  const type = sc.token("no media type").toLowerCase();
  sc.skipWs();
  sc.expect(SLASH, "no / in the media type");
  sc.skipWs();
  const subtype = sc.token("no media subtype").toLowerCase();
  const params = parseParams(sc);
  expectEnd(sc);
  return { type, subtype, params };
}

/** disp-type *( SEMI disp-param ); a handling other than "optional" (or none) counts as "required". */
export function parseContentDisposition(value: string): ContentDisposition {
  const sc: Scanner = new Scanner(value, "Content-Disposition");
  sc.skipWs();
  const type = sc.token("no disposition type").toLowerCase();
  const params = parseParams(sc);
  expectEnd(sc);
  const handling = params.get("handling")?.toLowerCase() === "optional" ? "optional" : "required";
  return { type, handling, params };
}

/** Accept: the media ranges that parse (an unparseable one cannot be honoured anyway). */
export function parseAccept(value: string): MediaType[] {
  const out: MediaType[] = [];
  for (const element of splitList(value)) {
    if (trimWsp(element).length === 0) continue;
    try {
      out.push(parseMediaType(element, "Accept"));
    } catch {
      // skipped on purpose
    }
  }
  return out;
}

/** option-tag or method lists: empty elements skipped; a non-token is a 400 when `strict`, dropped otherwise. */
export function parseTokenList(value: string, what: string, strict: boolean): string[] {
  const out: string[] = [];
  for (const element of value.split(",")) {
    const tag = trimWsp(element);
    if (tag.length === 0) continue;
    if (isToken(tag)) out.push(tag);
    else if (strict) malformed(what, "not a token");
  }
  return out;
}

/** Session-Expires = delta-seconds *( SEMI (refresher-param / generic-param) ) (RFC 4028 §4). */
export function parseSessionExpires(value: string): SessionExpires {
  const sc: Scanner = new Scanner(value, "Session-Expires");
  sc.skipWs();
  const delta = parseDigits(sc.run(DIGIT), MAX_UINT32);
  if (delta === undefined) sc.fail("no delta-seconds");
  const params = parseParams(sc);
  expectEnd(sc);
  const refresherText = params.get("refresher");
  let refresher: "uac" | "uas" | undefined;
  if (refresherText !== undefined) {
    const lower = refresherText?.toLowerCase();
    if (lower !== "uac" && lower !== "uas") sc.fail("refresher is neither uac nor uas");
    refresher = lower;
  }
  return { deltaSeconds: Math.min(delta, MAX_UINT32), refresher, params };
}

/** Min-SE = delta-seconds *( SEMI generic-param ) (RFC 4028 §5). */
export function parseMinSE(value: string): number {
  const sc: Scanner = new Scanner(value, "Min-SE");
  sc.skipWs();
  const delta = parseDigits(sc.run(DIGIT), MAX_UINT32);
  if (delta === undefined) sc.fail("no delta-seconds");
  parseParams(sc);
  expectEnd(sc);
  return Math.min(delta, MAX_UINT32);
}

/** Reason (RFC 3326): the values that parse; a broken Reason never costs the message. */
export function parseReasons(value: string): ReasonValue[] {
  const out: ReasonValue[] = [];
  for (const element of splitList(value)) {
    try {
      const sc: Scanner = new Scanner(element, "Reason");
      sc.skipWs();
      const protocol = sc.token("no protocol");
      const params = parseParams(sc);
      expectEnd(sc);
      const causeText = params.get("cause");
      const cause = causeText ? parseDigits(causeText, MAX_UINT32) : undefined;
      const text = params.get("text");
      out.push({
        protocol,
        cause: cause !== undefined && Number.isFinite(cause) ? cause : undefined,
        text: text ?? undefined,
        params,
      });
    } catch {
      // skipped on purpose
    }
  }
  return out;
}
