/**
 * BFCP numbers (RFC 8855 §5, IANA "bfcp-parameters"; RFC 4582 for version 1,
 * which uses the same values for everything it defines).
 */

export const BFCP_COMMON_HEADER_LENGTH = 12;
/** The common header grows by Fragment Offset and Fragment Length when F is set. */
export const BFCP_FRAGMENT_HEADER_LENGTH = 16;

export type BfcpVersion = 1 | 2;

export const Primitive = {
  FloorRequest: 1,
  FloorRelease: 2,
  FloorRequestQuery: 3,
  FloorRequestStatus: 4,
  UserQuery: 5,
  UserStatus: 6,
  FloorQuery: 7,
  FloorStatus: 8,
  ChairAction: 9,
  ChairActionAck: 10,
  Hello: 11,
  HelloAck: 12,
  Error: 13,
  FloorRequestStatusAck: 14,
  FloorStatusAck: 15,
  Goodbye: 16,
  GoodbyeAck: 17,
} as const;
export type KnownPrimitive = (typeof Primitive)[keyof typeof Primitive];

export const AttributeType = {
  BeneficiaryId: 1,
  FloorId: 2,
  FloorRequestId: 3,
  Priority: 4,
  RequestStatus: 5,
  ErrorCode: 6,
  ErrorInfo: 7,
  ParticipantProvidedInfo: 8,
  StatusInfo: 9,
  SupportedAttributes: 10,
  SupportedPrimitives: 11,
  UserDisplayName: 12,
  UserUri: 13,
  BeneficiaryInformation: 14,
  FloorRequestInformation: 15,
  RequestedByInformation: 16,
  FloorRequestStatus: 17,
  OverallRequestStatus: 18,
} as const;
export type KnownAttributeType = (typeof AttributeType)[keyof typeof AttributeType];

export const RequestStatus = {
  Pending: 1,
  Accepted: 2,
  Granted: 3,
  Denied: 4,
  Cancelled: 5,
  Released: 6,
  Revoked: 7,
} as const;
export type RequestStatusValue = (typeof RequestStatus)[keyof typeof RequestStatus];

/** ERROR-CODE values (RFC 8855 §5.2.6). */
export const ErrorCode = {
  ConferenceDoesNotExist: 1,
  UserDoesNotExist: 2,
  UnknownPrimitive: 3,
  UnknownMandatoryAttribute: 4,
  UnauthorizedOperation: 5,
  InvalidFloorId: 6,
  FloorRequestIdDoesNotExist: 7,
  MaximumFloorRequestsReached: 8,
  UseTls: 9,
  UnableToParseMessage: 10,
  UseDtls: 11,
  UnsupportedVersion: 12,
  IncorrectMessageLength: 13,
  GenericError: 14,
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

const primitiveNames = new Map<number, string>(Object.entries(Primitive).map(([name, value]) => [value, name]));
const errorCodeNames = new Map<number, string>(Object.entries(ErrorCode).map(([name, value]) => [value, name]));

export function primitiveName(primitive: number): string {
  return primitiveNames.get(primitive) ?? `Primitive(${primitive})`;
}

export function errorCodeName(code: number): string {
  return errorCodeNames.get(code) ?? `ErrorCode(${code})`;
}

/** Primitives a floor control server sends that the client acknowledges over an unreliable transport. */
export const ACK_PRIMITIVES: ReadonlySet<number> = new Set([Primitive.FloorRequestStatusAck, Primitive.FloorStatusAck, Primitive.GoodbyeAck]);

/**
 * Primitives only a floor control server sends (answers and notifications). One arriving at the server answers
 * something of ours (a device's HelloAck to a server Hello, seen in the nDPI capture) and asks nothing back.
 */
export const SERVER_TO_CLIENT_PRIMITIVES: ReadonlySet<number> = new Set([
  Primitive.FloorRequestStatus,
  Primitive.UserStatus,
  Primitive.FloorStatus,
  Primitive.ChairActionAck,
  Primitive.HelloAck,
  Primitive.Error,
]);

/**
 * Before RFC 8855, draft-ietf-bfcpbis numbered 15 ErrorAck, 16 FloorStatusAck, 17 Goodbye and 18 GoodbyeAck,
 * and devices shipped with it: a Yealink and a 2012 Cisco-era client ack FloorStatus with primitive 16, which
 * RFC 8855 calls Goodbye (captures/SOURCES.md files 11-13; tshark 4.0 names them the draft's way too).
 */
export const DRAFT_FLOOR_STATUS_ACK = 16;
