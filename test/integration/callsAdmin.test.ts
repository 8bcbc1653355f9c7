import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { BusMessage } from "../../shared/bus/messageBus.js";
import { processBus } from "../../functions/adapters/bus/processBus.js";
import { controlPlane } from "../../functions/controlPlane.js";
import { CosmosCallSessionRepository } from "../../functions/adapters/cosmos/cosmosCallSessionRepository.js";
import { openCosmosStore } from "../../functions/adapters/cosmos/cosmosStore.js";
import { type CallSessionRecord, INITIAL_CALL_SESSION } from "../../shared/domain/callSession.js";
import { AuthorizationError } from "../../shared/errors.js";
import { type LocalStack, startLocalStack } from "../../local/stack.js";
import { adminApi, type EnabledMeeting, enabledMeeting, holdLease } from "../support/onboarding.js";

/** The operators' view of calls: live list, history with filters and pages, one call's record, hang-up. */

const HOST = "mh-calls-admin";
let stack: LocalStack;
let lease: Awaited<ReturnType<typeof holdLease>>;
/** What the media host HOST is told on the bus. */
const toHost: BusMessage[] = [];
let meetingA: EnabledMeeting;
let meetingB: EnabledMeeting;

before(async () => {
  stack = await startLocalStack({ logLevel: "none" });
  lease = await holdLease(stack, HOST);
  processBus.subscribe(HOST, async (m) => {
    toHost.push(m);
  });
  meetingA = await enabledMeeting(stack, { subject: "Quarterly review" });
  meetingB = await enabledMeeting(stack, { subject: "Stand-up" });
});
after(async () => {
  await lease.release();
  await stack.stop();
});

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await stack.graph.idle();
  await processBus.drain();
}

/** Joins as the media host would, with the optional dial form and device address. */
async function join(meeting: EnabledMeeting, device: { name: string; dialForm?: string; address?: string }): Promise<string> {
  const res = await adminApi(
    stack,
    "POST",
    "/v1/calls",
    {
      tenantKey: meeting.tenant.tenantKey,
      vtcId: meeting.vtcId,
      displayName: device.name,
      mediaHostId: HOST,
      mediaHostEpoch: lease.epoch,
      deviceCallId: `sip-${randomUUID()}`,
      mediaBlob: "{}",
      ...(device.dialForm ? { dialForm: device.dialForm } : {}),
      ...(device.address ? { deviceAddress: device.address } : {}),
    },
    await stack.issueToken({ roles: ["CVI.MediaHost"] }),
  );
  assert.equal(res.status, 201, res.text);
  return res.json.callId;
}

/** The device hangs up (its media host's DELETE). */
async function deviceHangsUp(callId: string, reason = "the device hung up"): Promise<void> {
  const res = await adminApi(
    stack,
    "DELETE",
    `/v1/calls/${callId}?reason=${encodeURIComponent(reason)}`,
    undefined,
    await stack.issueToken({ roles: ["CVI.MediaHost"] }),
  );
  assert.equal(res.status, 204, res.text);
}

function assertProblem(res: { status: number; headers: Headers; json: any }, status: number): void {
  assert.equal(res.status, status, JSON.stringify(res.json));
  assert.match(res.headers.get("content-type") ?? "", /application\/problem\+json/);
  assert.equal(res.json.status, status);
}

