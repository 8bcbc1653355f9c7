/**
 * Multipart bodies (RFC 2046 §5.1) and which part a request's session uses (RFC 5621):
 * the parser on well-formed and hostile bodies, the choice among alternatives, content
 * dispositions and handling, the statuses refusals carry, and the request the rest of
 * the media host is handed.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseContentDisposition, parseMediaType } from "../../../media-host/sip/headerValues.js";
import { parseMessage } from "../../../media-host/sip/parser.js";
import { MultipartError, type MultipartFault, parseMultipart } from "../../../media-host/sip/multipart.js";
import { MULTIPART_BODY_TYPES, checkRequestSanity } from "../../../media-host/sip/sanity.js";
import { hasAnchorableAudio, sessionBodyOf, withSessionBody } from "../../../media-host/sip/sessionBody.js";
import type { SipRequest } from "../../../media-host/sip/message.js";
import { LYNC_INVITES, lyncInvite } from "../../support/multipartInvites.js";
import { loadRfc4475 } from "./support.js";

const crlf = (...lines: string[]) => lines.join("\r\n");
const type = (value: string) => parseMediaType(value);

function sdp(label: string, port = 49170, profile = "RTP/AVP"): string {
  return crlf(
    "v=0",
    `o=${label} 1 1 IN IP4 192.0.2.10`,
    "s=-",
    "c=IN IP4 192.0.2.10",
    "t=0 0",
    `m=audio ${port} ${profile} 0`,
    "a=rtpmap:0 PCMU/8000",
    "",
  );
}

/** A multipart body: each part is [header lines, content]; the CRLF before each delimiter is the delimiter's. */
function multipart(
  boundary: string,
  parts: readonly (readonly [readonly string[], string])[],
  options: { preamble?: string; epilogue?: string } = {},
): string {
  let out = options.preamble === undefined ? "" : `${options.preamble}\r\n`;
  for (const [headers, content] of parts) out += `--${boundary}\r\n${headers.map((h) => `${h}\r\n`).join("")}\r\n${content}\r\n`;
  return `${out}--${boundary}--${options.epilogue === undefined ? "" : `\r\n${options.epilogue}`}`;
}

const sdpPart = (label: string, headers: string[] = [], port?: number, profile?: string) =>
  [["Content-Type: application/sdp", ...headers], sdp(label, port, profile)] as const;

function faultOf(run: () => unknown): MultipartFault | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    assert.ok(error instanceof MultipartError, `not a MultipartError: ${String(error)}`);
    return error.fault;
  }
}

function chosen(body: string | Buffer, contentType: string, disposition?: string) {
  return sessionBodyOf(
    Buffer.isBuffer(body) ? body : Buffer.from(body),
    type(contentType),
    disposition === undefined ? undefined : parseContentDisposition(disposition),
  );
}

const sdpOf = (verdict: ReturnType<typeof sessionBodyOf>) => (verdict.kind === "sdp" ? verdict.sdp.toString() : verdict.kind);

