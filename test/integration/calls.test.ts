import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { BusMessage } from "../../shared/bus/messageBus.js";
import { processBus } from "../../functions/adapters/bus/processBus.js";
import { LOCAL_BOT_APP_ID, type LocalStack, startLocalStack } from "../../local/stack.js";
import { adminApi, type EnabledMeeting, enabledMeeting, holdLease } from "../support/onboarding.js";

let stack: LocalStack;
let lease: Awaited<ReturnType<typeof holdLease>>;
const received: BusMessage[] = [];
/** The Functions' log lines (their InvocationContext's). */
const functionLogs: string[] = [];
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

before(async () => {
  stack = await startLocalStack({ logLevel: "none", logSink: (_level, line) => functionLogs.push(line) });
  // This test plays the media host "mh-test": a lease in the pool, and its messages.
  lease = await holdLease(stack, "mh-test");
  processBus.subscribe("mh-test", async (m) => {
    received.push(m);
  });
});
after(async () => {
  await lease.release();
  await stack.stop();
});

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await stack.graph.idle();
  await processBus.drain();
}

type Meeting = EnabledMeeting;

/** A meeting of an enabled organizer, with coordinates; its lobby lets everyone in unless told otherwise. */
const meetingWithCoordinates = (lobbyScope: "everyone" | "organization" = "everyone") => enabledMeeting(stack, { lobbyScope });

async function join(meeting: Meeting, deviceCallId: string): Promise<string> {
  return (await joinAnswer(meeting, deviceCallId)).callId;
}

/** The control plane's answer to a media host's join. */
async function joinAnswer(meeting: Meeting, deviceCallId: string): Promise<{ callId: string; callChainId: string | null }> {
  const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
  const res = await adminApi(
    stack,
    "POST",
    "/v1/calls",
    {
      tenantKey: meeting.tenant.tenantKey,
      vtcId: meeting.vtcId,
      displayName: "Boardroom 4",
      mediaHostId: "mh-test",
      mediaHostEpoch: lease.epoch,
      deviceCallId,
      mediaBlob: "{}",
    },
    mediaHost,
  );
  assert.equal(res.status, 201, res.text);
  return res.json;
}

async function record(callId: string) {
  const res = await adminApi(stack, "GET", `/v1/calls/${callId}`);
  assert.equal(res.status, 200, res.text);
  return res.json;
}

const stateOf = (r: any) => ({ state: r.state, myParticipantId: r.myParticipantId, participants: r.participants, resultInfo: r.resultInfo });

