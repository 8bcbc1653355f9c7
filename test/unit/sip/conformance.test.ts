/**
 * RFC 4475 (SIP torture test messages): every message of ../shared/conformance/rfc4475
 * gets the handling the RFC describes for it, one test per message, the RFC's
 * section and expectation in the test's name.
 *
 * Three layers answer: the parser (syntax, framing: a SipParseError with the
 * status, and whether a response can be built at all), the request sanity check
 * (RFC 3261 §8.2: well-formed requests the gateway still refuses), and the
 * transaction layer (noted where it applies). Where the RFC allows either
 * rejecting or being liberal, the name says which we chose.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SipParseError } from "../../../media-host/sip/errors.js";
import { isRfc3261Branch } from "../../../media-host/sip/headerValues.js";
import type { SipMessage, SipRequest, SipResponse } from "../../../media-host/sip/message.js";
import { SipStreamFramer, parseMessage } from "../../../media-host/sip/parser.js";
import { type RequestPolicy, checkRequestSanity } from "../../../media-host/sip/sanity.js";
import { buildErrorResponse, serializeMessage } from "../../../media-host/sip/serializer.js";
import { loadRfc4475 as load, rfc4475Files } from "./support.js";

/** The gateway: a UAS (B2BUA) that handles calls, not registrations or instant messages. */
const GATEWAY: RequestPolicy = {
  role: "uas",
  allowedMethods: ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE", "INFO", "PRACK"],
  supportedExtensions: ["timer", "100rel", "replaces"],
};
const REGISTRAR: RequestPolicy = { ...GATEWAY, allowedMethods: [...GATEWAY.allowedMethods, "REGISTER"] };
const PROXY: RequestPolicy = { ...GATEWAY, role: "proxy" };

function request(name: string): SipRequest {
  const message = parseMessage(load(name));
  assert.equal(message.kind, "request");
  return message as SipRequest;
}

function response(name: string): SipResponse {
  const message = parseMessage(load(name));
  assert.equal(message.kind, "response");
  return message as SipResponse;
}

function refusal(bytes: Buffer): SipParseError {
  try {
    parseMessage(bytes);
  } catch (error) {
    assert.ok(error instanceof SipParseError, `expected a SipParseError, got ${error}`);
    return error;
  }
  assert.fail("expected the parser to refuse the message");
}

/** The parser refuses with `status`; a respondable refusal must yield a response that itself parses. */
function assertRefused(name: string, status: number, respondable: boolean, reason?: string): SipParseError {
  const error = refusal(load(name));
  assert.equal(error.status, status, error.message);
  assert.equal(error.respondable, respondable, `respondable: ${error.message}`);
  if (reason !== undefined) assert.equal(error.reason, reason);
  const answer = buildErrorResponse(error, { toTag: "gw1" });
  assert.equal(answer !== undefined, respondable);
  if (answer) {
    // The response copies what the request carried, broken fields included (RFC 3261 §8.2.6), so it is checked as text.
    const text = serializeMessage(answer).toString();
    assert.ok(text.startsWith(`SIP/2.0 ${status} ${error.reason}\r\n`));
    for (const via of error.basis!.vias) assert.ok(text.includes(`\r\nVia: ${via}\r\n`));
    assert.ok(text.includes(`\r\nCSeq: ${error.basis!.cseq}\r\n`));
    assert.ok(text.endsWith("\r\nContent-Length: 0\r\n\r\n"));
  }
  return error;
}

function sanity(message: SipRequest, policy: RequestPolicy = GATEWAY) {
  return checkRequestSanity(message, policy);
}

/** Parses and re-parses the serialized form: what is accepted can be written back. */
function assertRoundTrips(message: SipMessage): void {
  const again = parseMessage(serializeMessage(message));
  assert.deepEqual(
    [...again.headers].filter((f) => f.name !== "Content-Length"),
    [...message.headers].filter((f) => f.name !== "Content-Length"),
  );
  assert.deepEqual(again.body, message.body);
}