describe("multipart bodies (RFC 2046 §5.1.1)", () => {
  it("ignores preamble and epilogue; a delimiter may carry transport padding; the CRLF before a delimiter is the delimiter's", () => {
    const body = `This is the preamble.\r\n--b1  \t\r\nContent-Type: text/plain\r\n\r\none\r\n--b1\r\n\r\ntwo\r\n\r\n--b1--\r\nThis is the epilogue.\r\n--b1\r\nnot a part\r\n`;
    const m = parseMultipart(Buffer.from(body), type("multipart/mixed; boundary=b1"));
    assert.equal(m.subtype, "mixed");
    assert.deepEqual(
      m.parts.map((p) => p.body.toString()),
      ["one", "two\r\n"],
    );
    // A part without header fields is text/plain (RFC 2046 §5.1).
    assert.equal(`${m.parts[1]!.contentType.type}/${m.parts[1]!.contentType.subtype}`, "text/plain");
    assert.equal(m.parts[1]!.contentType.params.get("charset"), "us-ascii");
  });

  it("takes quoted boundaries with the characters only quotes allow (= ? / : space), and the first delimiter at the very start", () => {
    const boundary = "----=_NextPart_000_27C7_01CE45DC.5D4863F0 ?/:(x)";
    const body = multipart(boundary, [[["Content-Type: application/sdp"], sdp("a")]]);
    const m = parseMultipart(Buffer.from(body), type(`multipart/alternative;boundary="${boundary}"`));
    assert.equal(m.boundary, boundary);
    assert.equal(m.parts[0]!.body.toString(), sdp("a"));
  });

  it("keeps lines that only start like the boundary, and bare CR or LF octets, inside a part", () => {
    const content = "--b1x is not a delimiter\r\n--b1 followed by text is not one either\r\nline\rwith\nbare breaks";
    const m = parseMultipart(Buffer.from(`--b1\r\n\r\n${content}\r\n--b1--`), type("multipart/mixed;boundary=b1"));
    assert.equal(m.parts.length, 1);
    assert.equal(m.parts[0]!.body.toString(), content);
  });

  it("reads part headers: folded values, any case, Content-Length only as information, transfer encoding lower-cased", () => {
    const body = multipart("b", [
      [
        [
          "content-TYPE: application/sdp",
          "Content-Disposition: session;",
          " handling=optional; ms-proxy-2007fallback",
          "Content-Length: 9999",
          "Content-Transfer-Encoding: 7BIT",
          "Content-ID: <x@example.com>",
        ],
        sdp("a"),
      ],
      [["Content-Length: not-a-number"], "hi"],
    ]);
    const [first, second] = parseMultipart(Buffer.from(body), type("multipart/mixed;boundary=b")).parts;
    assert.equal(first!.contentType.subtype, "sdp");
    assert.deepEqual(
      [first!.disposition?.type, first!.disposition?.handling, first!.disposition?.params.has("ms-proxy-2007fallback")],
      ["session", "optional", true],
    );
    assert.equal(first!.contentLength, 9999);
    assert.equal(first!.transferEncoding, "7bit");
    assert.equal(first!.body.toString(), sdp("a"), "the delimiters frame a part, not its Content-Length");
    assert.deepEqual(first!.headers.at(-1), ["Content-ID", "<x@example.com>"]);
    assert.equal(second!.contentLength, undefined);
  });

  it("a part whose header section never ends has no content", () => {
    const m = parseMultipart(Buffer.from("--b\r\nContent-Type: text/plain\r\n\r\n--b--"), type("multipart/mixed;boundary=b"));
    assert.equal(m.parts[0]!.contentType.subtype, "plain");
    assert.equal(m.parts[0]!.body.length, 0);
  });

  it("opens nested multiparts, even when the inner boundary extends the outer one", () => {
    const inner = multipart("outer-inner", [
      [["Content-Type: application/sdp"], sdp("a")],
      [["Content-Type: application/sdp"], sdp("b")],
    ]);
    const body = multipart("outer", [
      [['Content-Type: multipart/alternative; boundary="outer-inner"'], inner],
      [["Content-Type: application/pidf+xml"], "<presence/>"],
    ]);
    const m = parseMultipart(Buffer.from(body), type("multipart/mixed;boundary=outer"));
    assert.equal(m.parts.length, 2);
    assert.deepEqual(
      m.parts[0]!.multipart?.parts.map((p) => p.body.toString()),
      [sdp("a"), sdp("b")],
    );
  });

  it("RFC 4475 §3.1.1.11 (mpart01.dat): a text part and a binary S/MIME part, CRs and LFs inside it kept", () => {
    // Our copy's binary part went through an LF → CRLF pass (see its README): the declared
    // Content-Length now ends 3 octets short of the close delimiter, so the structure is read
    // from all the octets after the header section, and the message as declared is truncated.
    const file = loadRfc4475("mpart01.dat");
    const message = parseMessage(file);
    const whole = file.subarray(file.indexOf("\r\n\r\n") + 4);
    const m = parseMultipart(whole, message.headers.contentType()!);
    assert.deepEqual(
      m.parts.map((p) => `${p.contentType.type}/${p.contentType.subtype} ${p.transferEncoding}`),
      ["text/plain binary", "application/octet-stream binary"],
    );
    assert.equal(m.parts[0]!.body.toString(), "Hello");
    const binary = m.parts[1]!.body;
    assert.deepEqual([binary[0], binary[1]], [0x30, 0x82], "a DER SEQUENCE");
    assert.equal(binary.length, 345);
    assert.ok(binary.includes("\r\n"), "CRLFs inside the part are content");
    assert.equal(
      faultOf(() => parseMultipart(message.body, message.headers.contentType()!)),
      "no-close-delimiter",
    );
  });

  it("refuses malformed bodies with a MultipartError naming the fault, never anything else", () => {
    const mixed = (boundary: string) => type(`multipart/mixed;boundary="${boundary}"`);
    const one = multipart("b", [[["Content-Type: text/plain"], "x"]]);
    const cases: [string, () => unknown, MultipartFault][] = [
      ["no boundary parameter", () => parseMultipart(Buffer.from(one), type("multipart/mixed")), "missing-boundary"],
      ["a boundary without a value", () => parseMultipart(Buffer.from(one), type("multipart/mixed;boundary")), "bad-boundary"],
      ["an empty boundary", () => parseMultipart(Buffer.from(one), mixed("")), "bad-boundary"],
      ["71 characters", () => parseMultipart(Buffer.from(one), mixed("a".repeat(71))), "bad-boundary"],
      ["a trailing space", () => parseMultipart(Buffer.from(one), mixed("ab ")), "bad-boundary"],
      ["a character outside bchars", () => parseMultipart(Buffer.from(one), mixed("a<b")), "bad-boundary"],
      ["no delimiter at all", () => parseMultipart(Buffer.from("just text\r\n"), type("multipart/mixed;boundary=b")), "no-delimiter"],
      ["the boundary only mid-line", () => parseMultipart(Buffer.from("x--b\r\n"), type("multipart/mixed;boundary=b")), "no-delimiter"],
      ["no close delimiter", () => parseMultipart(Buffer.from("--b\r\n\r\nx\r\n"), type("multipart/mixed;boundary=b")), "no-close-delimiter"],
      ["a close delimiter alone", () => parseMultipart(Buffer.from("--b--\r\n"), type("multipart/mixed;boundary=b")), "no-close-delimiter"],
      [
        "a header line without a colon",
        () => parseMultipart(Buffer.from("--b\r\nnot a header\r\n\r\nx\r\n--b--"), type("multipart/mixed;boundary=b")),
        "bad-part-header",
      ],
      [
        "a bare LF in the header section",
        () => parseMultipart(Buffer.from("--b\r\nA: 1\nB: 2\r\n\r\nx\r\n--b--"), type("multipart/mixed;boundary=b")),
        "bad-part-header",
      ],
      [
        "a fold before any field",
        () => parseMultipart(Buffer.from("--b\r\n folded\r\n\r\nx\r\n--b--"), type("multipart/mixed;boundary=b")),
        "bad-part-header",
      ],
      [
        "two Content-Types",
        () => parseMultipart(Buffer.from("--b\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n\r\nx\r\n--b--"), type("multipart/mixed;boundary=b")),
        "bad-part-header",
      ],
      [
        "a malformed Content-Type",
        () => parseMultipart(Buffer.from("--b\r\nContent-Type: sdp\r\n\r\nx\r\n--b--"), type("multipart/mixed;boundary=b")),
        "bad-part-header",
      ],
      [
        "a malformed Content-Disposition",
        () => parseMultipart(Buffer.from("--b\r\nContent-Disposition: ;x\r\n\r\nx\r\n--b--"), type("multipart/mixed;boundary=b")),
        "bad-part-header",
      ],
      [
        "a base64 multipart part",
        () =>
          parseMultipart(
            Buffer.from("--b\r\nContent-Type: multipart/mixed;boundary=c\r\nContent-Transfer-Encoding: base64\r\n\r\nx\r\n--b--"),
            type("multipart/mixed;boundary=b"),
          ),
        "bad-transfer-encoding",
      ],
      [
        "33 parts",
        () =>
          parseMultipart(
            Buffer.from(
              multipart(
                "b",
                Array.from({ length: 33 }, () => [[], "x"] as const),
              ),
            ),
            type("multipart/mixed;boundary=b"),
          ),
        "too-many-parts",
      ],
      [
        "five levels",
        () => {
          let body = multipart("l5", [[[], "x"]]);
          for (let level = 4; level >= 1; level--) body = multipart(`l${level}`, [[[`Content-Type: multipart/mixed;boundary=l${level + 1}`], body]]);
          return parseMultipart(Buffer.from(body), type("multipart/mixed;boundary=l1"));
        },
        "too-deep",
      ],
      [
        "a nested multipart without a boundary",
        () => parseMultipart(Buffer.from(multipart("b", [[["Content-Type: multipart/mixed"], "x"]])), type("multipart/mixed;boundary=b")),
        "missing-boundary",
      ],
    ];
    for (const [what, run, fault] of cases) assert.equal(faultOf(run), fault, what);
    // The limits are the caller's to set.
    assert.equal(
      faultOf(() =>
        parseMultipart(
          Buffer.from(
            multipart("b", [
              [[], "x"],
              [[], "y"],
            ]),
          ),
          type("multipart/mixed;boundary=b"),
          { maxParts: 1 },
        ),
      ),
      "too-many-parts",
    );
  });

  it("a hostile part count costs one pass: 10,000 empty parts stop at the limit at once", () => {
    const body = Buffer.from(`--b\r\n${"\r\n\r\n--b\r\n".repeat(10_000)}\r\n--b--`);
    const started = performance.now();
    assert.equal(
      faultOf(() => parseMultipart(body, type("multipart/mixed;boundary=b"))),
      "too-many-parts",
    );
    assert.ok(performance.now() - started < 200);
  });
});

