import { randomInt } from "node:crypto";
import { isIPv6 } from "node:net";
import type { Logger } from "pino";
import { type BfcpAnswer, type BfcpOffer, answerBfcpOffer, chooseBfcpOffer } from "../bfcp/sdpAnswer.js";
import { BfcpServerSession } from "../bfcp/serverSession.js";
import { BfcpTcpTransport } from "../bfcp/tcpTransport.js";
import type { BfcpTransport } from "../bfcp/transport.js";
import { BfcpUdpTransport } from "../bfcp/udpTransport.js";
import { errorCodeName, primitiveName } from "../bfcp/constants.js";
import type { DeviceFloorLivenessOptions } from "../domain/contentFloor.js";
import { mediaEndpoint, parseSdp } from "../rtpengine/sdp.js";
import type { SetAsideBfcp } from "./contentSdp.js";
import { ContentSession } from "./contentSession.js";
import type { MeetingLeg } from "./meetingLeg.js";

export interface CallContentOptions {
  /** The device's offer with its BFCP sections set aside (contentSdp.ts), and the offer as it came (for the device's BFCP address). */
  readonly offer: SetAsideBfcp;
  readonly deviceOffer: string;
  /** Where BFCP binds (the device-facing address of the host) and the address our SDP names. */
  readonly bindAddress: string;
  readonly advertisedAddress: string;
  /** Where BFCP may bind (a window of ports per call); any free port without. */
  readonly ports?: BfcpPorts;
  readonly leg: Pick<MeetingLeg, "presentContent" | "contentPacketsFromDevice">;
  /** The bot's screen-sharing role in the meeting (Graph's changeScreenSharingRole, through the control plane). */
  readonly setSharingRole: (role: "sharer" | "viewer") => Promise<void>;
  readonly log: Logger;
  /** How often a presenting device's content is checked for silence (default 1 s: silent 6 s, a vanished presenter loses the floor within 7 s). */
  readonly livenessCheckInMs?: number;
  readonly liveness?: DeviceFloorLivenessOptions;
}

/** Port windows for BFCP (meeting/portAllocator.ts's shape). */
export interface BfcpPorts {
  allocate(): readonly [number, number] | undefined;
  release(port: number): void;
}

/** The user id our side holds the floor as while someone in the meeting presents (never the device's). */
const gatewayUserIdFor = (deviceUserId: number) => (deviceUserId === 0xfffe ? 0xfffd : 0xfffe);

/**
 * One call's content sharing on the device side: the BFCP line the gateway took (UDP or TCP,
 * bound on the host's device-facing address), the floor control server on it, and the floor's
 * policy (ContentSession) driving the meeting leg's content path and the bot's sharing role.
 * Made when the device's offer has a usable BFCP line; the call answers with `answerLines`
 * at `index`, and closes it when the call ends.
 */
export class CallContent {
  readonly index: number;
  readonly answer: BfcpAnswer;
  /** The slides line's label the floor governs (`a=floorid … mstrm:`), when there is one. */
  readonly contentLabel: string | undefined;
  readonly #transport: BfcpTransport;
  readonly #session: ContentSession;
  readonly #bfcp: BfcpServerSession;
  readonly #advertisedAddress: string;
  readonly #timer: NodeJS.Timeout;
  readonly #leg: CallContentOptions["leg"];
  #sharer: string | null = null;
  #closed = false;

  readonly #releasePort: () => void;

