import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { describe, it } from "node:test";
import fc from "fast-check";
import { errorResponse, floorRequestInformation, responseTo } from "../../../../media-host/bfcp/builders.js";
import { decodeMessage, encodeMessage } from "../../../../media-host/bfcp/codec.js";
import { ErrorCode, Primitive, primitiveName, RequestStatus } from "../../../../media-host/bfcp/constants.js";
import type { BfcpAttribute, BfcpMessage } from "../../../../media-host/bfcp/message.js";
import { readCapture } from "../../../support/peers/pcap.js";

const CAPTURES_DIR = new URL("../../../../../../shared/captures/bfcp/", import.meta.url);

/** Hex with spaces for reading, to bytes. */
function bytes(spaced: string): Buffer {
  return Buffer.from(spaced.replace(/\s+/g, ""), "hex");
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function decoded(bytes: Uint8Array): BfcpMessage {
  const result = decodeMessage(bytes);
  assert.ok(result.ok, result.ok ? "" : `${result.error.reason}: ${result.error.detail}`);
  return result.message;
}

/** Every attribute with its M bit spelled out, as the decoder returns it. */
function explicitM(attributes: readonly BfcpAttribute[]): BfcpAttribute[] {
  return attributes.map((a) => {
    const m = { ...a, mandatory: a.mandatory !== false };
    return "attributes" in m ? { ...m, attributes: explicitM(m.attributes) } : m;
  }) as BfcpAttribute[];
}

const granted = floorRequestInformation({
  floorRequestId: 7,
  status: RequestStatus.Granted,
  floorIds: [1],
  beneficiary: { userId: 65534, displayName: "Teams meeting", uri: "sip:gateway@example.net" },
  statusInfo: "granted by the gateway",
});

/** A plausible message of every primitive, as the RFC lays its attributes out. */
const ATTRIBUTES_BY_PRIMITIVE: Record<number, BfcpAttribute[]> = {
  [Primitive.FloorRequest]: [
    { kind: "floorId", id: 1 },
    { kind: "beneficiaryId", id: 9 },
    { kind: "participantProvidedInfo", text: "slides" },
    { kind: "priority", priority: 2, mandatory: false },
  ],
  [Primitive.FloorRelease]: [{ kind: "floorRequestId", id: 7 }],
  [Primitive.FloorRequestQuery]: [{ kind: "floorRequestId", id: 7 }],
  [Primitive.FloorRequestStatus]: [granted],
  [Primitive.UserQuery]: [{ kind: "beneficiaryId", id: 9 }],
  [Primitive.UserStatus]: [
    { kind: "beneficiaryInformation", id: 9, attributes: [{ kind: "userDisplayName", text: "Room 4" }] },
    {
      ...granted,
      attributes: [
        ...granted.attributes,
        { kind: "requestedByInformation", id: 3, attributes: [{ kind: "userUri", text: "sip:room4@example.net" }] },
      ],
    },
  ],
  [Primitive.FloorQuery]: [
    { kind: "floorId", id: 1 },
    { kind: "floorId", id: 2 },
  ],
  [Primitive.FloorStatus]: [{ kind: "floorId", id: 1 }, granted],
  [Primitive.ChairAction]: [granted],
  [Primitive.ChairActionAck]: [],
  [Primitive.Hello]: [],
  [Primitive.HelloAck]: [
    { kind: "supportedPrimitives", primitives: [1, 2, 3, 4, 7, 8, 11, 12, 13, 14, 15, 16, 17] },
    { kind: "supportedAttributes", types: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18] },
  ],
  [Primitive.Error]: [
    { kind: "errorCode", code: ErrorCode.UnknownMandatoryAttribute, details: Uint8Array.from([100 << 1, 101 << 1]) },
    { kind: "errorInfo", text: "unknown mandatory attribute types 100, 101" },
  ],
  [Primitive.FloorRequestStatusAck]: [],
  [Primitive.FloorStatusAck]: [],
  [Primitive.Goodbye]: [],
  [Primitive.GoodbyeAck]: [],
};