describe("live calls", () => {
  it("lists a dialed call with its tenant, meeting, device, dial form, host, state and since when; filters by tenant", async () => {
    const callId = await join(meetingA, { name: "Boardroom 7", dialForm: "direct", address: "198.51.100.7:5060" });
    await settle();
    const live = await adminApi(stack, "GET", "/v1/calls");
    assert.equal(live.status, 200, live.text);
    const call = live.json.value.find((c: { callId: string }) => c.callId === callId);
    assert.ok(call, "the call is live");
    assert.equal(call.tenantId, meetingA.tenant.tenantId);
    assert.equal(call.meetingId, meetingA.meetingId);
    assert.equal(call.meetingSubject, "Quarterly review");
    assert.equal(call.vtcId, meetingA.vtcId);
    assert.equal(call.displayName, "Boardroom 7");
    assert.equal(call.deviceAddress, "198.51.100.7:5060");
    assert.equal(call.dialForm, "direct");
    assert.equal(call.mediaHostId, HOST);
    assert.equal(call.state, "established");
    assert.equal(call.inLobby, false);
    assert.equal(call.callChainId, stack.graph.calls().find((c) => c.id === callId)?.callChainId);
    assert.ok(Date.parse(call.createdAt) <= Date.now());
    assert.equal(call.endedAt, null);
    assert.equal(call.outcome, null);

    const same = await adminApi(stack, "GET", `/v1/calls?state=live&tenant=${meetingA.tenant.tenantId}`);
    assert.ok(same.json.value.some((c: { callId: string }) => c.callId === callId));
    assert.ok(same.json.value.every((c: { tenantId: string }) => c.tenantId === meetingA.tenant.tenantId));
    const other = await adminApi(stack, "GET", `/v1/calls?state=live&tenant=${meetingB.tenant.tenantId}`);
    assert.equal(other.status, 200);
    assert.ok(!other.json.value.some((c: { callId: string }) => c.callId === callId));

    await deviceHangsUp(callId);
    const after = await adminApi(stack, "GET", "/v1/calls?state=live");
    assert.ok(!after.json.value.some((c: { callId: string }) => c.callId === callId), "an ended call is not live");
  });

  it("a host that does not say how the device dialed leaves dialForm and deviceAddress null", async () => {
    const callId = await join(meetingB, { name: "Huddle 2" });
    const call = (await adminApi(stack, "GET", "/v1/calls")).json.value.find((c: { callId: string }) => c.callId === callId);
    assert.equal(call.dialForm, null);
    assert.equal(call.deviceAddress, null);
    await deviceHangsUp(callId);
  });
});

describe("hang up", () => {
  it("ends a live call: the media host is told (the device's BYE carries the reason), the bot leaves the meeting, the record says operator", async () => {
    const callId = await join(meetingA, { name: "Boardroom 9", dialForm: "ivr", address: "198.51.100.9:5060" });
    await settle();
    assert.equal(stack.graph.calls().find((c) => c.id === callId)?.state, "established");
    const before = toHost.length;

    const res = await adminApi(stack, "POST", `/v1/calls/${callId}/hangup`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.endedBy, "operator");
    assert.equal(res.json.endReason, "an operator hung up the call");
    assert.ok(res.json.endedAt);
    await settle();

    const told = toHost.slice(before).filter((m) => m.orderingKey === callId);
    assert.equal(told.length, 1, "one call event to the media host");
    assert.equal(told[0]!.subject, "call.updated");
    assert.deepEqual(told[0]!.body, {
      callId,
      deviceCallId: (await adminApi(stack, "GET", `/v1/calls/${callId}`)).json.deviceCallId,
      state: "terminated",
      inLobby: false,
      resultInfo: { code: 0, subcode: 0, message: "an operator hung up the call" },
      screenSharer: null,
    });
    assert.equal(stack.graph.deleteRequests(callId), 1, "the bot left the meeting (Graph DELETE)");
    assert.ok(
      !stack.graph.calls().some((c) => c.meetingId === meetingA.meetingId && c.id === callId && c.state !== "terminated"),
      "the bot is gone from the meeting",
    );
    const record = (await adminApi(stack, "GET", `/v1/calls/${callId}`)).json;
    assert.equal(record.endedBy, "operator", "Graph's own terminated notification did not overwrite who ended it");
    assert.equal(record.state, "terminated");

    const again = await adminApi(stack, "POST", `/v1/calls/${callId}/hangup`);
    assertProblem(again, 409);
    assert.equal(again.json.code, "call-ended");
    assert.match(again.json.detail, /has ended already .* by operator: an operator hung up the call/);
    assert.equal(toHost.slice(before).filter((m) => m.orderingKey === callId).length, 1, "nothing more to the media host");
  });

  it("a call the device ended already is a 409 naming how it ended, and nothing is sent", async () => {
    const callId = await join(meetingB, { name: "Huddle 3" });
    await settle();
    await deviceHangsUp(callId, "BYE from the room");
    await settle();
    const deletes = stack.graph.deleteRequests(callId);
    const before = toHost.length;
    const res = await adminApi(stack, "POST", `/v1/calls/${callId}/hangup`);
    assertProblem(res, 409);
    assert.match(res.json.detail, /by device: BYE from the room/);
    assert.equal(stack.graph.deleteRequests(callId), deletes);
    assert.equal(toHost.length, before);
  });

  it("an unknown call is a 404; the media-host role cannot hang up", async () => {
    assertProblem(await adminApi(stack, "POST", `/v1/calls/${randomUUID()}/hangup`), 404);
    const callId = await join(meetingB, { name: "Huddle 4" });
    const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
    assertProblem(await adminApi(stack, "POST", `/v1/calls/${callId}/hangup`, undefined, mediaHost), 403);
    await deviceHangsUp(callId);
  });
});

