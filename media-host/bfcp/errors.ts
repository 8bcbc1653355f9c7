import { primitiveName } from "./constants.js";

/** The transport cannot send: it is closed, or it has no address for the client yet. */
export class BfcpTransportError extends Error {
  override readonly name = "BfcpTransportError";
  readonly reason: "closed" | "noRemoteAddress" | "notConnected";

  constructor(reason: BfcpTransportError["reason"], message: string) {
    super(message);
    this.reason = reason;
  }
}

/** A server-initiated message over UDP was never acknowledged (RFC 8855 §6.2): the client is likely gone. */
export class BfcpTransactionFailedError extends Error {
  override readonly name = "BfcpTransactionFailedError";
  readonly primitive: number;
  readonly transactionId: number;
  readonly sends: number;

  constructor(primitive: number, transactionId: number, sends: number) {
    super(`${primitiveName(primitive)} (transaction ${transactionId}) unacknowledged after ${sends} sends`);
    this.primitive = primitive;
    this.transactionId = transactionId;
    this.sends = sends;
  }
}
