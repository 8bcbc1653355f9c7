import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Logger, pino } from "pino";
import { HttpProblem } from "./httpProblem.js";
import { LOOPBACK_ADDRESS } from "./iceAddress.js";
import { meetingPage } from "./meetingPage.js";
import { MeetingRoom, type ParticipantSnapshot } from "./meetingRoom.js";
import { ParticipantLeg } from "./participantLeg.js";

export interface RosterHooks {
  /** A person joined from the page: add them to the Graph meeting's roster; returns their participant id. */
  personJoined(meetingId: string, displayName: string): string;
  personLeft(meetingId: string, participantId: string): void;
  /** A person started sharing their screen from the page: they are the meeting's sharer now (the last to start wins). */
  screenSharingStarted(meetingId: string, participantId: string): void;
  /** A person who was the sharer stopped sharing. */
  screenSharingStopped(meetingId: string, participantId: string): void;
  /** Teams' media server lost a bot's media (ICE/DTLS failure, DELETE from the media host): the bot is dropped from the meeting. */
  botMediaFailed(callId: string, reason: string): void;
}

export interface MeetingMediaServerOptions {
  /** Where the routes live; "/_emulator/meetings" unless told. */
  readonly basePath?: string;
  readonly logger?: Logger;
  readonly roster: RosterHooks;
  /**
   * This server's origin (e.g. "http://127.0.0.1:7444"). When given, the answer POSTed to a
   * media host carries `Link: <{origin}{basePath}/{meetingId}/bots/{callId}>; rel="meeting-media-session"`,
   * where the media host may DELETE to end the leg from its side.
   */
  readonly origin?: string;
  /**
   * The address its ICE binds and offers (127.0.0.1 unless told): where browsers and bots reach
   * the meeting's media. On a real address, offers must carry a candidate on a real address too.
   */
  readonly iceAddress?: string;
}

/** A bot's media in a meeting (the blob's session, one per call). */
interface BotSession {
  readonly meetingId: string;
  readonly callId: string;
  readonly session: string;
  readonly answerToken: string;
  /** Answered and forwarding (botJoined done). */
  joined: boolean;
  /** The bot's screen-sharing role in Graph (it may take it before its media is up). */
  sharer: boolean;
  ended: boolean;
}

interface MediaBlob {
  readonly version: 1;
  readonly mediaHostId: string;
  readonly session: string;
  readonly answerToken: string;
  readonly offer: string;
}

const MAX_BODY_BYTES = 256 * 1024;
const MAX_DISPLAY_NAME = 256;
const ANSWER_TIMEOUT_MS = 10_000;
const DELETE_TIMEOUT_MS = 3_000;
const SSE_KEEPALIVE_MS = 15_000;

/**
 * Stands in for Teams' meeting media server: one small SFU (werift) per meeting. Bots
 * reach it through the meeting leg contract (docs/design.md): the Graph emulator calls
 * `botJoined` when a bot's call is established, and this answers the offer in the bot's
 * media blob by POSTing to the blob's session. People join from a web page it serves.
 * See README.md for the routes and the forwarding rules.
 */
export class MeetingMediaServer {
  readonly basePath: string;
  readonly #roster: RosterHooks;
  readonly #origin: string | undefined;
  readonly #iceAddress: string;
  readonly #log: Logger;
  readonly #rooms = new Map<string, MeetingRoom>();
  readonly #bots = new Map<string, BotSession>();
  readonly #eventStreams = new Set<ServerResponse>();
  readonly #background = new Set<Promise<unknown>>();
  #closed = false;

  constructor(options: MeetingMediaServerOptions) {
    this.basePath = (options.basePath ?? "/_emulator/meetings").replace(/\/+$/, "");
    this.#roster = options.roster;
    this.#origin = options.origin?.replace(/\/+$/, "");
    this.#iceAddress = options.iceAddress ?? LOOPBACK_ADDRESS;
    this.#log = options.logger ?? pino({ level: "silent" });
  }

  // ---------------------------------------------------------------- bots (called by the Graph emulator)

