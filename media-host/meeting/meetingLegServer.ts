import { randomBytes } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { TlsOptions } from "node:tls";
import type { Logger } from "pino";
import type { MeetingLegCreateOptions, MeetingLegFactory } from "../calls/meetingLeg.js";
import { BRIDGE_ADDRESS } from "../rtpengine/interfaces.js";
import { PortAllocator } from "./portAllocator.js";
import { AnswerRejectedError, type IceOptions, WebRtcMeetingLeg } from "./webRtcMeetingLeg.js";

export interface MeetingLegServerOptions {
  readonly mediaHostId: string;
  /** Where the session endpoint listens. */
  readonly host: string;
  readonly port: number;
  /** The host name or address in the session URL (the VM's public one); `host` unless told. */
  readonly advertisedHost?: string;
  /** The base URL the meeting's media server reaches it at (e.g. https://mh-0.example.net:8443); derived from host and port unless told. */
  readonly publicBaseUrl?: string;
  /** HTTPS with this certificate (the media host's SIP TLS one); plain HTTP without. */
  readonly tls?: TlsOptions;
  readonly ice: IceOptions;
  readonly plainAddress?: string;
  readonly mediaTimeoutInMs?: number;
  readonly answerTimeoutInMs?: number;
  /** Every leg takes the device's slides m-line (tests of the leg alone); calls ask per leg, when they have a floor. */
  readonly acceptContent?: boolean;
  readonly logger: Logger;
}

const MAX_ANSWER_BYTES = 64 * 1024;
const PATH = /^\/meeting-legs\/([A-Za-z0-9_-]{16,64})$/;

/**
 * The media host's meeting-leg session endpoint (WHIP-like): the meeting's media
 * server POSTs its SDP answer to `/meeting-legs/{id}` with the leg's one-use bearer
 * token (201; 401 wrong token; 409 answered already; 404 no such leg), or DELETEs it
 * to end the leg. Also the factory of the legs it serves.
 */
export class MeetingLegServer implements MeetingLegFactory {
  readonly #o: MeetingLegServerOptions;
  readonly #legs = new Map<string, WebRtcMeetingLeg>();
  readonly #ports: PortAllocator | undefined;
  #server: Server | undefined;
  #baseUrl = "";

  constructor(options: MeetingLegServerOptions) {
    this.#o = options;
    const range = options.ice.portRange;
    this.#ports = range ? new PortAllocator(range[0], range[1]) : undefined;
  }

  async listen(): Promise<number> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.#handle(req, res);
    const server = this.#o.tls ? createHttpsServer(this.#o.tls, handler) : createHttpServer(handler);
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#o.port, this.#o.host, () => resolve());
    });
    const { port } = server.address() as { port: number };
    this.#baseUrl = this.#o.publicBaseUrl ?? `${this.#o.tls ? "https" : "http"}://${this.#o.advertisedHost ?? this.#o.host}:${port}`;
    return port;
  }

  get activeLegs(): number {
    return this.#legs.size;
  }

  leg(legId: string): WebRtcMeetingLeg | undefined {
    return this.#legs.get(legId);
  }

  async create(callId: string, options: MeetingLegCreateOptions = {}): Promise<WebRtcMeetingLeg> {
    const legId = randomBytes(16).toString("base64url");
    const window = this.#ports?.allocate();
    if (this.#ports && !window) throw new Error("no free WebRTC port: every port of WEBRTC_PORT_MIN..MAX is in use");
    const ice: IceOptions = window ? { ...this.#o.ice, portRange: window } : this.#o.ice;
    const opening = WebRtcMeetingLeg.open({
      legId,
      callId,
      mediaHostId: this.#o.mediaHostId,
      sessionUrl: `${this.#baseUrl}/meeting-legs/${legId}`,
      ice,
      plainAddress: this.#o.plainAddress ?? BRIDGE_ADDRESS,
      mediaTimeoutInMs: this.#o.mediaTimeoutInMs ?? 30_000,
      answerTimeoutInMs: this.#o.answerTimeoutInMs ?? 30_000,
      ...((options.acceptContent ?? this.#o.acceptContent) ? { acceptContent: true } : {}),
      log: this.#o.logger.child({ callId, legId }),
      onClosed: (id) => {
        this.#legs.delete(id);
        if (window) this.#ports?.release(window[0]);
      },
    });
    const leg = await opening.catch((e: Error) => {
      if (window) this.#ports?.release(window[0]);
      throw e;
    });
    this.#legs.set(legId, leg);
    return leg;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#legs.values()].map((leg) => leg.close()));
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      const match = PATH.exec(path);
      if (!match) return problem(res, 404, "Not Found", "no such resource: meeting legs are at /meeting-legs/{id}");
      const leg = this.#legs.get(match[1]!);
      if (!leg) return problem(res, 404, "Not Found", "no such meeting leg (it ended, or never existed)");
      const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
      if (!token) return problem(res, 401, "Unauthorized", "the leg's answer token is required as a Bearer token", { "WWW-Authenticate": "Bearer" });
      if (req.method === "DELETE") {
        if (!leg.endedByMeeting(token))
          return problem(res, 401, "Unauthorized", "the answer token is not this leg's", { "WWW-Authenticate": "Bearer" });
        res.writeHead(204).end();
        return;
      }
      if (req.method !== "POST")
        return problem(res, 405, "Method Not Allowed", "POST an SDP answer, or DELETE to end the leg", { Allow: "POST, DELETE" });
      const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
      if (type !== "application/sdp") return problem(res, 415, "Unsupported Media Type", "the answer must be application/sdp");
      const body = await readBody(req, MAX_ANSWER_BYTES);
      if (body === undefined) return problem(res, 413, "Content Too Large", `an answer is at most ${MAX_ANSWER_BYTES} bytes`);
      // The media server may name its own end of the session (Link rel="meeting-media-session"): the leg DELETEs it when the call ends.
      const meetingSession = /<([^>]+)>\s*;\s*rel="?meeting-media-session"?/i.exec(String(req.headers.link ?? ""))?.[1];
      await leg.acceptAnswer(token, body, meetingSession && /^https?:\/\//.test(meetingSession) ? meetingSession : undefined);
      res.writeHead(201, { Location: path }).end();
    } catch (e) {
      if (e instanceof AnswerRejectedError) {
        const titles = { 400: "Bad Request", 401: "Unauthorized", 409: "Conflict" } as const;
        return problem(res, e.status, titles[e.status], e.message);
      }
      this.#o.logger.error({ err: (e as Error).message }, "meeting leg request failed");
      return problem(res, 503, "Service Unavailable", "the meeting leg could not take the request");
    }
  }
}

function problem(res: ServerResponse, status: number, title: string, detail: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res
    .writeHead(status, { "Content-Type": "application/problem+json", ...headers })
    .end(JSON.stringify({ type: "about:blank", title, status, detail }));
}

function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(over ? undefined : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
