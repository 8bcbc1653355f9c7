/**
 * Types for the parts of npm `rtpengine-client` 0.4.12 (untyped CommonJS) that
 * rtpengineClient.ts uses. The package is pinned exactly in package.json because
 * some of what is declared here is internal to it (marked "internal"): check these
 * against its lib/BaseClient.js and lib/Client.js before changing the version.
 */
declare module "rtpengine-client" {
  import { EventEmitter } from "node:events";
  import type { Socket } from "node:dgram";

  namespace rtpengineClient {
    /** A decoded ng message: the cookie and the bencoded dictionary (byte strings decoded as UTF-8). */
    interface NgMessage {
      readonly id: string;
      readonly data: Record<string, unknown>;
    }

    type Callback = (err: unknown, data?: Record<string, unknown>) => void;
    type Command = (port: number, host: string, options: Record<string, unknown>, callback: Callback) => Client;

    /** The UDP client. Emits "listening" once bound and "error" for socket errors and uncorrelated messages. */
    class Client extends EventEmitter {
      /**
       * `localPort`/`localAddress` select the local socket. `timeout` and `rejectOnError`
       * (the README calls it `rejectOnFailure`, the code reads `rejectOnError`) are
       * global to the client; rtpengineClient.ts uses neither.
       */
      constructor(options: { localPort?: number; localAddress?: string; timeout?: number; rejectOnError?: boolean });

      readonly socket: Socket;
      ping: Command;
      offer: Command;
      answer: Command;
      delete: Command;
      query: Command;
      list: Command;
      playMedia: Command;
      stopMedia: Command;
      playDTMF: Command;
      blockDTMF: Command;
      unblockDTMF: Command;
      blockMedia: Command;
      unblockMedia: Command;
      statistics: Command;
      close(): void;

      /** internal: pending requests by cookie. */
      messages: Map<string, Callback>;
      /** internal: datagrams received and not yet decoded. */
      incomingMsgs: Buffer[];
      /** internal: decodes `incomingMsgs` and dispatches them (scheduled with setImmediate for each datagram). */
      _handleIncomingMessages(): void;
      /** internal: completes the pending request the message answers. */
      _onParsedMessage(message: NgMessage): void;
      /** internal: "<36-character cookie> <bencoded dictionary>"; throws on anything else. */
      static decodeMessage(message: Buffer): NgMessage;
    }

    class RtpEngineError extends Error {}
  }

  export = rtpengineClient;
}
