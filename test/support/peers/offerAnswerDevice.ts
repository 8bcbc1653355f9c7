import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { parseSdp } from "../../../media-host/rtpengine/sdp.js";
import { parseMessage } from "../../../media-host/sip/parser.js";
import type { SipResponse } from "../../../media-host/sip/message.js";
import { PlainRtpDevice, type PlainRtpDeviceOptions } from "../media/plainRtpDevice.js";

export interface OfferAnswerDeviceOptions {
  /** The gateway's SIP (UDP) port on 127.0.0.1. */
  readonly gatewayPort: number;
  /** Request-URI user part: the dial string. */
  readonly dial: string;
  readonly displayName?: string;
  /** Its media's shape (e.g. a slides m-line, as a Cisco room system offers). */
  readonly media?: PlainRtpDeviceOptions;
  /** m-sections appended to every offer it makes (its BFCP line, say), as lines. */
  readonly extraOfferLines?: () => readonly string[];
  /** Its answer to a BFCP m-line of the gateway's offers (the section's text), as lines; none: declined. */
  readonly answerBfcp?: (section: string) => readonly string[] | undefined;
}

/** How the device answers a re-INVITE the gateway sends it: a status, and (for a 2xx) its answer. */
export type ReinviteReply = { readonly status: number; readonly reason: string } | "answer" | "silence";

/**
 * A room system on UDP for offer/answer tests, the way delayed-offer devices (CUCM trunks,
 * older room systems) and MCUs behave: it dials with or without an SDP offer, answers the
 * gateway's offer in its ACK (PCMU and telephone-event, the offered H.264), sends re-INVITEs
 * with or without an offer, answers the gateway's re-INVITEs (or 491s them) and hangs up.
 * Its media (PCMU and H.264 on two sockets, counted both ways) is a PlainRtpDevice's.
 */
export class OfferAnswerDevice {
  readonly media: PlainRtpDevice;
  /** Every response the device got, in order. */
  readonly responses: SipResponse[] = [];
  /** The gateway's re-INVITEs as they arrived (their SDP offers). */
  readonly gatewayReinvites: string[] = [];
  /** ACKs the device got for its 2xx to the gateway's re-INVITEs. */
  acksReceived = 0;
  /** Bodies of the INFO requests the gateway sent (keyframe requests, RFC 5168). */
  readonly infosReceived: string[] = [];
  /** The BYE sent to the device, if any: its Reason header. */
  byeReason: string | undefined;
  /** The last SDP the device sent and the last it got (its view of the session). */
  localSdp: string | undefined;
  remoteSdp: string | undefined;
  /** What the device answers the gateway's next re-INVITEs. */
  replyToReinvite: () => ReinviteReply = () => "answer";
  /** Whether the ACK of a delayed offer carries an answer (false: a broken device, or one with nothing in common). */
  answerInAck = true;
  readonly #sip: Socket;
  readonly #options: OfferAnswerDeviceOptions;
  readonly #callId = `oa-${randomBytes(6).toString("hex")}@room.example`;
  readonly #tag = randomBytes(4).toString("hex");
  #cseq = 1;
  #toHeader = "";
  #version = 1;
  readonly #waiting = new Map<number, (response: SipResponse) => void>();
  /** The INVITEs the device sent without an offer, by CSeq: their 2xx carries the gateway's. */
  readonly #offerless = new Set<number>();

