import type { SipMessage } from "../message.js";
import type { SipParseError } from "../errors.js";

export type TransportProtocol = "udp" | "tcp" | "tls";

/**
 * Where a message came from and how to answer it: responses go back over the same
 * flow (the packet's source for UDP, per RFC 3581, which is what NATed devices need;
 * the same connection for TCP/TLS).
 */
export interface Flow {
  readonly protocol: TransportProtocol;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localPort: number;
  /** The connection of a TCP/TLS flow; null for UDP. */
  readonly connectionId: string | null;
}

export interface InboundMessage {
  readonly message: SipMessage;
  readonly flow: Flow;
}

export interface TransportEvents {
  message: [inbound: InboundMessage];
  /** A message the parser refused (already answered when it could be); for logs and metrics. */
  malformed: [flow: Flow, error: SipParseError];
}

/** A listening SIP transport. */
export interface SipTransport {
  readonly protocol: TransportProtocol;
  listen(host: string, port: number): Promise<number>;
  /** Sends over the flow; rejects when the flow is gone (a closed connection). */
  send(data: Buffer, flow: Flow): Promise<void>;
  close(): Promise<void>;
  on<E extends keyof TransportEvents>(event: E, listener: (...args: TransportEvents[E]) => void): this;
}