describe("the session description of a multipart body (RFC 5621)", () => {
  const mixedType = "multipart/mixed;boundary=b";

  it("Lync / Skype for Business: of the two alternatives, the RFC 5245 ICE SDP (the last) is used, in both published shapes", () => {
    for (const name of LYNC_INVITES) {
      const message = parseMessage(lyncInvite(name));
      const verdict = sessionBodyOf(message.body, message.headers.contentType()!, undefined);
      assert.equal(verdict.kind, "sdp", name);
      const text = sdpOf(verdict);
      assert.match(text, /^v=0\r\n/, name);
      assert.match(text, /a=ice-ufrag:DHCA\r\n/, `${name}: the ICEv19 part`);
      assert.doesNotMatch(text, /0\.830/, `${name}: not the draft-06 fallback`);
      assert.doesNotMatch(text, /NextPart|Content-Type|conversationContext/, name);
    }
  });

  it("alternatives: the last we understand wins; one without anchorable audio is passed over; with none anchorable, still the last", () => {
    const alternative = "multipart/alternative;boundary=b";
    assert.match(sdpOf(chosen(multipart("b", [sdpPart("first"), sdpPart("last")]), alternative)), /o=last/);
    assert.match(sdpOf(chosen(multipart("b", [sdpPart("first"), [["Content-Type: application/x-new-session"], "??"]]), alternative)), /o=first/);
    assert.match(sdpOf(chosen(multipart("b", [sdpPart("usable"), sdpPart("stripped", [], 0)]), alternative)), /o=usable/);
    assert.match(sdpOf(chosen(multipart("b", [sdpPart("usable"), sdpPart("fax", [], 49170, "udptl")]), alternative)), /o=usable/);
    assert.match(sdpOf(chosen(multipart("b", [sdpPart("zero-a", [], 0), sdpPart("zero-b", [], 0)]), alternative)), /o=zero-b/);
    // The parts' own handling does not count inside an alternative (RFC 5621): a required part we skip refuses nothing.
    assert.match(
      sdpOf(
        chosen(multipart("b", [sdpPart("sdp"), [["Content-Type: text/html", "Content-Disposition: render;handling=required"], "<p/>"]]), alternative),
      ),
      /o=sdp/,
    );
  });

  it("an alternative with nothing we understand: 415 when required (the default), ignored when optional", () => {
    const body = multipart("b", [
      [["Content-Type: text/plain"], "a"],
      [["Content-Type: text/html"], "<p>a</p>"],
    ]);
    const refused = chosen(body, "multipart/alternative;boundary=b");
    assert.deepEqual([refused.kind, refused.kind === "refused" && refused.status], ["refused", 415]);
    assert.equal(chosen(body, "multipart/alternative;boundary=b", "session;handling=optional").kind, "none");
    const nested = multipart("m", [
      sdpPart("outer"),
      [['Content-Type: multipart/alternative;boundary="b"', "Content-Disposition: render;handling=optional"], body],
    ]);
    assert.match(sdpOf(chosen(nested, "multipart/mixed;boundary=m")), /o=outer/);
  });

  it("mixed: the SDP is used and optional parts are ignored (presence, ISUP as signal, a call context)", () => {
    const body = multipart("b", [
      sdpPart("offer"),
      [["Content-Type: application/pidf+xml", "Content-Disposition: render;handling=optional"], "<presence/>"],
      [["Content-Type: application/isup;version=itu-t92+", "Content-Disposition: signal;handling=optional"], "\x01\x02\x03"],
      [["Content-Type: application/ms-conversation-context+xml", "Content-Disposition: render; handling=OPTIONAL"], "<cc/>"],
    ]);
    assert.match(sdpOf(chosen(body, mixedType)), /o=offer/);
  });

  it("mixed: a part we cannot handle is required unless it says optional: 415 (no Content-Disposition, handling=required, an unknown handling)", () => {
    for (const headers of [
      ["Content-Type: application/pidf+xml"],
      ["Content-Type: application/pidf+xml", "Content-Disposition: render;handling=required"],
      ["Content-Type: application/rs-metadata+xml", "Content-Disposition: recording-session"],
      ["Content-Type: application/isup", "Content-Disposition: signal;handling=maybe"],
      // An SDP we understand, in a disposition we do not (early media, RFC 3959; rendering it).
      ["Content-Type: application/sdp", "Content-Disposition: early-session"],
      ["Content-Type: application/sdp", "Content-Disposition: render"],
      // A session description we cannot decode.
      ["Content-Type: application/sdp", "Content-Transfer-Encoding: quoted-printable"],
      // Other multipart subtypes are types we do not take.
      ["Content-Type: multipart/related;boundary=r"],
    ]) {
      const other = headers[0] === "Content-Type: multipart/related;boundary=r" ? multipart("r", [sdpPart("related")]) : "data";
      const verdict = chosen(multipart("b", [sdpPart("offer"), [headers, other]]), mixedType);
      assert.equal(verdict.kind === "refused" && verdict.status, 415, headers.join(" | "));
      assert.equal(verdict.kind === "refused" && verdict.reason, "Unsupported Media Type");
    }
    const early = chosen(
      multipart("b", [sdpPart("offer"), [["Content-Type: application/sdp", "Content-Disposition: early-session;handling=optional"], sdp("early")]]),
      mixedType,
    );
    assert.match(sdpOf(early), /o=offer/, "an optional early-session SDP is ignored");
  });

  it("mixed: two session descriptions are a 400; none (all parts optional) leaves the request without an offer", () => {
    const two = chosen(multipart("b", [sdpPart("one"), sdpPart("two")]), mixedType);
    assert.deepEqual([two.kind, two.kind === "refused" && two.status], ["refused", 400]);
    const none = chosen(
      multipart("b", [[["Content-Type: application/pidf+xml", "Content-Disposition: render;handling=optional"], "<p/>"]]),
      mixedType,
    );
    assert.equal(none.kind, "none");
  });

  it("a base64 SDP part is decoded; broken base64 is an SDP we cannot use", () => {
    const encoded = Buffer.from(sdp("b64"))
      .toString("base64")
      .replace(/(.{40})/g, "$1\r\n");
    assert.equal(
      sdpOf(chosen(multipart("b", [[["Content-Type: application/sdp", "Content-Transfer-Encoding: base64"], encoded]]), mixedType)),
      sdp("b64"),
    );
    const broken = chosen(multipart("b", [[["Content-Type: application/sdp", "Content-Transfer-Encoding: base64"], "!!!"]]), mixedType);
    assert.equal(broken.kind === "refused" && broken.status, 415);
  });

  it("a malformed body is a 400 naming the fault", () => {
    const verdict = chosen("--b\r\n\r\nunterminated", mixedType);
    assert.equal(verdict.kind === "refused" && verdict.status, 400);
    assert.match(verdict.kind === "refused" ? verdict.detail : "", /no-close-delimiter/);
  });

  it("hasAnchorableAudio: an m=audio with a port and an RTP profile rtpengine relays", () => {
    const yes = (text: string) => hasAnchorableAudio(Buffer.from(text));
    assert.ok(yes(sdp("a")));
    assert.ok(yes(sdp("a", 5004, "RTP/SAVP")));
    assert.ok(yes(sdp("a", 5004, "UDP/TLS/RTP/SAVPF")));
    assert.ok(yes(sdp("a", 5004, "rtp/avpf")));
    assert.ok(yes(sdp("a").replace("m=audio 49170", "m=audio 49170/2").replaceAll("\r\n", "\n")));
    assert.ok(!yes(sdp("a", 0)));
    assert.ok(!yes(sdp("a", 5004, "udptl")));
    assert.ok(!yes(sdp("a").replace("m=audio", "m=video")));
    assert.ok(!yes(`x${sdp("a")}`));
    assert.ok(!yes(""));
  });
});

