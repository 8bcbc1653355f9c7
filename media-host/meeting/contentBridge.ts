import type { RemoteInfo, Socket } from "node:dgram";
import { EventEmitter } from "node:events";
import type { RTCRtpSender, RtpPacket } from "werift";
import { ContentSwitch } from "../domain/contentSwitch.js";
import { findKeyframeRequest, isRtcp, keyframeRequestPacket, rtpPayloadType } from "./rtcp.js";
import { bindUdpSocket, closeUdpSocket } from "./udpSocket.js";

export type ContentPresenter = "device" | "meeting" | undefined;

export interface ContentBridgeEvents {
  /** The side now presenting has sent no keyframe yet: ask it (again, at most once a second while it has not). */
  keyframeNeeded: [from: "device" | "meeting"];
}

export interface ContentBridgeCounters {
  fromDevice: number;
  intoMeeting: number;
  fromMeeting: number;
  toDevice: number;
  /** Packets of the presenting side held back until its first keyframe. */
  heldForKeyframe: number;
}

const KEYFRAME_ASK_EVERY_MS = 1000;
const DEVICE = "device";

/**
 * The content (slides) video across the gateway, one direction at a time: whoever holds the
 * floor presents, and only their stream crosses. Device → meeting: the slides m-line's
 * packets from rtpengine go to the meeting leg's content sender; meeting → device: the
 * sharer's stream from the content receiver goes to rtpengine's slides port under our SSRC.
 * Each direction is a ContentSwitch: a presenter starts at a keyframe, numbering runs on
 * across hand-overs. Content is a few to a few hundred packets a second, so unlike main
 * video (BridgedStream) a packet may be copied.
 */
export class ContentBridge extends EventEmitter<ContentBridgeEvents> {
  readonly counters: ContentBridgeCounters = { fromDevice: 0, intoMeeting: 0, fromMeeting: 0, toDevice: 0, heldForKeyframe: 0 };
  /** The SSRC the device sees for the meeting's content, whoever shares there. */
  readonly ssrcTowardsDevice = (Math.random() * 0xffffffff) >>> 0 || 1;
  readonly #socket: Socket;
  readonly #towardsMeeting = new ContentSwitch();
  readonly #towardsDevice = new ContentSwitch();
  #presenter: ContentPresenter;
  #remote: { address: string; port: number } | undefined;
  #payloadType = -1;
  #sender: RTCRtpSender | undefined;
  #deviceSsrc = 0;
  #firSequence = 0;
  #askedAtMs = 0;