  private constructor(
    offer: BfcpOffer,
    answer: BfcpAnswer,
    contentLabel: string | undefined,
    transport: BfcpTransport,
    options: CallContentOptions,
    releasePort: () => void,
  ) {
    this.#releasePort = releasePort;
    this.index = offer.index;
    this.answer = answer;
    this.contentLabel = contentLabel;
    this.#transport = transport;
    this.#advertisedAddress = options.advertisedAddress;
    this.#leg = options.leg;
    const log = options.log.child({ bfcp: `${answer.transport} ${transport.localPort}` });
    this.#session = new ContentSession(
      { presentContent: (presenter) => options.leg.presentContent(presenter), setSharingRole: options.setSharingRole },
      {
        floorId: answer.floorId,
        gatewayUserId: gatewayUserIdFor(answer.userId),
        log,
        ...(options.liveness ? { liveness: options.liveness } : {}),
      },
    );
    this.#bfcp = new BfcpServerSession(transport, {
      conferenceId: answer.confId,
      userId: answer.userId,
      floorIds: [answer.floorId],
      policy: this.#session,
      version: answer.version,
    });
    this.#session.attach(this.#bfcp);
    transport.on("message", () => this.#session.bfcpHeard());
    this.#bfcp.on("refused", (d) =>
      log.info({ primitive: primitiveName(d.primitive), error: errorCodeName(d.errorCode), info: d.info }, "a BFCP request was refused"),
    );
    this.#bfcp.on("peerError", (m) => log.info({ primitive: primitiveName(m.primitive) }, "the device answered with a BFCP Error"));
    this.#timer = setInterval(() => this.#session.checkLiveness(this.#leg.contentPacketsFromDevice), options.livenessCheckInMs ?? 1000);
    this.#timer.unref();
  }

  /**
   * The BFCP line the gateway takes from the device's offer, listening already; undefined when
   * the offer has none usable (TLS, DTLS, a device that insists on being the server).
   */
  static async open(options: CallContentOptions): Promise<CallContent | undefined> {
    const chosen = chooseBfcpOffer(options.offer.offers);
    if (!chosen?.transport) return undefined;
    const window = options.ports?.allocate();
    if (options.ports && !window) throw new Error("no free BFCP port: every port of BFCP_PORT_MIN..MAX is in use");
    // Before the device's first datagram, notifications go where its SDP says; its first datagram's source wins after (NAT).
    const remote = chosen.transport === "udp" ? deviceAddress(options.deviceOffer, chosen.index) : undefined;
    const bind = (port: number): Promise<BfcpTransport> =>
      chosen.transport === "udp"
        ? BfcpUdpTransport.create({ address: options.bindAddress, port, ...(remote ? { remote } : {}) })
        : BfcpTcpTransport.listen({ address: options.bindAddress, port });
    let transport: BfcpTransport;
    try {
      // The window's next port covers one taken by something else on the host.
      transport = window ? await bind(window[0]).catch(() => bind(window[1])) : await bind(0);
    } catch (e) {
      if (window) options.ports?.release(window[0]);
      throw e;
    }
    // The floor's stream: the one the device named (Poly names its future slides line), else its slides line's label.
    const contentLabel = chosen.floors[0]?.labels[0] ?? slidesLabel(options.deviceOffer);
    const answer = answerBfcpOffer(chosen, {
      port: transport.localPort,
      ...(contentLabel ? { contentLabel } : {}),
      fallbackConfId: randomInt(1, 0x7fffffff),
      fallbackUserId: randomInt(1, 0xfff0),
    });
    return new CallContent(chosen, answer, contentLabel, transport, options, window ? () => options.ports?.release(window[0]) : () => {});
  }

  /** Our BFCP m-section with its own c= line (rtpengine's answer may carry the address per m-line only). */
  get answerLines(): string[] {
    const [mLine = "", ...rest] = this.answer.lines;
    return [mLine, `c=IN ${isIPv6(this.#advertisedAddress) ? "IP6" : "IP4"} ${this.#advertisedAddress}`, ...rest];
  }

  /** Our BFCP line in an offer of ours inside the call (the session's line again; TCP: the connection we have). */
  get offerLines(): string[] {
    return this.answerLines.map((l) => (l === "a=connection:new" ? "a=connection:existing" : l));
  }

  /** The same BFCP line again for a re-offer of the device's (TCP: the connection we have), when it still offers it. */
  answerLinesFor(reoffer: SetAsideBfcp): string[] | undefined {
    const same = reoffer.offers.find((o) => o.index === this.index && o.transport === this.answer.transport && o.port !== 0);
    if (!same) return undefined;
    return this.offerLines;
  }

  /** Who shares their screen in the meeting now (its source id), as the control plane last said. */
  meetingSharer(sourceId: string | null): void {
    if (sourceId === this.#sharer) return;
    const previous = this.#sharer;
    this.#sharer = sourceId;
    if (sourceId) this.#session.meetingShareStarted(sourceId);
    else if (previous) this.#session.meetingShareStopped(previous);
  }

  get holder(): ContentSession["holder"] {
    return this.#session.holder;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#transport.close();
    this.#releasePort();
  }
}

/** Where the device takes BFCP over UDP: its m-line's port and connection address. */
function deviceAddress(offer: string, index: number): { address: string; port: number } | undefined {
  try {
    const endpoint = mediaEndpoint(parseSdp(offer), index);
    return endpoint.port ? endpoint : undefined;
  } catch {
    return undefined;
  }
}

/** The label of the device's slides m-line (`a=content:slides`), which the floor governs. */
function slidesLabel(offer: string): string | undefined {
  for (const m of parseSdp(offer).media) {
    if (!m.lines.some((l) => l.value === "content:slides")) continue;
    const label = m.lines.find((l) => l.value.startsWith("label:"));
    if (label) return label.value.slice("label:".length);
  }
  return undefined;
}