  /** A bot's call is established in the meeting: answer the offer in its media blob at the blob's session. Throws naming what is wrong. */
  async botJoined(bot: { meetingId: string; callId: string; displayName: string; blob: string }): Promise<void> {
    if (this.#closed) throw new Error("the meeting media server is closed");
    const blob = parseBlob(bot.blob);
    if (this.#bots.has(bot.callId)) throw new Error(`call ${bot.callId} already has media in meeting ${this.#bots.get(bot.callId)!.meetingId}`);
    const session: BotSession = {
      meetingId: bot.meetingId,
      callId: bot.callId,
      session: blob.session,
      answerToken: blob.answerToken,
      joined: false,
      sharer: false,
      ended: false,
    };
    this.#bots.set(bot.callId, session);
    const room = this.#roomFor(bot.meetingId);
    let opened: Awaited<ReturnType<typeof ParticipantLeg.open>>;
    try {
      opened = await ParticipantLeg.open({
        participantId: bot.callId,
        kind: "bot",
        displayName: bot.displayName,
        offer: blob.offer,
        listener: room,
        iceAddress: this.#iceAddress,
      });
    } catch (e) {
      this.#forgetBot(session);
      throw new Error(`the offer in call ${bot.callId}'s media blob is not usable: ${(e as Error).message}`);
    }
    if (session.ended) return void (await opened.leg.close()); // the call ended in Graph meanwhile
    try {
      await this.#postAnswer(session, opened.answer);
    } catch (e) {
      this.#forgetBot(session);
      await opened.leg.close();
      throw e;
    }
    if (session.ended) {
      // The call ended in Graph while the answer was on its way: the media host has an answer for a leg that is over.
      await opened.leg.close();
      await this.#deleteSession(session);
      return;
    }
    session.joined = true;
    room.add(opened.leg);
    if (session.sharer) room.setSharer(bot.callId);
  }

  /**
   * The bot's changeScreenSharingRole in Graph: as sharer its content video is what everyone's content track
   * shows (whoever shared before stops); as viewer it stops, if it still was the sharer. A bot's content is
   * forwarded only while it is the sharer.
   */
  botScreenSharingRole(meetingId: string, callId: string, role: "viewer" | "sharer"): void {
    const session = this.#bots.get(callId);
    if (session && session.meetingId === meetingId) session.sharer = role === "sharer";
    const room = this.#rooms.get(meetingId);
    if (role === "sharer") room?.setSharer(callId);
    else room?.stopSharing(callId);
  }

  /** The bot's call ended in Graph: its media goes, and the media host is told with `DELETE session`. */
  botLeft(callId: string, reason: string): void {
    const session = this.#bots.get(callId);
    if (!session) return;
    this.#log.info({ callId, reason }, "bot left the meeting");
    this.#forgetBot(session);
    if (!session.joined) return; // still answering: botJoined ends what it started
    this.#track(
      (async () => {
        await this.#rooms.get(session.meetingId)?.remove(callId, reason);
        await this.#deleteSession(session);
      })(),
    );
  }

  // ---------------------------------------------------------------- for tests

  participants(meetingId: string): ParticipantSnapshot[] {
    return this.#rooms.get(meetingId)?.snapshot() ?? [];
  }

  /** Asks `of` for a keyframe of its main video on behalf of receiver `from`, as Teams' media server does for its receivers (rate-limited per source). */
  requestKeyframe(meetingId: string, fromParticipantId: string, ofParticipantId: string): void {
    const room = this.#rooms.get(meetingId);
    if (!room) throw new HttpProblem(404, `no media in meeting ${meetingId}`);
    if (!room.get(fromParticipantId)) throw new HttpProblem(404, `no participant ${fromParticipantId} in meeting ${meetingId}'s media`);
    const of = room.get(ofParticipantId);
    if (!of) throw new HttpProblem(404, `no participant ${ofParticipantId} in meeting ${meetingId}'s media`);
    of.requestKeyframe();
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const res of this.#eventStreams) if (!res.writableEnded) res.end();
    this.#eventStreams.clear();
    for (const session of [...this.#bots.values()]) this.botLeft(session.callId, "the meeting media server closed");
    await Promise.all([...this.#rooms.values()].map((room) => room.close()));
    this.#rooms.clear();
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }

  // ---------------------------------------------------------------- HTTP

  /** Serves the routes under basePath; returns false for any other path. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = new URL(req.url ?? "/", "http://emulator").pathname;
    if (path !== this.basePath && !path.startsWith(`${this.basePath}/`)) return false;
    try {
      await this.#route(req, res, path.slice(this.basePath.length));
    } catch (e) {
      const problem =
        e instanceof HttpProblem ? e : new HttpProblem(503, `the meeting media server could not take the request: ${(e as Error).message}`);
      if (!(e instanceof HttpProblem)) this.#log.error({ err: (e as Error).message, path }, "meeting media request failed");
      problem.send(res);
    }
    return true;
  }

  async #route(req: IncomingMessage, res: ServerResponse, rest: string): Promise<void> {
    const segments = rest.split("/").filter(Boolean).map(decodeSegment);
    const method = req.method ?? "GET";
    const [meetingId, collection, id, action, ...extra] = segments;
    if (!meetingId || extra.length > 0) throw new HttpProblem(404, `no such resource: a meeting's page is at ${this.basePath}/{meetingId}`);
    if (collection === undefined) {
      allow(method, ["GET"]);
      return sendHtml(res, meetingPage({ meetingId, basePath: this.basePath }));
    }
    if (collection === "participants") {
      if (id === undefined) {
        allow(method, ["GET", "POST"]);
        if (method === "GET") return sendJson(res, 200, this.participants(meetingId));
        return this.#personJoins(req, res, meetingId);
      }
      if (action === undefined) {
        allow(method, ["DELETE"]);
        await this.#personLeaves(meetingId, id, "left from the page");
        res.writeHead(204).end();
        return;
      }
      if (action === "events") {
        allow(method, ["GET"]);
        return this.#events(res, meetingId, id);
      }
      if (action === "screen-share") {
        allow(method, ["PUT", "DELETE"]);
        this.#personShares(meetingId, id, method === "PUT");
        res.writeHead(204).end();
        return;
      }
      if (action === "keyframe-requests") {
        allow(method, ["POST"]);
        const body = await readJson(req);
        if (typeof body.of !== "string" || !body.of) throw new HttpProblem(400, 'the body must be JSON {"of": "<participant id>"}');
        this.requestKeyframe(meetingId, id, body.of);
        return sendJson(res, 202, { of: body.of });
      }
    }
    if (collection === "bots" && id !== undefined && action === undefined) {
      allow(method, ["DELETE"]);
      this.#mediaHostEnds(req, res, meetingId, id);
      return;
    }
    throw new HttpProblem(404, `no such resource under ${this.basePath}/${meetingId}`);
  }

  async #personJoins(req: IncomingMessage, res: ServerResponse, meetingId: string): Promise<void> {
    if (this.#closed) throw new HttpProblem(409, "the meeting media server is closed");
    const body = await readJson(req);
    const displayName = typeof body.displayName === "string" ? body.displayName.trim() : "";
    const problems: string[] = [];
    if (!displayName) problems.push("displayName must be a non-empty string.");
    else if (displayName.length > MAX_DISPLAY_NAME) problems.push(`displayName must be at most ${MAX_DISPLAY_NAME} characters.`);
    if (typeof body.sdp !== "string" || !body.sdp.startsWith("v=0")) problems.push("sdp must be the page's SDP offer.");
    if (problems.length) throw new HttpProblem(400, problems.join(" "));
    const sdp = body.sdp as string;
    ParticipantLeg.plan("person", sdp, this.#iceAddress);
    let participantId: string;
    try {
      participantId = this.#roster.personJoined(meetingId, displayName);
    } catch (e) {
      throw new HttpProblem(404, `cannot join meeting ${meetingId}: ${(e as Error).message}`);
    }
    const room = this.#roomFor(meetingId);
    let opened: Awaited<ReturnType<typeof ParticipantLeg.open>>;
    try {
      opened = await ParticipantLeg.open({ participantId, kind: "person", displayName, offer: sdp, listener: room, iceAddress: this.#iceAddress });
    } catch (e) {
      this.#personLeftRoster(meetingId, participantId);
      throw e;
    }
    room.add(opened.leg);
    sendJson(res, 201, { participantId, sdp: opened.answer });
  }

  /** PUT: the page starts sharing its screen (on the content video it offered); DELETE: it stops. Both idempotent. */
  #personShares(meetingId: string, participantId: string, start: boolean): void {
    const room = this.#rooms.get(meetingId);
    const leg = room?.get(participantId);
    if (!room || !leg || leg.kind !== "person") throw new HttpProblem(404, `no person ${participantId} in meeting ${meetingId}`);
    if (!leg.contentOut) throw new HttpProblem(409, `participant ${participantId}'s offer had no content video to share on`);
    const changed = start ? room.setSharer(participantId) : room.stopSharing(participantId);
    if (!changed) return;
    try {
      if (start) this.#roster.screenSharingStarted(meetingId, participantId);
      else this.#roster.screenSharingStopped(meetingId, participantId);
    } catch (e) {
      this.#log.warn({ meetingId, participantId, err: (e as Error).message }, "screen sharing hook threw");
    }
  }

  async #personLeaves(meetingId: string, participantId: string, reason: string): Promise<void> {
    const room = this.#rooms.get(meetingId);
    const leg = room?.get(participantId);
    if (!room || !leg || leg.kind !== "person") throw new HttpProblem(404, `no person ${participantId} in meeting ${meetingId}`);
    await room.remove(participantId, reason);
    this.#personLeftRoster(meetingId, participantId);
  }

  #events(res: ServerResponse, meetingId: string, participantId: string): void {
    const room = this.#rooms.get(meetingId);
    if (!room?.get(participantId)) throw new HttpProblem(404, `no participant ${participantId} in meeting ${meetingId}`);
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    res.write("retry: 2000\n\n");
    const write = (text: string) => {
      if (!res.writableEnded && !res.destroyed) res.write(text);
    };
    const send = (event: string, data: unknown) => write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    this.#eventStreams.add(res);
    const heartbeat = setInterval(() => write(": keep-alive\n\n"), SSE_KEEPALIVE_MS);
    const unsubscribe = room.onRoster(participantId, {
      roster: (entries) => send("roster", entries),
      sharing: (sharer) => send("sharing", { sharer }),
      ended: (reason) => {
        send("ended", { reason });
        if (!res.writableEnded) res.end();
      },
    });
    res.on("close", () => {
      clearInterval(heartbeat);
      unsubscribe();
      this.#eventStreams.delete(res);
    });
  }

  /** The media host ends the leg from its side (DELETE with the leg's answer token). */
  #mediaHostEnds(req: IncomingMessage, res: ServerResponse, meetingId: string, callId: string): void {
    const session = this.#bots.get(callId);
    if (!session || session.meetingId !== meetingId) throw new HttpProblem(404, `no bot media for call ${callId} in meeting ${meetingId}`);
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1] ?? "";
    if (!sameSecret(token, session.answerToken))
      throw new HttpProblem(401, "the bearer token must be the leg's answer token", { "www-authenticate": "Bearer" });
    res.writeHead(204).end();
    this.#botMediaFailed(session, "the media host ended the media session (DELETE)", false);
  }

