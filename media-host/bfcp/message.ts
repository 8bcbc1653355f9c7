import { AttributeType, type BfcpVersion } from "./constants.js";

/**
 * A decoded BFCP message: the common header and its attributes, in wire order.
 * The attribute list is generic (not one interface per primitive) so that
 * unknown and misplaced attributes survive a decode/encode round trip.
 */
export interface BfcpMessage {
  readonly version: BfcpVersion;
  /** R: the message is a response (Transaction Responder), meaningful over unreliable transports. */
  readonly responder: boolean;
  readonly primitive: number;
  readonly conferenceId: number;
  readonly transactionId: number;
  readonly userId: number;
  readonly attributes: readonly BfcpAttribute[];
}

export interface BfcpHeader {
  readonly version: number;
  readonly responder: boolean;
  readonly fragmented: boolean;
  readonly primitive: number;
  /** In 4-octet units, common header excluded. */
  readonly payloadLength: number;
  readonly conferenceId: number;
  readonly transactionId: number;
  readonly userId: number;
  /** Present when F is set. */
  readonly fragment?: { readonly offset: number; readonly length: number };
}

interface AttributeBase {
  /** M: the receiver must understand the attribute. Encoded as set unless false. */
  readonly mandatory?: boolean;
}

export type IdAttributeKind = "beneficiaryId" | "floorId" | "floorRequestId";
export type TextAttributeKind = "errorInfo" | "participantProvidedInfo" | "statusInfo" | "userDisplayName" | "userUri";
export type GroupedAttributeKind =
  | "beneficiaryInformation"
  | "floorRequestInformation"
  | "requestedByInformation"
  | "floorRequestStatus"
  | "overallRequestStatus";

export interface IdAttribute extends AttributeBase {
  readonly kind: IdAttributeKind;
  readonly id: number;
}

export interface PriorityAttribute extends AttributeBase {
  readonly kind: "priority";
  /** 0 (lowest) … 4 (highest), the top 3 bits of the 16-bit field. */
  readonly priority: number;
}

export interface RequestStatusAttribute extends AttributeBase {
  readonly kind: "requestStatus";
  readonly status: number;
  readonly queuePosition: number;
}

export interface ErrorCodeAttribute extends AttributeBase {
  readonly kind: "errorCode";
  readonly code: number;
  /** Error Specific Details; for code 4, one octet per unknown attribute (type << 1). */
  readonly details: Uint8Array;
}

export interface TextAttribute extends AttributeBase {
  readonly kind: TextAttributeKind;
  readonly text: string;
}

export interface SupportedAttributesAttribute extends AttributeBase {
  readonly kind: "supportedAttributes";
  readonly types: readonly number[];
}

export interface SupportedPrimitivesAttribute extends AttributeBase {
  readonly kind: "supportedPrimitives";
  readonly primitives: readonly number[];
}

/** A grouped attribute: a 16-bit id in its header, then nested attributes. */
export interface GroupedAttribute extends AttributeBase {
  readonly kind: GroupedAttributeKind;
  readonly id: number;
  readonly attributes: readonly BfcpAttribute[];
}

/** An attribute type this codec does not know; kept as its raw value (padding excluded). */
export interface UnknownAttribute extends AttributeBase {
  readonly kind: "unknown";
  readonly type: number;
  readonly value: Uint8Array;
}

export type BfcpAttribute =
  | IdAttribute
  | PriorityAttribute
  | RequestStatusAttribute
  | ErrorCodeAttribute
  | TextAttribute
  | SupportedAttributesAttribute
  | SupportedPrimitivesAttribute
  | GroupedAttribute
  | UnknownAttribute;

export type KnownAttributeKind = Exclude<BfcpAttribute["kind"], "unknown">;

export const ATTRIBUTE_KIND_BY_TYPE: ReadonlyMap<number, KnownAttributeKind> = new Map<number, KnownAttributeKind>([
  [AttributeType.BeneficiaryId, "beneficiaryId"],
  [AttributeType.FloorId, "floorId"],
  [AttributeType.FloorRequestId, "floorRequestId"],
  [AttributeType.Priority, "priority"],
  [AttributeType.RequestStatus, "requestStatus"],
  [AttributeType.ErrorCode, "errorCode"],
  [AttributeType.ErrorInfo, "errorInfo"],
  [AttributeType.ParticipantProvidedInfo, "participantProvidedInfo"],
  [AttributeType.StatusInfo, "statusInfo"],
  [AttributeType.SupportedAttributes, "supportedAttributes"],
  [AttributeType.SupportedPrimitives, "supportedPrimitives"],
  [AttributeType.UserDisplayName, "userDisplayName"],
  [AttributeType.UserUri, "userUri"],
  [AttributeType.BeneficiaryInformation, "beneficiaryInformation"],
  [AttributeType.FloorRequestInformation, "floorRequestInformation"],
  [AttributeType.RequestedByInformation, "requestedByInformation"],
  [AttributeType.FloorRequestStatus, "floorRequestStatus"],
  [AttributeType.OverallRequestStatus, "overallRequestStatus"],
]);

export const ATTRIBUTE_TYPE_BY_KIND: ReadonlyMap<KnownAttributeKind, number> = new Map(
  [...ATTRIBUTE_KIND_BY_TYPE].map(([type, kind]) => [kind, type]),
);

/** The attribute type of a kind: IdAttribute narrowed to "floorId", and so on. */
export type AttributeOfKind<K extends BfcpAttribute["kind"]> = BfcpAttribute extends infer A
  ? A extends BfcpAttribute
    ? K extends A["kind"]
      ? A & { readonly kind: K }
      : never
    : never
  : never;

/** The first attribute of a kind at this level (not nested). */
export function findAttribute<K extends BfcpAttribute["kind"]>(attributes: readonly BfcpAttribute[], kind: K): AttributeOfKind<K> | undefined {
  return attributes.find((a) => a.kind === kind) as AttributeOfKind<K> | undefined;
}

export function findAttributes<K extends BfcpAttribute["kind"]>(attributes: readonly BfcpAttribute[], kind: K): AttributeOfKind<K>[] {
  return attributes.filter((a) => a.kind === kind) as AttributeOfKind<K>[];
}
