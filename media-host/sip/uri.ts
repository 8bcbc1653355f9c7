/**
 * URIs as SIP carries them (RFC 3261 §19.1, §25.1; RFC 3966 for tel): sip and
 * sips in full, tel as number plus parameters, anything else as an opaque
 * absoluteURI (a parser must accept unknown schemes: RFC 4475 §3.3.2).
 * Components are %-decoded once where RFC 3261 §19.1.4 compares them decoded;
 * `raw` keeps the text as received, which is what gets written back.
 */

import { isIPv4, isIPv6 } from "node:net";
import { HNV, HOST, PARAM, PASSWORD, SCHEME, TEL, URIC, USER, allInClass, malformed, parseDigits, percentDecode } from "./scanner.js";

/** Parameters by lower-cased name; null for a parameter without a value. The first occurrence wins. */
export type Params = ReadonlyMap<string, string | null>;

export type HostKind = "domain" | "ipv4" | "ipv6";

export interface SipUri {
  readonly kind: "sip";
  readonly scheme: "sip" | "sips";
  /** Decoded: "sips%3Auser%40example.com" is "sips:user@example.com". */
  readonly user: string | undefined;
  readonly password: string | undefined;
  /** As written; an IPv6 reference without its brackets. */
  readonly host: string;
  readonly hostKind: HostKind;
  readonly port: number | undefined;
  /** uri-parameters, names lower-cased, names and values decoded. */
  readonly params: Params;
  /** URI headers (?name=value&...), decoded, in order. */
  readonly headers: readonly (readonly [string, string])[];
  readonly raw: string;
}

export interface TelUri {
  readonly kind: "tel";
  readonly scheme: "tel";
  /** The telephone-subscriber number, with its visual separators. */
  readonly number: string;
  readonly params: Params;
  readonly raw: string;
}

/** Any other absoluteURI (http:, isbn:, soap.beep:, ...), kept opaque. */
export interface OtherUri {
  readonly kind: "other";
  /** Lower-cased (schemes compare case-insensitively). */
  readonly scheme: string;
  readonly opaque: string;
  readonly raw: string;
}

export type Uri = SipUri | TelUri | OtherUri;

const COLON = 0x3a;
const SEMI = 0x3b;
const QUESTION = 0x3f;
const EQUALS = 0x3d;
const AMPERSAND = 0x26;

function isAlpha(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}

/** host = hostname / IPv4address / IPv6reference (RFC 3261 §25.1); `_` is tolerated in hostnames. */
export function parseHost(text: string, what = "host"): { host: string; hostKind: HostKind } {
  if (text.length === 0) malformed(what, "empty host");
  if (text.charCodeAt(0) === 0x5b) {
    const inner = text.slice(1, -1);
    if (text.charCodeAt(text.length - 1) !== 0x5d || inner.includes("%") || !isIPv6(inner)) malformed(what, "bad IPv6 reference");
    return { host: inner, hostKind: "ipv6" };
  }
  if (!allInClass(text, 0, text.length, HOST, false)) malformed(what, "bad character in host");
  let numeric = true;
  let labelLength = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      // Only a final dot may follow an empty label (FQDN form "example.com.").
      if (labelLength === 0) malformed(what, "empty label in host");
      labelLength = 0;
      continue;
    }
    labelLength++;
    if (c < 0x30 || c > 0x39) numeric = false;
  }
  // An all-numeric name cannot be a hostname (toplabel starts with a letter): it must be an IPv4 address.
  if (numeric) {
    if (!isIPv4(text)) malformed(what, "bad IPv4 address");
    return { host: text, hostKind: "ipv4" };
  }
  return { host: text, hostKind: "domain" };
}

/** Parses a port (1*DIGIT, at most 65535). */
export function parsePort(text: string, what: string): number {
  const port = parseDigits(text, 65535);
  if (port === undefined || !Number.isFinite(port)) malformed(what, "bad port");
  return port;
}

/** Parses any URI of a SIP message: sip/sips fully, tel, or an opaque absoluteURI. */
export function parseUri(raw: string, what = "URI"): Uri {
  const colon = raw.indexOf(":");
  if (colon <= 0 || !isAlpha(raw.charCodeAt(0))) malformed(what, "no scheme");
  if (!allInClass(raw, 0, colon, SCHEME, false)) malformed(what, "bad scheme");
  const scheme = raw.slice(0, colon).toLowerCase();
  if (scheme === "sip" || scheme === "sips") return parseSipUri(raw, scheme, colon + 1, what);
  if (scheme === "tel") return parseTelUri(raw, colon + 1, what);
  const opaque = raw.slice(colon + 1);
  if (opaque.length === 0 || !allInClass(opaque, 0, opaque.length, URIC, true)) malformed(what, "bad absoluteURI");
  return { kind: "other", scheme, opaque, raw };
}

