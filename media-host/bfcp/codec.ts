import { BFCP_COMMON_HEADER_LENGTH, BFCP_FRAGMENT_HEADER_LENGTH, type BfcpVersion, ErrorCode, type ErrorCodeValue } from "./constants.js";
import {
  ATTRIBUTE_KIND_BY_TYPE,
  ATTRIBUTE_TYPE_BY_KIND,
  type BfcpAttribute,
  type BfcpHeader,
  type BfcpMessage,
  type GroupedAttributeKind,
  type IdAttributeKind,
  type TextAttributeKind,
} from "./message.js";

/**
 * The BFCP wire format (RFC 8855 §5 for version 2, RFC 4582 §5 for version 1;
 * the two differ only in the header's R and F bits). Pure: bytes in, values out.
 * Decoding never throws: bad bytes give a failure value that says which BFCP
 * error a server answers with. Lenient where devices are sloppy (missing final
 * padding, Length counting the padding, NUL-terminated text, trailing bytes
 * after the message), strict on what changes meaning (version, header length,
 * attributes running past their container, unknown mandatory attributes,
 * fragmentation, which we refuse rather than reassemble).
 */

export type BfcpDecodeFailureReason = "truncated" | "unsupportedVersion" | "fragmented" | "badLength" | "badAttribute" | "unknownMandatoryAttribute";

export interface BfcpDecodeFailure {
  readonly reason: BfcpDecodeFailureReason;
  readonly detail: string;
  /** The header, when there were enough bytes to read it: what a server needs to answer with Error. */
  readonly header?: BfcpHeader;
  /** The ERROR-CODE a floor control server answers with. */
  readonly errorCode: ErrorCodeValue;
  /** For unknownMandatoryAttribute: the attribute types not understood. */
  readonly unknownAttributeTypes?: readonly number[];
}

export type BfcpDecodeResult =
  | { readonly ok: true; readonly message: BfcpMessage; readonly header: BfcpHeader }
  | { readonly ok: false; readonly error: BfcpDecodeFailure };

const ID_KINDS: ReadonlySet<string> = new Set<IdAttributeKind>(["beneficiaryId", "floorId", "floorRequestId"]);
const TEXT_KINDS: ReadonlySet<string> = new Set<TextAttributeKind>([
  "errorInfo",
  "participantProvidedInfo",
  "statusInfo",
  "userDisplayName",
  "userUri",
]);
const GROUPED_KINDS: ReadonlySet<string> = new Set<GroupedAttributeKind>([
  "beneficiaryInformation",
  "floorRequestInformation",
  "requestedByInformation",
  "floorRequestStatus",
  "overallRequestStatus",
]);

/** Bytes of a message as its header declares them (12 + 4·Payload Length, +4 when F is set), or undefined below 4 bytes. */
export function declaredMessageLength(bytes: Uint8Array): number | undefined {
  if (bytes.length < 4) return undefined;
  const fragmented = (bytes[0]! & 0x08) !== 0;
  const payloadLength = (bytes[2]! << 8) | bytes[3]!;
  return (fragmented ? BFCP_FRAGMENT_HEADER_LENGTH : BFCP_COMMON_HEADER_LENGTH) + 4 * payloadLength;
}

function readHeader(bytes: Uint8Array): BfcpHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fragmented = (bytes[0]! & 0x08) !== 0;
  const header: BfcpHeader = {
    version: bytes[0]! >> 5,
    responder: (bytes[0]! & 0x10) !== 0,
    fragmented,
    primitive: bytes[1]!,
    payloadLength: view.getUint16(2),
    conferenceId: view.getUint32(4),
    transactionId: view.getUint16(8),
    userId: view.getUint16(10),
  };
  if (fragmented && bytes.length >= BFCP_FRAGMENT_HEADER_LENGTH) {
    return { ...header, fragment: { offset: view.getUint16(12), length: view.getUint16(14) } };
  }
  return header;
}

function fail(reason: BfcpDecodeFailureReason, errorCode: ErrorCodeValue, detail: string, header?: BfcpHeader): BfcpDecodeResult {
  return { ok: false, error: header ? { reason, errorCode, detail, header } : { reason, errorCode, detail } };
}