describe("BFCP codec", () => {
  for (const version of [1, 2] as const) {
    for (const [primitive, attributes] of Object.entries(ATTRIBUTES_BY_PRIMITIVE)) {
      it(`round-trips ${primitiveName(Number(primitive))} in version ${version}`, () => {
        const message: BfcpMessage = {
          version,
          responder: version === 2 && [4, 6, 8, 10, 12, 13].includes(Number(primitive)),
          primitive: Number(primitive),
          conferenceId: 0xdeadbeef,
          transactionId: 0x1234,
          userId: 0x0567,
          attributes,
        };
        const wire = encodeMessage(message);
        assert.equal(wire.length % 4, 0, "whole 4-octet words");
        assert.equal(wire.readUInt16BE(2), (wire.length - 12) / 4, "Payload Length excludes the common header");
        assert.equal(wire[0], (version << 5) | (message.responder ? 0x10 : 0));
        const back = decoded(wire);
        assert.deepEqual(back, { ...message, attributes: explicitM(attributes) });
        assert.equal(hex(encodeMessage(back)), hex(wire));
      });
    }
  }

  it("matches the RFC 8855 §5.1 layout for a version 1 FloorRequest for floor 1 (hand-assembled)", () => {
    const wire = encodeMessage({
      version: 1,
      responder: false,
      primitive: Primitive.FloorRequest,
      conferenceId: 0x01020304,
      transactionId: 0x0a0b,
      userId: 0x0c0d,
      attributes: [{ kind: "floorId", id: 1 }],
    });
    // Ver=1 R=0 F=0 | primitive 1 | 1 word | conf | tid | uid | FLOOR-ID: type 2 << 1 | M, Length 4, floor 1.
    assert.equal(hex(wire), hex(bytes("20010001 01020304 0a0b 0c0d 05040001")));
  });

  it("nests FloorRequestStatus as FLOOR-REQUEST-INFORMATION{OVERALL-REQUEST-STATUS{REQUEST-STATUS}, FLOOR-REQUEST-STATUS} (hand-assembled)", () => {
    const request = { version: 2, conferenceId: 0x01020304, transactionId: 5, userId: 6 } as const;
    const wire = encodeMessage(
      responseTo(
        request,
        Primitive.FloorRequestStatus,
        [floorRequestInformation({ floorRequestId: 7, status: RequestStatus.Granted, floorIds: [1] })],
        {
          responder: true,
        },
      ),
    );
    const expected = bytes(`
      50040004 01020304 0005 0006
      1f100007
      25080007 0b040300
      23040001`);
    // FLOOR-REQUEST-INFORMATION (15 << 1 | M = 1f): Length 2 + 2 + 8 + 4 = 16, frid 7;
    // OVERALL-REQUEST-STATUS (18 → 25): Length 8, frid 7, then REQUEST-STATUS (5 → 0b) Granted, queue 0;
    // FLOOR-REQUEST-STATUS (17 → 23): Length 4, floor 1.
    assert.equal(hex(wire), hex(expected));
  });

  it("reads and writes M=0 attributes, text padding and PRIORITY's top three bits (hand-assembled FloorRequest)", () => {
    // FLOOR-ID 3 (2 << 1, M=0), BENEFICIARY-ID 5 (1 << 1), PARTICIPANT-PROVIDED-INFO "abc" (8 << 1, Length 5, 3 octets of padding),
    // PRIORITY Highest (4 << 1; value 4 << 13 = 0x8000): 20 payload octets, 5 words.
    const wire = bytes("20010005 0a0b0c0d 0001 0002 04040003 02040005 10056162 63000000 08048000");
    const message = decoded(wire);
    assert.deepEqual(message.attributes, [
      { kind: "floorId", id: 3, mandatory: false },
      { kind: "beneficiaryId", id: 5, mandatory: false },
      { kind: "participantProvidedInfo", text: "abc", mandatory: false },
      { kind: "priority", priority: 4, mandatory: false },
    ]);
    assert.equal(hex(encodeMessage(message)), hex(wire));
  });

  it("encodes Error code 4 with the unknown attribute types in its details (hand-assembled)", () => {
    const wire = encodeMessage(
      errorResponse({ version: 1, conferenceId: 1, transactionId: 2, userId: 3 }, ErrorCode.UnknownMandatoryAttribute, {
        responder: false,
        unknownAttributeTypes: [100],
      }),
    );
    // ERROR-CODE (6): 0x0d, Length 4 (code + one detail octet), code 4, 100 << 1 = 0xc8.
    assert.equal(hex(wire), hex(bytes("200d0001 00000001 0002 0003 0d0404c8")));
  });

  it("keeps an unknown optional attribute and refuses an unknown mandatory one with error code 4", () => {
    const header = "20010003 00000001 0002 0003 05040001";
    const optional = decoded(bytes(`${header} c806abcdef01 0000`));
    assert.deepEqual(optional.attributes[1], { kind: "unknown", type: 100, mandatory: false, value: Uint8Array.from([0xab, 0xcd, 0xef, 0x01]) });
    assert.equal(hex(encodeMessage(optional)), hex(bytes(`${header} c806abcdef01 0000`)));
    const mandatory = decodeMessage(bytes(`${header} c906abcdef01 0000`));
    assert.equal(mandatory.ok, false);
    assert.ok(!mandatory.ok);
    assert.equal(mandatory.error.reason, "unknownMandatoryAttribute");
    assert.equal(mandatory.error.errorCode, ErrorCode.UnknownMandatoryAttribute);
    assert.deepEqual(mandatory.error.unknownAttributeTypes, [100]);
    assert.equal(mandatory.error.header?.transactionId, 2, "the header is there to answer with");
  });

  it("is lenient with Length counting the padding, a missing last padding, NUL-terminated text and trailing bytes", () => {
    // STATUS-INFO "ab" whose Length (6) counts two padding octets as value.
    const paddedLength = decoded(bytes("20070003 00000001 0002 0003 05040001 13066162 00000000"));
    assert.deepEqual(paddedLength.attributes, [
      { kind: "floorId", id: 1, mandatory: true },
      { kind: "statusInfo", text: "ab", mandatory: true },
    ]);
    const noFinalPadding = decoded(bytes("20070002 00000001 0002 0003 05040001 0f0361"));
    assert.deepEqual(noFinalPadding.attributes[1], { kind: "errorInfo", text: "a", mandatory: true });
    const trailing = decoded(bytes("200b0000 00000001 0002 0003 deadbeef"));
    assert.equal(trailing.primitive, Primitive.Hello);
    assert.deepEqual(trailing.attributes, []);
  });

  it("refuses a fragmented message with its fragment fields read, rather than mis-parsing it", () => {
    const result = decodeMessage(bytes("58040002 00000001 0002 0003 0000 0001 05040001"));
    assert.ok(!result.ok);
    assert.equal(result.error.reason, "fragmented");
    assert.deepEqual(result.error.header?.fragment, { offset: 0, length: 1 });
    assert.match(result.error.detail, /fragmentation is not supported/);
  });

  it("says what is wrong with a wrong version, a short header, a short message and an attribute overrunning its group", () => {
    const cases: [string, string, number][] = [
      ["200b0000 00000001 0002 00", "truncated", ErrorCode.IncorrectMessageLength],
      ["600b0000 00000001 0002 0003", "unsupportedVersion", ErrorCode.UnsupportedVersion],
      ["20010008 00000001 0002 0003 05040001", "badLength", ErrorCode.IncorrectMessageLength],
      ["20040002 00000001 0002 0003 1f080007 0b0c0300", "badLength", ErrorCode.IncorrectMessageLength],
      ["20010001 00000001 0002 0003 05010001", "badAttribute", ErrorCode.UnableToParseMessage],
    ];
    for (const [spaced, reason, code] of cases) {
      const result = decodeMessage(bytes(spaced));
      assert.ok(!result.ok, spaced);
      assert.equal(result.error.reason, reason, spaced);
      assert.equal(result.error.errorCode, code, spaced);
    }
  });

  it("never throws on truncations of valid messages or on random bytes", () => {
    const sample = encodeMessage({
      version: 2,
      responder: true,
      primitive: Primitive.UserStatus,
      conferenceId: 1,
      transactionId: 2,
      userId: 3,
      attributes: ATTRIBUTES_BY_PRIMITIVE[Primitive.UserStatus]!,
    });
    let failures = 0;
    for (let n = 0; n < sample.length; n++) if (!decodeMessage(sample.subarray(0, n)).ok) failures++;
    assert.ok(failures >= sample.length - 3, `every cut beyond the padding leniency fails cleanly (${failures} of ${sample.length})`);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (random) => {
        const result = decodeMessage(random);
        return result.ok ? typeof result.message.primitive === "number" : typeof result.error.detail === "string";
      }),
      { numRuns: 5000 },
    );
    // Random bodies behind a valid header reach the attribute parser rather than stopping at the header.
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 64 }).map((body) => {
          const words = Math.ceil(body.length / 4);
          const out = Buffer.alloc(12 + words * 4);
          out[0] = 0x20;
          out[1] = 1;
          out.writeUInt16BE(words, 2);
          out.set(body, 12);
          return out;
        }),
        (wire) => {
          const result = decodeMessage(wire);
          if (result.ok) assert.equal(hex(encodeMessage(result.message)).length > 0, true);
          return true;
        },
      ),
      { numRuns: 5000 },
    );
  });
});