function request(lines: readonly string[], body: string): SipRequest {
  const message = parseMessage(Buffer.from(`${lines.join("\r\n")}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
  assert.equal(message.kind, "request");
  return message as SipRequest;
}

function headersOf(method: string, contentType: string): string[] {
  return [
    `${method} sip:123456789.1234567890@192.0.2.1 SIP/2.0`,
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-mp;rport",
    "Max-Forwards: 70",
    "From: <sip:room@example.com>;tag=r1",
    `To: <sip:123456789.1234567890@192.0.2.1>${method === "INVITE" ? "" : ";tag=gw"}`,
    "Call-ID: mp@example.com",
    `CSeq: 1 ${method}`,
    "Contact: <sip:room@192.0.2.10>",
    `Content-Type: ${contentType}`,
  ];
}

describe("the request handed on (withSessionBody) and the sanity check", () => {
  const accept = ["application/sdp", ...MULTIPART_BODY_TYPES];
  const policy = {
    role: "uas" as const,
    allowedMethods: ["INVITE", "ACK", "UPDATE", "INFO", "BYE"],
    supportedExtensions: [],
    multipartBodyTypes: MULTIPART_BODY_TYPES,
  };

  it("a Lync INVITE becomes a plain SDP INVITE: Content-Type application/sdp, its Content-Length, every other field as received", () => {
    const original = parseMessage(lyncInvite("lync-call-context")) as SipRequest;
    assert.equal(checkRequestSanity(original, policy), undefined);
    const view = withSessionBody(original, accept);
    assert.ok("request" in view);
    const handed = view.request;
    assert.equal(handed.headers.get("Content-Type"), "application/sdp");
    assert.equal(handed.headers.contentLength(), handed.body.length);
    assert.match(handed.body.toString(), /a=ice-ufrag:DHCA/);
    const others = (r: SipRequest) => [...r.headers].filter((f) => !["Content-Type", "Content-Length"].includes(f.name));
    assert.deepEqual(others(handed), others(original));
    assert.equal(handed.uri, original.uri);
  });

  it("a refusal carries its status, Accept (for a 415) and a Reason; an ACK's is not answered", () => {
    const body = multipart("b", [sdpPart("offer"), [["Content-Type: application/pidf+xml"], "<presence/>"]]);
    const view = withSessionBody(request(headersOf("INVITE", "multipart/mixed;boundary=b"), body), accept);
    assert.ok("rejection" in view);
    assert.equal(view.rejection.status, 415);
    assert.deepEqual(view.rejection.headers[0], ["Accept", "application/sdp, multipart/mixed, multipart/alternative"]);
    assert.match(view.rejection.headers[1]?.[1] ?? "", /^SIP;cause=415;text="a required application\/pidf\+xml part"$/);
    const ack = withSessionBody(request(headersOf("ACK", "multipart/mixed;boundary=b"), "--b\r\n"), accept);
    assert.ok("rejection" in ack && !ack.rejection.respondable && ack.rejection.status === 400);
  });

  it("nothing for the session: the request goes on without a body; without multipart it is untouched", () => {
    const body = multipart("b", [[["Content-Type: application/pidf+xml", "Content-Disposition: render;handling=optional"], "<presence/>"]]);
    const view = withSessionBody(request(headersOf("UPDATE", "multipart/mixed;boundary=b"), body), accept);
    assert.ok("request" in view);
    assert.equal(view.request.body.length, 0);
    assert.equal(view.request.headers.has("Content-Type"), false);
    const plain = request(headersOf("INVITE", "application/sdp"), sdp("plain"));
    const same = withSessionBody(plain, accept);
    assert.ok("request" in same && same.request === plain);
  });

  it("the message's own Content-Disposition handling applies to the whole body; a malformed one is a 400", () => {
    const body = multipart("b", [[["Content-Type: text/plain"], "nothing for a session"]]);
    const optional = withSessionBody(
      request([...headersOf("INVITE", "multipart/mixed;boundary=b"), "Content-Disposition: session;handling=optional"], body),
      accept,
    );
    assert.ok("request" in optional && optional.request.body.length === 0);
    const malformed = withSessionBody(request([...headersOf("INVITE", "multipart/mixed;boundary=b"), "Content-Disposition: ;;"], body), accept);
    assert.ok("rejection" in malformed && malformed.rejection.status === 400);
  });

  it("sanity: multipart/mixed and /alternative pass in INVITE, ACK and UPDATE; other multiparts, and multipart in INFO, get 415 with Accept", () => {
    const body = multipart("b", [sdpPart("x")]);
    for (const method of ["INVITE", "UPDATE", "ACK"]) {
      for (const subtype of ["mixed", "alternative"]) {
        assert.equal(
          checkRequestSanity(request(headersOf(method, `multipart/${subtype};boundary=b`), body), policy),
          undefined,
          `${method} ${subtype}`,
        );
      }
    }
    const related = checkRequestSanity(request(headersOf("INVITE", "multipart/related;boundary=b"), body), policy);
    assert.equal(related?.status, 415);
    assert.deepEqual(related?.headers, [["Accept", "application/sdp, multipart/mixed, multipart/alternative"]]);
    const info = checkRequestSanity(request(headersOf("INFO", "multipart/mixed;boundary=b"), body), policy);
    assert.deepEqual([info?.status, info?.headers], [415, [["Accept", "application/sdp"]]]);
    // Without the policy's say-so (the edge, the conformance checks), multipart stays a 415 everywhere.
    const strict = checkRequestSanity(request(headersOf("INVITE", "multipart/mixed;boundary=b"), body), { ...policy, multipartBodyTypes: undefined });
    assert.equal(strict?.status, 415);
  });
});

describe("hostile bytes after a multipart header (fast-check)", () => {
  const contentTypes = fc.constantFrom(
    "multipart/mixed;boundary=b",
    'multipart/alternative;boundary="----=_NextPart_000_4A2B_01D9C3E1.6F0B7D20"',
    "multipart/mixed;boundary=UCBUNE1zEp378L3fDzmyu3YVXXWjX6zZ",
    "multipart/related;boundary=b",
    "multipart/mixed",
  );
  /** Bodies built from the pieces a multipart is made of, so that deep paths are reached, not only "no delimiter". */
  const pieces = fc.array(
    fc.oneof(
      fc.constantFrom(
        "--b",
        "--b--",
        "\r\n",
        "\r\n\r\n",
        "\r",
        "\n",
        " \t",
        "------=_NextPart_000_4A2B_01D9C3E1.6F0B7D20",
        "--UCBUNE1zEp378L3fDzmyu3YVXXWjX6zZ",
        "Content-Type: application/sdp\r\n",
        "Content-Type: multipart/mixed;boundary=b\r\n",
        'Content-Type: multipart/alternative;boundary="c"\r\n',
        "--c",
        "Content-Disposition: session;handling=optional\r\n",
        "Content-Disposition: render\r\n",
        "Content-Transfer-Encoding: base64\r\n",
        "Content-Length: 99999999999999999999\r\n",
        "v=0\r\nm=audio 5004 RTP/AVP 0\r\n",
        ":",
        ";",
        '"',
      ),
      fc.string({ maxLength: 12 }),
      fc.uint8Array({ maxLength: 12 }).map((bytes) => Buffer.from(bytes).toString("latin1")),
    ),
    { maxLength: 60 },
  );
  const bodies = fc.oneof(
    fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)),
    pieces.map((list) => Buffer.from(list.join(""), "latin1")),
    fc.tuple(fc.constantFrom(...LYNC_INVITES), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([name, at, bytes]) => {
      const body = Buffer.from(parseMessage(lyncInvite(name)).body);
      Buffer.from(bytes).copy(body, at % body.length);
      return body;
    }),
  );

  it("sessionBodyOf never throws, whatever follows the header; parseMultipart throws only MultipartError", () => {
    fc.assert(
      fc.property(contentTypes, bodies, (contentType, body) => {
        const verdict = sessionBodyOf(body, type(contentType), undefined);
        assert.ok(["sdp", "none", "refused"].includes(verdict.kind));
        if (verdict.kind === "refused") assert.ok([400, 415].includes(verdict.status));
        try {
          parseMultipart(body, type(contentType));
        } catch (error) {
          assert.ok(error instanceof MultipartError, String(error));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("through the whole message path: a multipart INVITE is handed on, refused with 400 or 415, or never throws", () => {
    const policy = { role: "uas" as const, allowedMethods: ["INVITE"], supportedExtensions: [], multipartBodyTypes: MULTIPART_BODY_TYPES };
    fc.assert(
      fc.property(bodies, (body) => {
        const head = Buffer.from(`${headersOf("INVITE", "multipart/mixed;boundary=b").join("\r\n")}\r\nContent-Length: ${body.length}\r\n\r\n`);
        const message = parseMessage(Buffer.concat([head, body])) as SipRequest;
        assert.equal(checkRequestSanity(message, policy), undefined);
        const view = withSessionBody(message, ["application/sdp"]);
        if ("rejection" in view) assert.ok([400, 415].includes(view.rejection.status));
        else assert.ok(view.request.body.length === 0 || view.request.headers.get("Content-Type") === "application/sdp");
      }),
      { numRuns: 1000 },
    );
  });
});