describe("bot calls: join, call notifications, leave", () => {
  it("joins for a room system, follows Graph's notifications and tells the media host", async () => {
    const meeting = await meetingWithCoordinates();
    const callId = await join(meeting, "sip-1");
    await settle();
    const r = await record(callId);
    assert.equal(r.state, "established");
    assert.equal(r.mediaHostId, "mh-test");
    assert.ok(r.establishedAt);
    assert.ok(
      r.participants.some((p: { displayName: string }) => p.displayName === "Boardroom 4"),
      "the device is in the roster under its name",
    );
    const graphCall = stack.graph.calls().find((c) => c.id === callId);
    assert.equal(graphCall?.identity.displayName, "Boardroom 4");
    assert.equal(graphCall?.identity.kind, "guest");
    const last = received.filter((m) => m.orderingKey === callId).at(-1)?.body as { state: string; deviceCallId: string } | undefined;
    assert.equal(last?.state, "established");
    assert.equal(last?.deviceCallId, "sip-1");
  });

  it("keeps Graph's callChainId: in the join's answer to the media host, the call record, and the log lines of the call's requests", async () => {
    const meeting = await meetingWithCoordinates();
    const answer = await joinAnswer(meeting, "sip-chain-1");
    const chain = stack.graph.calls().find((c) => c.id === answer.callId)?.callChainId;
    assert.match(chain ?? "", GUID, "Graph named the call's chain");
    assert.equal(answer.callChainId, chain, "the media host is told it");
    await settle();
    const r = await record(answer.callId);
    assert.equal(r.callChainId, chain, "GET /v1/calls/{id} shows it");
    assert.equal(r.state, "established");
    const named = stack.graph.sentNotifications
      .filter((n) => n.kind === "call" && n.callId === answer.callId && !String(n.body.value[0].resourceUrl).endsWith("/participants"))
      .map((n) => n.body.value[0].resourceData.callChainId);
    assert.ok(named.length >= 2 && named.every((c) => c === chain), "the notifications the record followed name the same one");
    // A notification naming another one changes nothing: the first one given stays.
    const token = await stack.graph.signCallNotificationToken({ audience: LOCAL_BOT_APP_ID, tenantId: meeting.tenant.tenantId });
    const other = await fetch(`${stack.publicBaseUrl}/api/graph/calls`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        "@odata.type": "#microsoft.graph.commsNotifications",
        value: [
          {
            "@odata.type": "#microsoft.graph.commsNotification",
            changeType: "updated",
            resourceUrl: `/communications/calls/${answer.callId}`,
            resourceData: { "@odata.type": "#microsoft.graph.call", state: "established", callChainId: randomUUID() },
          },
        ],
      }),
    });
    assert.equal(other.status, 202);
    assert.equal((await record(answer.callId)).callChainId, chain);

    const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
    const quality = {
      deviceLeg: [],
      meetingLeg: [{ kind: "audio", packetsSent: 1, packetsReceived: 1, packetsLost: 0, jitterMs: null, roundTripMs: null }],
    };
    assert.equal((await adminApi(stack, "PUT", `/v1/calls/${answer.callId}/quality`, { quality }, mediaHost)).status, 200);
    assert.equal((await adminApi(stack, "DELETE", `/v1/calls/${answer.callId}?reason=BYE`, undefined, mediaHost)).status, 204);
    const about = `call ${answer.callId} (callChainId ${chain})`;
    for (const request of ["POST /api/v1/calls ", `PUT /api/v1/calls/${answer.callId}/quality `, `DELETE /api/v1/calls/${answer.callId} `]) {
      assert.ok(
        functionLogs.some((l) => l.startsWith(`admin ${request}`) && l.endsWith(`: ${about}`)),
        `the log line of ${request.trim()} names the call by its callChainId:\n${functionLogs.join("\n")}`,
      );
    }
    assert.equal((await record(answer.callId)).callChainId, chain, "the ended call's record keeps it");
  });

  it("replayed three times and reordered, call notifications leave the state ordered delivery left", async () => {
    const meeting = await meetingWithCoordinates();
    const callId = await join(meeting, "sip-2");
    await settle();
    stack.graph.addHumanParticipant(meeting.meetingId, "Alice");
    await settle();
    const ordered = stateOf(await record(callId));
    const messagesBefore = received.filter((m) => m.orderingKey === callId).length;
    const sent = stack.graph.sentNotifications.filter((n) => n.kind === "call" && n.callId === callId);
    assert.ok(sent.length >= 3);
    for (let round = 0; round < 3; round++) for (const n of [...sent].reverse()) await stack.graph.resend(n);
    await settle();
    assert.deepEqual(stateOf(await record(callId)), ordered);
    assert.equal(received.filter((m) => m.orderingKey === callId).length, messagesBefore, "nothing new for the media host");

    // Ended by the meeting side; an old "established" arriving late does not revive the call.
    stack.graph.removeParticipant(callId);
    await settle();
    const ended = await record(callId);
    assert.equal(ended.state, "terminated");
    assert.equal(ended.endedBy, "meeting");
    for (const n of sent) await stack.graph.resend(n);
    await settle();
    assert.deepEqual(stateOf(await record(callId)), stateOf(ended));
    assert.equal((received.filter((m) => m.orderingKey === callId).at(-1)?.body as { state: string } | undefined)?.state, "terminated");
  });

  it("rejects forged, expired and wrong-audience notification tokens and changes nothing", async () => {
    const meeting = await meetingWithCoordinates();
    const callId = await join(meeting, "sip-3");
    await settle();
    const before = stateOf(await record(callId));
    const body = JSON.stringify({
      "@odata.type": "#microsoft.graph.commsNotifications",
      value: [
        {
          "@odata.type": "#microsoft.graph.commsNotification",
          changeType: "deleted",
          resourceUrl: `/communications/calls/${callId}`,
          resourceData: { state: "terminated" },
        },
      ],
    });
    const tenantId = meeting.tenant.tenantId;
    const tokens = [
      await stack.graph.signCallNotificationToken({ audience: LOCAL_BOT_APP_ID, tenantId, forged: true }),
      await stack.graph.signCallNotificationToken({ audience: LOCAL_BOT_APP_ID, tenantId, expiresInSeconds: -900 }),
      await stack.graph.signCallNotificationToken({ audience: "00000000-0000-0000-0000-000000000001", tenantId }),
      await stack.graph.signCallNotificationToken({ audience: LOCAL_BOT_APP_ID, tenantId, issuer: "https://evil.example.com" }),
    ];
    for (const token of tokens) {
      const res = await fetch(`${stack.publicBaseUrl}/api/graph/calls`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body,
      });
      assert.equal(res.status, 401);
    }
    const unsigned = await fetch(`${stack.publicBaseUrl}/api/graph/calls`, { method: "POST", headers: { "content-type": "application/json" }, body });
    assert.equal(unsigned.status, 401);
    // A genuine token of another tenant does not reach this tenant's call.
    const otherTenant = await stack.graph.signCallNotificationToken({ audience: LOCAL_BOT_APP_ID, tenantId: "11111111-2222-3333-4444-555555555555" });
    const crossTenant = await fetch(`${stack.publicBaseUrl}/api/graph/calls`, {
      method: "POST",
      headers: { authorization: `Bearer ${otherTenant}`, "content-type": "application/json" },
      body,
    });
    assert.equal(crossTenant.status, 202);
    assert.deepEqual(stateOf(await record(callId)), before);
  });

  it("the device hangs up: the bot leaves the meeting; the meeting ends: the media host is told", async () => {
    const meeting = await meetingWithCoordinates();
    const first = await join(meeting, "sip-4");
    const second = await join(meeting, "sip-5");
    await settle();
    const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
    const left = await adminApi(stack, "DELETE", `/v1/calls/${first}?reason=BYE%20from%20device`, undefined, mediaHost);
    assert.equal(left.status, 204);
    await settle();
    assert.equal(stack.graph.calls().find((c) => c.id === first)?.state ?? "terminated", "terminated");
    const firstRecord = await record(first);
    assert.equal(firstRecord.endedBy, "device");
    assert.equal(firstRecord.endReason, "BYE from device");

    stack.graph.endMeeting(meeting.meetingId);
    await settle();
    const secondRecord = await record(second);
    assert.equal(secondRecord.state, "terminated");
    assert.equal(secondRecord.endedBy, "meeting");
    assert.equal((received.filter((m) => m.orderingKey === second).at(-1)?.body as { state: string } | undefined)?.state, "terminated");
  });

  it("waits in the lobby until admitted", async () => {
    const meeting = await meetingWithCoordinates("organization");
    const callId = await join(meeting, "sip-6");
    await settle();
    const waiting = received.filter((m) => m.orderingKey === callId).at(-1)?.body as { state: string; inLobby: boolean };
    assert.equal(waiting.inLobby, true);
    assert.notEqual(waiting.state, "established");
    stack.graph.admitFromLobby(callId);
    await settle();
    const admitted = received.filter((m) => m.orderingKey === callId).at(-1)?.body as { state: string; inLobby: boolean };
    assert.equal(admitted.state, "established");
    assert.equal(admitted.inLobby, false);
  });

  it("refuses a join for an unknown VTC ID with a reason the IVR can speak", async () => {
    const meeting = await meetingWithCoordinates();
    const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
    const res = await adminApi(
      stack,
      "POST",
      "/v1/calls",
      {
        tenantKey: meeting.tenant.tenantKey,
        vtcId: "9999999999",
        displayName: "Room",
        mediaHostId: "mh-test",
        mediaHostEpoch: lease.epoch,
        deviceCallId: "sip-7",
        mediaBlob: "{}",
      },
      mediaHost,
    );
    assert.equal(res.status, 404);
    assert.equal(res.json.code, "unknown-vtc-id");
    assert.match(res.json.detail, /no meeting/);
    const admin = await adminApi(stack, "POST", "/v1/calls", { tenantKey: meeting.tenant.tenantKey }, await stack.issueToken());
    assert.equal(admin.status, 403, "the admin role is not the media-host role");
  });
});

