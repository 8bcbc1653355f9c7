import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Client, type GraphError, ResponseType } from "@microsoft/microsoft-graph-client";
import type { Call, CommunicationsIdentitySet, Event, OnlineMeeting, Participant, Subscription } from "@microsoft/microsoft-graph-types";
import { createRemoteJWKSet, exportJWK, generateKeyPair, type JWK, type JWTPayload, jwtVerify, SignJWT } from "jose";
import { GraphEmulator, type SentNotification } from "./graphEmulator.js";

const TLS = { cert: readFileSync(".local/tls/server.pem"), key: readFileSync(".local/tls/server-key.pem") };
const TENANT_A = randomUUID();
const TENANT_B = randomUUID();
const APP_ID = randomUUID();
const KID = "test-key";
const JOIN_ROLES = ["Calls.JoinGroupCall.All", "Calls.AccessMedia.All", "OnlineMeetings.Read.All"];

type Received = { path: string; query: URLSearchParams; headers: IncomingMessage["headers"]; body: string; json: any };

let graphServer: Server;
let callbackServer: Server;
let emulator: GraphEmulator;
let origin: string;
let callbackOrigin: string;
type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
let signingKey: SigningKey;
let forgeryKey: SigningKey;
let publicJwk: JWK;
const received: Received[] = [];
/** Per callback path: how to answer (validation echo, wrong echo, or a status sequence). */
const behaviour = new Map<string, { validation?: "echo" | "wrong" | "silent"; statuses?: number[] }>();

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "localhost", resolve));
  return (server.address() as AddressInfo).port;
}

async function appToken(tenantId: string, roles: string[], options: { appId?: string; audience?: string; forged?: boolean } = {}): Promise<string> {
  return new SignJWT({
    tid: tenantId,
    appid: options.appId ?? APP_ID,
    idtyp: "app",
    oid: randomUUID(),
    ver: "1.0",
    ...(roles.length ? { roles } : {}),
  })
    .setProtectedHeader({ alg: "RS256", kid: KID, typ: "JWT" })
    .setIssuer(`https://sts.windows.net/${tenantId}/`)
    .setAudience(options.audience ?? "https://graph.microsoft.com")
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(options.forged ? forgeryKey : signingKey);
}

/** The real SDK, pointed at the emulator; customHosts makes it send the Authorization header. */
const graph = (token: string) =>
  Client.init({ baseUrl: origin, customHosts: new Set(["localhost"]), defaultVersion: "v1.0", authProvider: (done) => done(null, token) });

async function failure(promise: Promise<unknown>): Promise<GraphError> {
  try {
    await promise;
  } catch (e) {
    return e as GraphError;
  }
  return assert.fail("expected the Graph call to fail");
}

async function waitFor<T>(find: () => T | undefined, what: string, ms = 3000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = find();
    if (found !== undefined && found !== false) return found;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const at = (path: string) => received.filter((r) => r.path === path && !r.query.has("validationToken"));
const callItems = (path: string) => at(path).map((r) => r.json.value[0]);
const stateNotes = (path: string) => callItems(path).filter((v) => !String(v.resourceUrl).endsWith("/participants"));
const rosterNotes = (path: string) => callItems(path).filter((v) => String(v.resourceUrl).endsWith("/participants"));

function joinBody(meeting: OnlineMeeting, callbackUri: string, options: { guest?: string; media?: "app" | "service" } = {}) {
  return {
    "@odata.type": "#microsoft.graph.call",
    callbackUri,
    requestedModalities: ["audio", "video", "videoBasedScreenSharing"],
    mediaConfig:
      options.media === "service"
        ? { "@odata.type": "#microsoft.graph.serviceHostedMediaConfig" }
        : { "@odata.type": "#microsoft.graph.appHostedMediaConfig", blob: "<Media Session Configuration>" },
    chatInfo: { "@odata.type": "#microsoft.graph.chatInfo", threadId: meeting.chatInfo!.threadId, messageId: meeting.chatInfo!.messageId },
    meetingInfo: {
      "@odata.type": "#microsoft.graph.organizerMeetingInfo",
      organizer: {
        "@odata.type": "#microsoft.graph.identitySet",
        user: { "@odata.type": "#microsoft.graph.identity", id: meeting.participants!.organizer!.identity!.user!.id, tenantId: TENANT_A },
      },
      allowConversationWithoutHost: true,
    },
    tenantId: TENANT_A,
    source: {
      "@odata.type": "#microsoft.graph.participantInfo",
      identity: options.guest
        ? {
            "@odata.type": "#microsoft.graph.identitySet",
            guest: { "@odata.type": "#microsoft.graph.identity", displayName: options.guest, id: randomUUID() },
          }
        : {
            "@odata.type": "#microsoft.graph.identitySet",
            application: { "@odata.type": "#microsoft.graph.identity", displayName: "Room 4.01", id: APP_ID },
          },
    },
  };
}

let organizerId: string;

before(async () => {
  const pair = await generateKeyPair("RS256", { extractable: true });
  signingKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: KID, alg: "RS256", use: "sig" };
  ({ privateKey: forgeryKey } = await generateKeyPair("RS256"));

  graphServer = createServer(TLS, (req, res) => {
    if (req.url === "/test-issuer/keys") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [publicJwk] }));
      return;
    }
    void emulator.handle(req, res).then((mine) => {
      if (!mine) res.writeHead(404).end();
    });
  });
  origin = `https://localhost:${await listen(graphServer)}`;
  emulator = new GraphEmulator({
    origin,
    tokenIssuer: { jwksUri: `${origin}/test-issuer/keys`, issuerFor: (tid) => `https://sts.windows.net/${tid}/` },
    establishDelayMs: 20,
    notificationRetryBaseMs: 40,
    notificationTimeoutMs: 1500,
    validationTimeoutMs: 1500,
  });
  await emulator.start();

  callbackServer = createServer(TLS, (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "https://localhost");
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString("utf8");
    });
    req.on("end", () => {
      let json: any = null;
      try {
        json = body ? JSON.parse(body) : null;
      } catch {}
      received.push({ path: url.pathname, query: url.searchParams, headers: req.headers, body, json });
      const how = behaviour.get(url.pathname) ?? {};
      const token = url.searchParams.get("validationToken");
      if (token !== null) {
        if (how.validation === "silent") return res.writeHead(500).end();
        return res.writeHead(200, { "content-type": "text/plain" }).end(how.validation === "wrong" ? encodeURIComponent(token) : token);
      }
      res.writeHead(how.statuses?.shift() ?? 202).end();
    });
  });
  callbackOrigin = `https://localhost:${await listen(callbackServer)}`;

  organizerId = emulator.addUser(TENANT_A, { displayName: "Adele Vance", userPrincipalName: "adele@contoso.example" }).id;
  emulator.addUser(TENANT_B, { displayName: "Bob Other", userPrincipalName: "bob@fabrikam.example" });
  emulator.setVideoInteropProvider(TENANT_A, { tenantKey: "813878896@t.cvi.example", instructionUri: "https://cvi.example/teams?conf={ConfId}" });
});

