/**
 * Hostile bytes at the message layer: well over 100,000 mutated SIP messages
 * (byte flips, truncations, repeated, dropped and swapped lines, huge header
 * values, random Content-Length, random SDP bodies, spliced messages) go
 * through parseMessage and the stream framer. Nothing but a SipParseError may
 * come out; whatever parses serializes and parses back to the same structure;
 * refusals that can be answered yield a response; memory stays bounded and the
 * framer never holds more than its limit.
 *
 * The bulk runs on a fixed-seed PRNG (SIP_FUZZ_SEED overrides it; a failure
 * prints the seed and the input); a smaller fast-check run drives the same
 * mutations from a shrinkable tape, so a failure there comes out minimal.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import fc from "fast-check";
import { SipParseError } from "../../../media-host/sip/errors.js";
import type { SipMessage } from "../../../media-host/sip/message.js";
import { DEFAULT_PARSE_LIMITS, SipStreamFramer, parseMessage } from "../../../media-host/sip/parser.js";
import { checkRequestSanity } from "../../../media-host/sip/sanity.js";
import { buildErrorResponse, buildResponse, serializeMessage } from "../../../media-host/sip/serializer.js";
import { datagram, invite, loadRfc4475, rfc4475Files, structureOf } from "./support.js";

const SEED = Number(process.env.SIP_FUZZ_SEED ?? 0x5eed_51f);
const DATAGRAMS = 110_000;
const STREAMS = 1_500;
const FAST_CHECK_RUNS = 1_500;

/** Draws an integer in [0, n). */
type Rand = (n: number) => number;

/** mulberry32: tiny, fast, good enough to spread mutations. */
function prng(seed: number): Rand {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const RESPONSE = datagram(
  [
    "SIP/2.0 200 OK",
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.10",
    'From: "Room 1" <sip:room1@vtc.example.com>;tag=1928301774',
    "To: <sip:1234567890@t.cvi.example.net>;tag=gw1",
    "Call-ID: a84b4c76e66710@vtc.example.com",
    "CSeq: 314159 INVITE",
    "Contact: <sip:gw@203.0.113.5:5061;transport=tls>",
    "Record-Route: <sip:p1.example.net;lr>, <sip:p2.example.net;lr>",
    "Require: timer",
    "Session-Expires: 1800;refresher=uas",
    'Reason: Q.850;cause=16;text="Normal"',
    "Content-Type: application/sdp",
    "Content-Length: 10",
  ],
  "v=0\r\ns=-\r\n",
);

/** Valid and invalid seeds alike: mutating an invalid message often makes an interesting one. */
const CORPUS: readonly Buffer[] = [
  ...rfc4475Files().map((f) => loadRfc4475(f)),
  invite(),
  invite(["Route: <sip:[2001:db8::1]:5060;lr>", 'P-Asserted-Identity: "A" <tel:+12025550123>']),
  RESPONSE,
];

const INTERESTING = [...'\r\n:;,"<>%@ \t=/?[]\\*'].map((c) => c.charCodeAt(0)).concat([0x00, 0xff, 0xc3, 0x80, 0x7f, 0x30, 0x39, 0x2d]);
const RUNS = [";", '"', "<", ",", " ", "%", "\\", "a", "\r\n ", "0"];
const LENGTHS = ["-1", "0", "abc", "99999999999999999999", " 12", "1 2", "+5", ""];

const latin1 = (b: Buffer) => b.toString("latin1");
const bytes = (s: string) => Buffer.from(s, "latin1");

function splitBody(b: Buffer): [string, Buffer] {
  const end = b.indexOf("\r\n\r\n");
  return end < 0 ? [latin1(b), Buffer.alloc(0)] : [latin1(b.subarray(0, end)), b.subarray(end + 4)];
}

function randomSdp(r: Rand): string {
  const lines = ["v=0", `o=- ${r(1e9)} ${r(1e9)} IN IP4 192.0.2.${r(256)}`, "s=-", `c=IN IP${r(2) ? 4 : 6} 192.0.2.${r(300)}`, "t=0 0"];
  for (let i = r(6); i > 0; i--) {
    lines.push(`m=${["audio", "video", "application", "text"][r(4)]} ${r(70000)} RTP/${r(2) ? "AVP" : "SAVPF"} ${r(128)} ${r(128)}`);
    for (let j = r(5); j > 0; j--) lines.push(`a=${["rtpmap", "fmtp", "rtcp-mux", "sendrecv", "content"][r(5)]}:${r(128)} ${"x".repeat(r(40))}`);
  }
  return `${lines.join("\r\n")}\r\n`;
}

function randomBytes(length: number, r: Rand): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = r(256);
  return out;
}

type Mutation = (b: Buffer, r: Rand) => Buffer;