describe("one call's record", () => {
  it("has its phases (created, established, ended) and each leg's quality per stream as measured", async () => {
    const callId = await join(meetingA, { name: "Boardroom 11", dialForm: "direct-by-domain", address: "198.51.100.11:5061" });
    await settle();
    const quality = {
      deviceLeg: [
        { kind: "audio", packetsSent: 1500, packetsReceived: 1490, packetsLost: 10, jitterMs: 3.5, roundTripMs: 42 },
        { kind: "video", packetsSent: 9000, packetsReceived: 8990, packetsLost: 30, jitterMs: 7, roundTripMs: null },
      ],
      meetingLeg: [{ kind: "audio", packetsSent: 1490, packetsReceived: 1500, packetsLost: 0, jitterMs: 1.2, roundTripMs: 20 }],
    };
    const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
    await deviceHangsUp(callId);
    assert.equal((await adminApi(stack, "PUT", `/v1/calls/${callId}/quality`, { quality }, mediaHost)).status, 200);
    const r = (await adminApi(stack, "GET", `/v1/calls/${callId}`)).json;
    assert.ok(Date.parse(r.createdAt) <= Date.parse(r.establishedAt), "created, then established");
    assert.ok(Date.parse(r.establishedAt) <= Date.parse(r.endedAt), "then ended");
    assert.equal(r.endedBy, "device");
    assert.deepEqual(r.quality, quality);
    assert.equal(r.meetingSubject, "Quarterly review");
    assert.equal(r.dialForm, "direct-by-domain");
    assert.equal(r.deviceAddress, "198.51.100.11:5061");
    assert.equal(r.deliveredDigest, undefined, "internal bookkeeping stays inside");
  });

  it("a call that waited in the lobby has that phase between created and established; the live list says it waits", async () => {
    const lobby = await enabledMeeting(stack, { subject: "Lobby", lobbyScope: "organization" });
    const callId = await join(lobby, { name: "Guest room" });
    await settle();
    const waiting = (await adminApi(stack, "GET", `/v1/calls?tenant=${lobby.tenant.tenantId}`)).json.value[0];
    assert.equal(waiting.callId, callId);
    assert.equal(waiting.inLobby, true);
    assert.ok(waiting.lobbyAt);
    stack.graph.admitFromLobby(callId);
    await settle();
    const r = (await adminApi(stack, "GET", `/v1/calls/${callId}`)).json;
    assert.equal(r.lobbyAt, waiting.lobbyAt, "the first time seen waiting stays");
    assert.ok(Date.parse(r.createdAt) <= Date.parse(r.lobbyAt) && Date.parse(r.lobbyAt) <= Date.parse(r.establishedAt));
    await deviceHangsUp(callId);
  });

  it("an unknown call is a 404 problem; what cannot be a call id is a 400 naming callId, for show and hang-up alike", async () => {
    assertProblem(await adminApi(stack, "GET", `/v1/calls/${randomUUID()}`), 404);
    for (const id of ["a%23b", "a%5Cb", "%20", "x".repeat(129), "%E2%82%AC", "a%3Fb"]) {
      for (const [method, path] of [
        ["GET", `/v1/calls/${id}`],
        ["POST", `/v1/calls/${id}/hangup`],
      ] as const) {
        const res = await adminApi(stack, method, path);
        assertProblem(res, 400);
        assert.equal(res.json.errors[0].field, "callId", `${method} ${path}`);
      }
    }
  });
});

