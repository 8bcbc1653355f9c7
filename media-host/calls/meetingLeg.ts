import { createSocket, type Socket } from "node:dgram";
import { parseSdp, type SdpLine, serializeSdp } from "../rtpengine/sdp.js";

/**
 * The meeting side of a call's media, behind one interface so the WebRTC leg (werift,
 * the media bridge's work) plugs in without touching SIP or rtpengine code: given
 * the SDP rtpengine offers towards the meeting, it answers with where the meeting
 * side receives.
 */
export interface MeetingLeg {
  answer(offerTowardsMeeting: string): Promise<string>;
  close(): Promise<void>;
}

export interface MeetingLegFactory {
  create(callId: string): Promise<MeetingLeg>;
}

/**
 * Until the WebRTC leg exists: a loopback UDP endpoint that accepts the offered audio
 * (first codec and telephone-event) and discards it, so rtpengine has a full call to
 * anchor, latch and play prompts in.
 */
export class DiscardMeetingLeg implements MeetingLeg {
  readonly #socket: Socket;

  private constructor(socket: Socket) {
    this.#socket = socket;
  }

  static async open(host = "127.0.0.1"): Promise<DiscardMeetingLeg> {
    const socket = createSocket("udp4");
    socket.on("message", () => {});
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.bind(0, host, resolve));
    return new DiscardMeetingLeg(socket);
  }

  async answer(offerTowardsMeeting: string): Promise<string> {
    const offer = parseSdp(offerTowardsMeeting);
    const { address, port } = this.#socket.address();
    const media = offer.media.map((m, index) => {
      // The first audio codec and telephone-event; any further m-line is declined (port 0).
      const events = m.formats.filter((f) => /telephone-event/i.test(rtpmapOf(m.lines, f)));
      const formats = index === 0 ? [...m.formats.slice(0, 1), ...events.filter((f) => f !== m.formats[0])] : m.formats;
      const keep = new Set(formats);
      const lines = m.lines.filter((l) => {
        if (l.type !== "a") return l.type !== "c";
        const pt = /^(?:rtpmap|fmtp):(\d+)/.exec(l.value)?.[1];
        return (
          (pt === undefined || keep.has(pt)) && !/^(sendonly|recvonly|inactive|sendrecv|crypto|ice-|candidate|fingerprint|setup|rtcp)/.test(l.value)
        );
      });
      // Hold and resume: answer the offered direction mirrored (sendonly ↔ recvonly), never a fixed sendrecv.
      const offered = m.lines.find((l) => l.type === "a" && /^(sendonly|recvonly|inactive|sendrecv)$/.test(l.value))?.value ?? "sendrecv";
      const mirrored = offered === "sendonly" ? "recvonly" : offered === "recvonly" ? "sendonly" : offered;
      return { ...m, port: index === 0 ? port : 0, formats, lines: [...lines, { type: "a", value: mirrored }] };
    });
    const session = offer.session.map((l) => (l.type === "c" ? { type: "c", value: `IN IP4 ${address}` } : l));
    return serializeSdp({ session, media });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}

function rtpmapOf(lines: readonly SdpLine[], pt: string): string {
  return lines.find((l) => l.type === "a" && l.value.startsWith(`rtpmap:${pt} `))?.value ?? "";
}

export const discardMeetingLegs: MeetingLegFactory = { create: () => DiscardMeetingLeg.open() };
