import { createSocket, type Socket } from "node:dgram";
import type { SipMessage, SipRequest, SipResponse } from "../../../media-host/sip/message.js";
import { parseMessage } from "../../../media-host/sip/parser.js";
import { waitFor } from "../waiting.js";

export const SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=sendrecv\r\n";

export interface Call {
  readonly callId: string;
  readonly fromTag: string;
  inviteBranch: string;
  /** Our tag, once a response carried it. */
  toTag: string | undefined;
  cseq: number;
}

/**
 * The edge's side of the flow: sends raw requests, ACKs final responses to INVITEs (a 2xx in
 * a transaction of its own, anything else in the INVITE's), answers every request with 200,
 * and keeps everything it receives.
 */
export class EdgePeer {
  readonly received: SipMessage[] = [];
  /** The status it answers a request with (undefined: no answer at all, as a device that vanished). */
  respond: (request: SipRequest) => number | undefined = () => 200;
  readonly #socket: Socket;
  readonly #gatewayPort: number;
  #sequence = 0;

  private constructor(socket: Socket, gatewayPort: number) {
    this.#socket = socket;
    this.#gatewayPort = gatewayPort;
    socket.on("message", (data) => this.#receive(parseMessage(data)));
  }

  static async open(gatewayPort: number): Promise<EdgePeer> {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    return new EdgePeer(socket, gatewayPort);
  }

  newCall(): Call {
    this.#sequence++;
    return { callId: `edge-${this.#sequence}@example.com`, fromTag: "room-tag", inviteBranch: "", toTag: undefined, cseq: 0 };
  }

  invite(call: Call, headers: readonly string[], body = SDP): void {
    call.inviteBranch = this.#branch();
    this.#request(call, "INVITE", call.inviteBranch, ++call.cseq, headers, body, undefined);
  }

  /** A request inside the dialog (re-INVITE, UPDATE, BYE), as the edge forwards it after loose routing. */
  inDialog(call: Call, method: string, headers: readonly string[] = [], body = ""): void {
    this.#request(call, method, this.#branch(), ++call.cseq, headers, body, call.toTag);
  }

  cancel(call: Call): void {
    this.#request(call, "CANCEL", call.inviteBranch, 1, [], "", undefined);
  }

  responses(call: Call, status: number, method = "INVITE"): SipResponse[] {
    return this.received.filter(
      (m): m is SipResponse =>
        m.kind === "response" && m.headers.callId() === call.callId && m.status === status && m.headers.cseq().method === method,
    );
  }

  requests(call: Call, method: string): SipRequest[] {
    return this.received.filter((m): m is SipRequest => m.kind === "request" && m.headers.callId() === call.callId && m.method === method);
  }

  /**
   * Asks the gateway something outside any dialog and waits for the answer: whatever the
   * gateway sent over this flow before that answer has arrived by then.
   */
  async roundTrip(): Promise<void> {
    const call = this.newCall();
    this.#request(call, "OPTIONS", this.#branch(), 1, [], "", undefined);
    await waitFor(() => this.responses(call, 200, "OPTIONS")[0], "the answer to OPTIONS");
  }

  close(): void {
    this.#socket.close();
  }

  #receive(message: SipMessage): void {
    this.received.push(message);
    if (message.kind === "response") {
      const cseq = message.headers.cseq();
      if (cseq.method !== "INVITE" || message.status < 200) return;
      // §17.1.1.3: a non-2xx is ACKed in the INVITE's transaction (its branch); a 2xx in a new one (§13.2.2.4).
      const branch = message.status < 300 ? this.#branch() : (message.headers.topVia()?.branch ?? this.#branch());
      this.#send([
        `ACK sip:gateway@127.0.0.1:${this.#gatewayPort} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${this.#port};branch=${branch};rport`,
        "Max-Forwards: 70",
        `From: ${message.headers.get("From")}`,
        `To: ${message.headers.get("To")}`,
        `Call-ID: ${message.headers.callId()}`,
        `CSeq: ${cseq.seq} ACK`,
        "Content-Length: 0",
      ]);
      return;
    }
    if (message.method === "ACK") return;
    const status = this.respond(message);
    if (status === undefined) return;
    this.#send([
      `SIP/2.0 ${status} ${status === 200 ? "OK" : "Error"}`,
      ...message.headers.getAll("Via").map((via) => `Via: ${via}`),
      `From: ${message.headers.get("From")}`,
      `To: ${message.headers.get("To")}`,
      `Call-ID: ${message.headers.callId()}`,
      `CSeq: ${message.headers.get("CSeq")}`,
      "Content-Length: 0",
    ]);
  }

  /** Outside the dialog (no To tag) a request goes to the dial string, inside it to our Contact. */
  #request(call: Call, method: string, branch: string, cseq: number, headers: readonly string[], body: string, toTag: string | undefined): void {
    const uri = `sip:123456789.1234567890@127.0.0.1:${this.#gatewayPort}`;
    this.#send(
      [
        `${method} ${toTag === undefined ? uri : `sip:gateway@127.0.0.1:${this.#gatewayPort}`} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${this.#port};branch=${branch};rport`,
        "Max-Forwards: 69",
        `From: <sip:room@example.com>;tag=${call.fromTag}`,
        `To: <${uri}>${toTag === undefined ? "" : `;tag=${toTag}`}`,
        `Call-ID: ${call.callId}`,
        `CSeq: ${cseq} ${method}`,
        ...headers,
        ...(body.length > 0 ? ["Content-Type: application/sdp"] : []),
        `Content-Length: ${Buffer.byteLength(body)}`,
      ],
      body,
    );
  }

  #branch(): string {
    return `z9hG4bK-edge-${++this.#sequence}`;
  }

  get #port(): number {
    return this.#socket.address().port;
  }

  #send(lines: readonly string[], body = ""): void {
    this.#socket.send(`${lines.join("\r\n")}\r\n\r\n${body}`, this.#gatewayPort, "127.0.0.1");
  }
}