describe("call history", () => {
  /** Ended calls of this describe, oldest first: tenant C's (5), tenant D's (2), both tenants onboarded here. */
  const endedA: string[] = [];
  const endedB: string[] = [];
  let from: string;
  let meetingC: EnabledMeeting;
  let meetingD: EnabledMeeting;

  before(async () => {
    meetingC = await enabledMeeting(stack, { subject: "History C" });
    meetingD = await enabledMeeting(stack, { subject: "History D" });
    from = new Date().toISOString();
    for (let i = 0; i < 5; i++) {
      const id = await join(meetingC, { name: `Room C${i}` });
      await settle();
      await deviceHangsUp(id, i % 2 === 0 ? "BYE" : "media timeout");
      endedA.push(id);
    }
    for (let i = 0; i < 2; i++) {
      const id = await join(meetingD, { name: `Room D${i}` });
      await settle();
      await deviceHangsUp(id, "BYE");
      endedB.push(id);
    }
  });

  /** Every page of a history query, following continuation tokens. */
  async function allPages(query: string): Promise<{ pages: number; items: any[] }> {
    const items: any[] = [];
    let pages = 0;
    let token: string | undefined;
    do {
      const res = await adminApi(stack, "GET", `/v1/calls?${query}${token ? `&continuationToken=${encodeURIComponent(token)}` : ""}`);
      assert.equal(res.status, 200, res.text);
      items.push(...res.json.value);
      token = res.json.continuationToken;
      pages++;
    } while (token && pages < 50);
    return { pages, items };
  }

  it("pages through one tenant's ended calls newest first, each once", async () => {
    const { pages, items } = await allPages(`state=ended&tenant=${meetingC.tenant.tenantId}&from=${encodeURIComponent(from)}&top=2`);
    assert.ok(pages >= 3, `5 calls at 2 a page take 3 pages (took ${pages})`);
    assert.deepEqual(
      items.map((c) => c.callId),
      [...endedA].reverse(),
    );
    assert.ok(items.every((c) => c.outcome === "connected" && c.endedBy === "device" && c.tenantId === meetingC.tenant.tenantId));
  });

  it("across tenants, and filtered by end reason and outcome", async () => {
    const all = await allPages(`state=ended&from=${encodeURIComponent(from)}&top=3`);
    for (const id of [...endedA, ...endedB])
      assert.ok(
        all.items.some((c) => c.callId === id),
        `${id} is in the history`,
      );
    const timedOut = await allPages(`state=ended&from=${encodeURIComponent(from)}&reason=${encodeURIComponent("media timeout")}`);
    assert.deepEqual(timedOut.items.map((c) => c.callId).sort(), [endedA[1], endedA[3]].sort());
    const notConnected = await allPages(`state=ended&from=${encodeURIComponent(from)}&outcome=not-connected`);
    assert.ok(!notConnected.items.some((c) => [...endedA, ...endedB].includes(c.callId)), "these calls all connected");
    const before = await allPages(`state=ended&to=${encodeURIComponent(from)}&tenant=${meetingD.tenant.tenantId}`);
    assert.deepEqual(before.items, [], "nothing of tenant B started before the window");
  });

  it("walks the window's days newest first, one day partition at a time, across empty days", async () => {
    // Calls that started on earlier days, written through the repository as the control plane writes them.
    const store = await openCosmosStore({
      endpoint: stack.cosmosEndpoint,
      key: stack.settings.COSMOS_KEY,
      databaseId: stack.settings.COSMOS_DATABASE ?? "cvi",
    });
    const repository = new CosmosCallSessionRepository(store);
    const tenantId = randomUUID();
    const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000);
    const ids: string[] = [];
    for (const days of [5, 3, 3, 1]) {
      const callId = randomUUID();
      const createdAt = daysAgo(days).toISOString();
      const record: CallSessionRecord = {
        ...INITIAL_CALL_SESSION,
        callId,
        tenantId,
        mediaHostId: HOST,
        mediaHostEpoch: 1,
        deviceCallId: `sip-${callId}`,
        displayName: `Old ${days}`,
        vtcId: "1234567890",
        meetingId: "old-meeting",
        organizerId: randomUUID(),
        joinAsGuest: true,
        createdAt,
        establishedAt: null,
        endedAt: null,
        endedBy: null,
        endReason: null,
        deliveredDigest: null,
      };
      await repository.create(record);
      await repository.update(callId, (r) => ({ ...r, endedAt: createdAt, endedBy: "device", endReason: "BYE" }));
      ids.push(callId);
    }
    const week = await allPages(`state=ended&tenant=${tenantId}&from=${encodeURIComponent(daysAgo(6).toISOString())}&top=1`);
    assert.deepEqual(
      week.items.map((c) => c.callId),
      [ids[3], ids[2], ids[1], ids[0]],
    );
    assert.ok(
      week.items.every((c) => c.outcome === "not-connected"),
      "never established: not connected",
    );
    const twoDays = await allPages(`state=ended&tenant=${tenantId}&from=${encodeURIComponent(daysAgo(2).toISOString())}`);
    assert.deepEqual(
      twoDays.items.map((c) => c.callId),
      [ids[3]],
    );
  });

  it("refuses a forged, garbled or re-filtered continuation token with a 400 problem", async () => {
    const first = await adminApi(stack, "GET", `/v1/calls?state=ended&tenant=${meetingC.tenant.tenantId}&from=${encodeURIComponent(from)}&top=1`);
    const token: string = first.json.continuationToken;
    assert.ok(token);
    const [payload] = token.split(".");
    const forgedBody = Buffer.from(JSON.stringify({ q: { from, to: new Date().toISOString() }, p: '{"d":"2026-01-01","c":null}' })).toString(
      "base64url",
    );
    for (const bad of [`${forgedBody}.${token.split(".")[1]}`, `${payload}.AAAA`, "garbage", `${payload}`, "a.b.c"]) {
      const res = await adminApi(stack, "GET", `/v1/calls?state=ended&continuationToken=${encodeURIComponent(bad)}`);
      assertProblem(res, 400);
      assert.equal(res.json.errors[0].field, "continuationToken");
    }
    const other = await adminApi(
      stack,
      "GET",
      `/v1/calls?state=ended&tenant=${meetingD.tenant.tenantId}&continuationToken=${encodeURIComponent(token)}`,
    );
    assertProblem(other, 400);
    assert.match(other.json.errors[0].detail, /another query/);
    const same = await adminApi(
      stack,
      "GET",
      `/v1/calls?state=ended&tenant=${meetingC.tenant.tenantId}&top=1&continuationToken=${encodeURIComponent(token)}`,
    );
    assert.equal(same.status, 200, "the same filters with the token: the next page");
    assert.deepEqual(
      same.json.value.map((c: { callId: string }) => c.callId),
      [endedA[3]],
    );
    const rest = await adminApi(stack, "GET", `/v1/calls?state=ended&continuationToken=${encodeURIComponent(same.json.continuationToken)}`);
    assert.deepEqual(
      rest.json.value.map((c: { callId: string }) => c.callId),
      [endedA[2], endedA[1], endedA[0]],
      "no filters with the token: the token's own (its tenant and window), page size back to the default",
    );
  });

  it("names the wrong parameter in a 400 problem", async () => {
    const cases: [string, string][] = [
      ["state=gone", "state"],
      ["state=ended&from=yesterday", "from"],
      ["state=ended&to=2026-12-07", "to"],
      ["state=ended&top=500", "top"],
      ["state=ended&top=0", "top"],
      ["state=ended&top=2.5", "top"],
      ["state=ended&outcome=great", "outcome"],
      ["state=ended&tenant=contoso", "tenant"],
      ["state=ended&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z", "from"],
      ["state=ended&from=2026-03-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"],
      ["state=live&from=2026-01-01T00:00:00Z", "from"],
      ["state=live&top=3", "top"],
      ["sort=newest", "sort"],
    ];
    for (const [query, field] of cases) {
      const res = await adminApi(stack, "GET", `/v1/calls?${query}`);
      assertProblem(res, 400);
      assert.ok(
        res.json.errors.some((e: { field: string }) => e.field === field),
        `${query}: the problem names ${field}: ${JSON.stringify(res.json.errors)}`,
      );
    }
  });
});

