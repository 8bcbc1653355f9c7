import { createSocket } from "node:dgram";
import { Primitive } from "../../../media-host/bfcp/constants.js";
import { type BfcpAttribute, findAttribute } from "../../../media-host/bfcp/message.js";
import { parseSdp } from "../../../media-host/rtpengine/sdp.js";
import type { SipResponse } from "../../../media-host/sip/message.js";
import { type AccessUnit, nalType, packetize, pictures, spsPictureSize } from "../media/h264Content.js";
import { rtpPacket } from "../media/plainRtpDevice.js";
import { BfcpTestClient } from "./bfcpClient.js";
import { OfferAnswerDevice } from "./offerAnswerDevice.js";

// A room system with a laptop on its HDMI input, as far as the gateway can tell: SIP with
// audio, main video and (Cisco-shaped) a slides m-line, BFCP over UDP or TCP in version 1 or
// 2, H.264 content sent from x264 pictures under the floor, and what it receives on its
// slides line kept as pictures. No BFCP peer exists in Debian, so this is the device side.

export interface RoomSystemOptions {
  /** The gateway's SIP (UDP) port on 127.0.0.1, and the dial string. */
  readonly gatewayPort: number;
  readonly dial: string;
  readonly displayName?: string;
  readonly bfcp: {
    readonly transport: "udp" | "tcp";
    readonly versions: readonly (1 | 2)[];
    /** UDP: datagrams its BFCP client loses both ways (BfcpTestClientOptions.loss). */
    readonly loss?: { readonly everyNth: number };
  };
  /**
   * Cisco (default): a slides m-line from the first INVITE. Poly: BFCP naming its slides stream
   * (`mstrm`) but no slides line until the far end's re-INVITE adds one, which it answers.
   */
  readonly shape?: "cisco" | "poly";
  /** How it takes keyframe requests: RTCP feedback on its video lines (default), or only SIP INFO (RFC 5168), as older rooms do. */
  readonly keyframes?: "rtcp" | "sip-info";
  /** Device ids in its SDP (Cisco and Poly offer their own). */
  readonly confId?: number;
  readonly userId?: number;
  readonly floorId?: number;
  /** Called with the gateway's BFCP line before the room connects to it or says Hello (a test starts a capture there). */
  readonly beforeBfcp?: (line: { readonly transport: "udp" | "tcp"; readonly address: string; readonly port: number }) => Promise<void>;
}

const SLIDES_LABEL = "12";

/** A received content packet (from the slides line). */
export interface ContentPacket {
  readonly sequenceNumber: number;
  readonly timestamp: number;
  readonly payload: Uint8Array;
}

export class RoomSystem {
  readonly sip: OfferAnswerDevice;
  readonly options: RoomSystemOptions;
  /** Content packets received on the slides line, in arrival order. */
  readonly contentReceived: ContentPacket[] = [];
  #bfcp: BfcpTestClient | undefined;
  #udpPort: number;
  #presenting = false;
  #presentingDone: Promise<void> | undefined;
  #sequenceNumber = 1000;
  #timestamp = 0;
  #nextPicture = 0;

  private constructor(sip: OfferAnswerDevice, udpPort: number, options: RoomSystemOptions) {
    this.sip = sip;
    this.options = options;
    this.#udpPort = udpPort;
    sip.media.onContent((packet) =>
      this.contentReceived.push({ sequenceNumber: packet.readUInt16BE(2), timestamp: packet.readUInt32BE(4), payload: packet.subarray(12) }),
    );
  }