const MUTATIONS: readonly Mutation[] = [
  function flipByte(b, r) {
    if (b.length === 0) return b;
    const copy = Buffer.from(b);
    copy[r(copy.length)] = r(2) ? INTERESTING[r(INTERESTING.length)]! : r(256);
    return copy;
  },
  function truncate(b, r) {
    return b.subarray(0, r(b.length + 1));
  },
  function duplicateLine(b, r) {
    const lines = latin1(b).split("\r\n");
    const at = r(lines.length);
    lines.splice(at, 0, lines[at]!);
    return bytes(lines.join("\r\n"));
  },
  function removeLine(b, r) {
    const lines = latin1(b).split("\r\n");
    lines.splice(r(lines.length), 1);
    return bytes(lines.join("\r\n"));
  },
  function swapLines(b, r) {
    const lines = latin1(b).split("\r\n");
    const i = r(lines.length);
    const j = r(lines.length);
    [lines[i], lines[j]] = [lines[j]!, lines[i]!];
    return bytes(lines.join("\r\n"));
  },
  function hugeHeader(b, r) {
    const lines = latin1(b).split("\r\n");
    const size = [64, 4_000, 15_500, 16_400, 70_000][r(5)]!;
    lines.splice(
      1 + r(Math.max(lines.length - 1, 1)),
      0,
      `${r(2) ? "Subject" : "X-Fuzz"}: ${RUNS[r(RUNS.length)]!.repeat(1 + Math.floor(size / 2))}`.slice(0, size),
    );
    return bytes(lines.join("\r\n"));
  },
  function randomContentLength(b, r) {
    const [head, body] = splitBody(b);
    const lines = head.split("\r\n").filter((l) => !/^(content-length|l)\s*:/i.test(l));
    const value = r(2) ? String(Math.max(0, body.length + r(5) - 2)) : r(2) ? String(r(5000)) : LENGTHS[r(LENGTHS.length)]!;
    lines.splice(1 + r(lines.length), 0, `${r(4) ? "Content-Length" : "l"}: ${value}`);
    return Buffer.concat([bytes(`${lines.join("\r\n")}\r\n\r\n`), body]);
  },
  function randomBody(b, r) {
    const [head] = splitBody(b);
    const body = r(3) ? Buffer.from(randomSdp(r)) : randomBytes(r(3000), r);
    const lines = head.split("\r\n").filter((l) => !/^(content-length|l)\s*:/i.test(l));
    if (r(5)) lines.push(`Content-Length: ${body.length + (r(4) ? 0 : r(3) - 1)}`);
    return Buffer.concat([bytes(`${lines.join("\r\n")}\r\n\r\n`), body]);
  },
  function insertBytes(b, r) {
    const at = r(b.length + 1);
    const extra = Buffer.from(Array.from({ length: 1 + r(8) }, () => (r(2) ? INTERESTING[r(INTERESTING.length)]! : r(256))));
    return Buffer.concat([b.subarray(0, at), extra, b.subarray(at)]);
  },
  function repeatRun(b, r) {
    const at = r(b.length + 1);
    return Buffer.concat([b.subarray(0, at), bytes(RUNS[r(RUNS.length)]!.repeat(1 + r(3000))), b.subarray(at)]);
  },
  function splice(b, r) {
    const other = CORPUS[r(CORPUS.length)]!;
    return Buffer.concat([b.subarray(0, r(b.length + 1)), other.subarray(r(other.length + 1))]);
  },
];

function mutate(seed: Buffer, r: Rand): Buffer {
  let b = seed;
  for (let n = 1 + r(3); n > 0; n--) b = MUTATIONS[r(MUTATIONS.length)]!(b, r);
  return b;
}