/** Ports of the floor control servers in the captures (SOURCES.md: 5070 for the vitalybupt files; 16500 is the client in nDPI's). */
const BFCP_PORTS = new Set([5070, 16500]);

describe("BFCP codec against real devices' captures", () => {
  const files = readdirSync(CAPTURES_DIR).filter((f) => /\.pcap(ng)?$/.test(f));

  it("finds the four captures", () => {
    assert.equal(files.length, 4);
  });

  for (const file of files) {
    it(`decodes every BFCP message of ${file}, and re-encodes the canonical ones byte for byte`, () => {
      const capture = readCapture(new URL(file, CAPTURES_DIR).pathname);
      const payloads = capture.records.filter((r) => BFCP_PORTS.has(r.udp.srcPort) || BFCP_PORTS.has(r.udp.dstPort)).map((r) => r.payload);
      assert.ok(payloads.length >= 7, `${payloads.length} BFCP datagrams`);
      let identical = 0;
      let octetLengths = 0;
      for (const payload of payloads) {
        const message = decoded(payload);
        assert.ok(message.version === 1, "these devices speak version 1 over UDP");
        // One early server wrote Payload Length in octets (SOURCES.md file 10): decoded, but not canonical.
        if (payload.readUInt16BE(2) * 4 !== payload.length - 12) {
          octetLengths++;
          continue;
        }
        assert.equal(hex(encodeMessage(message)), hex(payload), primitiveName(message.primitive));
        identical++;
      }
      assert.ok(identical > 0);
      if (!file.startsWith("cisco-codecplus")) assert.equal(octetLengths, 0);
    });
  }
});