/** Decodes one message from the start of `bytes`; bytes after the declared length are ignored. */
export function decodeMessage(bytes: Uint8Array): BfcpDecodeResult {
  if (bytes.length < BFCP_COMMON_HEADER_LENGTH) {
    return fail("truncated", ErrorCode.IncorrectMessageLength, `${bytes.length} bytes, shorter than the 12-byte common header`);
  }
  const header = readHeader(bytes);
  if (header.version !== 1 && header.version !== 2) {
    return fail("unsupportedVersion", ErrorCode.UnsupportedVersion, `version ${header.version}`, header);
  }
  if (header.fragmented) {
    // Floor control messages are far below any MTU; reassembly would only add attack surface.
    const where = header.fragment ? ` (offset ${header.fragment.offset}, length ${header.fragment.length})` : "";
    return fail("fragmented", ErrorCode.GenericError, `fragmented message${where}: fragmentation is not supported`, header);
  }
  let declared = BFCP_COMMON_HEADER_LENGTH + 4 * header.payloadLength;
  // Lenient: a sender that leaves out the last attribute's padding is short by at most 3 bytes.
  if (bytes.length + 3 < declared) {
    // A server in the wild wrote Payload Length in octets (captures/SOURCES.md, file 10); a datagram shows it.
    const inOctets = BFCP_COMMON_HEADER_LENGTH + header.payloadLength;
    if (header.payloadLength % 4 !== 0 || inOctets > bytes.length) {
      return fail("badLength", ErrorCode.IncorrectMessageLength, `header declares ${declared} bytes, ${bytes.length} present`, header);
    }
    declared = inOctets;
  }
  const payload = bytes.subarray(BFCP_COMMON_HEADER_LENGTH, Math.min(declared, bytes.length));
  const unknownMandatory: number[] = [];
  const parsed = decodeAttributes(payload, unknownMandatory);
  if (parsed instanceof AttributeFailure) {
    const code = parsed.reason === "badLength" ? ErrorCode.IncorrectMessageLength : ErrorCode.UnableToParseMessage;
    return fail(parsed.reason, code, parsed.detail, header);
  }
  if (unknownMandatory.length > 0) {
    return {
      ok: false,
      error: {
        reason: "unknownMandatoryAttribute",
        errorCode: ErrorCode.UnknownMandatoryAttribute,
        detail: `unknown mandatory attribute type(s) ${unknownMandatory.join(", ")}`,
        header,
        unknownAttributeTypes: unknownMandatory,
      },
    };
  }
  const message: BfcpMessage = {
    version: header.version as BfcpVersion,
    responder: header.responder,
    primitive: header.primitive,
    conferenceId: header.conferenceId,
    transactionId: header.transactionId,
    userId: header.userId,
    attributes: parsed,
  };
  return { ok: true, message, header };
}