  // ---------------------------------------------------------------- internals

  /** A meeting's room, made on first use and kept (its legs report to it; meetings in a test run are few). */
  #roomFor(meetingId: string): MeetingRoom {
    let room = this.#rooms.get(meetingId);
    if (!room) {
      room = new MeetingRoom(meetingId, this.#log, (leg, reason) => {
        if (leg.kind === "bot") {
          const session = this.#bots.get(leg.participantId);
          if (session) this.#botMediaFailed(session, `the bot's ${reason}`, true);
        } else {
          this.#track(this.#personLeaves(meetingId, leg.participantId, reason).catch(() => {}));
        }
      });
      this.#rooms.set(meetingId, room);
    }
    return room;
  }

  #botMediaFailed(session: BotSession, reason: string, tellMediaHost: boolean): void {
    if (session.ended) return;
    this.#log.info({ callId: session.callId, reason }, "bot's media failed");
    this.#forgetBot(session);
    this.#track(
      (async () => {
        await this.#rooms.get(session.meetingId)?.remove(session.callId, reason);
        if (tellMediaHost) await this.#deleteSession(session);
        try {
          this.#roster.botMediaFailed(session.callId, reason);
        } catch (e) {
          this.#log.warn({ callId: session.callId, err: (e as Error).message }, "botMediaFailed hook threw");
        }
      })(),
    );
  }

  #forgetBot(session: BotSession): void {
    session.ended = true;
    if (this.#bots.get(session.callId) === session) this.#bots.delete(session.callId);
  }

  #personLeftRoster(meetingId: string, participantId: string): void {
    try {
      this.#roster.personLeft(meetingId, participantId);
    } catch (e) {
      this.#log.warn({ meetingId, participantId, err: (e as Error).message }, "personLeft hook threw");
    }
  }

  async #postAnswer(session: BotSession, answer: string): Promise<void> {
    const headers: Record<string, string> = { "content-type": "application/sdp", authorization: `Bearer ${session.answerToken}` };
    if (this.#origin)
      headers.link = `<${this.#origin}${this.basePath}/${encodeURIComponent(session.meetingId)}/bots/${encodeURIComponent(session.callId)}>; rel="meeting-media-session"`;
    let response: Response;
    try {
      response = await fetch(session.session, { method: "POST", headers, body: answer, signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) });
    } catch (e) {
      throw new Error(`the media host's session ${session.session} could not take the answer: ${(e as Error).message}`);
    }
    const text = await response.text().catch(() => "");
    if (response.status !== 201)
      throw new Error(`the media host's session ${session.session} answered ${response.status} instead of 201: ${text.slice(0, 500)}`);
  }

  async #deleteSession(session: BotSession): Promise<void> {
    try {
      const response = await fetch(session.session, {
        method: "DELETE",
        headers: { authorization: `Bearer ${session.answerToken}` },
        signal: AbortSignal.timeout(DELETE_TIMEOUT_MS),
      });
      await response.arrayBuffer();
    } catch {
      // The media host may be gone already; the leg is over either way.
    }
  }

  #track(work: Promise<unknown>): void {
    const tracked = work.catch((e: Error) => this.#log.warn({ err: e.message }, "meeting media background task failed"));
    this.#background.add(tracked);
    void tracked.finally(() => this.#background.delete(tracked));
  }
}

