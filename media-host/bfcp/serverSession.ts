import { EventEmitter } from "node:events";
import { errorResponse, floorRequestInformation, responseTo } from "./builders.js";
import type { BfcpDecodeFailure } from "./codec.js";
import {
  ACK_PRIMITIVES,
  AttributeType,
  type BfcpVersion,
  ErrorCode,
  type ErrorCodeValue,
  Primitive,
  primitiveName,
  SERVER_TO_CLIENT_PRIMITIVES,
} from "./constants.js";
import type { BfcpTransactionFailedError } from "./errors.js";
import { type FloorDecision, type FloorPolicy, type FloorRequestState, isRefusal } from "./floorPolicy.js";
import { type BfcpAttribute, type BfcpMessage, findAttribute, findAttributes } from "./message.js";
import type { BfcpTransport } from "./transport.js";

/** What we answer to, and so list in HelloAck. ChairAction is refused: there is no chair. */
export const SUPPORTED_PRIMITIVES: readonly number[] = [
  Primitive.FloorRequest,
  Primitive.FloorRelease,
  Primitive.FloorRequestQuery,
  Primitive.FloorRequestStatus,
  Primitive.UserQuery,
  Primitive.UserStatus,
  Primitive.FloorQuery,
  Primitive.FloorStatus,
  Primitive.Hello,
  Primitive.HelloAck,
  Primitive.Error,
  Primitive.FloorRequestStatusAck,
  Primitive.FloorStatusAck,
  Primitive.Goodbye,
  Primitive.GoodbyeAck,
];

export const SUPPORTED_ATTRIBUTES: readonly number[] = Object.values(AttributeType);

export interface BfcpServerSessionOptions {
  /** `a=confid` of our SDP answer. */
  readonly conferenceId: number;
  /** `a=userid` the device uses; undefined accepts whichever user id the device sends (devices that got none in SDP). */
  readonly userId?: number;
  /** `a=floorid` values of the call. */
  readonly floorIds: readonly number[];
  readonly policy: FloorPolicy;
  /** Version of server-first messages before the client has spoken (`a=bfcpver`; RFC 8856 §5: 1 over TCP, 2 over UDP). */
  readonly version?: BfcpVersion;
}

export interface BfcpServerSessionEvents {
  /** The client said Goodbye or its TCP connection closed: its floors are to be released. */
  clientGone: [reason: string];
  /** A server-initiated message went unacknowledged (UDP). */
  transactionFailed: [error: BfcpTransactionFailedError];
  /** Something the client sent was refused; for logs and metrics. */
  refused: [detail: { readonly primitive: number; readonly errorCode: ErrorCodeValue; readonly info: string }];
  /** The client answered something with an Error message. */
  peerError: [message: BfcpMessage];
  /** An answer-only primitive (HelloAck, FloorStatus…) from the client: nothing to reply. */
  ignored: [message: BfcpMessage];
}

/**
 * The floor control server side of one call's BFCP connection (RFC 8855 §13):
 * checks conference and user, answers Hello, Goodbye and malformed input itself,
 * and asks the FloorPolicy about floor requests. Answers are in the version of
 * the request; server-initiated messages use the client's last version.
 */
export class BfcpServerSession extends EventEmitter<BfcpServerSessionEvents> {
  readonly #transport: BfcpTransport;
  readonly #options: BfcpServerSessionOptions;
  readonly #subscribedFloorIds = new Set<number>();
  #version: BfcpVersion;
  #deviceUserId: number | undefined;
  #gone = false;

