import { createSocket, type Socket } from "node:dgram";
import { parseMessage } from "../../../media-host/sip/parser.js";

export interface RawSipDeviceOptions {
  /** The media host's SIP (UDP) port on 127.0.0.1. */
  readonly gatewayPort: number;
  /** Request-URI user part: the dial string. */
  readonly dial: string;
  readonly displayName?: string;
  readonly callId?: string;
  /** RTP packets sent every 20 ms (default 1); more make a stream fast enough to overflow a port's queue in a stall. */
  readonly rtpPacketsPerTick?: number;
  /** Each packet's payload (default 160 bytes, 20 ms of PCMU). */
  readonly rtpPayloadBytes?: number;
  /** The audio codec offered and sent (default PCMU, which rtpengine transcodes; Opus passes through). */
  readonly audioCodec?: "PCMU" | "opus";
}

export interface SeenResponse {
  readonly status: number;
  readonly method: string;
  readonly retryAfter: string | undefined;
}

/**
 * A minimal SIP device on UDP for tests that need to see exactly what a device sees:
 * it sends one INVITE (PCMU, its own RTP socket), ACKs the 200, answers a BYE with 200,
 * sends 20 ms RTP packets while the call is up (so latching and prompts have media to
 * work with) and counts the RTP it receives.
 */
export class RawSipDevice {
  readonly responses: SeenResponse[] = [];
  /** The BYE sent to us, if any: its Reason header. */
  byeReason: string | undefined;
  rtpReceived = 0;
  readonly #sip: Socket;
  readonly #rtp: Socket;
  readonly #options: RawSipDeviceOptions;
  readonly #callId: string;
  #toHeader = "";
  #rtpTimer: NodeJS.Timeout | undefined;
  #rtpTarget: { address: string; port: number } | undefined;
  #sequence = 0;

  private constructor(sip: Socket, rtp: Socket, options: RawSipDeviceOptions) {
    this.#sip = sip;
    this.#rtp = rtp;
    this.#options = options;
    this.#callId = options.callId ?? `raw-${Math.random().toString(36).slice(2)}@example.com`;
    sip.on("message", (data) => this.#onSip(data));
    rtp.on("message", () => {
      this.rtpReceived++;
    });
  }

  static async open(options: RawSipDeviceOptions): Promise<RawSipDevice> {
    const bind = async () => {
      const socket = createSocket("udp4");
      await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
      return socket;
    };
    return new RawSipDevice(await bind(), await bind(), options);
  }

  get callId(): string {
    return this.#callId;
  }

  /** Where the device sends its RTP (the gateway's answer), once answered. */
  get rtpTarget(): { address: string; port: number } | undefined {
    return this.#rtpTarget;
  }

  get #uri(): string {
    return `sip:${this.#options.dial}@127.0.0.1:${this.#options.gatewayPort}`;
  }

  get #from(): string {
    return `From: "${this.#options.displayName ?? "Raw device"}" <sip:raw@example.com>;tag=raw-tag`;
  }

  invite(): void {
    const sdp = [
      "v=0",
      "o=- 1 1 IN IP4 127.0.0.1",
      "s=-",
      "c=IN IP4 127.0.0.1",
      "t=0 0",
      ...(this.#options.audioCodec === "opus"
        ? [`m=audio ${this.#rtp.address().port} RTP/AVP 111`, "a=rtpmap:111 opus/48000/2"]
        : [`m=audio ${this.#rtp.address().port} RTP/AVP 0`, "a=rtpmap:0 PCMU/8000"]),
      "a=sendrecv",
      "",
    ].join("\r\n");
    this.#send([
      `INVITE ${this.#uri} SIP/2.0`,
      this.#via("invite"),
      "Max-Forwards: 70",
      this.#from,
      `To: <${this.#uri}>`,
      `Call-ID: ${this.#callId}`,
      "CSeq: 1 INVITE",
      `Contact: <sip:raw@127.0.0.1:${this.#sip.address().port}>`,
      "Content-Type: application/sdp",
      `Content-Length: ${Buffer.byteLength(sdp)}`,
      "",
      sdp,
    ]);
  }

  hangUp(): void {
    this.#stopRtp();
    this.#send([
      `BYE ${this.#uri} SIP/2.0`,
      this.#via("bye"),
      "Max-Forwards: 70",
      this.#from,
      this.#toHeader,
      `Call-ID: ${this.#callId}`,
      "CSeq: 2 BYE",
      "Content-Length: 0",
      "",
      "",
    ]);
  }

  /** Polls `condition` until it holds; throws with `what` after `timeoutInMs`. */
  async until(condition: () => boolean, what: string, timeoutInMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutInMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; responses: ${this.responses.map((r) => r.status).join(" ")}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  close(): void {
    this.#stopRtp();
    this.#sip.close();
    this.#rtp.close();
  }

  #onSip(data: Buffer): void {
    const message = parseMessage(data);
    const lines = data.toString().split("\r\n");
    const pick = (name: string) => lines.find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`)) ?? "";
    if (message.kind === "response") {
      const method = message.headers.cseq().method;
      this.responses.push({ status: message.status, method, retryAfter: message.headers.get("Retry-After") ?? undefined });
      if (message.status === 200 && method === "INVITE") {
        this.#toHeader = pick("To");
        this.#send([
          `ACK ${this.#uri} SIP/2.0`,
          this.#via("ack"),
          "Max-Forwards: 70",
          this.#from,
          this.#toHeader,
          `Call-ID: ${this.#callId}`,
          "CSeq: 1 ACK",
          "Content-Length: 0",
          "",
          "",
        ]);
        this.#startRtp(message.body.toString());
      }
      return;
    }
    if (message.method === "BYE") {
      this.byeReason = message.headers.get("Reason") ?? "";
      this.#stopRtp();
      this.#send(["SIP/2.0 200 OK", pick("Via"), pick("From"), pick("To"), pick("Call-ID"), pick("CSeq"), "Content-Length: 0", "", ""]);
    }
  }

  #startRtp(answer: string): void {
    const address = /^c=IN IP4 (\S+)/m.exec(answer)?.[1];
    const port = Number(/^m=audio (\d+)/m.exec(answer)?.[1]);
    if (!address || !port) return;
    this.#rtpTarget = { address, port };
    const ssrc = 0x1234abcd;
    const perTick = this.#options.rtpPacketsPerTick ?? 1;
    const payloadBytes = this.#options.rtpPayloadBytes ?? 160;
    this.#rtpTimer = setInterval(() => {
      const target = this.#rtpTarget;
      if (!target) return;
      for (let i = 0; i < perTick; i++) {
        const packet = Buffer.alloc(12 + payloadBytes, 0xff); // µ-law silence
        packet[0] = 0x80;
        packet[1] = this.#options.audioCodec === "opus" ? 111 : 0;
        packet.writeUInt16BE(this.#sequence & 0xffff, 2);
        packet.writeUInt32BE((this.#sequence * 160) >>> 0, 4);
        packet.writeUInt32BE(ssrc, 8);
        this.#sequence++;
        this.#rtp.send(packet, target.port, target.address);
      }
    }, 20);
  }

  #stopRtp(): void {
    clearInterval(this.#rtpTimer);
    this.#rtpTarget = undefined;
  }

  #via(what: string): string {
    return `Via: SIP/2.0/UDP 127.0.0.1:${this.#sip.address().port};branch=z9hG4bK-${what}-${this.#callId.slice(0, 12)}-${Date.now()};rport`;
  }

  #send(lines: string[]): void {
    this.#sip.send(lines.join("\r\n"), this.#options.gatewayPort, "127.0.0.1");
  }
}