describe("tenant scope", () => {
  it("a caller held to one tenant sees only its calls and is refused another's", async () => {
    const mine = await join(meetingA, { name: "Scoped A" });
    const theirs = await join(meetingB, { name: "Scoped B" });
    await settle();
    const plane = await controlPlane();
    const scope = { tenantId: meetingA.tenant.tenantId };
    const live = await plane.calls.list({ state: "live" }, scope);
    assert.ok(live.items.some((c) => c.callId === mine));
    assert.ok(live.items.every((c) => c.tenantId === meetingA.tenant.tenantId));
    await assert.rejects(plane.calls.list({ state: "live", tenantId: meetingB.tenant.tenantId }, scope), AuthorizationError);
    await assert.rejects(plane.calls.show(theirs, scope), AuthorizationError);
    await assert.rejects(plane.calls.hangUp(theirs, scope), AuthorizationError);
    const history = await plane.calls.list(
      { state: "ended", query: { from: new Date(Date.now() - 3600_000), to: new Date() }, named: {}, top: 200 },
      scope,
    );
    assert.ok(history.items.length > 0 && history.items.every((c) => c.tenantId === meetingA.tenant.tenantId));
    assert.equal(stack.graph.calls().find((c) => c.id === theirs)?.state, "established", "the refused hang-up changed nothing");
    await deviceHangsUp(mine);
    await deviceHangsUp(theirs);
  });
});