const STATUSES = new Set([400, 413, 505, 513]);
const REPARSE_LIMITS = { maxHeaderBytes: DEFAULT_PARSE_LIMITS.maxHeaderBytes + 4096 };
const GATEWAY = { role: "uas", allowedMethods: ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"], supportedExtensions: ["timer"] } as const;

function checkRefusal(error: unknown): void {
  if (!(error instanceof SipParseError)) throw error;
  assert.ok(STATUSES.has(error.status), `unexpected status ${error.status}`);
  assert.ok(!/[\r\n]/.test(error.reason));
  const answer = buildErrorResponse(error, { toTag: "fz" });
  assert.equal(answer !== undefined, error.respondable);
  if (answer) serializeMessage(answer);
}

/** What must hold for any message the parser accepted. */
function checkAccepted(message: SipMessage): void {
  const wire = serializeMessage(message);
  const again = parseMessage(wire, REPARSE_LIMITS);
  assert.equal(JSON.stringify(structureOf(again)), JSON.stringify(structureOf(message)));
  if (message.kind === "request") {
    checkRequestSanity(message, GATEWAY);
    serializeMessage(buildResponse(message, 481, "Call/Transaction Does Not Exist", { toTag: "fz" }));
  }
}

/** Parses one datagram; returns whether it was accepted. */
function checkDatagram(input: Buffer): boolean {
  let message: SipMessage;
  try {
    message = parseMessage(input);
  } catch (error) {
    checkRefusal(error);
    return false;
  }
  checkAccepted(message);
  return true;
}

function checkStream(input: Buffer, r: Rand): { messages: number; maxHeld: number } {
  let framer = new SipStreamFramer();
  let messages = 0;
  let maxHeld = 0;
  for (let at = 0; at < input.length; ) {
    const size = r(10) === 0 ? 1 + r(8) : 1 + r(4000);
    const chunk = input.subarray(at, at + size);
    at += size;
    try {
      for (const item of framer.push(chunk)) {
        maxHeld = Math.max(maxHeld, framer.bufferedBytes);
        if (item.kind === "message") {
          messages++;
          checkAccepted(item.message);
        } else if (item.kind === "invalid") checkRefusal(item.error);
      }
    } catch (error) {
      checkRefusal(error);
      assert.ok(framer.failed);
      framer = new SipStreamFramer();
    }
    maxHeld = Math.max(maxHeld, framer.bufferedBytes);
    assert.ok(framer.bufferedBytes <= framer.capacity, `framer holds ${framer.bufferedBytes} > ${framer.capacity}`);
  }
  return { messages, maxHeld };
}

function collectGarbage(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  try {
    setFlagsFromString("--expose-gc");
    return runInNewContext("gc") as () => void;
  } catch {
    return undefined;
  }
}

function withInput<T>(input: Buffer, check: () => T): T {
  try {
    return check();
  } catch (error) {
    const shown = latin1(input.subarray(0, 400)).replace(/\r\n/g, "⏎\n");
    throw new Error(`seed ${SEED}: ${(error as Error).message}\n--- input (${input.length} bytes) ---\n${shown}`, { cause: error });
  }
}

describe("SIP message layer under fuzzing", () => {
  it(`${DATAGRAMS} mutated datagrams: only SipParseErrors, accepted ones round-trip, memory bounded (seed ${SEED})`, () => {
    const gc = collectGarbage();
    gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const r = prng(SEED);
    let accepted = 0;
    for (let i = 0; i < DATAGRAMS; i++) {
      const seed = CORPUS[r(CORPUS.length)]!;
      const input = i < CORPUS.length ? CORPUS[i]! : mutate(seed, r);
      if (withInput(input, () => checkDatagram(input))) accepted++;
    }
    gc?.();
    const growth = process.memoryUsage().heapUsed - heapBefore;
    // Both outcomes must be common, or the mutations are too weak or too strong to test anything.
    assert.ok(accepted > DATAGRAMS / 20 && accepted < DATAGRAMS * 0.9, `accepted ${accepted} of ${DATAGRAMS}`);
    assert.ok(growth < (gc ? 32 : 256) * 1024 * 1024, `heap grew by ${growth} bytes`);
  });

  it(`${STREAMS} mutated streams through the framer: bounded buffer, only SipParseErrors (seed ${SEED})`, () => {
    const r = prng(SEED ^ 0x9e3779b9);
    let messages = 0;
    let maxHeld = 0;
    const framer = new SipStreamFramer();
    for (let i = 0; i < STREAMS; i++) {
      const parts: Buffer[] = [];
      for (let n = 2 + r(12); n > 0; n--) {
        if (r(8) === 0) parts.push(bytes(r(2) ? "\r\n\r\n" : "\r\n"));
        parts.push(r(3) ? mutate(CORPUS[r(CORPUS.length)]!, r) : invite());
      }
      const input = Buffer.concat(parts);
      const result = withInput(input, () => checkStream(input, r));
      messages += result.messages;
      maxHeld = Math.max(maxHeld, result.maxHeld);
    }
    assert.ok(messages > STREAMS, `only ${messages} messages framed`);
    assert.ok(maxHeld <= framer.capacity);
  });

  it(`fast-check (${FAST_CHECK_RUNS} runs, shrinking): datagrams and streams built from a tape of mutations`, () => {
    const tape = fc.array(fc.nat({ max: 0x7fffffff }), { minLength: 1, maxLength: 64 });
    const fromTape = (values: readonly number[]): Rand => {
      let i = 0;
      return (n) => values[i++ % values.length]! % n;
    };
    fc.assert(
      fc.property(fc.nat({ max: CORPUS.length - 1 }), tape, (index, values) => {
        const input = mutate(CORPUS[index]!, fromTape(values));
        checkDatagram(input);
        checkStream(Buffer.concat([input, invite(), input]), fromTape(values));
      }),
      { numRuns: FAST_CHECK_RUNS, seed: SEED },
    );
  });
});