  private constructor(socket: Socket) {
    super();
    this.#socket = socket;
    socket.on("message", (packet: Buffer, from: RemoteInfo) => this.#fromRtpengine(packet, from));
    socket.on("error", () => {});
  }

  static async open(address: string): Promise<ContentBridge> {
    return new ContentBridge(await bindUdpSocket(address));
  }

  get port(): number {
    return this.#socket.address().port;
  }

  get presenter(): ContentPresenter {
    return this.#presenter;
  }

  /** rtpengine's slides port towards the meeting and the payload type of the H.264 negotiated there. */
  connectToRtpengine(remote: { address: string; port: number }, payloadType: number): void {
    this.#remote = { address: remote.address, port: remote.port };
    this.#payloadType = payloadType;
  }

  /** The meeting leg's content sender (the bot's screen share). */
  sendIntoMeeting(sender: RTCRtpSender): void {
    this.#sender = sender;
  }

  /** Who presents from now on; the other direction stops at once, the new one starts at its next keyframe. */
  present(presenter: ContentPresenter): void {
    if (presenter === this.#presenter) return;
    this.#presenter = presenter;
    this.#towardsMeeting.select(presenter === "device" ? DEVICE : undefined);
    // The meeting's sharer is known by its stream's SSRC once a packet comes (see fromMeeting).
    this.#towardsDevice.select(undefined);
    this.#askedAtMs = 0;
    if (presenter) this.#askForKeyframe(presenter, Date.now());
  }

  /** An RTP packet of the meeting's shared screen (the content receiver). */
  fromMeeting(rtp: RtpPacket): void {
    this.counters.fromMeeting++;
    if (this.#presenter !== "meeting" || !this.#remote) return;
    const source = `meeting:${rtp.header.ssrc}`;
    const now = Date.now();
    if (this.#towardsDevice.source !== source) {
      // Someone else shares now (a new stream): the device's decoder needs that stream's keyframe.
      this.#towardsDevice.select(source);
      this.#askedAtMs = 0;
    }
    const header = this.#towardsDevice.forward({
      source,
      sequenceNumber: rtp.header.sequenceNumber,
      timestamp: rtp.header.timestamp,
      payload: rtp.payload,
      arrivalMs: now,
    });
    if (!header) {
      this.counters.heldForKeyframe++;
      this.#askForKeyframe("meeting", now);
      return;
    }
    const packet = Buffer.allocUnsafe(12 + rtp.payload.length);
    packet[0] = 0x80;
    packet[1] = (rtp.header.marker ? 0x80 : 0) | (this.#payloadType & 0x7f);
    packet.writeUInt16BE(header.sequenceNumber, 2);
    packet.writeUInt32BE(header.timestamp, 4);
    packet.writeUInt32BE(this.ssrcTowardsDevice, 8);
    rtp.payload.copy(packet, 12);
    this.counters.toDevice++;
    this.#socket.send(packet, this.#remote.port, this.#remote.address);
  }

  /** Asks the device for a content keyframe over RTCP, on the slides m-line. */
  sendKeyframeRequest(kind: "pli" | "fir"): void {
    if (!this.#remote || this.#deviceSsrc === 0) return;
    const packet = keyframeRequestPacket(kind, this.ssrcTowardsDevice, this.#deviceSsrc, ++this.#firSequence);
    this.#socket.send(packet, this.#remote.port, this.#remote.address);
  }

  close(): Promise<void> {
    this.#sender = undefined;
    this.removeAllListeners();
    return closeUdpSocket(this.#socket);
  }

  #fromRtpengine(packet: Buffer, from: RemoteInfo): void {
    const remote = this.#remote;
    if (!remote || from.port !== remote.port || from.address !== remote.address) return;
    if (isRtcp(packet)) {
      // The device wants a fresh picture of what the meeting shares.
      if (findKeyframeRequest(packet) && this.#presenter === "meeting") this.emit("keyframeNeeded", "meeting");
      return;
    }
    if (packet.length < 12 || packet[0]! >> 6 !== 2 || rtpPayloadType(packet) !== this.#payloadType) return;
    this.counters.fromDevice++;
    this.#deviceSsrc = packet.readUInt32BE(8);
    if (this.#presenter !== "device" || !this.#sender) return;
    const now = Date.now();
    const payloadOffset = rtpPayloadOffset(packet);
    if (payloadOffset < 0) return;
    const header = this.#towardsMeeting.forward({
      source: DEVICE,
      sequenceNumber: packet.readUInt16BE(2),
      timestamp: packet.readUInt32BE(4),
      payload: packet.subarray(payloadOffset),
      arrivalMs: now,
    });
    if (!header) {
      this.counters.heldForKeyframe++;
      this.#askForKeyframe("device", now);
      return;
    }
    packet.writeUInt16BE(header.sequenceNumber, 2);
    packet.writeUInt32BE(header.timestamp, 4);
    this.counters.intoMeeting++;
    void this.#sender.sendRtp(packet).catch(() => {});
  }

  #askForKeyframe(from: "device" | "meeting", nowMs: number): void {
    if (nowMs - this.#askedAtMs < KEYFRAME_ASK_EVERY_MS) return;
    this.#askedAtMs = nowMs;
    this.emit("keyframeNeeded", from);
  }
}

/** Where an RTP packet's payload starts (after CSRCs and a header extension); -1 when it is not well-formed. */
function rtpPayloadOffset(packet: Buffer): number {
  let offset = 12 + 4 * (packet[0]! & 0x0f);
  if (packet[0]! & 0x10) {
    if (packet.length < offset + 4) return -1;
    offset += 4 + 4 * packet.readUInt16BE(offset + 2);
  }
  return offset <= packet.length ? offset : -1;
}