after(async () => {
  emulator.stop();
  for (const server of [graphServer, callbackServer]) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

/** A fresh Teams meeting in tenant A, as the organizer's Outlook creates it. */
function newMeeting(options: { lobbyScope?: "organization" | "everyone" | "organizer"; subject?: string } = {}) {
  const start = new Date(Date.now() + 3600_000);
  return emulator.createTeamsMeetingEvent(TENANT_A, organizerId, {
    subject: options.subject ?? "Quarterly review",
    start,
    end: new Date(start.getTime() + 3600_000),
    lobbyScope: options.lobbyScope ?? "organization",
  });
}

async function join(meeting: OnlineMeeting, options: { guest?: string; roles?: string[] } = {}) {
  const path = `/calls/${randomUUID()}`;
  const token = await appToken(TENANT_A, options.roles ?? [...JOIN_ROLES, "Calls.JoinGroupCallAsGuest.All"]);
  const call = (await graph(token)
    .api("/communications/calls")
    .post(joinBody(meeting, `${callbackOrigin}${path}`, { guest: options.guest }))) as Call;
  return { call, path, token };
}

describe("calendar and online meetings", () => {
  it("creates a Teams meeting event through the SDK; its onlineMeeting is found by VTC id, spelled as Graph accepts", async () => {
    const token = await appToken(TENANT_A, ["Calendars.ReadWrite", "OnlineMeetings.Read.All"]);
    const client = graph(token);
    const event = (await client.api("/users/adele@contoso.example/events").post({
      subject: "Design sync",
      body: { contentType: "HTML", content: "<p>Agenda</p>" },
      start: { dateTime: "2030-01-10T10:00:00", timeZone: "UTC" },
      end: { dateTime: "2030-01-10T11:00:00", timeZone: "UTC" },
      isOnlineMeeting: true,
      onlineMeetingProvider: "teamsForBusiness",
    })) as Event;
    assert.equal(event.isOnlineMeeting, true);
    assert.equal(event.onlineMeetingProvider, "teamsForBusiness");
    assert.match(event.onlineMeeting?.joinUrl ?? "", /^https:\/\/teams\.microsoft\.com\/l\/meetup-join\/19%3ameeting_/);
    assert.equal(event.start?.dateTime, "2030-01-10T10:00:00.0000000");
    assert.match(event.body?.content ?? "", /Agenda[\s\S]*Microsoft Teams meeting[\s\S]*Join with a video conferencing device/);

    const meeting = emulator.meetings().find((m) => m.eventId === event.id) as OnlineMeeting;
    const vtcId = meeting.videoTeleconferenceId!;
    assert.match(vtcId, /^\d{10}$/);
    assert.match(event.body!.content!, new RegExp(`Video Conference ID: ${vtcId.replace(/(\d{3})(?=\d)/g, "$1 ")}`));

    const viaSdk = await client.api("/communications/onlineMeetings").filter(`VideoTeleconferenceId eq '${vtcId}'`).get();
    assert.equal(viaSdk.value.length, 1);
    assert.equal((viaSdk.value[0] as OnlineMeeting).joinWebUrl, event.onlineMeeting!.joinUrl);
    assert.equal((viaSdk.value[0] as OnlineMeeting).lobbyBypassSettings?.scope, "organization");
    assert.deepEqual(Object.keys((viaSdk.value[0] as OnlineMeeting).chatInfo!).sort(), ["messageId", "replyChainMessageId", "threadId"]);

    // As documented (trailing slash, %20 and raw quotes) and lower-case with %27 quotes.
    for (const query of [
      `/communications/onlineMeetings/?$filter=VideoTeleconferenceId%20eq%20'${vtcId}'`,
      `/communications/onlineMeetings?%24filter=videoteleconferenceid+eq+%27${vtcId}%27`,
    ]) {
      const response = await fetch(`${origin}/v1.0${query}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(response.status, 200, query);
      assert.equal(((await response.json()) as { value: unknown[] }).value.length, 1, query);
    }
    const none = await client.api("/communications/onlineMeetings").filter("VideoTeleconferenceId eq '000000000'").get();
    assert.deepEqual(none.value, []);
  });

  it("refuses without the role (403), without or with a bad token (401), and keeps tenants apart", async () => {
    const { meetingId, eventId } = newMeeting();
    const vtcId = emulator.meetings().find((m) => m.id === meetingId)!.videoTeleconferenceId as string;

    const noRole = await failure(
      graph(await appToken(TENANT_A, ["Calendars.Read"]))
        .api("/communications/onlineMeetings")
        .filter(`VideoTeleconferenceId eq '${vtcId}'`)
        .get(),
    );
    assert.equal(noRole.statusCode, 403);
    assert.equal(noRole.code, "Forbidden");
    const noCalendar = await failure(
      graph(await appToken(TENANT_A, ["OnlineMeetings.Read.All"]))
        .api(`/users/${organizerId}/events/${eventId}`)
        .get(),
    );
    assert.equal(noCalendar.statusCode, 403);
    assert.equal(noCalendar.code, "ErrorAccessDenied");
    const readOnly = await failure(
      graph(await appToken(TENANT_A, ["Calendars.Read"]))
        .api(`/users/${organizerId}/events/${eventId}`)
        .patch({ subject: "x" }),
    );
    assert.equal(readOnly.statusCode, 403);

    const anonymous = await fetch(`${origin}/v1.0/users/${organizerId}/events`);
    assert.equal(anonymous.status, 401);
    const error = ((await anonymous.json()) as { error: { code: string; innerError: Record<string, string> } }).error;
    assert.equal(error.code, "InvalidAuthenticationToken");
    assert.ok(error.innerError["request-id"] && error.innerError.date);
    for (const bad of [
      await appToken(TENANT_A, ["Calendars.Read"], { forged: true }),
      await appToken(TENANT_A, ["Calendars.Read"], { audience: "api://someone-else" }),
      "not-a-jwt",
    ]) {
      const e = await failure(graph(bad).api(`/users/${organizerId}/events`).get());
      assert.equal(e.statusCode, 401);
      assert.equal(e.code, "InvalidAuthenticationToken");
    }

    const other = graph(await appToken(TENANT_B, ["OnlineMeetings.Read.All", "Calendars.Read"]));
    assert.deepEqual((await other.api("/communications/onlineMeetings").filter(`VideoTeleconferenceId eq '${vtcId}'`).get()).value, []);
    const foreignUser = await failure(other.api(`/users/${organizerId}/events/${eventId}`).get());
    assert.equal(foreignUser.statusCode, 404);
    assert.equal(foreignUser.code, "ErrorInvalidUser");
  });
});

describe("bot calls", () => {
  it("joins: 201 with Location, then establishing and established notifications whose JWT verifies against the calling platform's OpenID config", async () => {
    const { meeting } = newMeeting();
    const path = `/calls/${randomUUID()}`;
    const token = await appToken(TENANT_A, JOIN_ROLES);
    const raw = (await graph(token)
      .api("/communications/calls")
      .responseType(ResponseType.RAW)
      .post(joinBody(meeting as OnlineMeeting, `${callbackOrigin}${path}`))) as Response;
    assert.equal(raw.status, 201);
    const call = (await raw.json()) as Call;
    assert.equal(raw.headers.get("location"), `${origin}/v1.0/communications/calls/${call.id}`);
    assert.equal(call.state, "establishing");
    assert.ok(call.myParticipantId);
    assert.equal(call.callbackUri, `${callbackOrigin}${path}`);

    await waitFor(() => stateNotes(path).find((n) => n.resourceData.state === "established"), "established");
    const states = stateNotes(path);
    assert.deepEqual(
      states.map((n) => n.resourceData.state),
      ["establishing", "established"],
    );
    const first = at(path)[0]!;
    assert.equal(first.json["@odata.type"], "#microsoft.graph.commsNotifications");
    assert.equal(first.json.value[0]["@odata.type"], "#microsoft.graph.commsNotification");
    assert.equal(first.json.value[0].changeType, "updated");
    assert.equal(first.json.value[0].resourceUrl, `/communications/calls/${call.id}`);

    const config = (await (await fetch(emulator.callingPlatformOpenIdConfigUrl)).json()) as { issuer: string; jwks_uri: string };
    assert.equal(config.issuer, "https://api.botframework.com");
    const jwks = createRemoteJWKSet(new URL(config.jwks_uri));
    for (const note of at(path)) {
      const jwt = /^Bearer (.+)$/.exec(note.headers.authorization ?? "")![1]!;
      const { payload }: { payload: JWTPayload } = await jwtVerify(jwt, jwks, { issuer: config.issuer, audience: APP_ID });
      assert.equal(payload.tid, TENANT_A);
      assert.ok(payload.exp! - payload.iat! <= 600);
    }
    const forged = await emulator.signCallNotificationToken({ audience: APP_ID, tenantId: TENANT_A, forged: true });
    await assert.rejects(jwtVerify(forged, jwks, { issuer: config.issuer, audience: APP_ID }));

    const roster = await waitFor(() => rosterNotes(path).at(-1), "roster");
    const me = (roster.resourceData as Participant[]).find((p) => p.id === call.myParticipantId)!;
    assert.equal(me.isInLobby, false);
    assert.equal(me.info?.identity?.application?.id, APP_ID);
    assert.deepEqual(
      me.mediaStreams?.map((s) => s.mediaType),
      ["audio", "video", "videoBasedScreenSharing"],
    );

    const client = graph(token);
    assert.equal(((await client.api(`/communications/calls/${call.id}`).get()) as Call).state, "established");
    emulator.addHumanParticipant(meeting.id as string, "Megan Bowen", { userId: organizerId });
    const withHuman = await waitFor(() => rosterNotes(path).find((n) => n.resourceData.length === 2), "roster with a person");
    assert.ok(withHuman.resourceData.some((p: Participant) => p.info?.identity?.user?.displayName === "Megan Bowen"));
    const participants = await client.api(`/communications/calls/${call.id}/participants`).get();
    assert.equal(participants.value.length, 2);
    await client.api(`/communications/calls/${call.id}/keepAlive`).post({});
  });

  it("gives each call a callChainId (a GUID) when it is created: in the join's answer, GET, calls() and every call-state notification", async () => {
    const { meeting } = newMeeting();
    const { call, path, token } = await join(meeting as OnlineMeeting);
    const chain = call.callChainId ?? "";
    assert.match(chain, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.notEqual(chain, call.id, "not the call's own id");
    await emulator.idle();
    const client = graph(token);
    assert.equal(((await client.api(`/communications/calls/${call.id}`).get()) as Call).callChainId, chain);
    assert.equal(emulator.calls().find((c) => c.id === call.id)?.callChainId, chain);
    assert.match(await (await fetch(emulator.operatorUrl)).text(), new RegExp(`callChainId <code>${chain}</code>`));
    await client.api(`/communications/calls/${call.id}`).delete();
    await emulator.idle();
    const states = stateNotes(path);
    assert.deepEqual(
      states.map((n) => n.resourceData.state),
      ["establishing", "established", "terminating", "terminated"],
    );
    for (const n of states) assert.equal(n.resourceData.callChainId, chain, `the ${n.resourceData.state} notification names it`);
  });

  it("answers 400 for bad join bodies, 403 without media access, 404 for an unknown meeting", async () => {
    const { meeting } = newMeeting();
    const client = graph(await appToken(TENANT_A, JOIN_ROLES));
    const good = joinBody(meeting as OnlineMeeting, `${callbackOrigin}/calls/never`);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...good, callbackUri: undefined }, /callbackUri is required/],
      [{ ...good, callbackUri: "http://localhost/cb" }, /https/],
      [{ ...good, requestedModalities: [] }, /requestedModalities/],
      [{ ...good, mediaConfig: { "@odata.type": "#microsoft.graph.appHostedMediaConfig" } }, /blob/],
      [{ ...good, meetingInfo: undefined }, /meetingInfo is required/],
      [{ ...good, chatInfo: undefined }, /chatInfo.threadId/],
    ];
    for (const [body, message] of cases) {
      const e = await failure(client.api("/communications/calls").post(body));
      assert.equal(e.statusCode, 400, String(message));
      assert.equal(e.code, "BadRequest");
      assert.match(e.message, message);
    }
    const noMedia = await failure(
      graph(await appToken(TENANT_A, ["Calls.JoinGroupCall.All"]))
        .api("/communications/calls")
        .post(good),
    );
    assert.equal(noMedia.statusCode, 403);
    const missing = await failure(
      client.api("/communications/calls").post({ ...good, chatInfo: { threadId: "19:meeting_nope@thread.v2", messageId: "0" } }),
    );
    assert.equal(missing.statusCode, 404);
  });

  it("holds a guest join in the lobby until admitted, then establishes it", async () => {
    const { meeting } = newMeeting({ lobbyScope: "organization" });
    const { call, path } = await join(meeting as OnlineMeeting, { guest: "Boardroom VTC" });
    const lobby = await waitFor(() => rosterNotes(path)[0], "lobby roster");
    assert.equal(lobby.changeType, "updated");
    assert.equal(lobby.resourceUrl, `/communications/calls/${call.id}/participants`);
    assert.deepEqual(
      lobby.resourceData.map((p: Participant) => [
        p.id,
        p.isInLobby,
        (p.info?.identity as CommunicationsIdentitySet | undefined)?.guest?.displayName,
      ]),
      [[call.myParticipantId, true, "Boardroom VTC"]],
    );
    assert.equal(emulator.calls().find((c) => c.id === call.id)!.state, "establishing");
    assert.ok(!stateNotes(path).some((n) => n.resourceData.state === "established"));

    emulator.admitFromLobby(call.id!);
    await waitFor(() => stateNotes(path).find((n) => n.resourceData.state === "established"), "established after admit");
    const admitted = await waitFor(() => rosterNotes(path).find((n) => n.resourceData[0]?.isInLobby === false), "roster after admit");
    assert.equal(admitted.resourceData[0].id, call.myParticipantId);
  });

  it("removes a bot left in the lobby after the lobby timeout (5855)", async () => {
    const { meeting } = newMeeting({ lobbyScope: "organization" });
    const { call, path } = await join(meeting as OnlineMeeting, { guest: "Lobby VTC" });
    await waitFor(() => rosterNotes(path)[0], "lobby roster");
    emulator.advanceClock(16 * 60_000);
    const ended = await waitFor(() => stateNotes(path).find((n) => n.changeType === "deleted"), "deleted after lobby timeout");
    assert.deepEqual(
      [ended.resourceData.state, ended.resourceData.resultInfo.code, ended.resourceData.resultInfo.subcode],
      ["terminated", 200, 5855],
    );
    assert.equal(emulator.calls().find((c) => c.id === call.id)!.state, "terminated");
  });

  it("DELETE: 204, terminating then deleted/terminated with resultInfo; the call is gone afterwards", async () => {
    const { meeting } = newMeeting();
    const { call, path, token } = await join(meeting as OnlineMeeting);
    await waitFor(() => stateNotes(path).find((n) => n.resourceData.state === "established"), "established");
    const client = graph(token);
    await client.api(`/communications/calls/${call.id}`).delete();
    const deleted = await waitFor(() => stateNotes(path).find((n) => n.changeType === "deleted"), "deleted");
    assert.equal(deleted.resourceData.state, "terminated");
    assert.deepEqual(
      [deleted.resourceData.resultInfo.code, typeof deleted.resourceData.resultInfo.subcode, typeof deleted.resourceData.resultInfo.message],
      [200, "number", "string"],
    );
    assert.ok(stateNotes(path).some((n) => n.resourceData.state === "terminating"));
    assert.equal((await failure(client.api(`/communications/calls/${call.id}/keepAlive`).post({}))).statusCode, 404);
    assert.equal((await failure(client.api(`/communications/calls/${call.id}`).get())).statusCode, 404);
  });

  it("endMeeting terminates every bot call; an idle call ends after the keep-alive timeout (408/8537); other tenants cannot see calls", async () => {
    const { meeting } = newMeeting({ lobbyScope: "everyone" });
    const a = await join(meeting as OnlineMeeting);
    const b = await join(meeting as OnlineMeeting, { guest: "Second VTC" });
    await waitFor(() => stateNotes(b.path).find((n) => n.resourceData.state === "established"), "second established");
    // Each bot sees the other in its roster.
    await waitFor(() => rosterNotes(a.path).find((n) => n.resourceData.length === 2), "roster with both bots");
    assert.equal(
      (
        await failure(
          graph(await appToken(TENANT_B, JOIN_ROLES))
            .api(`/communications/calls/${a.call.id}`)
            .get(),
        )
      ).statusCode,
      404,
    );

    emulator.endMeeting(meeting.id as string);
    for (const { path } of [a, b]) {
      const ended = await waitFor(() => stateNotes(path).find((n) => n.changeType === "deleted"), "terminated by endMeeting");
      assert.equal(ended.resourceData.state, "terminated");
    }

    const { meeting: other } = newMeeting();
    const idle = await join(other as OnlineMeeting);
    await waitFor(() => stateNotes(idle.path).find((n) => n.resourceData.state === "established"), "established");
    emulator.advanceClock(30 * 60_000);
    await graph(idle.token).api(`/communications/calls/${idle.call.id}/keepAlive`).post({});
    emulator.advanceClock(30 * 60_000);
    assert.equal(emulator.calls().find((c) => c.id === idle.call.id)!.state, "established");
    emulator.advanceClock(16 * 60_000);
    const ended = await waitFor(() => stateNotes(idle.path).find((n) => n.changeType === "deleted"), "keep-alive timeout");
    assert.deepEqual([ended.resourceData.resultInfo.code, ended.resourceData.resultInfo.subcode], [408, 8537]);
  });

  it("joins by joinMeetingId and passcode; AllowAppGuestJoinsAsAuthenticated lets listed bots skip the lobby; removal ends with 5300", async () => {
    const tenant = randomUUID();
    const organizer = emulator.addUser(tenant, { displayName: "Org", userPrincipalName: "org@woodgrove.example" });
    emulator.setVideoInteropProvider(tenant, {
      tenantKey: "key@t.cvi.example",
      aadApplicationIds: [APP_ID],
      allowAppGuestJoinsAsAuthenticated: true,
    });
    const { meeting } = emulator.createTeamsMeetingEvent(tenant, organizer.id, {
      subject: "Guests as tenant",
      start: new Date(),
      end: new Date(Date.now() + 3600_000),
      lobbyScope: "organization",
    });
    const settings = meeting.joinMeetingIdSettings as { joinMeetingId: string; passcode: string };
    const client = graph(await appToken(tenant, ["Calls.JoinGroupCallAsGuest.All", "Calls.AccessMedia.All"]));
    const path = `/calls/${randomUUID()}`;
    const body = {
      ...joinBody(meeting as OnlineMeeting, `${callbackOrigin}${path}`, { guest: "Trusted VTC" }),
      chatInfo: undefined,
      meetingInfo: { "@odata.type": "#microsoft.graph.joinMeetingIdMeetingInfo", joinMeetingId: settings.joinMeetingId, passcode: "wrong" },
      tenantId: tenant,
    };
    assert.equal((await failure(client.api("/communications/calls").post(body))).statusCode, 403);
    const call = (await client
      .api("/communications/calls")
      .post({ ...body, meetingInfo: { ...body.meetingInfo, passcode: settings.passcode } })) as Call;
    await waitFor(() => stateNotes(path).find((n) => n.resourceData.state === "established"), "established without lobby");
    assert.ok(!rosterNotes(path).some((n) => n.resourceData.some((p: Participant) => p.isInLobby)));

    emulator.removeParticipant(call.id!);
    const removed = await waitFor(() => stateNotes(path).find((n) => n.changeType === "deleted"), "removed");
    assert.equal(removed.resourceData.resultInfo.subcode, 5300);
  });

  it("serves users and the organizer's onlineMeetings by id and by JoinWebUrl", async () => {
    const { meetingId, meeting } = newMeeting({ subject: "By URL" });
    const client = graph(await appToken(TENANT_A, ["User.Read.All", "OnlineMeetings.Read.All"]));
    const user = await client.api("/users/ADELE@contoso.example").get();
    assert.equal(user.id, organizerId);
    assert.equal((await failure(client.api(`/users/${randomUUID()}`).get())).code, "Request_ResourceNotFound");
    assert.equal(
      (
        await failure(
          graph(await appToken(TENANT_A, ["Calendars.Read"]))
            .api("/users")
            .get(),
        )
      ).code,
      "Authorization_RequestDenied",
    );
    const byId = (await client.api(`/users/${organizerId}/onlineMeetings/${encodeURIComponent(meetingId)}`).get()) as OnlineMeeting;
    assert.equal(byId.joinWebUrl, meeting.joinWebUrl);
    const byUrl = await client
      .api(`/users/${organizerId}/onlineMeetings`)
      .filter(`JoinWebUrl eq '${encodeURIComponent(meeting.joinWebUrl as string)}'`)
      .get();
    assert.deepEqual(
      byUrl.value.map((m: OnlineMeeting) => m.id),
      [meetingId],
    );
  });

  it("records every notification; held ones can be delivered reordered, duplicated, or with the original token", async () => {
    const { meeting } = newMeeting();
    emulator.holdNotifications = true;
    let joined: Awaited<ReturnType<typeof join>>;
    try {
      joined = await join(meeting as OnlineMeeting);
      await emulator.idle();
    } finally {
      emulator.holdNotifications = false;
    }
    const mine = emulator.sentNotifications.filter((n) => n.callId === joined.call.id);
    assert.ok(mine.every((n) => n.held && n.attempts.length === 0));
    assert.equal(at(joined.path).length, 0);
    const [establishing, established] = mine.filter((n) => !n.body.value[0].resourceUrl.endsWith("/participants")) as [
      SentNotification,
      SentNotification,
    ];
    await emulator.resend(established);
    await emulator.resend(establishing);
    const again = await emulator.resend(established, { sameToken: true });
    assert.deepEqual(
      stateNotes(joined.path).map((n) => n.resourceData.state),
      ["established", "establishing", "established"],
    );
    const headers = at(joined.path).map((r) => r.headers.authorization);
    assert.equal(headers[2], headers[0]);
    assert.equal(again.resentFrom, established.sequence);
    assert.equal(again.attempts[0]?.status, 202);
  });
});

describe("screen sharing role", () => {
  const vbss = (p: Participant) => p.mediaStreams?.find((s) => s.mediaType === "videoBasedScreenSharing");
  const roles: { meetingId: string; callId: string; role: string }[] = [];

  before(() => {
    emulator.useMeetingMedia({
      botJoined: async () => {},
      botLeft: () => {},
      botScreenSharingRole: (meetingId, callId, role) => void roles.push({ meetingId, callId, role }),
    });
  });

  async function established() {
    const { meeting } = newMeeting({ lobbyScope: "everyone" });
    const joined = await join(meeting as OnlineMeeting);
    await waitFor(() => stateNotes(joined.path).find((n) => n.resourceData.state === "established"), "established");
    return { meetingId: meeting.id as string, ...joined };
  }

  const changeRole = (token: string, callId: string, body: unknown) =>
    graph(token).api(`/communications/calls/${callId}/changeScreenSharingRole`).responseType(ResponseType.RAW).post(body) as Promise<Response>;

  it("sharer: 202, the bot's videoBasedScreenSharing stream sends in the roster every bot gets; a person sharing takes it over; the last sharer wins", async () => {
    const { meetingId, call, path, token } = await established();
    const personId = emulator.addHumanParticipant(meetingId, "Megan Bowen");
    await emulator.idle();

    const taken = await changeRole(token, call.id!, { role: "sharer" });
    assert.equal(taken.status, 202);
    assert.equal(await taken.text(), "");
    assert.equal(emulator.screenSharer(meetingId), call.myParticipantId);
    assert.deepEqual(roles.at(-1), { meetingId, callId: call.id, role: "sharer" });
    const sharing = await waitFor(
      () =>
        rosterNotes(path).find((n) => n.resourceData.some((p: Participant) => p.id === call.myParticipantId && vbss(p)?.direction === "sendOnly")),
      "a roster with the bot sharing",
    );
    const bot = (sharing.resourceData as Participant[]).find((p) => p.id === call.myParticipantId)!;
    assert.match(vbss(bot)?.sourceId ?? "", /^\d+$/);
    assert.equal(vbss((sharing.resourceData as Participant[]).find((p) => p.id === personId)!)?.direction, "receiveOnly");
    const fetched = (await graph(token).api(`/communications/calls/${call.id}/participants/${call.myParticipantId}`).get()) as Participant;
    assert.equal(vbss(fetched)?.direction, "sendOnly");

    // Idempotent: the same role again changes nothing and notifies no one.
    const notesBefore = rosterNotes(path).length;
    const rolesBefore = roles.length;
    assert.equal((await changeRole(token, call.id!, { role: "sharer" })).status, 202);
    await emulator.idle();
    assert.equal(rosterNotes(path).length, notesBefore);
    assert.equal(roles.length, rolesBefore);

    // A person on the meeting page shares: the bot becomes a viewer.
    emulator.startScreenSharing(meetingId, personId);
    const personShares = await waitFor(
      () => rosterNotes(path).find((n) => n.resourceData.some((p: Participant) => p.id === personId && vbss(p)?.direction === "sendOnly")),
      "a roster with the person sharing",
    );
    assert.equal(vbss((personShares.resourceData as Participant[]).find((p) => p.id === call.myParticipantId)!)?.direction, "receiveOnly");
    assert.equal(emulator.screenSharer(meetingId), personId);

    // viewer from a bot that is not sharing leaves the person's share alone; sharer takes it back.
    assert.equal((await changeRole(token, call.id!, { role: "viewer" })).status, 202);
    assert.equal(emulator.screenSharer(meetingId), personId);
    assert.equal((await changeRole(token, call.id!, { role: "sharer" })).status, 202);
    assert.equal(emulator.screenSharer(meetingId), call.myParticipantId);
    emulator.stopScreenSharing(meetingId, personId);
    assert.equal(emulator.screenSharer(meetingId), call.myParticipantId, "a person who no longer shares cannot stop the bot's share");
    assert.equal((await changeRole(token, call.id!, { role: "viewer" })).status, 202);
    assert.equal(emulator.screenSharer(meetingId), null);
    assert.deepEqual(roles.at(-1), { meetingId, callId: call.id, role: "viewer" });
    const none = await waitFor(
      () =>
        rosterNotes(path)
          .at(-1)
          ?.resourceData.every((p: Participant) => vbss(p)?.direction === "receiveOnly") && rosterNotes(path).at(-1),
      "a roster with no one sharing",
    );
    assert.equal(none.resourceData.length, 2);

    // The sharer's call ends: no one shares.
    assert.equal((await changeRole(token, call.id!, { role: "sharer" })).status, 202);
    await graph(token).api(`/communications/calls/${call.id}`).delete();
    assert.equal(emulator.screenSharer(meetingId), null);
  });

  it("bad bodies get Graph's 400 BadRequest; an unknown call 404; a wrong method 405; no media access 403; nothing changes", async () => {
    const { meetingId, call, token } = await established();
    const cases: [unknown, RegExp][] = [
      [{}, /'role' is required/],
      [{ role: "presenter" }, /'presenter' is not valid for role/],
      [{ role: 1 }, /'1' is not valid for role/],
      [{ role: "sharer", clientContext: "x" }, /property 'clientContext' does not exist/],
      [[], /JSON object/],
    ];
    for (const [body, message] of cases) {
      const e = await failure(graph(token).api(`/communications/calls/${call.id}/changeScreenSharingRole`).post(body));
      assert.equal(e.statusCode, 400, String(message));
      assert.equal(e.code, "BadRequest");
      assert.match(e.message, message);
    }
    const notJson = await fetch(`${origin}/v1.0/communications/calls/${call.id}/changeScreenSharingRole`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: "{role: sharer",
    });
    assert.equal(notJson.status, 400);
    assert.equal(((await notJson.json()) as { error: { code: string } }).error.code, "BadRequest");
    const unknown = await failure(graph(token).api(`/communications/calls/${randomUUID()}/changeScreenSharingRole`).post({ role: "sharer" }));
    assert.equal(unknown.statusCode, 404);
    const wrongMethod = await failure(graph(token).api(`/communications/calls/${call.id}/changeScreenSharingRole`).get());
    assert.equal(wrongMethod.statusCode, 405);
    const noMedia = await failure(
      graph(await appToken(TENANT_A, ["Calls.JoinGroupCall.All"]))
        .api(`/communications/calls/${call.id}/changeScreenSharingRole`)
        .post({ role: "sharer" }),
    );
    assert.equal(noMedia.statusCode, 403);
    assert.equal(emulator.screenSharer(meetingId), null);
  });
});

describe("subscriptions and change notifications", () => {
  // Relative to the emulator's clock, which earlier tests advanced.
  const expiresIn = (minutes: number) => new Date(emulator.now() + minutes * 60_000).toISOString();

  it("validates the endpoint (token with spaces, text/plain), then notifies event changes with clientState; lifecycle and reauthorize work", async () => {
    const client = graph(await appToken(TENANT_A, ["Calendars.ReadWrite"]));
    const notifyPath = `/notify/${randomUUID()}`;
    const lifecyclePath = `/lifecycle/${randomUUID()}`;
    const sub = (await client.api("/subscriptions").post({
      changeType: "created,updated,deleted",
      notificationUrl: `${callbackOrigin}${notifyPath}`,
      lifecycleNotificationUrl: `${callbackOrigin}${lifecyclePath}`,
      resource: `/users/${organizerId}/events`,
      expirationDateTime: expiresIn(60),
      clientState: "s3cret-state",
    })) as Subscription;
    assert.ok(sub.id);
    assert.equal(sub.applicationId, APP_ID);
    assert.equal(sub.clientState, "s3cret-state");
    assert.equal(sub.latestSupportedTlsVersion, "v1_2");
    for (const path of [notifyPath, lifecyclePath]) {
      const validation = received.find((r) => r.path === path && r.query.has("validationToken"))!;
      assert.match(validation.query.get("validationToken")!, /^Validation: Testing client application reachability/);
      assert.match(validation.headers["content-type"] ?? "", /^text\/plain/);
    }

    const { eventId } = newMeeting({ subject: "Subscribed" });
    const created = await waitFor(() => at(notifyPath).find((r) => r.json.value[0].changeType === "created"), "created notification");
    const item = created.json.value[0];
    assert.deepEqual(
      [item.subscriptionId, item.clientState, item.tenantId, item.resource, item.resourceData["@odata.type"], item.resourceData.id],
      [sub.id, "s3cret-state", TENANT_A, `Users/${organizerId}/Events/${eventId}`, "#Microsoft.Graph.Event", eventId],
    );
    assert.match(item.resourceData["@odata.etag"], /^W\/"/);
    assert.ok(item.subscriptionExpirationDateTime);

    // The product edits the invite body through the SDK; that is an update too.
    const patched = (await client.api(`/users/${organizerId}/events/${encodeURIComponent(eventId)}`).patch({
      body: { contentType: "html", content: "<p>Dial 4711@cvi.example</p>" },
    })) as Event;
    assert.match(patched.body?.content ?? "", /Dial 4711@cvi\.example/);
    assert.equal(patched.body?.contentType, "html");
    const updated = await waitFor(() => at(notifyPath).find((r) => r.json.value[0].changeType === "updated"), "updated notification");
    assert.equal(updated.json.value[0].resourceData["@odata.etag"], patched["@odata.etag" as keyof Event]);
    assert.equal(emulator.getEvent(TENANT_A, organizerId, eventId)?.bodyPreview, "Dial 4711@cvi.example");

    emulator.sendLifecycleEvent(sub.id!, "reauthorizationRequired");
    const lifecycle = await waitFor(() => at(lifecyclePath)[0], "lifecycle notification");
    assert.deepEqual(
      [lifecycle.json.value[0].lifecycleEvent, lifecycle.json.value[0].subscriptionId, lifecycle.json.value[0].clientState],
      ["reauthorizationRequired", sub.id, "s3cret-state"],
    );
    await client.api(`/subscriptions/${sub.id}/reauthorize`).post({});
    const renewed = (await client.api(`/subscriptions/${sub.id}`).patch({ expirationDateTime: expiresIn(120) })) as Subscription;
    assert.ok(Date.parse(renewed.expirationDateTime!) > Date.parse(sub.expirationDateTime!));
    assert.equal(((await client.api("/subscriptions").get()).value as Subscription[]).filter((s) => s.id === sub.id).length, 1);

    emulator.cancelEvent(TENANT_A, organizerId, eventId);
    await waitFor(() => at(notifyPath).find((r) => r.json.value[0].changeType === "deleted"), "deleted notification");
    await client.api(`/subscriptions/${sub.id}`).delete();
    assert.equal((await failure(client.api(`/subscriptions/${sub.id}`).get())).statusCode, 404);
  });

  it("refuses a subscription whose endpoint echoes the wrong token, and bad expirations or missing roles", async () => {
    const client = graph(await appToken(TENANT_A, ["Calendars.Read"]));
    const path = `/notify/${randomUUID()}`;
    behaviour.set(path, { validation: "wrong" });
    const body = {
      changeType: "updated",
      notificationUrl: `${callbackOrigin}${path}`,
      resource: `users/${organizerId}/events`,
      expirationDateTime: expiresIn(60),
      clientState: "x",
    };
    const wrong = await failure(client.api("/subscriptions").post(body));
    assert.equal(wrong.statusCode, 400);
    assert.equal(wrong.code, "ValidationError");
    assert.match(wrong.message, /^Subscription validation request failed/);
    behaviour.set(path, { validation: "echo" });
    assert.equal((await failure(client.api("/subscriptions").post({ ...body, expirationDateTime: expiresIn(10081 + 5) }))).statusCode, 400);
    assert.equal((await failure(client.api("/subscriptions").post({ ...body, expirationDateTime: expiresIn(-1) }))).statusCode, 400);
    assert.equal(
      (
        await failure(
          graph(await appToken(TENANT_A, ["OnlineMeetings.Read.All"]))
            .api("/subscriptions")
            .post(body),
        )
      ).statusCode,
      403,
    );
  });

  it("retries a failing receiver with backoff, and an expired subscription stops delivering and disappears", async () => {
    const client = graph(await appToken(TENANT_A, ["Calendars.Read"]));
    const path = `/notify/${randomUUID()}`;
    const sub = (await client.api("/subscriptions").post({
      changeType: "created,updated",
      notificationUrl: `${callbackOrigin}${path}`,
      resource: `/Users/ADELE@contoso.example/Events`,
      expirationDateTime: expiresIn(45),
      clientState: "retry-state",
    })) as Subscription;
    behaviour.set(path, { statuses: [500, 503] });
    const { eventId } = newMeeting({ subject: "Retried" });
    await emulator.idle();
    const record = emulator.sentNotifications.find((n) => n.subscriptionId === sub.id && n.body.value[0].resourceData.id === eventId)!;
    assert.deepEqual(
      record.attempts.map((a) => a.status),
      [500, 503, 202],
    );

    emulator.advanceClock(46 * 60_000);
    assert.equal((await failure(client.api(`/subscriptions/${sub.id}`).get())).statusCode, 404);
    const before = emulator.sentNotifications.length;
    emulator.updateEvent(TENANT_A, organizerId, eventId, { subject: "After expiry" });
    await emulator.idle();
    assert.equal(emulator.sentNotifications.filter((n) => n.sequence > before && n.subscriptionId === sub.id).length, 0);
  });
});

describe("operator page", () => {
  it("lists meetings and calls and admits from the lobby with a form POST", async () => {
    const { meeting } = newMeeting({ subject: "Operator <review>" });
    const { call, path } = await join(meeting as OnlineMeeting, { guest: "Operator VTC" });
    await waitFor(() => rosterNotes(path)[0], "lobby");
    const page = await (await fetch(emulator.operatorUrl)).text();
    assert.match(page, /Operator &#60;review&#62;/);
    assert.match(page, new RegExp(`/_emulator/calls/${call.id}/admit`));
    const admit = await fetch(`${origin}/_emulator/calls/${call.id}/admit`, { method: "POST", redirect: "manual" });
    assert.equal(admit.status, 303);
    await waitFor(() => stateNotes(path).find((n) => n.resourceData.state === "established"), "established via operator");
  });
});