function stripTrailingZeros(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return bytes.subarray(0, end);
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

/** Why an attribute could not be read: it overruns its container (a length error) or its value is malformed. */
class AttributeFailure {
  constructor(
    readonly reason: "badLength" | "badAttribute",
    readonly detail: string,
  ) {}
}

/** Attributes of a payload or of a grouped attribute's body. */
function decodeAttributes(bytes: Uint8Array, unknownMandatory: number[]): BfcpAttribute[] | AttributeFailure {
  const attributes: BfcpAttribute[] = [];
  let offset = 0;
  while (offset + 2 <= bytes.length) {
    const type = bytes[offset]! >> 1;
    const mandatory = (bytes[offset]! & 1) === 1;
    const length = bytes[offset + 1]!;
    if (length < 2) {
      // Zero bytes to the end are stray padding, not an attribute.
      if (bytes.subarray(offset).every((b) => b === 0)) break;
      return new AttributeFailure("badAttribute", `attribute type ${type} at offset ${offset} has Length ${length}`);
    }
    if (offset + length > bytes.length) return new AttributeFailure("badLength", `attribute type ${type} (Length ${length}) runs past its container`);
    const value = bytes.subarray(offset + 2, offset + length);
    const attribute = decodeAttribute(type, mandatory, value, unknownMandatory);
    if (attribute instanceof AttributeFailure) return attribute;
    attributes.push(attribute);
    offset += (length + 3) & ~3;
  }
  return attributes;
}

function decodeAttribute(type: number, mandatory: boolean, value: Uint8Array, unknownMandatory: number[]): BfcpAttribute | AttributeFailure {
  const kind = ATTRIBUTE_KIND_BY_TYPE.get(type);
  if (kind === undefined) {
    if (mandatory) unknownMandatory.push(type);
    return { kind: "unknown", type, mandatory, value: Uint8Array.from(value) };
  }
  const u16 = value.length >= 2 ? (value[0]! << 8) | value[1]! : undefined;
  if (ID_KINDS.has(kind)) {
    if (u16 === undefined) return new AttributeFailure("badAttribute", `${kind} attribute with ${value.length} value bytes`);
    return { kind: kind as IdAttributeKind, mandatory, id: u16 };
  }
  if (TEXT_KINDS.has(kind)) return { kind: kind as TextAttributeKind, mandatory, text: utf8.decode(stripTrailingZeros(value)) };
  if (GROUPED_KINDS.has(kind)) {
    if (u16 === undefined) return new AttributeFailure("badAttribute", `${kind} attribute with ${value.length} value bytes`);
    const nested = decodeAttributes(value.subarray(2), unknownMandatory);
    if (nested instanceof AttributeFailure) return nested;
    return { kind: kind as GroupedAttributeKind, mandatory, id: u16, attributes: nested };
  }
  switch (kind) {
    case "priority":
      if (u16 === undefined) return new AttributeFailure("badAttribute", `priority attribute with ${value.length} value bytes`);
      return { kind, mandatory, priority: u16 >> 13 };
    case "requestStatus":
      if (u16 === undefined) return new AttributeFailure("badAttribute", `requestStatus attribute with ${value.length} value bytes`);
      return { kind, mandatory, status: value[0]!, queuePosition: value[1]! };
    case "errorCode":
      if (value.length < 1) return new AttributeFailure("badAttribute", "errorCode attribute without a code");
      return { kind, mandatory, code: value[0]!, details: Uint8Array.from(stripTrailingZeros(value.subarray(1))) };
    case "supportedAttributes":
      // Zero octets are padding counted into Length, or a sender writing two octets per entry.
      return { kind, mandatory, types: [...value].filter((b) => b !== 0).map((b) => b >> 1) };
    case "supportedPrimitives":
      return { kind, mandatory, primitives: [...value].filter((b) => b !== 0) };
    default:
      return new AttributeFailure("badAttribute", `attribute kind ${kind} has no decoder`);
  }
}

/** Encodes a message; throws RangeError for values that do not fit their fields (a programming error, not bad input). */
export function encodeMessage(message: BfcpMessage): Buffer {
  const payload = Buffer.concat(message.attributes.map(encodeAttribute));
  const header = Buffer.alloc(BFCP_COMMON_HEADER_LENGTH);
  header[0] = (message.version << 5) | (message.responder ? 0x10 : 0);
  header[1] = checkRange("primitive", message.primitive, 0xff);
  header.writeUInt16BE(checkRange("payload length", payload.length / 4, 0xffff), 2);
  header.writeUInt32BE(checkRange("conference id", message.conferenceId, 0xffffffff), 4);
  header.writeUInt16BE(checkRange("transaction id", message.transactionId, 0xffff), 8);
  header.writeUInt16BE(checkRange("user id", message.userId, 0xffff), 10);
  return Buffer.concat([header, payload]);
}

function checkRange(what: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`BFCP ${what} ${value} outside 0…${max}`);
  return value;
}

function u16(value: number, what: string): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(checkRange(what, value, 0xffff));
  return out;
}

function attributeValue(attribute: BfcpAttribute): Uint8Array {
  switch (attribute.kind) {
    case "beneficiaryId":
    case "floorId":
    case "floorRequestId":
      return u16(attribute.id, attribute.kind);
    case "priority":
      return u16(checkRange("priority", attribute.priority, 7) << 13, "priority");
    case "requestStatus":
      return Buffer.from([checkRange("request status", attribute.status, 0xff), checkRange("queue position", attribute.queuePosition, 0xff)]);
    case "errorCode":
      return Buffer.concat([Buffer.from([checkRange("error code", attribute.code, 0xff)]), attribute.details]);
    case "errorInfo":
    case "participantProvidedInfo":
    case "statusInfo":
    case "userDisplayName":
    case "userUri":
      return Buffer.from(attribute.text, "utf8");
    case "supportedAttributes":
      return Buffer.from(attribute.types.map((t) => checkRange("attribute type", t, 0x7f) << 1));
    case "supportedPrimitives":
      return Buffer.from(attribute.primitives.map((p) => checkRange("primitive", p, 0xff)));
    case "beneficiaryInformation":
    case "floorRequestInformation":
    case "requestedByInformation":
    case "floorRequestStatus":
    case "overallRequestStatus":
      return Buffer.concat([u16(attribute.id, attribute.kind), ...attribute.attributes.map(encodeAttribute)]);
    case "unknown":
      return attribute.value;
  }
}

/** One attribute: Type(7)|M(1), Length (header + value, padding excluded), value, zero padding to 4 octets. */
export function encodeAttribute(attribute: BfcpAttribute): Buffer {
  const type = attribute.kind === "unknown" ? attribute.type : ATTRIBUTE_TYPE_BY_KIND.get(attribute.kind)!;
  const value = attributeValue(attribute);
  const length = checkRange(`attribute ${attribute.kind} length`, 2 + value.length, 0xff);
  const out = Buffer.alloc((length + 3) & ~3);
  out[0] = (checkRange("attribute type", type, 0x7f) << 1) | (attribute.mandatory === false ? 0 : 1);
  out[1] = length;
  out.set(value, 2);
  return out;
}
