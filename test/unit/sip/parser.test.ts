import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { SipParseError } from "../../../media-host/sip/errors.js";
import { SipHeaders } from "../../../media-host/sip/headers.js";
import { parseCSeq, parseContacts, parseNameAddr, parseReasons, parseSessionExpires, parseVias } from "../../../media-host/sip/headerValues.js";
import type { SipMessage, SipRequest, SipResponse } from "../../../media-host/sip/message.js";
import { SipStreamFramer, type StreamItem, isKeepAlive, parseMessage } from "../../../media-host/sip/parser.js";
import { percentDecode } from "../../../media-host/sip/scanner.js";
import { buildErrorResponse, buildResponse, serializeMessage } from "../../../media-host/sip/serializer.js";
import { parseUri } from "../../../media-host/sip/uri.js";
import { SDP, datagram, invite, loadRfc4475, rfc4475Files, structureOf } from "./support.js";

function refused(run: () => unknown): SipParseError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof SipParseError, `expected a SipParseError, got ${error}`);
    return error;
  }
  assert.fail("expected a SipParseError");
}

const asRequest = (m: SipMessage) => {
  assert.equal(m.kind, "request");
  return m as SipRequest;
};

const OPTIONS = [
  "OPTIONS sip:gw.example.net SIP/2.0",
  "Via: SIP/2.0/TCP 192.0.2.20:5060;branch=z9hG4bKopt1",
  "From: <sip:probe@example.com>;tag=a1",
  "To: <sip:gw.example.net>",
  "Call-ID: opt-1@192.0.2.20",
  "CSeq: 1 OPTIONS",
  "Max-Forwards: 70",
];

function options(n: number, extra: readonly string[] = []): Buffer {
  return datagram([...OPTIONS.map((l) => l.replace("opt-1", `opt-${n}`)), ...extra, "Content-Length: 0"]);
}

