import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { processBus } from "../../../functions/adapters/bus/processBus.js";
import { controlPlane } from "../../../functions/controlPlane.js";
import { type LocalStack, startLocalStack } from "../../../local/stack.js";
import { MEDIA_HOST_LOST } from "../../../shared/domain/pool.js";
import { adminApi, enabledMeeting } from "../../support/onboarding.js";
import { waitFor } from "../../support/waiting.js";

// The host registry and the reaper through the control plane's own API and services, with
// this test playing the media hosts (raw lease requests, role CVI.MediaHost).

let stack: LocalStack;
let hostToken: string;
const functionLogs: { level: string; line: string }[] = [];

before(async () => {
  stack = await startLocalStack({ logLevel: "none", logSink: (level, line) => functionLogs.push({ level, line }) });
  hostToken = await stack.issueToken({ roles: ["CVI.MediaHost"] });
});
after(() => stack.stop());

const leaseBody = (epoch: number | null, activeCalls = 0) => ({ epoch, sipUri: "sip:10.0.0.5:5060;transport=udp", capacity: 40, activeCalls });
const lease = (hostId: string, epoch: number | null) => adminApi(stack, "PUT", `/v1/pool/hosts/${hostId}/lease`, leaseBody(epoch), hostToken);

async function joinAs(hostId: string, epoch: number, deviceCallId: string): Promise<string> {
  const meeting = await enabledMeeting(stack, { subject: `Reaper ${deviceCallId}` });
  const joined = await adminApi(
    stack,
    "POST",
    "/v1/calls",
    {
      tenantKey: meeting.tenant.tenantKey,
      vtcId: meeting.vtcId,
      displayName: "Room",
      mediaHostId: hostId,
      mediaHostEpoch: epoch,
      deviceCallId,
      mediaBlob: "{}",
    },
    hostToken,
  );
  assert.equal(joined.status, 201, joined.text);
  return joined.json.callId;
}

