/** Shared helpers of the SIP message-layer tests. */

import { existsSync, readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { SipMessage } from "../../../media-host/sip/message.js";

/** From dist/test/unit/sip/ to the shared directory beside the repository (also in a fresh clone). */
export const RFC4475_DIR = new URL("../../../../../shared/conformance/rfc4475/", import.meta.url);

export function rfc4475Files(): string[] {
  const dir = fileURLToPath(RFC4475_DIR);
  if (!existsSync(dir)) throw new Error(`RFC 4475 messages not found at ${dir}: the shared directory must sit beside the repository`);
  return readdirSync(dir)
    .filter((f) => f.endsWith(".dat"))
    .sort();
}

export function loadRfc4475(name: string): Buffer {
  return readFileSync(new URL(name, RFC4475_DIR));
}

/** A datagram from header lines (CRLF added) and a body. */
export function datagram(lines: readonly string[], body = ""): Buffer {
  return Buffer.from(`${lines.join("\r\n")}\r\n\r\n${body}`, "utf8");
}

/**
 * What a message means, for comparing a parse with the parse of its
 * serialization: everything but the Content-Length spelling, which the
 * serializer recomputes from the body.
 */
export function structureOf(message: SipMessage): unknown {
  const start = message.kind === "request" ? { method: message.method, uri: message.uri } : { status: message.status, reason: message.reason };
  return {
    kind: message.kind,
    ...start,
    headers: [...message.headers].filter((f) => f.name !== "Content-Length"),
    body: message.body.toString("hex"),
  };
}

export const INVITE_LINES = [
  "INVITE sip:1234567890@t.cvi.example.net SIP/2.0",
  "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport",
  "Max-Forwards: 70",
  'From: "Room 1" <sip:room1@vtc.example.com>;tag=1928301774',
  "To: <sip:1234567890@t.cvi.example.net>",
  "Call-ID: a84b4c76e66710@vtc.example.com",
  "CSeq: 314159 INVITE",
  "Contact: <sip:room1@192.0.2.10:5060>",
  "Supported: timer, 100rel",
  "Session-Expires: 1800;refresher=uac",
  "Min-SE: 90",
  "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE",
  "Content-Type: application/sdp",
];

export const SDP =
  "v=0\r\no=room1 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" +
  "m=audio 49170 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\nm=video 51372 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";

export function invite(extra: readonly string[] = [], body = SDP): Buffer {
  return datagram([...INVITE_LINES, ...extra, `Content-Length: ${Buffer.byteLength(body)}`], body);
}