  constructor(transport: BfcpTransport, options: BfcpServerSessionOptions) {
    super();
    this.#transport = transport;
    this.#options = options;
    this.#version = options.version ?? (transport.reliable ? 1 : 2);
    this.#deviceUserId = options.userId;
    transport.on("message", (message) => this.#onMessage(message));
    transport.on("invalid", (failure) => this.#onInvalid(failure));
    transport.on("clientGone", (reason) => this.#clientGone(reason));
    transport.on("transactionFailed", (error) => this.emit("transactionFailed", error));
  }

  /** Floors the client asked to hear about with FloorQuery (RFC 8855 §13.5). */
  get subscribedFloorIds(): ReadonlySet<number> {
    return this.#subscribedFloorIds;
  }

  /** Tells the device its request changed (Granted after Pending, Revoked): a server-initiated FloorRequestStatus. */
  notifyFloorRequestStatus(state: FloorRequestState): number {
    return this.#notify(Primitive.FloorRequestStatus, [floorRequestInformation(state)]);
  }

  /** Tells the device who holds a floor (e.g. the meeting presenting): a server-initiated FloorStatus. */
  notifyFloorStatus(floorId: number, requests: readonly FloorRequestState[]): number {
    return this.#notify(Primitive.FloorStatus, [{ kind: "floorId", id: floorId }, ...requests.map(floorRequestInformation)]);
  }

  /** Ends the BFCP association from our side (RFC 8855 §13.7); GoodbyeAck is consumed by the transport. */
  goodbye(): number {
    return this.#notify(Primitive.Goodbye, []);
  }

  #notify(primitive: number, attributes: BfcpAttribute[]): number {
    return this.#transport.send({
      version: this.#version,
      responder: false,
      primitive,
      conferenceId: this.#options.conferenceId,
      userId: this.#deviceUserId ?? 0,
      attributes,
    });
  }

