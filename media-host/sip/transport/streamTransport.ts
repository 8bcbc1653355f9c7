import { EventEmitter } from "node:events";
import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TlsOptions } from "node:tls";
import { SipParseError } from "../errors.js";
import { type ParseLimits, SipStreamFramer } from "../parser.js";
import { buildErrorResponse, serializeMessage } from "../serializer.js";
import type { Flow, SipTransport, TransportEvents } from "./flow.js";

export interface StreamTransportOptions {
  readonly protocol: "tcp" | "tls";
  /** Certificate and key for TLS. */
  readonly tls?: TlsOptions;
  readonly limits?: Partial<ParseLimits>;
  /** Connections closed after this long without a byte (devices keep theirs alive with CRLF pings). */
  readonly idleTimeoutInMs?: number;
  /** Beyond this many open connections new ones are refused (a flood must not exhaust the host). */
  readonly maxConnections?: number;
}

/**
 * SIP over TCP or TLS: a framer per connection cuts the byte stream into messages
 * with bounded buffering; a framing error closes the connection (the stream cannot be
 * resynchronised), an invalid but well-framed message is answered and the stream goes on.
 */
export class StreamTransport extends EventEmitter<TransportEvents> implements SipTransport {
  readonly protocol: "tcp" | "tls";
  readonly #options: StreamTransportOptions;
  readonly #server: Server;
  readonly #connections = new Map<string, Socket>();
  #nextId = 0;
  #localPort = 0;

  constructor(options: StreamTransportOptions) {
    super();
    this.protocol = options.protocol;
    this.#options = options;
    const onConnection = (socket: Socket) => this.#accept(socket);
    this.#server = options.protocol === "tls" ? createTlsServer(options.tls ?? {}, onConnection) : createTcpServer(onConnection);
    this.#server.maxConnections = options.maxConnections ?? 10_000;
    // A failed TLS handshake or a reset must not take the host down.
    this.#server.on("tlsClientError", () => {});
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, host, () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    const address = this.#server.address();
    this.#localPort = typeof address === "object" && address ? address.port : port;
    return this.#localPort;
  }

  send(data: Buffer, flow: Flow): Promise<void> {
    const socket = flow.connectionId === null ? undefined : this.#connections.get(flow.connectionId);
    if (!socket || socket.destroyed) return Promise.reject(new Error(`connection ${flow.connectionId ?? "?"} is closed`));
    return new Promise((resolve, reject) => socket.write(data, (e) => (e ? reject(e) : resolve())));
  }

  async close(): Promise<void> {
    for (const socket of this.#connections.values()) socket.destroy();
    this.#connections.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  get openConnections(): number {
    return this.#connections.size;
  }

  #accept(socket: Socket): void {
    const connectionId = `${this.protocol}-${this.#nextId++}`;
    const flow: Flow = {
      protocol: this.protocol,
      remoteAddress: socket.remoteAddress ?? "",
      remotePort: socket.remotePort ?? 0,
      localPort: this.#localPort,
      connectionId,
    };
    const framer = new SipStreamFramer(this.#options.limits);
    this.#connections.set(connectionId, socket);
    socket.setNoDelay(true);
    socket.setTimeout(this.#options.idleTimeoutInMs ?? 10 * 60_000, () => socket.destroy());
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.#connections.delete(connectionId));
    socket.on("data", (chunk: Buffer) => {
      try {
        for (const item of framer.push(chunk)) {
          if (item.kind === "ping") socket.write("\r\n");
          else if (item.kind === "message") this.emit("message", { message: item.message, flow });
          else this.#refuse(item.error, flow, socket);
        }
      } catch (e) {
        if (!(e instanceof SipParseError)) throw e;
        this.#refuse(e, flow, socket);
        socket.end();
        socket.destroySoon?.();
      }
    });
  }

  #refuse(error: SipParseError, flow: Flow, socket: Socket): void {
    const response = buildErrorResponse(error);
    if (response && !socket.destroyed) socket.write(serializeMessage(response));
    this.emit("malformed", flow, error);
  }
}
