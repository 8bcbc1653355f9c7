/**
 * The header fields of one SIP message: ordered as received, repeated fields
 * kept, names compared case-insensitively with compact forms expanded
 * (RFC 3261 §7.3). Typed accessors parse on first use and remember the result
 * until the fields change; parseMessage calls the strict ones up front, so on a
 * parsed message they do not throw.
 */

import { SipParseError } from "./errors.js";
import { canonicalHeaderName, headerKey, resolveHeaderName } from "./headerNames.js";
import {
  type CSeq,
  type Contact,
  type MediaType,
  type NameAddr,
  type ReasonValue,
  type SessionExpires,
  type Via,
  parseAccept,
  parseBoundedInteger,
  parseCSeq,
  parseCallId,
  parseContacts,
  parseExpires,
  parseMediaType,
  parseMinSE,
  parseNameAddr,
  parseNameAddrList,
  parseReasons,
  parseSessionExpires,
  parseTokenList,
  parseVias,
  splitList,
} from "./headerValues.js";
import { isToken, trimWsp } from "./scanner.js";

export interface HeaderField {
  /** Canonical for well-known names ("Call-ID" for "i" or "call-id"), as received otherwise. */
  readonly name: string;
  /** Unfolded (each line fold became one SP) and trimmed of surrounding whitespace. */
  readonly value: string;
}

interface StoredField extends HeaderField {
  readonly key: string;
}

function checkField(name: string, value: string): void {
  if (!isToken(name)) throw new TypeError(`not a SIP header name: ${JSON.stringify(name)}`);
  // A CR or LF would let a value start a header of its own in what we send.
  if (value.includes("\r") || value.includes("\n")) throw new TypeError(`header ${name} holds a line break`);
}

const NONE: readonly string[] = [];

export class SipHeaders implements Iterable<HeaderField> {
  private fields: StoredField[] = [];
  private readonly memo = new Map<string, unknown>();
  /** Values by lookup key, built on first lookup, dropped on any change. */
  private index: Map<string, string[]> | undefined;

  constructor(fields: Iterable<HeaderField | readonly [string, string]> = []) {
    for (const field of fields) {
      if (Array.isArray(field)) this.append(field[0], field[1]);
      else {
        const { name, value } = field as HeaderField;
        this.append(name, value);
      }
    }
  }

  /**
   * For the parser only: fields whose names are tokens already resolved
   * (resolveHeaderName) and whose values are unfolded, trimmed and free of CR
   * and LF, so nothing is checked again.
   */
  static fromParsed(fields: readonly { readonly name: string; readonly value: string; readonly key: string }[]): SipHeaders {
    const headers = new SipHeaders();
    headers.fields = fields.map(({ name, value, key }) => ({ name, value, key }));
    return headers;
  }

  get size(): number {
    return this.fields.length;
  }

  [Symbol.iterator](): Iterator<HeaderField> {
    return this.fields.map(({ name, value }) => ({ name, value }))[Symbol.iterator]();
  }

  private changed(): void {
    this.memo.clear();
    this.index = undefined;
  }

  /** The values under a lookup key (lower-cased, compact forms expanded); not to be modified. */
  private byKey(key: string): readonly string[] {
    if (this.index === undefined) {
      this.index = new Map();
      for (const f of this.fields) {
        const values = this.index.get(f.key);
        if (values) values.push(f.value);
        else this.index.set(f.key, [f.value]);
      }
    }
    return this.index.get(key) ?? NONE;
  }

  has(name: string): boolean {
    return this.byKey(headerKey(name)).length > 0;
  }

  /** The first field's value. */
  get(name: string): string | undefined {
    return this.byKey(headerKey(name))[0];
  }

  /** Every field's value, in order (a comma list stays one value). */
  getAll(name: string): string[] {
    return [...this.byKey(headerKey(name))];
  }

  /** The list elements of a list header across all its fields (RFC 3261 §7.3.1: "a, b" equals two fields). */
  values(name: string): string[] {
    const out: string[] = [];
    for (const value of this.byKey(headerKey(name))) {
      for (const element of splitList(value)) {
        const trimmed = trimWsp(element);
        if (trimmed.length > 0) out.push(trimmed);
      }
    }
    return out;
  }

  append(name: string, value: string): void {
    checkField(name, value);
    const [canonical, key] = resolveHeaderName(name);
    this.fields.push({ name: canonical, value: trimWsp(value), key });
    this.changed();
  }

  /** Replaces every field of that name by one, where the first was (appended if there was none). */
  set(name: string, value: string): void {
    checkField(name, value);
    const [canonical, key] = resolveHeaderName(name);
    const field = { name: canonical, value: trimWsp(value), key };
    const kept: StoredField[] = [];
    let placed = false;
    for (const f of this.fields) {
      if (f.key !== key) kept.push(f);
      else if (!placed) {
        kept.push(field);
        placed = true;
      }
    }
    if (!placed) kept.push(field);
    this.fields = kept;
    this.changed();
  }

  /** Removes every field of that name; returns how many there were. */
  delete(name: string): number {
    const key = headerKey(name);
    const before = this.fields.length;
    this.fields = this.fields.filter((f) => f.key !== key);
    this.changed();
    return before - this.fields.length;
  }