  private constructor(sip: Socket, media: PlainRtpDevice, options: OfferAnswerDeviceOptions) {
    this.#sip = sip;
    this.media = media;
    this.#options = options;
    sip.on("message", (data) => this.#onSip(data));
  }

  static async open(options: OfferAnswerDeviceOptions): Promise<OfferAnswerDevice> {
    const sip = createSocket("udp4");
    await new Promise<void>((resolve) => sip.bind(0, "127.0.0.1", resolve));
    return new OfferAnswerDevice(sip, await PlainRtpDevice.open(options.media), options);
  }

  get callId(): string {
    return this.#callId;
  }

  /** Dials; `offer: false` sends the INVITE without SDP (a delayed offer). Resolves with the final response. */
  invite(options: { readonly offer: boolean }): Promise<SipResponse> {
    const sdp = options.offer ? this.#offerSdp() : undefined;
    if (sdp) this.localSdp = sdp;
    return this.#request("INVITE", sdp, this.#cseq);
  }

  /** A re-INVITE of the device's, with its offer (default) or without one; the 2xx gets the ACK (with our answer when it carried an offer). */
  reinvite(options: { readonly offer: boolean }): Promise<SipResponse> {
    const sdp = options.offer ? this.#offerSdp() : undefined;
    if (sdp) this.localSdp = sdp;
    return this.#request("INVITE", sdp, ++this.#cseq);
  }

  /** An UPDATE with an offer (RFC 3311), as devices change media without a re-INVITE. */
  update(): Promise<SipResponse> {
    return this.#request("UPDATE", this.#offerSdp(), ++this.#cseq);
  }

  /** A digit as SIP INFO (application/dtmf-relay), as room systems key in a conference ID. */
  info(digit: string): Promise<SipResponse> {
    return this.#request("INFO", `Signal=${digit}\r\nDuration=160\r\n`, ++this.#cseq, "application/dtmf-relay");
  }

  /** A digit as RFC 4733 telephone-events (three packets of one event, the last three marking its end) on the negotiated 8 kHz payload type. */
  async rfc4733(digit: string): Promise<void> {
    const payloadType = Number(/a=rtpmap:(\d+) telephone-event\/8000/.exec(this.remoteSdp ?? "")?.[1]);
    const event = "0123456789*#".indexOf(digit);
    if (!payloadType || event < 0) throw new Error(`cannot send ${digit} as RFC 4733 (telephone-event/8000 not negotiated)`);
    const timestamp = this.#audioSequence * 160;
    for (let i = 0; i < 6; i++) {
      const end = i >= 3;
      const payload = Buffer.from([event, (end ? 0x80 : 0) | 10, 0, 0]);
      payload.writeUInt16BE(Math.min(i + 1, 4) * 160, 2);
      this.media.sendAudio(rtp(payloadType, this.#audioSequence++, timestamp, 0x0a0a0a0a, payload, i === 0));
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  hangUp(): Promise<SipResponse> {
    return this.#request("BYE", undefined, ++this.#cseq);
  }

  #audioSequence = 0;

  /** PCMU and an H.264 keyframe (IDR single NAL unit) `count` times, 20 ms apart. */
  async sendMedia(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      // Noise, not silence: rtpengine's Opus encoder sends next to nothing for silence (DTX).
      this.media.sendAudio(rtp(0, this.#audioSequence, this.#audioSequence * 160, 0x0a0a0a0a, randomBytes(160)));
      this.#audioSequence++;
      this.media.sendVideo(rtp(this.#videoPayloadType(), i, i * 3000, 0x0b0b0b0b, Buffer.from([0x65, 0x88, i & 0xff, 1, 2, 3]), true));
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    this.#sip.close();
    await this.media.close();
  }

  #videoPayloadType(): number {
    const sdp = this.remoteSdp ?? "";
    return Number(/^m=video \d+ \S+ (\d+)/m.exec(sdp)?.[1] ?? 109);
  }

  get #uri(): string {
    return `sip:${this.#options.dial}@127.0.0.1:${this.#options.gatewayPort}`;
  }

  get #from(): string {
    return `From: "${this.#options.displayName ?? "Delayed offer room"}" <sip:room@room.example>;tag=${this.#tag}`;
  }

  #offerSdp(): string {
    this.#version++;
    const extra = this.#options.extraOfferLines?.() ?? [];
    const offer = this.media.offer().replace("o=device 1 1", `o=device 1 ${this.#version}`);
    return extra.length ? `${offer}${extra.join("\r\n")}\r\n` : offer;
  }

  /**
   * Our answer to the gateway's offer, m-line by m-line (RFC 3264: one for each): PCMU and its
   * telephone-event on audio, the offered H.264 on main video and (with a content socket) on the
   * slides line, BFCP as `answerBfcp` says, anything else declined; the media goes where it says.
   */
  #answerTo(offer: string): string {
    this.#version++;
    const parsed = parseSdp(offer);
    const profile = parsed.media.find((m) => m.media === "audio")?.protocol ?? "RTP/AVP";
    let audioDone = false;
    let videoDone = false;
    const sections = parsed.media.map((m, index) => {
      const values = m.lines.map((l) => l.value);
      const slides = values.includes("content:slides");
      const text = sectionText(offer, index);
      if (m.port !== 0 && m.media === "audio" && !audioDone) {
        audioDone = true;
        const event = /a=rtpmap:(\d+) telephone-event\/8000/.exec(text)?.[1];
        return [
          `m=audio ${this.media.audioSocket.address().port} ${profile} 0${event ? ` ${event}` : ""}`,
          "a=rtpmap:0 PCMU/8000",
          ...(event ? [`a=rtpmap:${event} telephone-event/8000`, `a=fmtp:${event} 0-15`] : []),
          "a=sendrecv",
        ];
      }
      if (m.port !== 0 && m.media === "video" && (slides ? this.media.contentSocket !== undefined : !videoDone)) {
        if (!slides) videoDone = true;
        const videoPt = m.formats[0] ?? "109";
        const fmtp = new RegExp(`a=fmtp:${videoPt} (.*)`).exec(text)?.[1]?.trim();
        const port = slides ? (this.media.contentSocket?.address().port ?? 0) : this.media.videoSocket.address().port;
        return [
          `m=video ${port} ${profile} ${videoPt}`,
          ...(slides ? ["a=content:slides", ...values.filter((v) => v.startsWith("label:")).map((v) => `a=${v}`)] : []),
          `a=rtpmap:${videoPt} H264/90000`,
          ...(fmtp ? [`a=fmtp:${videoPt} ${fmtp}`] : []),
          `a=rtcp-fb:${videoPt} nack pli`,
          "a=sendrecv",
        ];
      }
      const bfcp = m.port !== 0 && m.media === "application" ? this.#options.answerBfcp?.(text) : undefined;
      return bfcp ?? [`m=${m.media} 0 ${m.protocol} ${m.formats.join(" ") || "*"}`];
    });
    const lines = ["v=0", `o=device 1 ${this.#version} IN IP4 127.0.0.1`, "s=Room system", "c=IN IP4 127.0.0.1", "t=0 0", ...sections.flat(), ""];
    this.media.answered(offer);
    return lines.join("\r\n");
  }

  #request(method: string, sdp: string | undefined, cseq: number, contentType = "application/sdp"): Promise<SipResponse> {
    const done = new Promise<SipResponse>((resolve) => this.#waiting.set(cseq, resolve));
    this.#send([
      `${method} ${this.#uri} SIP/2.0`,
      this.#via(),
      "Max-Forwards: 70",
      this.#from,
      method === "INVITE" && cseq === 1 ? `To: <${this.#uri}>` : this.#toHeader,
      `Call-ID: ${this.#callId}`,
      `CSeq: ${cseq} ${method}`,
      `Contact: <sip:room@127.0.0.1:${this.#sip.address().port}>`,
      ...(sdp ? [`Content-Type: ${contentType}`] : []),
      `Content-Length: ${sdp ? Buffer.byteLength(sdp) : 0}`,
      "",
      sdp ?? "",
    ]);
    return done;
  }

  #onSip(data: Buffer): void {
    const message = parseMessage(data);
    const lines = data.toString().split("\r\n");
    const pick = (name: string) => lines.find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`)) ?? "";
    if (message.kind === "response") {
      this.#onResponse(message, pick);
      return;
    }
    if (message.method === "ACK") {
      this.acksReceived++;
      return;
    }
    const reply = (status: number, reason: string, body?: string) =>
      this.#send([
        `SIP/2.0 ${status} ${reason}`,
        ...lines.filter((l) => /^via:/i.test(l)),
        pick("From"),
        pick("To").includes("tag=") ? pick("To") : `${pick("To")};tag=${this.#tag}`,
        pick("Call-ID"),
        pick("CSeq"),
        `Contact: <sip:room@127.0.0.1:${this.#sip.address().port}>`,
        ...(body ? ["Content-Type: application/sdp"] : []),
        `Content-Length: ${body ? Buffer.byteLength(body) : 0}`,
        "",
        body ?? "",
      ]);
    if (message.method === "BYE") {
      this.byeReason = message.headers.get("Reason") ?? "";
      reply(200, "OK");
    } else if (message.method === "INVITE") {
      const offer = message.body.toString();
      this.gatewayReinvites.push(offer);
      const decision = this.replyToReinvite();
      if (decision === "silence") return;
      if (decision === "answer") {
        const answer = this.#answerTo(offer);
        this.remoteSdp = offer;
        this.localSdp = answer;
        reply(200, "OK", answer);
      } else reply(decision.status, decision.reason);
    } else {
      if (message.method === "INFO") this.infosReceived.push(message.body.toString());
      reply(200, "OK");
    }
  }

