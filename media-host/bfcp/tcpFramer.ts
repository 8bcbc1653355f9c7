import { declaredMessageLength } from "./codec.js";

/**
 * Cuts a TCP byte stream into BFCP messages by the common header's Payload
 * Length (12 + 4·length octets): several messages may share a segment and one
 * message may span segments. Pure, no I/O.
 */
export class BfcpTcpFramer {
  #pending: Buffer = Buffer.alloc(0);

  /** Bytes of complete messages now available, in order. */
  push(chunk: Buffer): Buffer[] {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const messages: Buffer[] = [];
    for (;;) {
      const length = declaredMessageLength(this.#pending);
      if (length === undefined || this.#pending.length < length) break;
      messages.push(this.#pending.subarray(0, length));
      this.#pending = this.#pending.subarray(length);
    }
    return messages;
  }

  /** Bytes of an incomplete message still waiting for the rest. */
  get bufferedBytes(): number {
    return this.#pending.length;
  }
}