describe("parseMessage round trips", () => {
  it("every RFC 4475 message that parses is a fixed point of parse → serialize → parse", () => {
    let accepted = 0;
    for (const file of rfc4475Files()) {
      let message: SipMessage;
      try {
        message = parseMessage(loadRfc4475(file));
      } catch {
        continue;
      }
      accepted++;
      const once = serializeMessage(message);
      const again = parseMessage(once);
      assert.deepEqual(structureOf(again), structureOf(message), file);
      assert.deepEqual(serializeMessage(again), once, `${file}: serializing again gives the same bytes`);
    }
    assert.ok(accepted >= 30, `only ${accepted} messages parsed`);
  });

  it("a typical INVITE keeps its start line, header order and body", () => {
    const bytes = invite();
    const m = asRequest(parseMessage(bytes));
    assert.deepEqual(serializeMessage(m), bytes);
    assert.equal(m.headers.sessionExpires()?.refresher, "uac");
    assert.equal(m.headers.minSE(), 90);
    assert.deepEqual(m.headers.supported(), ["timer", "100rel"]);
    assert.deepEqual(m.headers.allow(), ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE"]);
    assert.equal(m.body.toString(), SDP);
  });
});

describe("parseMessage header section", () => {
  it("expands every compact form to its canonical name, found under either name", () => {
    const compact: Record<string, string> = {
      i: "Call-ID",
      m: "Contact",
      e: "Content-Encoding",
      f: "From",
      t: "To",
      v: "Via",
      c: "Content-Type",
      k: "Supported",
      s: "Subject",
      x: "Session-Expires",
      o: "Event",
      u: "Allow-Events",
      r: "Refer-To",
      b: "Referred-By",
      y: "Identity",
      a: "Accept-Contact",
      j: "Reject-Contact",
      n: "Identity-Info",
      d: "Request-Disposition",
    };
    const values: Record<string, string> = {
      i: "c1@h",
      m: "<sip:a@192.0.2.1>",
      e: "identity",
      f: "<sip:a@example.com>;tag=1",
      t: "<sip:b@example.com>",
      v: "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1",
      c: "text/plain",
      k: "timer",
      s: "hello",
      x: "1800",
      o: "refer",
      u: "talk",
      r: "<sip:c@example.com>",
      b: "<sip:d@example.com>",
      y: "abc",
      a: "*;audio",
      j: "*;video",
      n: "<https://example.com/cert>",
      d: "proxy",
    };
    const lines = [
      "MESSAGE sip:b@example.com SIP/2.0",
      "CSeq: 1 MESSAGE",
      ...Object.keys(compact).map((k) => `${k.toUpperCase()}: ${values[k]}`),
      "l: 2",
    ];
    const m = parseMessage(datagram(lines, "hi"));
    assert.deepEqual(
      [...m.headers].map((f) => f.name),
      ["CSeq", ...Object.values(compact), "Content-Length"],
    );
    for (const [short, long] of Object.entries(compact)) {
      assert.equal(m.headers.get(short), values[short]);
      assert.equal(m.headers.get(long.toUpperCase()), values[short]);
    }
    assert.equal(m.headers.contentLength(), 2);
    assert.equal(m.body.toString(), "hi");
  });

  it("unfolds folded values (the fold and its whitespace become one SP), even inside a Via list", () => {
    const m = parseMessage(
      datagram([
        "OPTIONS sip:gw.example.net SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1",
        "  ;branch=z9hG4bK1 ,",
        "\tSIP/2.0/TCP 192.0.2.2:5070;",
        "    received=192.0.2.99",
        "Subject:   first line   ",
        " \t second line",
        "From: <sip:a@example.com>;tag=1",
        "To: <sip:gw.example.net>",
        "Call-ID: fold@x",
        "CSeq:",
        "    7",
        "    OPTIONS",
        "Content-Length: 0",
      ]),
    );
    assert.equal(m.headers.get("Subject"), "first line second line");
    assert.equal(m.headers.get("CSeq"), "7 OPTIONS");
    assert.deepEqual(
      m.headers.vias().map((v) => [v.transport, v.host, v.port, v.branch, v.received]),
      [
        ["UDP", "192.0.2.1", undefined, "z9hG4bK1", undefined],
        ["TCP", "192.0.2.2", 5070, undefined, "192.0.2.99"],
      ],
    );
  });

  it("ignores CRLFs before the start line (RFC 3261 §7.5) and tolerates a missing final empty line in a datagram", () => {
    const m = parseMessage(Buffer.concat([Buffer.from("\r\n\r\n\r\n"), options(1)]));
    assert.equal(asRequest(m).method, "OPTIONS");
    const noEmptyLine = options(2).subarray(0, -2);
    assert.equal(asRequest(parseMessage(noEmptyLine)).method, "OPTIONS");
    assert.equal(refused(() => parseMessage(noEmptyLine.subarray(0, -2))).status, 400);
  });

  it("recognises keep-alive datagrams and refuses them as messages without a response", () => {
    assert.equal(isKeepAlive(Buffer.from("\r\n\r\n")), true);
    assert.equal(isKeepAlive(Buffer.from("\r\n")), true);
    assert.equal(isKeepAlive(Buffer.from("")), false);
    assert.equal(isKeepAlive(options(1)), false);
    assert.equal(refused(() => parseMessage(Buffer.from("\r\n\r\n"))).respondable, false);
  });

  it("takes the rest of the datagram as the body without Content-Length, and ignores octets beyond it", () => {
    const lines = [...OPTIONS, "Content-Type: text/plain"];
    assert.equal(parseMessage(datagram(lines, "abc\r\ndef")).body.toString(), "abc\r\ndef");
    assert.equal(parseMessage(datagram([...lines, "Content-Length: 3"], "abcdef")).body.toString(), "abc");
    const tooLong = refused(() => parseMessage(datagram([...lines, "Content-Length: 7"], "abcdef")));
    assert.equal(tooLong.status, 400);
    assert.equal(tooLong.respondable, true);
    for (const bad of ["-1", "five", "1 2", "0x10", "99999999999999999999"]) {
      assert.equal(refused(() => parseMessage(datagram([...lines, `Content-Length: ${bad}`], "abcdef"))).status, 400, bad);
    }
  });

  it("refuses a header section over the limit (513, unanswerable) and a body over the limit (413, answerable)", () => {
    const big = refused(() => parseMessage(options(1, [`X-Big: ${"a".repeat(2000)}`]), { maxHeaderBytes: 1024 }));
    assert.deepEqual([big.status, big.respondable], [513, false]);
    const body = "x".repeat(2000);
    const large = refused(() =>
      parseMessage(datagram([...OPTIONS, "Content-Type: text/plain", `Content-Length: ${body.length}`], body), { maxBodyBytes: 1024 }),
    );
    assert.deepEqual([large.status, large.respondable], [413, true]);
    assert.equal(parseMessage(options(1, [`X-Big: ${"a".repeat(15000)}`])).headers.get("X-Big")?.length, 15000);
  });

  it("reads the start line strictly: one SP between elements, SIP/2.0 in any case, 505 for other versions", () => {
    const withStart = (line: string) => datagram([line, ...OPTIONS.slice(1), "Content-Length: 0"]);
    assert.equal(asRequest(parseMessage(withStart("OPTIONS sip:gw.example.net sip/2.0"))).method, "OPTIONS");
    assert.equal(refused(() => parseMessage(withStart("OPTIONS sip:gw.example.net SIP/3.0"))).status, 505);
    for (const line of [
      "OPTIONS\tsip:gw.example.net SIP/2.0",
      "OPTIONS sip:gw.example.net",
      "OPTIONS  sip:gw.example.net SIP/2.0",
      "OPT IONS sip:x SIP/2.0",
      "OPTIONS sip:x SIP/2",
      "OPTIONS sip:x HTTP/1.1",
    ]) {
      const error = refused(() => parseMessage(withStart(line)));
      assert.equal(error.status, 400, line);
      // Without a token and a SP first, it is not even recognisable as a request.
      assert.equal(error.respondable, !line.includes("\t"), line);
    }
  });

  it("reads status lines: 100..699, any reason (even none), never answered", () => {
    const responseTo = (line: string) => datagram([line, ...OPTIONS.slice(1), "Content-Length: 0"]);
    const ok = parseMessage(responseTo("SIP/2.0 486 Busy Here")) as SipResponse;
    assert.deepEqual([ok.status, ok.reason], [486, "Busy Here"]);
    assert.equal((parseMessage(responseTo("SIP/2.0 180")) as SipResponse).reason, "");
    for (const line of ["SIP/2.0 099 Low", "SIP/2.0 700 High", "SIP/2.0 20 OK", "SIP/2.0 2000 OK", "SIP/2.0 abc OK", "SIP/2.0 200 O\u0001K"]) {
      const error = refused(() => parseMessage(responseTo(line)));
      assert.deepEqual([error.status, error.respondable], [400, false], line);
    }
  });

  it("refuses bare CR or LF in a field, lines that are no header field, and a fold before any field", () => {
    for (const extra of [["X-A: one\rtwo"], ["X-A: one\ntwo"], ["no colon here"], ["Bad Name: x"], ["Bad@Name: x"]]) {
      const error = refused(() => parseMessage(options(1, extra)));
      assert.deepEqual([error.status, error.respondable], [400, true], extra[0]);
    }
    const fold = refused(() => parseMessage(datagram(["OPTIONS sip:gw.example.net SIP/2.0", " folded", ...OPTIONS.slice(1)])));
    assert.equal(fold.status, 400);
  });

  it("requires Via, From, To, Call-ID and CSeq once each; answers only requests other than ACK that carry Via and CSeq", () => {
    for (const missing of ["From", "To", "Call-ID", "CSeq", "Via"]) {
      const error = refused(() => parseMessage(datagram([...OPTIONS.filter((l) => !l.startsWith(`${missing}:`)), "Content-Length: 0"])));
      assert.equal(error.status, 400, missing);
      assert.equal(error.respondable, missing !== "CSeq" && missing !== "Via", missing);
    }
    for (const twice of ["From: <sip:x@example.com>;tag=2", "To: <sip:y@example.com>", "Call-ID: other", "CSeq: 2 OPTIONS", "Max-Forwards: 5"]) {
      assert.equal(refused(() => parseMessage(options(1, [twice]))).status, 400, twice);
    }
    assert.equal(refused(() => parseMessage(options(1, ["Content-Type: text/plain", "c: text/html"]))).status, 400);
    const ack = datagram([...OPTIONS.map((l) => l.replaceAll("OPTIONS", "ACK")), "Max-Forwards: 300", "Content-Length: 0"]);
    assert.equal(refused(() => parseMessage(ack)).respondable, false);
  });

  it("builds the answer to a refused request from the raw Via, From, To, Call-ID and CSeq, adding a To tag", () => {
    const error = refused(() => parseMessage(options(1, ["Max-Forwards: 256"])));
    const answer = buildErrorResponse(error, { toTag: "gw-1", server: "OpenCVI" });
    assert.ok(answer);
    const text = serializeMessage(answer).toString();
    assert.equal(
      text,
      [
        "SIP/2.0 400 Multiple Max-Forwards headers",
        "Via: SIP/2.0/TCP 192.0.2.20:5060;branch=z9hG4bKopt1",
        "From: <sip:probe@example.com>;tag=a1",
        "To: <sip:gw.example.net>;tag=gw-1",
        "Call-ID: opt-1@192.0.2.20",
        "CSeq: 1 OPTIONS",
        "Server: OpenCVI",
        "Content-Length: 0",
        "",
        "",
      ].join("\r\n"),
    );
    assert.equal(error.basis?.topVia.branch, "z9hG4bKopt1");
  });
});

describe("URIs", () => {
  it("parses a full sips URI: password, IPv6 reference, port, parameters and headers, decoded", () => {
    const uri = parseUri("SIPS:alice:se%63ret@[2001:db8::1]:5061;Transport=TCP;lr;x%41=%41?Subject=hi%20there&Empty=");
    assert.ok(uri.kind === "sip");
    assert.deepEqual(
      [uri.scheme, uri.user, uri.password, uri.host, uri.hostKind, uri.port],
      ["sips", "alice", "secret", "2001:db8::1", "ipv6", 5061],
    );
    assert.deepEqual(
      [...uri.params],
      [
        ["transport", "TCP"],
        ["lr", null],
        ["xa", "A"],
      ],
    );
    assert.deepEqual(uri.headers, [
      ["Subject", "hi there"],
      ["Empty", ""],
    ]);
  });

  it("tells IPv4 addresses from domain names and refuses what is neither", () => {
    const host = (text: string) => {
      const uri = parseUri(`sip:${text}`);
      assert.ok(uri.kind === "sip");
      return [uri.host, uri.hostKind, uri.port];
    };
    assert.deepEqual(host("192.0.2.1:5060"), ["192.0.2.1", "ipv4", 5060]);
    assert.deepEqual(host("gw-1.example.net."), ["gw-1.example.net.", "domain", undefined]);
    for (const bad of [
      "sip:300.1.1.1",
      "sip:1.2.3",
      "sip:exa mple.com",
      "sip:a..b",
      "sip:",
      "sip:host:70000",
      "sip:host:",
      "sip:[::1",
      "sip:[zz::1]",
      "sip:@host",
      "sip:u@h;=x",
      "sip:h;a=",
      "sip:u%4@h",
      "sip:h?noequals",
      "1sip:h",
    ]) {
      assert.equal(refused(() => parseUri(bad)).status, 400, bad);
    }
  });

  it("parses tel URIs and keeps other schemes opaque", () => {
    const tel = parseUri("tel:+1-201-555-0123;phone-context=example.com;ext=12");
    assert.ok(tel.kind === "tel");
    assert.equal(tel.number, "+1-201-555-0123");
    assert.equal(tel.params.get("phone-context"), "example.com");
    const other = parseUri("HTTP://www.example.com/a?b=c");
    assert.deepEqual([other.kind, other.scheme], ["other", "http"]);
    assert.equal(refused(() => parseUri("urn:with space")).status, 400);
  });

  it("decodes escapes exactly once, UTF-8 when valid and octet by octet otherwise", () => {
    assert.equal(percentDecode("%41%42c"), "ABc");
    assert.equal(percentDecode("value%2541"), "value%41");
    assert.equal(percentDecode("caf%C3%A9"), "café");
    assert.equal(percentDecode("caf%E9"), "caf\u00e9");
    assert.equal(percentDecode("%00"), "\0");
    assert.equal(percentDecode("%EF%BB%BFa"), "\ufeffa");
    assert.equal(percentDecode("plain"), "plain");
  });
});

describe("header values", () => {
  it("reads Via: sent-protocol with LWS, rport flag and value, received (IPv4 or bare IPv6), maddr, ttl", () => {
    const [a, b, c] = parseVias(
      "SIP / 2.0 / udp [2001:db8::5]:5062;rport;branch=z9hG4bKa;received=2001:db8::9, SIP/2.0/TLS gw.example.net;rport=40000;maddr=239.1.1.1;ttl=16, SIP/2.0/WSS x.invalid",
    );
    assert.deepEqual([a?.transport, a?.host, a?.hostKind, a?.port, a?.rport, a?.received], ["UDP", "2001:db8::5", "ipv6", 5062, true, "2001:db8::9"]);
    assert.deepEqual([b?.rport, b?.maddr, b?.ttl, b?.branch], [40000, "239.1.1.1", 16, undefined]);
    assert.equal(c?.transport, "WSS");
    for (const bad of [
      "SIP/2.0/UDP",
      "SIP/2.0/UDP192.0.2.1",
      "SIP/2.0 UDP 192.0.2.1",
      "SIP/2.0/UDP 192.0.2.1;ttl=256",
      "SIP/2.0/UDP 192.0.2.1;branch",
      "SIP/2.0/UDP 192.0.2.1;branch=a;branch=b",
      "SIP/2.0/UDP 192.0.2.1;received=not an ip",
      "SIP/2.0/UDP 192.0.2.1;rport=99999",
      "SIP/2.0/UDP 192.0.2.1,",
      "SIP/2.0/UDP 192.0.2.1 garbage",
    ]) {
      assert.equal(refused(() => parseVias(bad)).status, 400, bad);
    }
  });

  it("reads name-addr and addr-spec with display names and parameters", () => {
    const quoted = parseNameAddr('"Alice \\"A\\" Smith" <sip:alice@example.com;transport=tcp>;tag=x1;Custom="a b"', "From");
    assert.deepEqual([quoted.displayName, quoted.tag, quoted.params.get("custom"), quoted.bracketed], ['Alice "A" Smith', "x1", "a b", true]);
    const tokens = parseNameAddr("Bob  Jones<sip:bob@example.com>", "To");
    assert.equal(tokens.displayName, "Bob  Jones");
    const spec = parseNameAddr("sip:carol@example.com;tag=9", "To");
    assert.deepEqual([spec.displayName, spec.tag, spec.bracketed, spec.uri.kind === "sip" && spec.uri.params.size], [undefined, "9", false, 0]);
    const utf8 = parseNameAddr("Zoë Räum <sip:z@example.com>", "From");
    assert.equal(utf8.displayName, "Zoë Räum");
    for (const bad of [
      '"open <sip:a@b.c>',
      "< sip:a@b.c>",
      "<sip:a@b.c",
      "a, b <sip:a@b.c>",
      "sip:a@b.c?x=y",
      "<sip:a@b.c>;tag",
      "<sip:a@b.c>;tag=1;tag=2",
      "<sip:a@b.c> junk",
      "",
      "<>",
    ]) {
      assert.equal(refused(() => parseNameAddr(bad, "From")).status, 400, bad);
    }
  });

  it("reads Contact lists, * and the expires and q parameters (large expires clamped, bad ones ignored)", () => {
    assert.equal(parseContacts(" * "), "*");
    const contacts = parseContacts('<sip:a@h1>;expires=3600;q=0.7, "B" <sip:b@h2>;expires=99999999999999;q=1.5, sip:c@h3;expires=soon');
    assert.ok(contacts !== "*");
    assert.deepEqual(
      contacts.map((c) => [c.expires, c.q]),
      [
        [3600, 0.7],
        [4294967295, undefined],
        [undefined, undefined],
      ],
    );
    assert.equal(refused(() => parseContacts("<sip:a@h1>,,<sip:b@h2>")).status, 400);
    const headers = new SipHeaders([
      ["Contact", "*"],
      ["Contact", "<sip:a@h1>"],
    ]);
    assert.equal(refused(() => headers.contacts()).status, 400);
  });

  it("reads CSeq within 32 bits and the bounded integers", () => {
    assert.deepEqual(parseCSeq(" 4294967295  INVITE "), { seq: 4294967295, method: "INVITE" });
    for (const bad of ["4294967296 INVITE", "1", "INVITE", "-1 INVITE", "1 INVITE x", "1INVITE"]) {
      assert.equal(refused(() => parseCSeq(bad)).status, 400, bad);
    }
    const h = (name: string, value: string) => new SipHeaders([[name, value]]);
    assert.equal(h("Max-Forwards", "0070").maxForwards(), 70);
    assert.equal(refused(() => h("Max-Forwards", "256").maxForwards()).status, 400);
    assert.equal(h("Expires", "99999999999").expires(), 4294967295);
    assert.equal(h("Expires", "Thu, 01 Dec 1994 16:00:00 GMT").expires(), undefined);
  });

  it("reads Session-Expires and Min-SE (RFC 4028)", () => {
    assert.deepEqual((({ deltaSeconds, refresher }) => ({ deltaSeconds, refresher }))(parseSessionExpires("1800 ; refresher = UAS")), {
      deltaSeconds: 1800,
      refresher: "uas",
    });
    assert.equal(parseSessionExpires("90").refresher, undefined);
    assert.equal(refused(() => parseSessionExpires("1800;refresher=proxy")).status, 400);
    assert.equal(refused(() => parseSessionExpires("soon")).status, 400);
    assert.equal(new SipHeaders([["Min-SE", "90;x=y"]]).minSE(), 90);
    assert.equal(new SipHeaders([["x", "1800"]]).sessionExpires()?.deltaSeconds, 1800);
  });

  it("reads Reason values (RFC 3326), skipping those that do not parse", () => {
    const reasons = parseReasons('Q.850 ;cause=16 ;text="Terminated", SIP;cause=200;text="Call completed elsewhere", garbage ;;');
    assert.deepEqual(
      reasons.map((r) => [r.protocol, r.cause, r.text]),
      [
        ["Q.850", 16, "Terminated"],
        ["SIP", 200, "Call completed elsewhere"],
      ],
    );
  });

  it("reads option-tag and method lists: Require is strict, the others skip what is no token", () => {
    const h = new SipHeaders([
      ["Supported", "timer, , 100rel,"],
      ["k", "replaces, bad tag"],
      ["Require", "timer"],
      ["Allow", "INVITE,ACK"],
      ["Allow", "BYE"],
    ]);
    assert.deepEqual(h.supported(), ["timer", "100rel", "replaces"]);
    assert.deepEqual(h.require(), ["timer"]);
    assert.deepEqual(h.allow(), ["INVITE", "ACK", "BYE"]);
    assert.equal(refused(() => new SipHeaders([["Require", "a b"]]).require()).status, 400);
  });
});

describe("SipHeaders", () => {
  it("keeps order and repeats, compares names case-insensitively and splits lists", () => {
    const h = new SipHeaders([
      ["Route", "<sip:p1;lr>, <sip:p2;lr>"],
      ["X-Custom", "1"],
      ["route", "<sip:p3;lr>"],
    ]);
    assert.deepEqual(h.getAll("ROUTE"), ["<sip:p1;lr>, <sip:p2;lr>", "<sip:p3;lr>"]);
    assert.deepEqual(h.values("Route"), ["<sip:p1;lr>", "<sip:p2;lr>", "<sip:p3;lr>"]);
    assert.deepEqual(
      h.routes().map((r) => r.uri.raw),
      ["sip:p1;lr", "sip:p2;lr", "sip:p3;lr"],
    );
    assert.deepEqual(
      [...h].map((f) => f.name),
      ["Route", "X-Custom", "Route"],
    );
    assert.equal(h.get("x-custom"), "1");
  });

  it("sets in place, deletes, and forgets parsed values when fields change", () => {
    const h = new SipHeaders([
      ["CSeq", "1 INVITE"],
      ["Via", "SIP/2.0/UDP a;branch=z9hG4bK1"],
      ["CSeq", "2 INVITE"],
    ]);
    h.set("cseq", "3 BYE");
    assert.deepEqual(
      [...h].map((f) => `${f.name}: ${f.value}`),
      ["CSeq: 3 BYE", "Via: SIP/2.0/UDP a;branch=z9hG4bK1"],
    );
    assert.deepEqual(h.cseq(), { seq: 3, method: "BYE" });
    h.set("CSeq", "4 BYE");
    assert.equal(h.cseq().seq, 4);
    assert.equal(h.delete("Via"), 1);
    assert.equal(h.vias().length, 0);
    h.set("Subject", "new");
    assert.equal([...h].at(-1)?.name, "Subject");
  });

  it("refuses names that are no token and values with line breaks (no header injection)", () => {
    const h = new SipHeaders();
    assert.throws(() => h.append("X-A", "ok\r\nVia: forged"), TypeError);
    assert.throws(() => h.append("X A", "v"), TypeError);
    assert.throws(() => h.set("X-A", "a\nb"), TypeError);
    assert.equal(h.size, 0);
  });
});

describe("serializer", () => {
  it("always recomputes Content-Length from the body, once, where it was", () => {
    const m = asRequest(parseMessage(invite()));
    m.headers.set("Content-Length", "9999");
    m.headers.append("Content-Length", "1");
    const body = Buffer.from("v=0\r\n");
    const text = serializeMessage({ ...m, body }).toString();
    assert.equal(text.match(/Content-Length/g)?.length, 1);
    assert.ok(text.endsWith("Content-Length: 5\r\n\r\nv=0\r\n"));
    const without = new SipHeaders([["Via", "SIP/2.0/UDP a"]]);
    const bytes = serializeMessage({ kind: "response", status: 200, reason: "OK", headers: without, body: Buffer.alloc(0) });
    assert.equal(bytes.toString(), "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a\r\nContent-Length: 0\r\n\r\n");
  });

  it("refuses start lines that are not SIP", () => {
    const headers = new SipHeaders();
    const body = Buffer.alloc(0);
    assert.throws(() => serializeMessage({ kind: "response", status: 200, reason: "OK\r\nX: y", headers, body }), TypeError);
    assert.throws(() => serializeMessage({ kind: "response", status: 99, reason: "x", headers, body }), TypeError);
    assert.throws(
      () => serializeMessage({ kind: "request", method: "IN VITE", uri: "sip:a", requestUri: parseUri("sip:a"), headers, body }),
      TypeError,
    );
    assert.throws(
      () => serializeMessage({ kind: "request", method: "INVITE", uri: "sip:a b", requestUri: parseUri("sip:a"), headers, body }),
      TypeError,
    );
  });

  it("builds responses per RFC 3261 §8.2.6: Vias in order, From, To with a new tag, Call-ID, CSeq", () => {
    const m = asRequest(
      parseMessage(
        datagram([
          "INVITE sip:1234567890@gw.example.net SIP/2.0",
          "Via: SIP/2.0/UDP p1.example.net;branch=z9hG4bKp1, SIP/2.0/UDP p2.example.net;branch=z9hG4bKp2",
          "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKua;rport=5060;received=192.0.2.10",
          "Max-Forwards: 68",
          "f: <sip:room@example.com>;tag=abc",
          "t: <sip:1234567890@gw.example.net>",
          "i: call-1@example.com",
          "CSeq: 7 INVITE",
          "Timestamp: 54",
          "Content-Length: 0",
        ]),
      ),
    );
    const trying = buildResponse(m, 100, "Trying");
    const ringing = buildResponse(m, 180, "Ringing", {
      toTag: "gw77",
      server: "OpenCVI",
      reasonHeader: 'SIP;cause=180;text="x"',
      headers: [["Contact", "<sip:gw@192.0.2.1>"]],
    });
    assert.equal(
      serializeMessage(ringing).toString(),
      [
        "SIP/2.0 180 Ringing",
        "Via: SIP/2.0/UDP p1.example.net;branch=z9hG4bKp1, SIP/2.0/UDP p2.example.net;branch=z9hG4bKp2",
        "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKua;rport=5060;received=192.0.2.10",
        "From: <sip:room@example.com>;tag=abc",
        "To: <sip:1234567890@gw.example.net>;tag=gw77",
        "Call-ID: call-1@example.com",
        "CSeq: 7 INVITE",
        "Server: OpenCVI",
        'Reason: SIP;cause=180;text="x"',
        "Contact: <sip:gw@192.0.2.1>",
        "Content-Length: 0",
        "",
        "",
      ].join("\r\n"),
    );
    assert.equal(trying.headers.get("Timestamp"), "54", "a 100 carries the Timestamp back");
    assert.equal(ringing.headers.get("Timestamp"), undefined);
    assert.equal(trying.headers.to().tag, undefined);
    const reparsed = parseMessage(serializeMessage(ringing)) as SipResponse;
    assert.deepEqual(
      reparsed.headers.vias().map((v) => v.branch),
      ["z9hG4bKp1", "z9hG4bKp2", "z9hG4bKua"],
    );
    // A To that has a tag keeps it.
    const tagged = parseMessage(
      Buffer.from(serializeMessage(m).toString().replace("gw.example.net>\r\n", "gw.example.net>;tag=old\r\n")),
    ) as SipRequest;
    assert.equal(buildResponse(tagged, 200, "OK", { toTag: "new" }).headers.to().tag, "old");
    assert.throws(() => buildResponse(m, 200, "OK", { toTag: "a b" }), TypeError);
  });
});

describe("SipStreamFramer", () => {
  const drain = (framer: SipStreamFramer, chunks: readonly Buffer[]): StreamItem[] => {
    const items: StreamItem[] = [];
    for (const chunk of chunks) {
      for (const item of framer.push(chunk)) {
        items.push(item);
        assert.ok(framer.bufferedBytes <= framer.capacity);
      }
      assert.ok(framer.bufferedBytes <= framer.capacity);
    }
    return items;
  };
  const callIds = (items: readonly StreamItem[]) =>
    items.map((item) => (item.kind === "message" ? item.message.headers.callId() : item.kind === "ping" ? "ping" : `invalid ${item.error.status}`));

  it("frames two messages split at every byte boundary", () => {
    const stream = Buffer.concat([invite(), options(2)]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const items = drain(new SipStreamFramer(), [stream.subarray(0, cut), stream.subarray(cut)]);
      assert.deepEqual(callIds(items), ["a84b4c76e66710@vtc.example.com", "opt-2@192.0.2.20"], `cut at ${cut}`);
    }
  });

  it("frames a stream fed one byte at a time, and the same stream in one chunk", () => {
    const stream = Buffer.concat([options(1), Buffer.from("\r\n"), invite(), options(3)]);
    const bytes = [...stream].map((b) => Buffer.from([b]));
    const expected = ["opt-1@192.0.2.20", "a84b4c76e66710@vtc.example.com", "opt-3@192.0.2.20"];
    assert.deepEqual(callIds(drain(new SipStreamFramer(), bytes)), expected);
    assert.deepEqual(callIds(drain(new SipStreamFramer(), [stream])), expected);
  });

  it("skips single CRLF keep-alives and reports each CRLFCRLF as a ping (RFC 5626), even when split", () => {
    const framer = new SipStreamFramer();
    assert.deepEqual(callIds(drain(framer, [Buffer.from("\r\n"), options(1), Buffer.from("\r\n\r\n"), options(2)])), [
      "opt-1@192.0.2.20",
      "ping",
      "opt-2@192.0.2.20",
    ]);
    assert.deepEqual(callIds(drain(framer, [Buffer.from("\r"), Buffer.from("\n\r"), Buffer.from("\n")])), ["ping"]);
    assert.deepEqual(callIds(drain(framer, [Buffer.from("\r\n\r\n\r\n\r\n\r\n")])), ["ping", "ping"]);
    assert.equal(framer.bufferedBytes, 0);
  });

  it("reports a well-framed but invalid message and goes on with the next", () => {
    const broken = datagram([...OPTIONS.filter((l) => !l.startsWith("From")), "Content-Length: 0"]);
    const items = drain(new SipStreamFramer(), [Buffer.concat([broken, options(5)])]);
    assert.deepEqual(callIds(items), ["invalid 400", "opt-5@192.0.2.20"]);
    const invalid = items[0];
    assert.ok(invalid?.kind === "invalid" && invalid.error.respondable);
  });

  it("throws on a missing Content-Length after the messages before it, and stays failed", () => {
    const framer = new SipStreamFramer();
    const seen: string[] = [];
    const noLength = datagram(OPTIONS);
    assert.throws(
      () => {
        for (const item of framer.push(Buffer.concat([options(1), noLength]))) seen.push(item.kind);
      },
      (e: unknown) => e instanceof SipParseError && e.status === 400 && e.respondable,
    );
    assert.deepEqual(seen, ["message"]);
    assert.throws(() => [...framer.push(options(2))], SipParseError);
    assert.ok(framer.failed);
  });

  it("refuses a header section that never ends (513) without holding more than the limit", () => {
    const framer = new SipStreamFramer({ maxHeaderBytes: 1024, maxBodyBytes: 1024 });
    const flood = Buffer.from(`OPTIONS sip:x SIP/2.0\r\nX: ${"a".repeat(10_000)}`);
    const error = refused(() => drain(framer, [flood]));
    assert.deepEqual([error.status, error.respondable], [513, false]);
    assert.ok(framer.bufferedBytes <= 2048);
    const slow = new SipStreamFramer({ maxHeaderBytes: 1024, maxBodyBytes: 1024 });
    assert.equal(
      refused(() =>
        drain(
          slow,
          [...flood.subarray(0, 1500)].map((b) => Buffer.from([b])),
        ),
      ).status,
      513,
    );
  });

  it("refuses a body over the limit (413) before reading it", () => {
    const framer = new SipStreamFramer({ maxHeaderBytes: 4096, maxBodyBytes: 1024 });
    const head = datagram([...OPTIONS, "Content-Type: text/plain", "Content-Length: 1000000"]);
    const error = refused(() => drain(framer, [head]));
    assert.deepEqual([error.status, error.respondable], [413, true]);
    assert.ok(framer.bufferedBytes <= head.length);
  });

  it("frames any chunking of any sequence of messages and keep-alives like parseMessage does, whatever its buffer size", () => {
    const pieces = [invite(), options(1), options(2, ["Subject: folded", "  value"]), Buffer.from("\r\n"), Buffer.from("\r\n\r\n")];
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: pieces.length - 1 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 900 }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1024, max: 4096 }),
        (order, sizes, limit) => {
          const parts = order.map((i) => pieces[i]!);
          const stream = Buffer.concat(parts);
          const chunks: Buffer[] = [];
          for (let at = 0, i = 0; at < stream.length; i++) {
            const size = sizes[i % sizes.length]!;
            chunks.push(stream.subarray(at, at + size));
            at += size;
          }
          const framer = new SipStreamFramer({ maxHeaderBytes: limit, maxBodyBytes: limit });
          const got = drain(framer, chunks).filter((item) => item.kind === "message");
          const expected = parts.filter((p) => p.length > 4).map((p) => structureOf(parseMessage(p)));
          assert.deepEqual(
            got.map((item) => item.kind === "message" && structureOf(item.message)),
            expected,
          );
          assert.ok(framer.bufferedBytes <= 2 * limit);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("cuts a chunk far larger than its buffer into all of its messages", () => {
    const framer = new SipStreamFramer({ maxHeaderBytes: 2048, maxBodyBytes: 2048 });
    const messages = Array.from({ length: 500 }, (_, i) => options(i));
    const items = drain(framer, [Buffer.concat(messages)]);
    assert.equal(items.length, 500);
    assert.deepEqual(callIds(items).slice(-1), ["opt-499@192.0.2.20"]);
    assert.equal(framer.bufferedBytes, 0);
  });
});
