import type { EventEmitter } from "node:events";
import type { BfcpDecodeFailure } from "./codec.js";
import type { BfcpTransactionFailedError } from "./errors.js";
import type { BfcpMessage } from "./message.js";

export interface BfcpTransportEvents {
  /** A request or notification from the client (acks of our own transactions are consumed by the transport). */
  message: [message: BfcpMessage];
  /** Bytes that are no usable BFCP message; `failure.header`, when present, is what to answer with Error. */
  invalid: [failure: BfcpDecodeFailure];
  /** The client went away at the transport level (TCP connection closed). */
  clientGone: [reason: string];
  /** One of our server-initiated messages was never acknowledged (UDP). */
  transactionFailed: [error: BfcpTransactionFailedError];
}

/** What identifies a client transaction for the reply: primitive, conference, transaction and user. */
export type BfcpRequestKey = Pick<BfcpMessage, "primitive" | "conferenceId" | "transactionId" | "userId">;

/** A BFCP transport of one call, as the server session sees it. */
export interface BfcpTransport extends EventEmitter<BfcpTransportEvents> {
  /** TCP: no retransmission, no acks, transaction id 0 on server-initiated messages. */
  readonly reliable: boolean;
  readonly localPort: number;
  /** Answers a client request; over UDP the reply is kept to answer duplicates of the request byte for byte. */
  reply(request: BfcpRequestKey, response: BfcpMessage): void;
  /** Sends a server-initiated message; the transport picks its transaction id (returned). */
  send(message: Omit<BfcpMessage, "transactionId">): number;
  close(): Promise<void>;
}

export function requestKey(request: BfcpRequestKey): string {
  return `${request.primitive}/${request.conferenceId}/${request.transactionId}/${request.userId}`;
}