  #onResponse(response: SipResponse, pick: (name: string) => string): void {
    this.responses.push(response);
    const { seq, method } = response.headers.cseq();
    if (response.status < 200) return;
    if (method === "INVITE") {
      let body: string | undefined;
      if (response.status < 300) {
        this.#toHeader = pick("To");
        const sdp = response.body.toString();
        if (this.#offerless.has(seq) && sdp) {
          // Our INVITE had no offer: this is the gateway's, and the ACK carries our answer.
          const answer = this.#answerTo(sdp);
          this.remoteSdp = sdp;
          if (this.answerInAck) {
            body = answer;
            this.localSdp = answer;
          }
        } else if (sdp) {
          this.remoteSdp = sdp;
          this.media.answered(sdp);
        }
      }
      // The ACK of a 2xx is a new transaction; a failure's ACK belongs to the INVITE's (same branch would be right; the gateway matches either).
      this.#send([
        `ACK ${this.#uri} SIP/2.0`,
        this.#via(),
        "Max-Forwards: 70",
        this.#from,
        response.status < 300 ? this.#toHeader : pick("To"),
        `Call-ID: ${this.#callId}`,
        `CSeq: ${seq} ACK`,
        ...(body ? ["Content-Type: application/sdp"] : []),
        `Content-Length: ${body ? Buffer.byteLength(body) : 0}`,
        "",
        body ?? "",
      ]);
    }
    const waiting = this.#waiting.get(seq);
    this.#waiting.delete(seq);
    waiting?.(response);
  }

  #via(): string {
    return `Via: SIP/2.0/UDP 127.0.0.1:${this.#sip.address().port};branch=z9hG4bK-${randomBytes(6).toString("hex")};rport`;
  }

  #send(lines: string[]): void {
    const first = lines[0] ?? "";
    const cseq = /^CSeq: (\d+) INVITE$/m.exec(lines.join("\n"));
    if (first.startsWith("INVITE ") && cseq && !lines.includes("Content-Type: application/sdp")) this.#offerless.add(Number(cseq[1]));
    this.#sip.send(lines.join("\r\n"), this.#options.gatewayPort, "127.0.0.1");
  }
}

/** The text of an SDP's `index`th m-section, its m= line first. */
function sectionText(sdp: string, index: number): string {
  return sdp.split(/\r?\n(?=m=)/).slice(1)[index] ?? "";
}

/** An RTP packet: 12-byte header and `payload`. */
function rtp(payloadType: number, sequenceNumber: number, timestamp: number, ssrc: number, payload: Buffer, marker = false): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = (marker ? 0x80 : 0) | payloadType;
  header.writeUInt16BE(sequenceNumber & 0xffff, 2);
  header.writeUInt32BE(timestamp >>> 0, 4);
  header.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([header, payload]);
}
