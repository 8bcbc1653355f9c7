/**
 * A hand-written cursor over one header value (RFC 3261 §25.1). Regular
 * expressions are avoided on purpose: every production here is linear, so no
 * input can make parsing slower than one pass.
 */

import { SipParseError } from "./errors.js";

/** Character classes of RFC 3261 §25.1, one bit each, for ASCII. */
export const TOKEN = 1; // alphanum - . ! % * _ + ` ' ~
export const UNRESERVED = 2; // alphanum mark
export const USER = 4; // unreserved user-unreserved (& = + $ , ; ? /)
export const PASSWORD = 8; // unreserved & = + $ ,
export const PARAM = 16; // unreserved param-unreserved ([ ] / : & + $)
export const HNV = 32; // unreserved hnv-unreserved ([ ] / ? : + $)
export const HOST = 64; // alphanum - . and, leniently, _
export const URIC = 128; // reserved unreserved (absoluteURI)
export const SCHEME = 256; // alphanum + - .
export const TEL = 512; // phonedigit-hex, visual separators, * # +
export const DIGIT = 1024;
/** gen-value without quotes: token or host, so also ":" (bare IPv6 in received=) and brackets. */
export const VALUE = 2048;

const classes = new Uint16Array(128);
function mark(chars: string, bits: number): void {
  for (let i = 0; i < chars.length; i++) classes[chars.charCodeAt(i)]! |= bits;
}
const ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const MARK = "-_.!~*'()";
mark(ALNUM, TOKEN | UNRESERVED | USER | PASSWORD | PARAM | HNV | HOST | URIC | SCHEME);
mark("-.!%*_+`'~", TOKEN);
mark(MARK, UNRESERVED | USER | PASSWORD | PARAM | HNV | URIC);
mark("&=+$,;?/", USER);
mark("&=+$,", PASSWORD);
mark("[]/:&+$", PARAM);
mark("[]/?:+$", HNV);
mark("-._", HOST);
mark(";/?:@&=+$,", URIC);
mark("+-.", SCHEME);
mark("0123456789abcdefABCDEF-.()*#+", TEL);
mark("0123456789", DIGIT);
mark(ALNUM, VALUE);
mark("-.!%*_+`'~:[]", VALUE);

export function hasClass(code: number, bits: number): boolean {
  return code >= 0 && code < 128 && (classes[code]! & bits) !== 0;
}

const SP = 0x20;
const HTAB = 0x09;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const PERCENT = 0x25;

export function isWsp(code: number): boolean {
  return code === SP || code === HTAB;
}

function isHexDigit(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x46) || (code >= 0x61 && code <= 0x66);
}

/** True when every character of text[start, end) is in `bits`, or (when `escapes`) part of a valid %HEXHEX escape. */
export function allInClass(text: string, start: number, end: number, bits: number, escapes: boolean): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === PERCENT && escapes) {
      if (i + 2 < end && isHexDigit(text.charCodeAt(i + 1)) && isHexDigit(text.charCodeAt(i + 2))) {
        i += 2;
        continue;
      }
      return false;
    }
    if (!hasClass(c, bits)) return false;
  }
  return true;
}

export function isToken(text: string): boolean {
  return text.length > 0 && allInClass(text, 0, text.length, TOKEN, false);
}

// ignoreBOM keeps an escaped U+FEFF: stripping it would make "%EF%BB%BFa" equal "a".
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes %HEXHEX escapes once (never recursively: "%2541" is "%41"). A run of
 * escaped octets that is valid UTF-8 becomes that text; otherwise each octet
 * becomes the code point of the same value, so no escape is silently lost.
 */
export function percentDecode(text: string): string {
  let percent = text.indexOf("%");
  if (percent < 0) return text;
  let out = "";
  let from = 0;
  while (percent >= 0) {
    out += text.slice(from, percent);
    const bytes: number[] = [];
    let i = percent;
    while (i + 2 < text.length && text.charCodeAt(i) === PERCENT && isHexDigit(text.charCodeAt(i + 1)) && isHexDigit(text.charCodeAt(i + 2))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 3;
    }
    if (bytes.length === 0) {
      // A lone "%" (callers validate first, so only in lenient fields): kept as it is.
      out += "%";
      i = percent + 1;
    } else {
      out += decodeOctets(Uint8Array.from(bytes));
    }
    from = i;
    percent = text.indexOf("%", i);
  }
  return out + text.slice(from);
}

function decodeOctets(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return Buffer.from(bytes).toString("latin1");
  }
}

/** Removes SP and HTAB (only those: LWS, RFC 3261 §25.1) from both ends. */
export function trimWsp(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isWsp(text.charCodeAt(start))) start++;
  while (end > start && isWsp(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

/** Parses 1*DIGIT; undefined when not all digits, Infinity when beyond `max`. */
export function parseDigits(text: string, max: number): number | undefined {
  if (text.length === 0) return undefined;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return undefined;
    value = value * 10 + c;
    // Stop early so that a thousand digits cost nothing and never lose precision silently.
    if (value > max) {
      for (let j = i + 1; j < text.length; j++) {
        const d = text.charCodeAt(j) - 0x30;
        if (d < 0 || d > 9) return undefined;
      }
      return Number.POSITIVE_INFINITY;
    }
  }
  return value;
}

/** A 400 naming what was malformed; `detail` goes to the log, never into the reason phrase. */
export function malformed(what: string, detail: string): never {
  throw new SipParseError(400, `Malformed ${what}`, detail);
}

/** A cursor over one header value; every failure is a 400 naming the header. */
export class Scanner {
  pos = 0;

  constructor(
    readonly text: string,
    readonly what: string,
  ) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): number {
    return this.pos < this.text.length ? this.text.charCodeAt(this.pos) : -1;
  }

  fail(detail: string): never {
    malformed(this.what, detail);
  }

  /** Skips SWS (the message is unfolded already, so only SP and HTAB remain); true if any. */
  skipWs(): boolean {
    const from = this.pos;
    while (this.pos < this.text.length && isWsp(this.text.charCodeAt(this.pos))) this.pos++;
    return this.pos > from;
  }

  /** Consumes `code` if it is next (after no whitespace). */
  eat(code: number): boolean {
    if (this.peek() !== code) return false;
    this.pos++;
    return true;
  }

  expect(code: number, detail: string): void {
    if (!this.eat(code)) this.fail(detail);
  }

  /** Reads a run of characters of class `bits` (possibly empty). */
  run(bits: number): string {
    const from = this.pos;
    while (this.pos < this.text.length && hasClass(this.text.charCodeAt(this.pos), bits)) this.pos++;
    return this.text.slice(from, this.pos);
  }

  token(detail: string): string {
    const value = this.run(TOKEN);
    if (value.length === 0) this.fail(detail);
    return value;
  }

  /** quoted-string at the cursor (which is on the opening DQUOTE); returns the content with quoted-pairs resolved. */
  quotedString(): string {
    const text = this.text;
    this.pos++;
    let out = "";
    let from = this.pos;
    while (this.pos < text.length) {
      const c = text.charCodeAt(this.pos);
      if (c === DQUOTE) {
        out += text.slice(from, this.pos);
        this.pos++;
        return out;
      }
      if (c === BACKSLASH) {
        if (this.pos + 1 >= text.length) break;
        out += text.slice(from, this.pos);
        out += text[this.pos + 1];
        this.pos += 2;
        from = this.pos;
        continue;
      }
      this.pos++;
    }
    this.fail("unterminated quoted string");
  }
}