describe("the host registry and the reaper", () => {
  it("a granted lease renewal is a debug line (every host repeats it every 2 s); a refused one is said at the ordinary level", async () => {
    const taken = await lease("heartbeat", null);
    assert.equal(taken.status, 200, taken.text);
    assert.equal((await lease("heartbeat", taken.json.epoch)).status, 200);
    const refused = await lease("heartbeat", taken.json.epoch + 5);
    assert.equal(refused.status, 409, refused.text);
    const lines = functionLogs.filter((l) => l.line.startsWith("admin PUT /api/v1/pool/hosts/heartbeat/lease "));
    assert.deepEqual(
      lines.map((l) => [l.level, l.line.split(" -> ")[1]]),
      [
        ["debug", "200"],
        ["debug", "200"],
        ["information", "409"],
      ],
      JSON.stringify(lines),
    );
  });

  it("a host whose lease lapses is declared dead once and its bots leave with one DELETE each, however many reapers run at once", async () => {
    const taken = await lease("reaped", null);
    assert.equal(taken.status, 200, taken.text);
    const epoch = taken.json.epoch as number;
    const renew = setInterval(() => void lease("reaped", epoch), 2000);
    const calls = [await joinAs("reaped", epoch, "r-1"), await joinAs("reaped", epoch, "r-2"), await joinAs("reaped", epoch, "r-3")];
    for (let i = 0; i < 3; i++) await stack.graph.idle();
    // A message for the host that nobody will take: it is dead-lettered once the host is declared dead.
    await processBus.publish([{ messageId: "left-behind", orderingKey: calls[0]!, to: "reaped", subject: "call.updated", body: {} }]);
    clearInterval(renew);
    await waitFor(async () => (await adminApi(stack, "GET", "/v1/pool/hosts/reaped")).json.status === "unresponsive", "the lease to lapse", 15_000);
    // Three reapers at once (and the stack's own timer): one declares the host dead, one DELETE per call.
    const plane = await controlPlane();
    const reports = await Promise.all([plane.pool.reap(), plane.pool.reap(), plane.pool.reap()]);
    const declared = reports.flatMap((r) => r.declaredDead).filter((id) => id === "reaped");
    assert.ok(declared.length <= 1, `declared dead ${declared.length} times`);
    // (null is "not yet": waitFor takes anything but undefined or false as done.)
    await waitFor(
      async () => (await adminApi(stack, "GET", "/v1/pool/hosts/reaped")).json.death?.queueClearedAt || undefined,
      "the reaper to finish",
      15_000,
    );
    for (const callId of calls) {
      assert.equal(stack.graph.calls().find((c) => c.id === callId)?.state, "terminated");
      assert.equal(stack.graph.deleteRequests(callId), 1, `DELETEs of ${callId}`);
      const record = await adminApi(stack, "GET", `/v1/calls/${callId}`);
      assert.deepEqual([record.json.endedBy, record.json.endReason], ["gateway", MEDIA_HOST_LOST]);
    }
    // Everything left for it (our message, the call views nobody took) is dead-lettered, saying why.
    const dead = processBus.deadLetters.filter((d) => d.message.to === "reaped");
    assert.ok(dead.some((d) => d.message.messageId === "left-behind"));
    for (const d of dead) assert.equal(d.reason, MEDIA_HOST_LOST);
    // Its old epoch cannot come back; a new registration is the next epoch.
    assert.equal((await lease("reaped", epoch)).json.code, "lease-lost");
    assert.equal((await lease("reaped", null)).json.epoch, epoch + 1);
  });

  it("a join from a host without a live lease is refused, and one racing the host's death is ended at once", async () => {
    const refused = await adminApi(
      stack,
      "POST",
      "/v1/calls",
      {
        tenantKey: "123456789@t.cvi.localhost",
        vtcId: "1234567890",
        displayName: "Room",
        mediaHostId: "never-registered",
        mediaHostEpoch: 1,
        deviceCallId: "x-1",
        mediaBlob: "{}",
      },
      hostToken,
    );
    assert.equal(refused.status, 409);
    assert.match(refused.headers.get("content-type") ?? "", /application\/problem\+json/);
    assert.match(refused.json.detail, /no live lease/);
  });

  it("drain and undrain: problem+json for an unknown host (404), a dead one (409) and bad input (400), naming what is wrong", async () => {
    const unknown = await adminApi(stack, "POST", "/v1/pool/hosts/nobody/drain", {});
    assert.equal(unknown.status, 404);
    assert.match(unknown.headers.get("content-type") ?? "", /application\/problem\+json/);
    assert.match(unknown.json.detail, /no media host nobody/);
    const taken = await lease("drainable", null);
    const epoch = taken.json.epoch as number;
    const both = await adminApi(stack, "POST", "/v1/pool/hosts/drainable/drain", { deadline: new Date().toISOString(), deadlineInMinutes: 5 });
    assert.equal(both.status, 400);
    assert.match(both.json.detail, /deadline or deadlineInMinutes, not both/);
    const negative = await adminApi(stack, "POST", "/v1/pool/hosts/drainable/drain", { deadlineInMinutes: -1 });
    assert.equal(negative.status, 400);
    assert.equal(negative.json.errors[0].field, "deadlineInMinutes");
    const drained = await adminApi(stack, "POST", "/v1/pool/hosts/drainable/drain", { deadlineInMinutes: 5 });
    assert.equal(drained.json.status, "draining");
    // The host hears it at its next renewal.
    const heard = await lease("drainable", epoch);
    assert.deepEqual([heard.json.state, heard.json.drainDeadline], ["draining", drained.json.drain.deadline]);
    assert.equal((await adminApi(stack, "POST", "/v1/pool/hosts/drainable/undrain")).json.status, "active");
    assert.equal((await lease("drainable", epoch)).json.drainDeadline, null);
    // Left to lapse and reaped: a dead host cannot be undrained.
    await waitFor(async () => (await adminApi(stack, "GET", "/v1/pool/hosts/drainable")).json.status === "dead", "the host to die", 20_000);
    const dead = await adminApi(stack, "POST", "/v1/pool/hosts/drainable/undrain");
    assert.equal(dead.status, 409);
    assert.match(dead.json.detail, /is dead/);
    // Only operators drain; media hosts cannot.
    assert.equal((await adminApi(stack, "POST", "/v1/pool/hosts/drainable/drain", {}, hostToken)).status, 403);
  });

  it("a lease request names what is wrong with it", async () => {
    const bad = await adminApi(stack, "PUT", "/v1/pool/hosts/bad%20id/lease", leaseBody(null), hostToken);
    assert.equal(bad.status, 400);
    const noUri = await adminApi(stack, "PUT", "/v1/pool/hosts/ok-id/lease", { epoch: null, capacity: 0, activeCalls: -1 }, hostToken);
    assert.equal(noUri.status, 400);
    assert.deepEqual(noUri.json.errors.map((e: { field: string }) => e.field).sort(), ["activeCalls", "capacity", "sipUri"]);
    // A second process with a live host's id waits; the answer says so, with Retry-After.
    await lease("twin", null);
    const twin = await lease("twin", null);
    assert.equal(twin.status, 409);
    assert.equal(twin.json.code, "host-id-in-use");
    assert.match(twin.headers.get("retry-after") ?? "", /^\d+$/);
  });
});
