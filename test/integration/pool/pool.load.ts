import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DRAIN_DEADLINE_REASON } from "../../../media-host/mediaHost.js";
import { MEDIA_HOST_LOST } from "../../../shared/domain/pool.js";
import type { MediaHostProcess } from "../../support/mediaHostProcess.js";
import { adminApi } from "../../support/onboarding.js";
import { describeResult, runSipp, type SippResult } from "../../support/peers/sipp.js";
import { type PoolStack, startPoolStack } from "../../support/poolStack.js";
import { waitFor } from "../../support/waiting.js";

// The media pool as in production, on one machine: the SIP edge (Kamailio) in front of media
// hosts that each run in a process of their own (`node dist/media-host/main.js`), call events
// over Service Bus (the AMQP test broker, the real SDK), leases in the host registry, the
// reaper on its timer. Devices are SIPp; meetings are the Graph emulator's.
// `npm test` runs this file in its second stage, alone (*.load.js): 300 calls at 30 calls/s
// through three hosts saturate the control plane's stand-ins on a 2-core machine, and beside
// another test file its lease renewals took longer than the lease (6 s; INVITE p99 7–15 s),
// so the reaper rightly declared every host dead (as with one CPU hog beside it).

let pool: PoolStack;

before(async () => {
  pool = await startPoolStack({ meetings: 40 });
});
after(() => pool?.stop());

/** Calls through the edge, spread over the meetings, each held `holdMs`. */
function calls(count: number, rate: number, holdMs: number): Promise<SippResult> {
  return runSipp({
    scenario: "pool-call",
    target: pool.edgeTarget,
    service: "pool",
    csv: { order: "RANDOM", rows: pool.dialStrings.map((d) => [d]) },
    calls: count,
    rate,
    timeoutInMs: 120_000,
    extraArgs: ["-d", String(holdMs)],
  });
}

/** INVITEs that got their 200 (a call on a host that later died still counts: it was offered and answered). */
const answered = (result: SippResult) => result.responseTimesMs.invite?.count ?? 0;

/** The control plane's records of the calls a host joined, by Graph call id. */
async function recordsOf(
  hostId: string,
): Promise<Map<string, { endedBy: string | null; endReason: string | null; mediaHostEpoch: number; createdAt: string }>> {
  const records = new Map();
  for (const call of pool.stack.graph.calls()) {
    const answer = await adminApi(pool.stack, "GET", `/v1/calls/${call.id}`);
    if (answer.status === 200 && answer.json.mediaHostId === hostId) records.set(call.id, answer.json);
  }
  return records;
}

const graphState = (callId: string) => pool.stack.graph.calls().find((c) => c.id === callId)?.state;

