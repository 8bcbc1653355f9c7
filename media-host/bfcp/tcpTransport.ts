import { EventEmitter } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { decodeMessage, encodeMessage } from "./codec.js";
import { ACK_PRIMITIVES } from "./constants.js";
import { BfcpTransportError } from "./errors.js";
import type { BfcpMessage } from "./message.js";
import { BfcpTcpFramer } from "./tcpFramer.js";
import type { BfcpRequestKey, BfcpTransport, BfcpTransportEvents } from "./transport.js";

export interface BfcpTcpTransportOptions {
  /** Local address to listen on; 0.0.0.0 unless told. */
  readonly address?: string;
  /** Local port; 0 picks one. */
  readonly port?: number;
}

/**
 * BFCP over TCP for one call, passive side (`a=setup:passive`): the device
 * connects to us. One client connection at a time; a new connection replaces
 * the old one (a device reconnecting after a network change). TCP is reliable,
 * so nothing is retransmitted and server-initiated messages carry transaction
 * id 0 (RFC 8855 §8); the connection closing means the client is gone.
 */
export class BfcpTcpTransport extends EventEmitter<BfcpTransportEvents> implements BfcpTransport {
  readonly reliable = true;
  readonly #server: Server;
  #connection: Socket | undefined;
  #closed = false;

  private constructor(server: Server) {
    super();
    this.#server = server;
    server.on("connection", (socket) => this.#accept(socket));
  }

  static async listen(options: BfcpTcpTransportOptions = {}): Promise<BfcpTcpTransport> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, options.address ?? "0.0.0.0", () => {
        server.off("error", reject);
        resolve();
      });
    });
    return new BfcpTcpTransport(server);
  }

  get localPort(): number {
    const address = this.#server.address();
    return typeof address === "object" && address ? address.port : 0;
  }

  get connected(): boolean {
    return this.#connection !== undefined;
  }

  reply(_request: BfcpRequestKey, response: BfcpMessage): void {
    this.#write(encodeMessage(response));
  }

  send(message: Omit<BfcpMessage, "transactionId">): number {
    if (this.#closed) throw new BfcpTransportError("closed", "BFCP TCP transport is closed");
    if (!this.#connection) throw new BfcpTransportError("notConnected", "the BFCP client has not connected");
    this.#write(encodeMessage({ ...message, transactionId: 0 }));
    return 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#connection?.destroy();
    this.#connection = undefined;
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #write(bytes: Buffer): void {
    if (this.#closed || !this.#connection) return;
    this.#connection.write(bytes);
  }

  #accept(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const previous = this.#connection;
    this.#connection = socket;
    previous?.destroy();
    socket.setNoDelay(true);
    const framer = new BfcpTcpFramer();
    socket.on("data", (chunk: Buffer) => {
      for (const bytes of framer.push(chunk)) this.#onMessageBytes(bytes);
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      if (this.#connection !== socket) return;
      this.#connection = undefined;
      if (!this.#closed) this.emit("clientGone", "BFCP TCP connection closed");
    });
  }

  #onMessageBytes(bytes: Buffer): void {
    const result = decodeMessage(bytes);
    if (!result.ok) {
      this.emit("invalid", result.error);
      return;
    }
    // Acks are for unreliable transports and R marks responses: neither asks anything of us (some clients send them anyway).
    if (ACK_PRIMITIVES.has(result.message.primitive) || result.message.responder) return;
    this.emit("message", result.message);
  }
}