  clone(): SipHeaders {
    const copy = new SipHeaders();
    copy.fields = [...this.fields];
    return copy;
  }

  private cached<T>(slot: string, compute: () => T): T {
    const hit = this.memo.get(slot);
    if (hit !== undefined || this.memo.has(slot)) return hit as T;
    const value = compute();
    this.memo.set(slot, value);
    return value;
  }

  /** The elements of every field under `key`, in order (plain loops: this runs for every packet). */
  private collect<T>(key: string, parse: (value: string) => readonly T[]): readonly T[] {
    const values = this.byKey(key);
    if (values.length === 0) return [];
    if (values.length === 1) return parse(values[0]!);
    const out: T[] = [];
    for (const value of values) for (const element of parse(value)) out.push(element);
    return out;
  }

  /** The value of a header that may appear at most once (RFC 4475 §3.3.8: a second one is a 400). */
  private single(key: string): string | undefined {
    const all = this.byKey(key);
    if (all.length > 1) throw new SipParseError(400, `Multiple ${canonicalHeaderName(key)} headers`);
    return all[0];
  }

  private required(key: string): string {
    const value = this.single(key);
    if (value === undefined) throw new SipParseError(400, `Missing ${canonicalHeaderName(key)}`);
    return value;
  }

  /** Every via-parm, topmost first, across fields and comma lists. */
  vias(): readonly Via[] {
    return this.cached("via", () => this.collect("via", (value) => parseVias(value)));
  }

  topVia(): Via | undefined {
    return this.vias()[0];
  }

  from(): NameAddr {
    return this.cached("from", () => parseNameAddr(this.required("from"), "From"));
  }

  to(): NameAddr {
    return this.cached("to", () => parseNameAddr(this.required("to"), "To"));
  }

  callId(): string {
    return this.cached("call-id", () => parseCallId(this.required("call-id")));
  }

  cseq(): CSeq {
    return this.cached("cseq", () => parseCSeq(this.required("cseq")));
  }

  maxForwards(): number | undefined {
    return this.cached("max-forwards", () => {
      const value = this.single("max-forwards");
      return value === undefined ? undefined : parseBoundedInteger(value, "Max-Forwards", 255);
    });
  }

  contentLength(): number | undefined {
    return this.cached("content-length", () => {
      const value = this.single("content-length");
      return value === undefined ? undefined : parseBoundedInteger(value, "Content-Length", Number.MAX_SAFE_INTEGER);
    });
  }

  contentType(): MediaType | undefined {
    return this.cached("content-type", () => {
      const value = this.single("content-type");
      return value === undefined ? undefined : parseMediaType(value);
    });
  }

  /** The Contact addresses across fields, or "*" (a lone "*" field; mixed with addresses it is a 400). */
  contacts(): readonly Contact[] | "*" {
    return this.cached("contact", () => {
      const values = this.byKey("contact");
      const out: Contact[] = [];
      for (const value of values) {
        const contacts = parseContacts(value);
        if (contacts === "*") {
          if (values.length > 1) throw new SipParseError(400, "Malformed Contact", "* among other contacts");
          return "*";
        }
        for (const contact of contacts) out.push(contact);
      }
      return out;
    });
  }

  routes(): readonly NameAddr[] {
    return this.cached("route", () => this.collect("route", (value) => parseNameAddrList(value, "Route")));
  }

  recordRoutes(): readonly NameAddr[] {
    return this.cached("record-route", () => this.collect("record-route", (value) => parseNameAddrList(value, "Record-Route")));
  }

  /** Expires in seconds, clamped to 2**32-1; undefined when absent or not a number. */
  expires(): number | undefined {
    const value = this.byKey("expires")[0];
    return value === undefined ? undefined : parseExpires(value);
  }

  sessionExpires(): SessionExpires | undefined {
    return this.cached("session-expires", () => {
      const value = this.single("session-expires");
      return value === undefined ? undefined : parseSessionExpires(value);
    });
  }

  minSE(): number | undefined {
    return this.cached("min-se", () => {
      const value = this.single("min-se");
      return value === undefined ? undefined : parseMinSE(value);
    });
  }

  /** Reason values that parse (RFC 3326); a malformed one is skipped rather than failing the message. */
  reasons(): readonly ReasonValue[] {
    return this.cached("reason", () => this.collect("reason", (value) => parseReasons(value)));
  }

  supported(): readonly string[] {
    return this.cached("supported", () => this.collect("supported", (value) => parseTokenList(value, "Supported", false)));
  }

  /** Require option tags; a non-token is a 400 (it could not be honoured, nor listed in Unsupported). */
  require(): readonly string[] {
    return this.cached("require", () => this.collect("require", (value) => parseTokenList(value, "Require", true)));
  }

  proxyRequire(): readonly string[] {
    return this.cached("proxy-require", () => this.collect("proxy-require", (value) => parseTokenList(value, "Proxy-Require", true)));
  }

  unsupported(): readonly string[] {
    return this.cached("unsupported", () => this.collect("unsupported", (value) => parseTokenList(value, "Unsupported", false)));
  }

  allow(): readonly string[] {
    return this.cached("allow", () => this.collect("allow", (value) => parseTokenList(value, "Allow", false)));
  }

  accept(): readonly MediaType[] {
    return this.cached("accept", () => this.collect("accept", (value) => parseAccept(value)));
  }
}