describe("call quality from media hosts", () => {
  const quality = {
    deviceLeg: [
      { kind: "audio", packetsSent: 1500, packetsReceived: 1498, packetsLost: 2, jitterMs: 3.5, roundTripMs: 41 },
      { kind: "video", packetsSent: 9000, packetsReceived: 8990, packetsLost: 10, jitterMs: 6, roundTripMs: null },
    ],
    meetingLeg: [{ kind: "audio", packetsSent: 1498, packetsReceived: 1500, packetsLost: 0, jitterMs: 1.2, roundTripMs: 12 }],
  };

  it("keeps the report in the call record and sends Teams one logTeleconferenceDeviceQuality; a second report changes nothing", async () => {
    const meeting = await meetingWithCoordinates();
    const callId = await join(meeting, "sip-quality-1");
    await settle();
    const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
    const reportsBefore = stack.graph.deviceQualityReports().length;
    const first = await adminApi(stack, "PUT", `/v1/calls/${callId}/quality`, { quality }, mediaHost);
    assert.equal(first.status, 200, first.text);
    assert.deepEqual((await record(callId)).quality, quality);
    const reports = stack.graph.deviceQualityReports().slice(reportsBefore);
    assert.equal(reports.length, 1);
    const sent = reports[0]?.quality as { callChainId: string; deviceName: string; mediaQualityList: Record<string, unknown>[] };
    assert.equal(sent.deviceName, "Boardroom 4");
    const chain = stack.graph.calls().find((c) => c.id === callId)?.callChainId;
    assert.match(chain ?? "", GUID);
    assert.equal(sent.callChainId, chain, "Teams gets the call's callChainId, as Graph named it, not the call's id");
    assert.equal((await record(callId)).callChainId, chain);
    assert.equal(sent.mediaQualityList[0]?.["@odata.type"], "#microsoft.graph.teleconferenceDeviceAudioQuality");
    assert.equal(sent.mediaQualityList[0]?.inboundPackets, 1498);
    assert.equal(sent.mediaQualityList[0]?.averageInboundJitter, "PT0.004S");
    assert.equal(sent.mediaQualityList[1]?.["@odata.type"], "#microsoft.graph.teleconferenceDeviceVideoQuality");

    const replay = await adminApi(stack, "PUT", `/v1/calls/${callId}/quality`, { quality: { ...quality, deviceLeg: [] } }, mediaHost);
    assert.equal(replay.status, 200);
    assert.deepEqual((await record(callId)).quality, quality, "the first report stands");
    assert.equal(stack.graph.deviceQualityReports().length, reportsBefore + 1, "Teams is told once");
  });

  it("bad reports get problem+json naming what is wrong and change nothing; admins cannot report; unknown calls are 404", async () => {
    const meeting = await meetingWithCoordinates();
    const callId = await join(meeting, "sip-quality-2");
    const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
    const bad = await adminApi(
      stack,
      "PUT",
      `/v1/calls/${callId}/quality`,
      {
        quality: {
          deviceLeg: [{ kind: "smell", packetsSent: -1, packetsReceived: 1, packetsLost: 0, jitterMs: "x", roundTripMs: null }],
          meetingLeg: [],
        },
      },
      mediaHost,
    );
    assert.equal(bad.status, 400);
    assert.match(bad.headers.get("content-type") ?? "", /application\/problem\+json/);
    assert.match(bad.text, /kind must be/);
    assert.match(bad.text, /packetsSent must be a count/);
    assert.match(bad.text, /jitterMs must be milliseconds or null/);
    assert.equal((await record(callId)).quality ?? null, null);
    const admin = await adminApi(stack, "PUT", `/v1/calls/${callId}/quality`, { quality });
    assert.equal(admin.status, 403);
    const unknown = await adminApi(stack, "PUT", "/v1/calls/00000000-0000-4000-8000-000000000000/quality", { quality }, mediaHost);
    assert.equal(unknown.status, 404);
  });
});