function parseBlob(text: string): MediaBlob {
  let blob: unknown;
  try {
    blob = JSON.parse(text);
  } catch {
    throw new Error("the media blob is not JSON");
  }
  if (typeof blob !== "object" || blob === null || Array.isArray(blob)) throw new Error("the media blob must be a JSON object");
  const b = blob as Record<string, unknown>;
  const problems: string[] = [];
  if (b.version !== 1) problems.push(`version must be 1 (got ${JSON.stringify(b.version)})`);
  if (typeof b.mediaHostId !== "string" || !b.mediaHostId) problems.push("mediaHostId must be a non-empty string");
  if (typeof b.session !== "string" || !/^https?:\/\//i.test(b.session) || !URL.canParse(b.session))
    problems.push("session must be an http or https URL");
  if (typeof b.answerToken !== "string" || !b.answerToken) problems.push("answerToken must be a non-empty string");
  if (typeof b.offer !== "string" || !b.offer.startsWith("v=0")) problems.push("offer must be an SDP offer");
  if (problems.length) throw new Error(`the media blob is not usable: ${problems.join("; ")}`);
  return b as unknown as MediaBlob;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpProblem(400, `the path segment ${segment} is not valid percent-encoding`);
  }
}

function allow(method: string, allowed: readonly string[]): void {
  if (!allowed.includes(method))
    throw new HttpProblem(405, `${method} is not allowed here (allowed: ${allowed.join(", ")})`, { allow: allowed.join(", ") });
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpProblem(413, `the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpProblem(400, "the body must be JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new HttpProblem(400, "the body must be a JSON object");
  return parsed as Record<string, unknown>;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
    "cache-control": "no-store",
  });
  res.end(text);
}

function sendHtml(res: ServerResponse, html: string): void {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": String(Buffer.byteLength(html)), "cache-control": "no-store" });
  res.end(html);
}