  get #responder(): boolean {
    return !this.#transport.reliable;
  }

  #reply(request: BfcpMessage, primitive: number, attributes: BfcpAttribute[]): void {
    this.#transport.reply(request, responseTo(request, primitive, attributes, { responder: this.#responder }));
  }

  #refuse(
    request: Pick<BfcpMessage, "primitive" | "version" | "conferenceId" | "transactionId" | "userId">,
    code: ErrorCodeValue,
    info: string,
    unknownAttributeTypes?: readonly number[],
  ): void {
    const version = request.version === 1 || request.version === 2 ? request.version : this.#version;
    const options = unknownAttributeTypes ? { responder: this.#responder, info, unknownAttributeTypes } : { responder: this.#responder, info };
    this.#transport.reply(request, errorResponse({ ...request, version }, code, options));
    this.emit("refused", { primitive: request.primitive, errorCode: code, info });
  }

  #onInvalid(failure: BfcpDecodeFailure): void {
    const header = failure.header;
    // Without a header there is no transaction to answer; an invalid response or ack needs no answer.
    if (!header || header.responder || ACK_PRIMITIVES.has(header.primitive) || SERVER_TO_CLIENT_PRIMITIVES.has(header.primitive)) {
      this.emit("refused", { primitive: header?.primitive ?? 0, errorCode: failure.errorCode, info: failure.detail });
      return;
    }
    this.#refuse({ ...header, version: header.version as BfcpVersion }, failure.errorCode, failure.detail, failure.unknownAttributeTypes);
  }

  #onMessage(message: BfcpMessage): void {
    if (message.conferenceId !== this.#options.conferenceId) {
      this.#refuse(message, ErrorCode.ConferenceDoesNotExist, `conference ${message.conferenceId} does not exist`);
      return;
    }
    if (this.#deviceUserId !== undefined && message.userId !== this.#deviceUserId) {
      this.#refuse(message, ErrorCode.UserDoesNotExist, `user ${message.userId} does not exist in this conference`);
      return;
    }
    this.#deviceUserId ??= message.userId;
    this.#version = message.version;
    this.#gone = false;
    switch (message.primitive) {
      case Primitive.Hello:
        this.#reply(message, Primitive.HelloAck, [
          { kind: "supportedPrimitives", primitives: SUPPORTED_PRIMITIVES },
          { kind: "supportedAttributes", types: SUPPORTED_ATTRIBUTES },
        ]);
        return;
      case Primitive.FloorRequest:
        this.#onFloorRequest(message);
        return;
      case Primitive.FloorRelease:
      case Primitive.FloorRequestQuery: {
        const floorRequestId = findAttribute(message.attributes, "floorRequestId")?.id;
        if (floorRequestId === undefined) {
          this.#refuse(message, ErrorCode.UnableToParseMessage, `${primitiveName(message.primitive)} without FLOOR-REQUEST-ID`);
          return;
        }
        const request = { userId: message.userId, floorRequestId };
        const decision = message.primitive === Primitive.FloorRelease ? this.#options.policy.release(request) : this.#options.policy.query(request);
        this.#answerDecision(message, decision);
        return;
      }
      case Primitive.FloorQuery:
        this.#onFloorQuery(message);
        return;
      case Primitive.UserQuery: {
        const beneficiary = findAttribute(message.attributes, "beneficiaryId")?.id;
        if (beneficiary !== undefined && beneficiary !== message.userId) {
          this.#refuse(message, ErrorCode.UnauthorizedOperation, "queries about other users are not supported");
          return;
        }
        this.#reply(message, Primitive.UserStatus, this.#options.policy.requestsOf(message.userId).map(floorRequestInformation));
        return;
      }
      case Primitive.ChairAction:
        this.#refuse(message, ErrorCode.UnauthorizedOperation, "there is no floor chair in this conference");
        return;
      case Primitive.Goodbye:
        this.#reply(message, Primitive.GoodbyeAck, []);
        this.#clientGone("Goodbye");
        return;
      case Primitive.Error:
        this.emit("peerError", message);
        return;
      default:
        if (SERVER_TO_CLIENT_PRIMITIVES.has(message.primitive)) {
          // Answering an answer with an Error would only start a ping-pong.
          this.emit("ignored", message);
          return;
        }
        this.#refuse(message, ErrorCode.UnknownPrimitive, `${primitiveName(message.primitive)} is not accepted by this floor control server`);
    }
  }

  #onFloorRequest(message: BfcpMessage): void {
    const floorIds = findAttributes(message.attributes, "floorId").map((a) => a.id);
    if (floorIds.length === 0) {
      this.#refuse(message, ErrorCode.UnableToParseMessage, "FloorRequest without FLOOR-ID");
      return;
    }
    const unknown = floorIds.find((id) => !this.#options.floorIds.includes(id));
    if (unknown !== undefined) {
      this.#refuse(message, ErrorCode.InvalidFloorId, `floor ${unknown} does not exist`);
      return;
    }
    const beneficiary = findAttribute(message.attributes, "beneficiaryId")?.id;
    if (beneficiary !== undefined && beneficiary !== message.userId) {
      this.#refuse(message, ErrorCode.UnauthorizedOperation, "third-party floor requests are not supported");
      return;
    }
    const priority = findAttribute(message.attributes, "priority")?.priority;
    const decision = this.#options.policy.request(
      priority === undefined ? { userId: message.userId, floorIds } : { userId: message.userId, floorIds, priority },
    );
    this.#answerDecision(message, decision);
  }

  #onFloorQuery(message: BfcpMessage): void {
    const floorIds = findAttributes(message.attributes, "floorId").map((a) => a.id);
    const unknown = floorIds.find((id) => !this.#options.floorIds.includes(id));
    if (unknown !== undefined) {
      this.#refuse(message, ErrorCode.InvalidFloorId, `floor ${unknown} does not exist`);
      return;
    }
    // A FloorQuery replaces the subscription; an empty one cancels it.
    this.#subscribedFloorIds.clear();
    for (const id of floorIds) this.#subscribedFloorIds.add(id);
    const first = floorIds[0];
    const attributes: BfcpAttribute[] =
      first === undefined ? [] : [{ kind: "floorId", id: first }, ...this.#options.policy.floorStatus(first).map(floorRequestInformation)];
    this.#reply(message, Primitive.FloorStatus, attributes);
    // The reply covers the first floor; the others follow as notifications (RFC 8855 §13.5).
    for (const id of floorIds.slice(1)) this.notifyFloorStatus(id, this.#options.policy.floorStatus(id));
  }

  #answerDecision(message: BfcpMessage, decision: FloorDecision): void {
    if (isRefusal(decision)) {
      this.#refuse(message, decision.error, decision.info ?? `${primitiveName(message.primitive)} refused`);
      return;
    }
    this.#reply(message, Primitive.FloorRequestStatus, [floorRequestInformation(decision)]);
  }

  #clientGone(reason: string): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#subscribedFloorIds.clear();
    this.emit("clientGone", reason);
  }
}