  /** Dials and, once answered, opens the BFCP line the gateway took (and says Hello). */
  static async dial(options: RoomSystemOptions): Promise<{ room: RoomSystem; response: SipResponse }> {
    // Its UDP BFCP port is in its offer: reserve one (loopback; the client binds it next).
    const reserve = createSocket("udp4");
    await new Promise<void>((resolve) => reserve.bind(0, "127.0.0.1", resolve));
    const udpPort = reserve.address().port;
    await new Promise<void>((resolve) => reserve.close(() => resolve()));
    let room: RoomSystem | undefined;
    const sip = await OfferAnswerDevice.open({
      gatewayPort: options.gatewayPort,
      dial: options.dial,
      displayName: options.displayName ?? "Boardroom with laptop",
      media: { content: true, slidesInOffer: options.shape !== "poly", rtcpFeedback: options.keyframes !== "sip-info" },
      extraOfferLines: () => (room ? room.#bfcpOfferLines() : []),
      answerBfcp: () => (room ? room.#bfcpAnswerLines() : undefined),
    });
    room = new RoomSystem(sip, udpPort, options);
    const response = await sip.invite({ offer: true });
    if (response.status === 200) await room.#openBfcp(response.body.toString());
    return { room, response };
  }

  get bfcp(): BfcpTestClient {
    if (!this.#bfcp) throw new Error("the gateway took no BFCP line");
    return this.#bfcp;
  }

  /** The floor id the gateway answered (`a=floorid`). */
  floorId = 0;

  /** Asks for the floor; resolves with the status the gateway answered (3 Granted) and the floor request id. */
  async requestFloor(): Promise<{ status: number | undefined; floorRequestId: number | undefined }> {
    const answer = await this.bfcp.floorRequest(this.floorId);
    const { status, floorRequestId } = readFloorRequest(answer.message.attributes);
    return { status, floorRequestId };
  }

  /**
   * Sends `pictures` on the slides line, looping, one every 1000/fps ms, until `stopPresenting`;
   * a keyframe request on the slides line starts over at the first picture (a keyframe).
   */
  present(pictures: readonly AccessUnit[], fps: number): void {
    if (this.#presenting) return;
    this.#presenting = true;
    const payloadType = this.#slidesPayloadType();
    let requestsSeen = this.sip.media.contentKeyframeRequests.length;
    let infosSeen = this.slidesKeyframeInfos().length;
    this.#presentingDone = (async () => {
      while (this.#presenting) {
        if (this.sip.media.contentKeyframeRequests.length > requestsSeen || this.slidesKeyframeInfos().length > infosSeen) {
          requestsSeen = this.sip.media.contentKeyframeRequests.length;
          infosSeen = this.slidesKeyframeInfos().length;
          this.#nextPicture = 0;
        }
        const unit = pictures[this.#nextPicture % pictures.length] as AccessUnit;
        this.#nextPicture = (this.#nextPicture + 1) % pictures.length;
        const payloads = packetize(unit);
        for (const [i, payload] of payloads.entries()) {
          const last = i === payloads.length - 1;
          this.sip.media.sendContent(rtpPacket(payloadType, this.#sequenceNumber++ & 0xffff, this.#timestamp, 0x51de5, Buffer.from(payload), last));
          // Paced as a sender's pacer does: a 1080p keyframe at once would overrun rtpengine's receive queue.
          if (i % 32 === 31) await new Promise((r) => setTimeout(r, 1));
        }
        this.#timestamp = (this.#timestamp + Math.round(90_000 / fps)) >>> 0;
        await new Promise((r) => setTimeout(r, 1000 / fps));
      }
    })();
  }

  /** SIP INFO keyframe requests naming its slides line (RFC 5168 stream_id = its label). */
  slidesKeyframeInfos(): string[] {
    return this.sip.infosReceived.filter((b) => /picture_fast_update/.test(b) && b.includes(`<stream_id>${SLIDES_LABEL}</stream_id>`));
  }

  async stopPresenting(): Promise<void> {
    this.#presenting = false;
    await this.#presentingDone;
  }

  /** The pictures received on the slides line so far, depacketized (grouped by timestamp, in sequence order). */
  receivedPictures(): Uint8Array[][] {
    return pictures(this.contentReceived);
  }

  /** The picture size of the last SPS received on the slides line. */
  receivedPictureSize(): { width: number; height: number } | undefined {
    const sps = this.receivedPictures()
      .flat()
      .filter((nal) => nalType(nal) === 7)
      .at(-1);
    if (!sps) return undefined;
    const { width, height } = spsPictureSize(sps);
    return { width, height };
  }

  /** FloorStatus notifications received, with the floor request's status and beneficiary in each. */
  floorStatuses(): { status: number | undefined; beneficiaryId: number | undefined }[] {
    return (this.#bfcp?.received ?? [])
      .filter((r) => r.message.primitive === Primitive.FloorStatus && !r.message.responder)
      .map((r) => {
        const { status, beneficiaryId } = readFloorRequest(r.message.attributes);
        return { status, beneficiaryId };
      });
  }

  hangUp(): Promise<SipResponse> {
    return this.sip.hangUp();
  }

  /** Gone without a word (power cut, crash): everything closed, no BYE, no Goodbye. */
  async vanish(): Promise<void> {
    await this.stopPresenting();
    await this.close();
  }

  /** Closes everything; closing again is a no-op. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#presenting = false;
      await this.#presentingDone;
      await this.#bfcp?.close();
      await this.sip.close();
    })();
    return this.#closing;
  }

  #closing: Promise<void> | undefined;

  #bfcpOfferLines(): string[] {
    const { transport, versions } = this.options.bfcp;
    return [
      `m=application ${transport === "udp" ? this.#udpPort : 9} ${transport === "udp" ? "UDP" : "TCP"}/BFCP *`,
      "a=floorctrl:c-s",
      `a=confid:${this.options.confId ?? 1}`,
      `a=userid:${this.options.userId ?? 2}`,
      `a=floorid:${this.options.floorId ?? 2} mstrm:${SLIDES_LABEL}`,
      ...(transport === "tcp" ? ["a=setup:active", "a=connection:new"] : []),
      `a=bfcpver:${versions.join(" ")}`,
    ];
  }

  /** Its answer to the BFCP line of the gateway's re-INVITE: the same line, as the client, the connection kept. */
  #bfcpAnswerLines(): string[] {
    const { transport, versions } = this.options.bfcp;
    return [
      `m=application ${transport === "udp" ? this.#udpPort : 9} ${transport === "udp" ? "UDP" : "TCP"}/BFCP *`,
      "a=floorctrl:c-only",
      `a=confid:${this.bfcp.options.conferenceId}`,
      `a=userid:${this.bfcp.options.userId}`,
      `a=floorid:${this.floorId} mstrm:${SLIDES_LABEL}`,
      ...(transport === "tcp" ? ["a=setup:active", "a=connection:existing"] : []),
      `a=bfcpver:${versions.join(" ")}`,
    ];
  }

  async #openBfcp(answer: string): Promise<void> {
    const section = parseSdp(answer).media.find((m) => m.media === "application" && /BFCP$/i.test(m.protocol) && m.port !== 0);
    if (!section) return;
    const value = (name: string) => section.lines.find((l) => l.value.startsWith(`${name}:`))?.value.slice(name.length + 1);
    this.floorId = Number((value("floorid") ?? "0").split(/\s+/)[0]);
    const address = /^c=IN IP[46] (\S+)/m.exec(section.lines.map((l) => `${l.type}=${l.value}`).join("\n"))?.[1] ?? "127.0.0.1";
    const versions = (value("bfcpver") ?? "").split(/\s+/).map(Number);
    const preferred = this.options.bfcp.transport === "udp" ? 2 : 1;
    const version = (versions.includes(preferred) ? preferred : (versions[0] ?? preferred)) as 1 | 2;
    await this.options.beforeBfcp?.({ transport: this.options.bfcp.transport, address, port: section.port });
    this.#bfcp = await BfcpTestClient.connect({
      transport: this.options.bfcp.transport,
      server: { address, port: section.port },
      version,
      conferenceId: Number(value("confid")),
      userId: Number(value("userid")),
      localPort: this.#udpPort,
      ...(this.options.bfcp.loss ? { loss: this.options.bfcp.loss } : {}),
    });
    await this.#bfcp.hello();
  }

  #slidesPayloadType(): number {
    const sdp = parseSdp(this.sip.remoteSdp ?? "");
    const slides = sdp.media.find((m) => m.lines.some((l) => l.value === "content:slides"));
    const pt = Number(slides?.formats[0]);
    if (!slides || slides.port === 0 || !Number.isInteger(pt)) throw new Error("the gateway did not take the slides line");
    return pt;
  }
}

/** FLOOR-REQUEST-INFORMATION's id, overall status and beneficiary (RFC 8855 §5.2.13), if the message has one. */
export function readFloorRequest(attributes: readonly BfcpAttribute[]): {
  floorRequestId: number | undefined;
  status: number | undefined;
  beneficiaryId: number | undefined;
} {
  const info = findAttribute(attributes, "floorRequestInformation");
  if (!info) return { floorRequestId: undefined, status: undefined, beneficiaryId: undefined };
  const overall = findAttribute(info.attributes, "overallRequestStatus");
  return {
    floorRequestId: info.id,
    status: overall ? findAttribute(overall.attributes, "requestStatus")?.status : undefined,
    beneficiaryId: findAttribute(info.attributes, "beneficiaryInformation")?.id,
  };
}