function parseSipUri(raw: string, scheme: "sip" | "sips", from: number, what: string): SipUri {
  let i = from;
  let user: string | undefined;
  let password: string | undefined;
  // Neither user, password, host, params nor headers may hold an unescaped "@": the first one ends userinfo.
  const at = raw.indexOf("@", i);
  if (at >= 0) {
    const colon = raw.indexOf(":", i);
    const userEnd = colon >= 0 && colon < at ? colon : at;
    if (userEnd === i || !allInClass(raw, i, userEnd, USER, true)) malformed(what, "bad user part");
    user = percentDecode(raw.slice(i, userEnd));
    if (userEnd < at) {
      if (!allInClass(raw, userEnd + 1, at, PASSWORD, true)) malformed(what, "bad password");
      password = percentDecode(raw.slice(userEnd + 1, at));
    }
    i = at + 1;
  }

  let hostEnd = i;
  if (raw.charCodeAt(i) === 0x5b) {
    hostEnd = raw.indexOf("]", i);
    if (hostEnd < 0) malformed(what, "unterminated IPv6 reference");
    hostEnd++;
  } else {
    while (hostEnd < raw.length) {
      const c = raw.charCodeAt(hostEnd);
      if (c === COLON || c === SEMI || c === QUESTION) break;
      hostEnd++;
    }
  }
  const { host, hostKind } = parseHost(raw.slice(i, hostEnd), what);
  i = hostEnd;

  let port: number | undefined;
  if (raw.charCodeAt(i) === COLON) {
    let end = i + 1;
    while (end < raw.length && raw.charCodeAt(end) !== SEMI && raw.charCodeAt(end) !== QUESTION) end++;
    port = parsePort(raw.slice(i + 1, end), what);
    i = end;
  }

  const params = new Map<string, string | null>();
  while (raw.charCodeAt(i) === SEMI) {
    let end = i + 1;
    let equals = -1;
    while (end < raw.length) {
      const c = raw.charCodeAt(end);
      if (c === SEMI || c === QUESTION) break;
      if (c === EQUALS && equals < 0) equals = end;
      end++;
    }
    const nameEnd = equals < 0 ? end : equals;
    if (nameEnd === i + 1 || !allInClass(raw, i + 1, nameEnd, PARAM, true)) malformed(what, "bad uri-parameter name");
    if (equals >= 0 && (equals + 1 === end || !allInClass(raw, equals + 1, end, PARAM, true))) malformed(what, "bad uri-parameter value");
    const name = percentDecode(raw.slice(i + 1, nameEnd)).toLowerCase();
    if (!params.has(name)) params.set(name, equals < 0 ? null : percentDecode(raw.slice(equals + 1, end)));
    i = end;
  }

  const headers: (readonly [string, string])[] = [];
  if (raw.charCodeAt(i) === QUESTION) {
    i++;
    for (;;) {
      let end = i;
      while (end < raw.length && raw.charCodeAt(end) !== AMPERSAND) end++;
      const equals = raw.indexOf("=", i);
      if (equals < 0 || equals >= end || equals === i) malformed(what, "bad URI header");
      if (!allInClass(raw, i, equals, HNV, true) || !allInClass(raw, equals + 1, end, HNV, true)) malformed(what, "bad URI header");
      headers.push([percentDecode(raw.slice(i, equals)), percentDecode(raw.slice(equals + 1, end))]);
      if (end >= raw.length) break;
      i = end + 1;
    }
    i = raw.length;
  }
  if (i !== raw.length) malformed(what, "unexpected character");
  return { kind: "sip", scheme, user, password, host, hostKind, port, params, headers, raw };
}

function parseTelUri(raw: string, from: number, what: string): TelUri {
  let end = raw.indexOf(";", from);
  if (end < 0) end = raw.length;
  if (end === from || !allInClass(raw, from, end, TEL, false)) malformed(what, "bad telephone number");
  const number = raw.slice(from, end);
  const params = new Map<string, string | null>();
  let i = end;
  while (i < raw.length) {
    let next = raw.indexOf(";", i + 1);
    if (next < 0) next = raw.length;
    const equals = raw.indexOf("=", i + 1);
    const nameEnd = equals >= 0 && equals < next ? equals : next;
    if (nameEnd === i + 1 || !allInClass(raw, i + 1, nameEnd, PARAM, true)) malformed(what, "bad tel parameter");
    if (nameEnd < next && !allInClass(raw, nameEnd + 1, next, PARAM, true)) malformed(what, "bad tel parameter");
    const name = percentDecode(raw.slice(i + 1, nameEnd)).toLowerCase();
    if (!params.has(name)) params.set(name, nameEnd < next ? percentDecode(raw.slice(nameEnd + 1, next)) : null);
    i = next;
  }
  return { kind: "tel", scheme: "tel", number, params, raw };
}
