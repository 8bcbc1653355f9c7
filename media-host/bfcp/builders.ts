import { ErrorCode, type ErrorCodeValue, Primitive, type RequestStatusValue } from "./constants.js";
import type { BfcpAttribute, BfcpMessage, GroupedAttribute } from "./message.js";

/** The answer to a request: same version, conference, transaction and user (RFC 8855 §8). */
export function responseTo(
  request: Pick<BfcpMessage, "version" | "conferenceId" | "transactionId" | "userId">,
  primitive: number,
  attributes: readonly BfcpAttribute[],
  options: { readonly responder: boolean },
): BfcpMessage {
  return {
    version: request.version,
    responder: options.responder,
    primitive,
    conferenceId: request.conferenceId,
    transactionId: request.transactionId,
    userId: request.userId,
    attributes,
  };
}

export interface FloorRequestInformationOptions {
  readonly floorRequestId: number;
  readonly status: RequestStatusValue;
  readonly floorIds: readonly number[];
  readonly queuePosition?: number;
  /** Who the floor is for, when not the requester (e.g. the gateway's own user holding the floor for the meeting). */
  readonly beneficiary?: { readonly userId: number; readonly displayName?: string; readonly uri?: string };
  readonly statusInfo?: string;
}

/**
 * FLOOR-REQUEST-INFORMATION(frid){ OVERALL-REQUEST-STATUS(frid){REQUEST-STATUS}, FLOOR-REQUEST-STATUS(floor)…, BENEFICIARY-INFORMATION }:
 * the grouped form RFC 8855 §5.3.4 prescribes (flat FLOOR-ID + REQUEST-STATUS replies confuse Poly devices).
 */
export function floorRequestInformation(options: FloorRequestInformationOptions): GroupedAttribute {
  const overall: BfcpAttribute[] = [{ kind: "requestStatus", status: options.status, queuePosition: options.queuePosition ?? 0 }];
  if (options.statusInfo !== undefined) overall.push({ kind: "statusInfo", text: options.statusInfo });
  const nested: BfcpAttribute[] = [
    { kind: "overallRequestStatus", id: options.floorRequestId, attributes: overall },
    ...options.floorIds.map((floorId): BfcpAttribute => ({ kind: "floorRequestStatus", id: floorId, attributes: [] })),
  ];
  if (options.beneficiary) {
    const who: BfcpAttribute[] = [];
    if (options.beneficiary.displayName !== undefined) who.push({ kind: "userDisplayName", text: options.beneficiary.displayName });
    if (options.beneficiary.uri !== undefined) who.push({ kind: "userUri", text: options.beneficiary.uri });
    nested.push({ kind: "beneficiaryInformation", id: options.beneficiary.userId, attributes: who });
  }
  return { kind: "floorRequestInformation", id: options.floorRequestId, attributes: nested };
}

/** An Error message answering a request (RFC 8855 §5.3.13): ERROR-CODE, and ERROR-INFO when there is something to say. */
export function errorResponse(
  request: Pick<BfcpMessage, "version" | "conferenceId" | "transactionId" | "userId">,
  code: ErrorCodeValue,
  options: { readonly responder: boolean; readonly info?: string; readonly unknownAttributeTypes?: readonly number[] },
): BfcpMessage {
  const details =
    code === ErrorCode.UnknownMandatoryAttribute
      ? Uint8Array.from((options.unknownAttributeTypes ?? []).map((t) => (t & 0x7f) << 1))
      : new Uint8Array();
  const attributes: BfcpAttribute[] = [{ kind: "errorCode", code, details }];
  if (options.info !== undefined) attributes.push({ kind: "errorInfo", text: options.info });
  return responseTo(request, Primitive.Error, attributes, options);
}
