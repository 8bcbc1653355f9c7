import { createSocket, type Socket } from "node:dgram";
import { EventEmitter } from "node:events";
import { isIP } from "node:net";
import { SipParseError } from "../errors.js";
import { isKeepAlive, type ParseLimits, parseMessage } from "../parser.js";
import { buildErrorResponse, serializeMessage } from "../serializer.js";
import type { Flow, SipTransport, TransportEvents } from "./flow.js";

/**
 * SIP over UDP: one message per datagram. Bad datagrams are answered with the 4xx
 * the parser names when a response can be formed (§8.2.6), else dropped; nothing a
 * datagram holds can throw out of here.
 */
export class UdpTransport extends EventEmitter<TransportEvents> implements SipTransport {
  readonly protocol = "udp" as const;
  readonly #limits: Partial<ParseLimits>;
  #socket: Socket | undefined;
  #localPort = 0;

  constructor(options: { limits?: Partial<ParseLimits> } = {}) {
    super();
    this.#limits = options.limits ?? {};
  }

  async listen(host: string, port: number): Promise<number> {
    const socket = createSocket({ type: isIP(host) === 6 ? "udp6" : "udp4", reuseAddr: false });
    this.#socket = socket;
    socket.on("message", (datagram, remote) => this.#receive(datagram, remote.address, remote.port));
    // A send error (ICMP unreachable reported on a later call, buffer full) must not take the host down.
    socket.on("error", () => {});
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(port, host, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    this.#localPort = socket.address().port;
    return this.#localPort;
  }

  send(data: Buffer, flow: Flow): Promise<void> {
    const socket = this.#socket;
    if (!socket) return Promise.reject(new Error("the UDP transport is not listening"));
    return new Promise((resolve, reject) => socket.send(data, flow.remotePort, flow.remoteAddress, (e) => (e ? reject(e) : resolve())));
  }

  close(): Promise<void> {
    const socket = this.#socket;
    this.#socket = undefined;
    return socket ? new Promise((resolve) => socket.close(() => resolve())) : Promise.resolve();
  }

  #receive(datagram: Buffer, remoteAddress: string, remotePort: number): void {
    const flow: Flow = { protocol: "udp", remoteAddress, remotePort, localPort: this.#localPort, connectionId: null };
    if (isKeepAlive(datagram)) return;
    try {
      this.emit("message", { message: parseMessage(datagram, this.#limits), flow });
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
      const response = buildErrorResponse(e);
      if (response) this.send(serializeMessage(response), flow).catch(() => {});
      this.emit("malformed", flow, e);
    }
  }
}