const tests: Record<string, { readonly title: string; readonly run: () => void }> = {
  // 3.1.1 Valid messages: must parse.
  "wsinv.dat": {
    title: "3.1.1.1 short tortuous INVITE: valid, LWS and folding everywhere, must parse",
    run: () => {
      const m = request("wsinv.dat");
      assert.equal(m.method, "INVITE");
      assert.equal(m.requestUri.kind === "sip" && m.requestUri.params.get("unknownparam"), null);
      const h = m.headers;
      assert.equal(h.to().tag, "1918181833n");
      assert.equal(h.from().displayName, 'J Rosenberg \\"');
      assert.equal(h.from().tag, "98asjd8");
      assert.equal(h.maxForwards(), 68);
      assert.deepEqual(h.cseq(), { seq: 9, method: "INVITE" });
      assert.deepEqual(
        h.vias().map((v) => [v.protocolName, v.protocolVersion, v.transport, v.host, v.branch]),
        [
          ["SIP", "2.0", "UDP", "192.0.2.2", "390skdjuw"],
          ["SIP", "2.0", "TCP", "spindle.example.com", "z9hG4bK9ikj8"],
          ["SIP", "2.0", "UDP", "192.168.255.111", "z9hG4bK30239"],
        ],
      );
      assert.equal(h.get("s"), "");
      assert.equal(h.get("NewFangledHeader"), "newfangled value continued newfangled value");
      assert.equal(h.get("UnknownHeaderWithUnusualValue"), ";;,,;;,;");
      const route = h.routes()[0]!.uri;
      assert.ok(route.kind === "sip");
      assert.deepEqual(
        [...route.params],
        [
          ["lr", null],
          ["unknownwith", "value"],
          ["unknown-no-value", null],
        ],
      );
      const contacts = h.contacts();
      assert.ok(contacts !== "*" && contacts.length === 1);
      assert.equal(contacts[0]!.displayName, 'Quoted string ""');
      assert.deepEqual(
        [...contacts[0]!.params],
        [
          ["newparam", "newvalue"],
          ["secondparam", null],
          ["q", "0.33"],
        ],
      );
      assert.equal(contacts[0]!.q, 0.33);
      assert.equal(h.contentType()?.subtype, "sdp");
      assert.equal(m.body.length, 150);
      assert.equal(sanity(m), undefined);
      assertRoundTrips(m);
    },
  },
  "intmeth.dat": {
    title: "3.1.1.2 wide range of valid characters: valid, must parse; the method is an unknown extension (501)",
    run: () => {
      const m = request("intmeth.dat");
      const method = "!interesting-Method0123456789_*+`.%indeed'~";
      assert.equal(m.method, method);
      assert.equal(m.headers.cseq().method, method);
      assert.ok(m.requestUri.kind === "sip");
      assert.equal(m.requestUri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
      assert.equal(m.requestUri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
      assert.equal(m.requestUri.host, "example.com");
      // % is no escape in a token: the branch stays as written.
      assert.equal(m.headers.topVia()?.branch, "z9hG4bK-.!%66*_+`'~");
      assert.equal(m.headers.to().displayName, "BEL:\x07 NUL:\x00 DEL:\x7f");
      assert.equal(m.headers.from().displayName, "token1~` token2'+_ token3*%!.-");
      assert.equal(m.headers.from().params.get("fromparam''~+*_!.-%"), "работающий");
      assert.equal(m.headers.from().tag, "_token~1'+`*%!-.");
      assert.equal(m.headers.callId(), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
      assert.equal(m.headers.get("extensionHeader-!.%*+_`'~"), "\ufeff大停電");
      assert.equal(m.headers.maxForwards(), 255);
      assert.equal(sanity(m)?.status, 501);
      assertRoundTrips(m);
    },
  },
  "esc01.dat": {
    title: "3.1.1.3 valid use of % escaping: valid, must parse, components compare decoded (once)",
    run: () => {
      const m = request("esc01.dat");
      assert.ok(m.requestUri.kind === "sip");
      assert.equal(m.requestUri.user, "sips:user@example.com");
      assert.equal(m.requestUri.host, "example.net");
      const to = m.headers.to().uri;
      const from = m.headers.from().uri;
      assert.ok(to.kind === "sip" && from.kind === "sip");
      assert.equal(to.user, "user");
      assert.equal(from.user, "I have spaces");
      const contacts = m.headers.contacts();
      assert.ok(contacts !== "*");
      const contact = contacts[0]!.uri;
      assert.ok(contact.kind === "sip");
      assert.equal(contact.user, "caller");
      assert.equal(contact.params.get("lr"), null);
      assert.ok(contact.params.has("lr"));
      // "value%25%34%31" decodes once to "value%41", not to "valueA".
      assert.equal(contact.params.get("name"), "value%41");
      assert.ok(serializeMessage(m).toString().startsWith("INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\r\n"));
      assert.equal(sanity(m), undefined);
      assertRoundTrips(m);
    },
  },
  "escnull.dat": {
    title: "3.1.1.4 escaped nulls in URIs: valid, must parse, the NUL is data (two distinct contacts)",
    run: () => {
      const m = request("escnull.dat");
      const to = m.headers.to().uri;
      assert.ok(to.kind === "sip");
      assert.equal(to.user, "null-\0-null");
      const contacts = m.headers.contacts();
      assert.ok(contacts !== "*");
      assert.deepEqual(
        contacts.map((c) => (c.uri.kind === "sip" ? c.uri.user : undefined)),
        ["\0", "\0\0"],
      );
      const written = serializeMessage(m).toString("latin1");
      assert.ok(!written.includes("\0"), "an escaped NUL is written back escaped");
      assert.ok(written.includes("sip:%00%00@host5.example.com"));
      assert.equal(sanity(m, REGISTRAR), undefined);
      assertRoundTrips(m);
    },
  },
  "esc02.dat": {
    title: "3.1.1.5 % that is not an escape: valid, must parse; RE%47IST%45R is not REGISTER (501)",
    run: () => {
      const m = request("esc02.dat");
      assert.equal(m.method, "RE%47IST%45R");
      assert.notEqual(m.method, "REGISTER");
      assert.equal(m.headers.to().displayName, "%Z%45");
      assert.equal(m.headers.from().displayName, "%Z%45");
      const contacts = m.headers.contacts();
      assert.ok(contacts !== "*");
      assert.equal(contacts.length, 2, "C%6Fntact is another header");
      assert.equal(m.headers.get("C%6Fntact"), "<sip:alias2@host2.example.com>");
      assert.equal(sanity(m)?.status, 501);
      assertRoundTrips(m);
    },
  },
  "lwsdisp.dat": {
    title: "3.1.1.6 no LWS between display name and <: valid, must parse",
    run: () => {
      const m = request("lwsdisp.dat");
      assert.equal(m.headers.from().displayName, "caller");
      assert.equal(m.headers.from().tag, "323");
      assert.equal(sanity(m), undefined);
      assertRoundTrips(m);
    },
  },
  "longreq.dat": {
    title: "3.1.1.7 long values in header fields: valid, must parse (34 Vias in every spelling of Via)",
    run: () => {
      const raw = load("longreq.dat").toString("latin1");
      const m = request("longreq.dat");
      const h = m.headers;
      assert.equal(h.vias().length, 34);
      assert.equal(h.vias()[33]!.received, "192.0.2.5");
      assert.equal(h.to().displayName, "I have a user name of extremeextremeextremeextremeextremeextremeextremeextremeextremeextreme proportion");
      const to = h.to().uri;
      assert.ok(to.kind === "sip" && to.port === 6000);
      assert.equal(
        to.params.get("longparamnamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamenamename"),
        "shortvalue",
      );
      assert.equal(h.from().tag?.length, 155);
      assert.ok(raw.includes(`${h.from().tag}`));
      const unknownName = "Unknown-LongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLong-Name";
      const unknown = h.get(unknownName);
      assert.ok(unknown !== undefined && unknown.length > 200 && raw.includes(unknown));
      assert.equal(h.callId(), `longreq.one${"really".repeat(20)}longcallid`);
      assert.equal(m.body.length, 150);
      assertRoundTrips(m);
    },
  },
  "dblreq.dat": {
    title: "3.1.1.8 extra trailing octets in a UDP datagram: valid, the REGISTER parses and the rest is ignored",
    run: () => {
      const m = request("dblreq.dat");
      assert.equal(m.method, "REGISTER");
      assert.equal(m.body.length, 0);
      assert.equal(m.headers.callId(), "dblreq.0ha0isndaksdj99sdfafnl3lk233412");
      assert.ok(!serializeMessage(m).toString().includes("INVITE"));
      assertRoundTrips(m);
    },
  },
  "semiuri.dat": {
    title: "3.1.1.9 semicolon-separated parameters in the URI user part: valid, user is user;par=u@example.net",
    run: () => {
      const m = request("semiuri.dat");
      assert.ok(m.requestUri.kind === "sip");
      assert.equal(m.requestUri.user, "user;par=u@example.net");
      assert.equal(m.requestUri.host, "example.com");
      assert.equal(m.requestUri.params.size, 0);
      assert.deepEqual(
        m.headers.accept().map((a) => `${a.type}/${a.subtype}`),
        ["application/sdp", "application/pkcs7-mime", "multipart/mixed", "multipart/signed", "message/sip", "message/sipfrag"],
      );
      assert.equal(sanity(m), undefined);
      assertRoundTrips(m);
    },
  },
  "transports.dat": {
    title: "3.1.1.10 varied and unknown transport types: valid, must parse",
    run: () => {
      const m = request("transports.dat");
      assert.deepEqual(
        m.headers.vias().map((v) => v.transport),
        ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"],
      );
      assert.equal(m.headers.callId(), "transports.kijh4akdnaqjkwendsasfdj");
      assert.equal(sanity(m), undefined);
      assertRoundTrips(m);
    },
  },
  "mpart01.dat": {
    title: "3.1.1.11 multipart MIME message: valid, headers and multipart Content-Type parse (body bytes not checked)",
    run: () => {
      const m = request("mpart01.dat");
      assert.equal(m.method, "MESSAGE");
      const type = m.headers.contentType();
      assert.deepEqual([type?.type, type?.subtype, type?.params.get("boundary")], ["multipart", "mixed", "7a9cbec02ceef655"]);
      assert.equal(m.headers.get("Content-Transfer-Encoding"), "binary");
      assert.equal(m.headers.topVia()?.rport, true);
      assert.equal(m.headers.topVia()?.port, 5070);
      assert.equal(m.headers.routes()[0]?.uri.raw, "sip:127.0.0.1:5080");
      // Framed by Content-Length (553); this copy of the binary part is not byte-exact, so only the structure is checked.
      assert.equal(m.body.length, 553);
      assert.ok(m.body.toString("latin1").startsWith("--7a9cbec02ceef655\r\nContent-Type: text/plain\r\n"));
      assert.equal(sanity(m)?.status, 405, "the gateway takes no MESSAGE");
      assertRoundTrips(m);
    },
  },
  "unreason.dat": {
    title: "3.1.1.12 unusual reason phrase: valid, must parse (UTF-8 reason)",
    run: () => {
      const m = response("unreason.dat");
      assert.equal(m.status, 200);
      assert.equal(m.reason, "= 2**3 * 5**2 но сто девяносто девять - простое");
      assertRoundTrips(m);
    },
  },
  "noreason.dat": {
    title: "3.1.1.13 empty reason phrase: valid, must parse, the SP before it is written back",
    run: () => {
      const m = response("noreason.dat");
      assert.equal(m.status, 100);
      assert.equal(m.reason, "");
      assert.ok(serializeMessage(m).toString().startsWith("SIP/2.0 100 \r\n"));
      assertRoundTrips(m);
    },
  },

  // 3.1.2 Invalid messages.
  "badinv01.dat": {
    title: "3.1.2.1 extraneous header field separators: invalid, 400",
    run: () => assertRefused("badinv01.dat", 400, true, "Malformed Via"),
  },
  "clerr.dat": {
    title: "3.1.2.2 Content-Length larger than the message: 400 over UDP; on a stream, wait for more data",
    run: () => {
      assertRefused("clerr.dat", 400, true);
      const framer = new SipStreamFramer();
      assert.deepEqual([...framer.push(load("clerr.dat"))], []);
      assert.equal(framer.bufferedBytes, load("clerr.dat").length);
    },
  },
  "ncl.dat": {
    title: "3.1.2.3 negative Content-Length: 400 over UDP; on a stream a framing error (close the connection)",
    run: () => {
      assertRefused("ncl.dat", 400, true, "Malformed Content-Length");
      const framer = new SipStreamFramer();
      assert.throws(
        () => [...framer.push(load("ncl.dat"))],
        (e: unknown) => e instanceof SipParseError && e.status === 400,
      );
      assert.ok(framer.failed);
    },
  },
  "scalar02.dat": {
    title: "3.1.2.4 request scalar fields with overlarge values: 400 for the CSeq",
    run: () => assertRefused("scalar02.dat", 400, true, "Malformed CSeq"),
  },
  "scalarlg.dat": {
    title: "3.1.2.5 response scalar fields with overlarge values: discarded (no response to a response)",
    run: () => assertRefused("scalarlg.dat", 400, false),
  },
  "quotbal.dat": {
    title: "3.1.2.6 unterminated quoted string in display name: 400",
    run: () => assertRefused("quotbal.dat", 400, true, "Malformed To"),
  },
  "ltgtruri.dat": {
    title: "3.1.2.7 <> enclosing the Request-URI: 400",
    run: () => assertRefused("ltgtruri.dat", 400, true, "Malformed Request-URI"),
  },
  "lwsruri.dat": {
    title: "3.1.2.8 embedded LWS in the Request-URI: 400",
    run: () => assertRefused("lwsruri.dat", 400, true),
  },
  "lwsstart.dat": {
    title: "3.1.2.9 multiple SP separating Request-Line elements: rejecting is acceptable, we reject with 400",
    run: () => assertRefused("lwsstart.dat", 400, true),
  },
  "trws.dat": {
    title: "3.1.2.10 SP at the end of the Request-Line: rejecting is acceptable, we reject with 400",
    run: () => assertRefused("trws.dat", 400, true),
  },
  "escruri.dat": {
    title: "3.1.2.11 escaped headers in the SIP Request-URI: 400",
    run: () => assertRefused("escruri.dat", 400, true, "Malformed Request-URI"),
  },
  "baddate.dat": {
    title: "3.1.2.12 non-GMT time zone in Date: rejecting is allowed but we are liberal (Date is not used), parses",
    run: () => {
      const m = request("baddate.dat");
      assert.equal(m.headers.get("Date"), "Fri, 01 Jan 2010 16:00:00 EST");
      assert.equal(sanity(m), undefined);
      assertRoundTrips(m);
    },
  },
  "regbadct.dat": {
    title: "3.1.2.13 name-addr URI with a header not enclosed in <>: 400 (no inference of the brackets)",
    run: () => assertRefused("regbadct.dat", 400, true, "Malformed Contact"),
  },
  "badaspec.dat": {
    title: "3.1.2.14 spaces within addr-spec: 400",
    run: () => assertRefused("badaspec.dat", 400, true, "Malformed To"),
  },
  "baddn.dat": {
    title: "3.1.2.15 non-token characters in an unquoted display name: 400 (no quotes inferred)",
    run: () => {
      const error = assertRefused("baddn.dat", 400, true, "Malformed From");
      assert.match(error.message, /display name/);
    },
  },
  "badvers.dat": {
    title: "3.1.2.16 unknown protocol version: 505 Version Not Supported",
    run: () => assertRefused("badvers.dat", 505, true, "Version Not Supported"),
  },
  "mismatch01.dat": {
    title: "3.1.2.17 start line and CSeq method mismatch: parses, answered 400 by the sanity check",
    run: () => {
      const m = request("mismatch01.dat");
      assert.equal(m.method, "OPTIONS");
      assert.equal(m.headers.cseq().method, "INVITE");
      assert.equal(sanity(m)?.status, 400);
      assert.equal(sanity(m, PROXY)?.status, 400);
    },
  },
  "mismatch02.dat": {
    title: "3.1.2.18 unknown method with CSeq mismatch: parses, answered 501 (preferred over 400)",
    run: () => {
      const m = request("mismatch02.dat");
      assert.equal(m.method, "NEWMETHOD");
      const verdict = sanity(m);
      assert.equal(verdict?.status, 501);
      assert.ok(verdict?.headers.some(([name]) => name === "Allow"));
    },
  },
  "bigcode.dat": {
    title: "3.1.2.19 response code above 699: dropped (no response to a response)",
    run: () => assertRefused("bigcode.dat", 400, false),
  },

  // 3.2 Transaction-layer semantics.
  "badbranch.dat": {
    title: "3.2.1 branch that is only the magic cookie: parses; not an RFC 3261 branch, so RFC 2543 matching applies",
    run: () => {
      const m = request("badbranch.dat");
      const branch = m.headers.topVia()?.branch;
      assert.equal(branch, "z9hG4bK");
      assert.equal(isRfc3261Branch(branch), false);
      assert.equal(isRfc3261Branch("z9hG4bKkdjuw"), true);
      assert.equal(sanity(m), undefined);
    },
  },

  // 3.3 Application-layer semantics.
  "insuf.dat": {
    title: "3.3.1 missing Call-ID, From and To: must not break; 400, answered from Via and CSeq",
    run: () => {
      const error = assertRefused("insuf.dat", 400, true);
      assert.equal(error.basis?.from, undefined);
      assert.equal(error.basis?.callId, undefined);
      assert.equal(error.basis?.cseq, "193942 INVITE");
    },
  },
  "unkscm.dat": {
    title: "3.3.2 unknown Request-URI scheme: parses as a well-formed request; answered 416",
    run: () => {
      const m = request("unkscm.dat");
      assert.deepEqual([m.requestUri.kind, m.requestUri.scheme], ["other", "nobodyknowsthisscheme"]);
      assert.equal(sanity(m)?.status, 416);
    },
  },
  "novelsc.dat": {
    title: "3.3.3 known but atypical Request-URI scheme: parses; 416 where the scheme is never served",
    run: () => {
      const m = request("novelsc.dat");
      assert.equal(m.requestUri.scheme, "soap.beep");
      assert.equal(sanity(m)?.status, 416);
    },
  },
  "unksm2.dat": {
    title: "3.3.4 unknown URI schemes in header fields: parses; a registrar answers 400, the gateway 405",
    run: () => {
      const m = request("unksm2.dat");
      assert.equal(m.headers.to().uri.scheme, "isbn");
      assert.equal(m.headers.from().uri.scheme, "http");
      const contacts = m.headers.contacts();
      assert.ok(contacts !== "*" && contacts[0]!.uri.scheme === "name");
      assert.equal(sanity(m)?.status, 405);
      assert.equal(sanity(m, REGISTRAR)?.status, 400);
    },
  },
  "bext01.dat": {
    title: "3.3.5 unknown Require and Proxy-Require: parses; 420 listing Require (UAS) or Proxy-Require (proxy) in Unsupported",
    run: () => {
      const m = request("bext01.dat");
      assert.deepEqual(sanity(m), {
        status: 420,
        reason: "Bad Extension",
        headers: [["Unsupported", "nothingSupportsThis, nothingSupportsThisEither"]],
        respondable: true,
      });
      assert.deepEqual(sanity(m, PROXY)?.headers, [["Unsupported", "noProxiesSupportThis, norDoAnyProxiesSupportThis"]]);
    },
  },
  "invut.dat": {
    title: "3.3.6 unknown Content-Type: parses; an endpoint answers 415 with Accept",
    run: () => {
      const m = request("invut.dat");
      assert.equal(m.body.length, 40);
      assert.deepEqual(sanity(m), { status: 415, reason: "Unsupported Media Type", headers: [["Accept", "application/sdp"]], respondable: true });
      assert.equal(sanity(m, PROXY), undefined, "a proxy does not look at bodies");
    },
  },
  "regaut01.dat": {
    title: "3.3.7 unknown authorization scheme: parses; an endpoint that is no registrar answers 405",
    run: () => {
      const m = request("regaut01.dat");
      assert.equal(m.headers.get("Authorization"), "NoOneKnowsThisScheme opaque-data=here");
      assert.equal(sanity(m)?.status, 405);
    },
  },
  "multi01.dat": {
    title: "3.3.8 multiple values in single-value fields: must not break; 400",
    run: () => assertRefused("multi01.dat", 400, true),
  },
  "mcl01.dat": {
    title: "3.3.9 multiple Content-Length values: 400 over UDP; on a stream a framing error (close the connection)",
    run: () => {
      assertRefused("mcl01.dat", 400, true, "Multiple Content-Length headers");
      assert.throws(() => [...new SipStreamFramer().push(load("mcl01.dat"))], SipParseError);
    },
  },
  "bcast.dat": {
    title: "3.3.10 200 OK with a broadcast Via: parses; the transport must never send to 255.255.255.255",
    run: () => {
      const m = response("bcast.dat");
      assert.equal(m.headers.vias()[1]?.host, "255.255.255.255");
      assertRoundTrips(m);
    },
  },
  "zeromf.dat": {
    title: "3.3.11 Max-Forwards of zero: an endpoint processes it; a proxy answers OPTIONS itself, 483 for others",
    run: () => {
      const m = request("zeromf.dat");
      assert.equal(m.headers.maxForwards(), 0);
      assert.equal(sanity(m), undefined);
      assert.equal(sanity(m, PROXY), undefined);
      const bye = parseMessage(Buffer.from(load("zeromf.dat").toString("latin1").replaceAll("OPTIONS", "BYE"), "latin1")) as SipRequest;
      assert.equal(sanity(bye, PROXY)?.status, 483);
      assert.equal(sanity(bye), undefined);
    },
  },
  "cparam01.dat": {
    title: "3.3.12 REGISTER with a contact parameter: parses; unknownparam is a contact-param, not a URI parameter",
    run: () => {
      const contacts = request("cparam01.dat").headers.contacts();
      assert.ok(contacts !== "*" && contacts[0]!.uri.kind === "sip");
      assert.ok(contacts[0]!.params.has("unknownparam"));
      assert.equal(contacts[0]!.uri.params.size, 0);
    },
  },
  "cparam02.dat": {
    title: "3.3.13 REGISTER with a URL parameter: parses; unknownparam is a URI parameter, not a contact-param",
    run: () => {
      const contacts = request("cparam02.dat").headers.contacts();
      assert.ok(contacts !== "*" && contacts[0]!.uri.kind === "sip");
      assert.ok(contacts[0]!.uri.params.has("unknownparam"));
      assert.equal(contacts[0]!.params.size, 0);
    },
  },
  "regescrt.dat": {
    title: "3.3.14 REGISTER with a URL-escaped header: parses; the Contact URI carries Route=<sip:sip.example.com>",
    run: () => {
      const m = request("regescrt.dat");
      const contacts = m.headers.contacts();
      assert.ok(contacts !== "*" && contacts[0]!.uri.kind === "sip");
      assert.deepEqual(contacts[0]!.uri.headers, [["Route", "<sip:sip.example.com>"]]);
      assert.equal(sanity(m, REGISTRAR), undefined);
    },
  },
  "sdp01.dat": {
    title: "3.3.15 Accept that excludes SDP on an INVITE: parses; 406 Not Acceptable",
    run: () => {
      const m = request("sdp01.dat");
      assert.equal(sanity(m)?.status, 406);
    },
  },

  // 3.4 Backward compatibility.
  "inv2543.dat": {
    title: "3.4.1 RFC 2543 INVITE (no branch, no From tag, no Content-Length, no Max-Forwards): accepted",
    run: () => {
      const m = request("inv2543.dat");
      assert.equal(m.headers.topVia()?.branch, undefined);
      assert.equal(m.headers.from().tag, undefined);
      assert.equal(m.headers.maxForwards(), undefined);
      assert.equal(m.headers.contentLength(), undefined);
      assert.equal(m.body.length, 105, "the body is the rest of the datagram");
      assert.equal(m.headers.to().params.get("user"), "phone", "in an addr-spec, ;user=phone belongs to the header");
      assert.equal(m.headers.recordRoutes()[0]?.uri.raw, "sip:UserB@example.com;maddr=ss1.example.com");
      assert.equal(sanity(m), undefined);
      assertRoundTrips(m);
    },
  },
};

describe("RFC 4475 torture tests", () => {
  it("the corpus is where the tests look for it, with an expectation for each of its 49 messages", () => {
    const files = rfc4475Files();
    assert.equal(files.length, 49);
    assert.deepEqual(files, Object.keys(tests).sort());
  });

  for (const [file, { title, run }] of Object.entries(tests)) {
    it(`${file} — ${title}`, run);
  }
});