describe("the media pool: edge, leases, reaper, drain", () => {
  it("places 300 calls over 3 hosts by fewest active calls: each host's share within 10% of the mean", async () => {
    const hosts = [await pool.startHost("spread-1"), await pool.startHost("spread-2"), await pool.startHost("spread-3")];
    try {
      const result = await calls(300, 30, 4000);
      assert.equal(result.successful, 300, describeResult(result));
      const shares = await Promise.all(hosts.map((h) => pool.hostMetric(h, "cvi_invites_total", { outcome: "answered" })));
      const mean = 300 / 3;
      for (const share of shares) assert.ok(Math.abs(share - mean) <= mean * 0.1, `shares ${shares.join("/")} against a mean of ${mean}`);
    } finally {
      for (const host of hosts) host.kill("SIGTERM");
      await Promise.all(hosts.map((h) => h.exited));
    }
  });

  it("kill -9 of a host holding 20+ calls in a 20 calls/s run: its bots leave, its records say why, every call offered succeeds", async (t) => {
    const hosts = [await pool.startHost("kill-1"), await pool.startHost("kill-2"), await pool.startHost("kill-3")];
    const victim = hosts[1] as MediaHostProcess;
    try {
      const run = calls(300, 20, 6000);
      await waitFor(async () => (await pool.hostMetric(victim, "cvi_active_calls")) >= 20, "kill-2 to hold 20 calls", 30_000);
      process.kill(victim.pid, "SIGKILL");
      const killedAt = Date.now();
      await victim.exited;
      // The reaper declares it dead once its lease lapses, and ends its calls: every bot it had leaves its meeting.
      await waitFor(
        async () => (await pool.hostView("kill-2"))?.death?.callsEndedAt || undefined,
        "kill-2 declared dead and its calls ended",
        30_000,
      );
      const records = await recordsOf("kill-2");
      assert.ok(records.size > 0, "kill-2 had joined calls");
      await waitFor(() => [...records.keys()].every((id) => graphState(id) === "terminated"), "every bot of kill-2 to have left", 30_000);
      t.diagnostic(`last ghost gone ${Date.now() - killedAt} ms after the kill (bench/pool.ts measures it)`);
      // Every call it still had when it died was ended for it (calls its devices had hung up before are theirs).
      const alive = [...records.values()].filter((r) => r.endedBy !== "device");
      assert.ok(alive.length > 0);
      for (const record of alive) assert.deepEqual([record.endedBy, record.endReason], ["gateway", MEDIA_HOST_LOST]);
      // Ended by the reaper's DELETE, not by the meeting noticing the media was gone.
      for (const id of records.keys()) {
        const call = pool.stack.graph.calls().find((c) => c.id === id);
        assert.doesNotMatch(JSON.stringify(call?.resultInfo ?? {}), /media/i, `call ${id} was ended by the reaper`);
      }
      const result = await run;
      // Calls established on kill-2 lose their BYE with it; every INVITE, during and after the kill, was answered.
      assert.equal(answered(result), 300, describeResult(result));
    } finally {
      for (const host of hosts) host.kill("SIGKILL");
      await Promise.all(hosts.map((h) => h.exited));
    }
  });

  it("SIGSTOP for 10 s: the host is declared dead, fences itself when it wakes (its calls end), then rejoins as a new epoch and takes calls", async () => {
    const awake = await pool.startHost("stop-1");
    const paused = await pool.startHost("stop-2");
    try {
      const run = calls(20, 10, 16_000);
      await waitFor(async () => (await pool.hostMetric(paused, "cvi_active_calls")) >= 5, "stop-2 to hold calls", 20_000);
      const before = await recordsOf("stop-2");
      process.kill(paused.pid, "SIGSTOP");
      const stoppedAt = new Date();
      await waitFor(
        async () => (await pool.hostView("stop-2"))?.death?.callsEndedAt || undefined,
        "stop-2 declared dead and its calls ended",
        30_000,
      );
      await waitFor(() => [...before.keys()].every((id) => graphState(id) === "terminated"), "stop-2's bots to have left", 20_000);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 10_000 - (Date.now() - stoppedAt.getTime()))));
      process.kill(paused.pid, "SIGCONT");
      // It wakes, sees its lease could have lapsed, ends every call it still carries, and registers again.
      await waitFor(() => paused.log.some((l) => /fenced/.test(String(l.msg))), "stop-2 to fence itself", 20_000);
      await waitFor(async () => (await pool.hostView("stop-2"))?.epoch === 2, "stop-2 back in the pool as epoch 2", 30_000);
      await waitFor(async () => (await pool.hostMetric(paused, "cvi_active_calls")) === 0, "stop-2's old calls ended", 10_000);
      // No bot was put in a meeting by the paused epoch after it stopped: one host per Graph call, never two.
      const after = await recordsOf("stop-2");
      for (const [id, record] of after) {
        if (record.mediaHostEpoch !== 1) continue;
        assert.ok(before.has(id) || Date.parse(record.createdAt) < stoppedAt.getTime(), `call ${id} joined by the stopped epoch`);
        assert.equal(graphState(id), "terminated");
      }
      const answeredBefore = await pool.hostMetric(paused, "cvi_invites_total", { outcome: "answered" });
      const again = await calls(20, 10, 500);
      assert.equal(again.successful, 20, describeResult(again));
      assert.ok((await pool.hostMetric(paused, "cvi_invites_total", { outcome: "answered" })) > answeredBefore, "stop-2 takes calls again");
      await run;
    } finally {
      process.kill(paused.pid, "SIGCONT");
      paused.kill("SIGKILL");
      awake.kill("SIGKILL");
      await Promise.all([paused.exited, awake.exited]);
    }
  });

  it("drain: not one new call reaches the host, its calls go on, and it leaves the pool and exits when they have ended", async () => {
    const stays = await pool.startHost("drain-1");
    const drained = await pool.startHost("drain-2");
    try {
      const first = calls(20, 10, 6000);
      await waitFor(async () => (await pool.hostMetric(drained, "cvi_active_calls")) >= 5, "drain-2 to hold calls", 20_000);
      const drain = await adminApi(pool.stack, "POST", "/v1/pool/hosts/drain-2/drain", { deadlineInMinutes: 10 });
      assert.equal(drain.status, 200, drain.text);
      assert.equal(drain.json.status, "draining");
      // The host and the edge learn it within 2 s.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const offered = await pool.hostMetric(drained, "cvi_new_invites_total");
      const second = await calls(20, 10, 200);
      assert.equal(second.successful, 20, describeResult(second));
      assert.equal(await pool.hostMetric(drained, "cvi_new_invites_total"), offered, "no INVITE reached the draining host");
      const done = await first;
      assert.equal(done.successful, 20, `the draining host's calls went on to their own end: ${describeResult(done)}`);
      const exit = await drained.exited;
      assert.equal(exit.code, 0);
      assert.equal(await pool.hostView("drain-2"), undefined, "it left the pool");
    } finally {
      drained.kill("SIGKILL");
      stays.kill("SIGKILL");
      await Promise.all([drained.exited, stays.exited]);
    }
  });

  it("drain with a deadline: at the deadline its bots leave, its devices get a BYE saying why, and it exits", async () => {
    const stays = await pool.startHost("deadline-1");
    const drained = await pool.startHost("deadline-2");
    try {
      const run = calls(12, 6, 20_000);
      await waitFor(async () => (await pool.hostMetric(drained, "cvi_active_calls")) >= 4, "deadline-2 to hold calls", 20_000);
      const records = await recordsOf("deadline-2");
      const drain = await adminApi(pool.stack, "POST", "/v1/pool/hosts/deadline-2/drain", {
        deadline: new Date(Date.now() + 3000).toISOString(),
      });
      assert.equal(drain.status, 200, drain.text);
      const exit = await drained.exited;
      assert.equal(exit.code, 0);
      for (const id of records.keys()) assert.equal(graphState(id), "terminated", `bot ${id} left`);
      for (const [id, record] of await recordsOf("deadline-2")) {
        if (!records.has(id)) continue;
        assert.deepEqual([record.endedBy, record.endReason], ["gateway", DRAIN_DEADLINE_REASON], `call ${id}'s record`);
      }
      const result = await run;
      // SIPp takes the host's BYE (with its Reason) during its pause as unexpected: one per call the drained host still had.
      const byes = result.errorLogTail.match(/unexpected BYE/g)?.length ?? 0;
      assert.ok(byes >= records.size, `${byes} devices got the BYE, ${records.size} calls were up`);
      assert.equal(answered(result), 12, describeResult(result));
      assert.equal(await pool.hostView("deadline-2"), undefined, "it left the pool");
    } finally {
      drained.kill("SIGKILL");
      stays.kill("SIGKILL");
      await Promise.all([drained.exited, stays.exited]);
    }
  });
});