describe("the bot's screen sharing role", () => {
  const role = (callId: string, body: unknown, token?: string) => adminApi(stack, "PUT", `/v1/calls/${callId}/screenSharingRole`, body, token);

  it("sharer and viewer go to Graph's changeScreenSharingRole through the SDK: the bot's share in the meeting follows; the same role twice changes nothing", async () => {
    const meeting = await meetingWithCoordinates();
    const callId = await join(meeting, "sip-share-1");
    await settle();
    const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
    const bot = stack.graph.calls().find((c) => c.id === callId)!;
    const person = stack.graph.addHumanParticipant(meeting.meetingId, "Megan Bowen");

    const taken = await role(callId, { role: "sharer" }, mediaHost);
    assert.equal(taken.status, 200, taken.text);
    assert.deepEqual(taken.json, { callId, role: "sharer" });
    assert.equal(stack.graph.screenSharer(meeting.meetingId), bot.myParticipantId);
    const again = await role(callId, { role: "sharer" }, mediaHost);
    assert.equal(again.status, 200);
    assert.equal(stack.graph.screenSharer(meeting.meetingId), bot.myParticipantId);

    // A person takes the share over; the bot's viewer then leaves it with them.
    stack.graph.startScreenSharing(meeting.meetingId, person);
    assert.equal((await role(callId, { role: "viewer" }, mediaHost)).status, 200);
    assert.equal(stack.graph.screenSharer(meeting.meetingId), person);
    assert.equal((await role(callId, { role: "sharer" }, mediaHost)).status, 200);
    assert.equal((await role(callId, { role: "viewer" }, mediaHost)).status, 200);
    assert.equal(stack.graph.screenSharer(meeting.meetingId), null);
  });

  it("bad bodies get problem+json naming what is wrong; admins cannot ask; unknown calls are 404; ended calls 409; nothing changes", async () => {
    const meeting = await meetingWithCoordinates();
    const callId = await join(meeting, "sip-share-2");
    await settle();
    const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
    for (const body of [{}, { role: "presenter" }, { role: 1 }, { role: "sharer", extra: true }, ["sharer"]]) {
      const bad = await role(callId, body, mediaHost);
      assert.equal(bad.status, 400, JSON.stringify(body));
      assert.match(bad.headers.get("content-type") ?? "", /application\/problem\+json/);
      assert.match(bad.text, /role|extra|object/);
    }
    assert.match((await role(callId, { role: "presenter" }, mediaHost)).text, /role must be viewer or sharer/);
    assert.equal(stack.graph.screenSharer(meeting.meetingId), null);
    assert.equal((await role(callId, { role: "sharer" })).status, 403);
    assert.equal((await role("00000000-0000-4000-8000-000000000000", { role: "sharer" }, mediaHost)).status, 404);
    assert.equal((await adminApi(stack, "DELETE", `/v1/calls/${callId}?reason=bye`, undefined, mediaHost)).status, 204);
    const ended = await role(callId, { role: "sharer" }, mediaHost);
    assert.equal(ended.status, 409, ended.text);
    assert.equal(stack.graph.screenSharer(meeting.meetingId), null);
  });
});
