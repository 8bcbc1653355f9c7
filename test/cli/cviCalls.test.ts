/**
 * `cvi calls list|history|show|hangup` end to end: the real local stack in this process
 * (embedded Cosmos DB, the Functions handlers, the Graph emulator), calls joined through
 * the API as a media host joins them, and cvi as a child process exactly as a user runs it.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve as resolvePath } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { BusMessage } from "../../shared/bus/messageBus.js";
import { processBus } from "../../functions/adapters/bus/processBus.js";
import { type LocalStack, startLocalStack } from "../../local/stack.js";
import { adminApi, type EnabledMeeting, enabledMeeting, holdLease } from "../support/onboarding.js";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const cviJs = join(repoRoot, "dist", "cli", "cvi.js");
const HOST = "mh-cvi-calls";

let stack: LocalStack;
let lease: Awaited<ReturnType<typeof holdLease>>;
let workDir: string;
let env: Record<string, string>;
let meeting: EnabledMeeting;
const toHost: BusMessage[] = [];

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function cvi(args: readonly string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cviJs, ...args], { env, cwd: workDir, timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr });
    });
  });
}

async function ok(args: readonly string[]): Promise<string> {
  const result = await cvi(args);
  assert.equal(result.code, 0, `cvi ${args.join(" ")}: ${result.stderr}`);
  assert.doesNotMatch(result.stderr + result.stdout, /^\s+at\s/m, "no stack trace");
  return result.stdout;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await stack.graph.idle();
  await processBus.drain();
}

async function joinCall(name: string, options: { dialForm?: string; address?: string } = {}): Promise<string> {
  const res = await adminApi(
    stack,
    "POST",
    "/v1/calls",
    {
      tenantKey: meeting.tenant.tenantKey,
      vtcId: meeting.vtcId,
      displayName: name,
      mediaHostId: HOST,
      mediaHostEpoch: lease.epoch,
      deviceCallId: `sip-${randomUUID()}`,
      mediaBlob: "{}",
      ...(options.dialForm ? { dialForm: options.dialForm } : {}),
      ...(options.address ? { deviceAddress: options.address } : {}),
    },
    await stack.issueToken({ roles: ["CVI.MediaHost"] }),
  );
  assert.equal(res.status, 201, res.text);
  await settle();
  return res.json.callId;
}

async function deviceHangsUp(callId: string, reason: string): Promise<void> {
  const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
  assert.equal((await adminApi(stack, "DELETE", `/v1/calls/${callId}?reason=${encodeURIComponent(reason)}`, undefined, mediaHost)).status, 204);
}

/** The table row that mentions `text`. */
const row = (table: string, text: string) => table.split("\n").find((line) => line.includes(text));

describe("cvi calls", () => {
  before(async () => {
    stack = await startLocalStack({ logLevel: "none", tlsDirectory: join(repoRoot, ".local", "tls") });
    lease = await holdLease(stack, HOST);
    processBus.subscribe(HOST, async (m) => {
      toHost.push(m);
    });
    meeting = await enabledMeeting(stack, { subject: "Board meeting" });
    workDir = mkdtempSync(join(tmpdir(), "cvi-calls-test-"));
    env = Object.fromEntries(
      Object.entries(process.env).filter(
        (e): e is [string, string] => e[1] !== undefined && !e[0].startsWith("CVI_") && e[0] !== "NODE_TEST_CONTEXT",
      ),
    );
    Object.assign(env, {
      CVI_URL: stack.adminApiUrl,
      CVI_TOKEN: await stack.issueToken({ roles: ["CVI.Admin"] }),
      CVI_STACK_FILE: join(workDir, "no-such-stack.json"),
      ...(process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: resolvePath(process.env.NODE_EXTRA_CA_CERTS) } : {}),
    });
  });
  after(async () => {
    await lease?.release();
    await stack?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it("list shows a live call; show its phases; hangup ends it (the media host told, the bot gone); again is a conflict", async () => {
    const callId = await joinCall("Boardroom 12", { dialForm: "ivr", address: "203.0.113.12:5060" });
    const table = await ok(["calls", "list"]);
    assert.match(table, /^CallId +Tenant +Meeting +Device +Address +Dialed +Host +State +Since$/m);
    const line = row(table, callId);
    assert.ok(line, `the call is listed:\n${table}`);
    for (const text of [meeting.tenant.tenantId, `Board meeting (${meeting.vtcId})`, "Boardroom 12", "203.0.113.12:5060", "ivr", HOST, "established"])
      assert.ok(line.includes(text), `${text} in ${line}`);
    const json = JSON.parse(await ok(["calls", "list", "--json", "--tenant", meeting.tenant.tenantId]));
    assert.deepEqual(
      json.value.map((c: { callId: string }) => c.callId),
      [callId],
    );

    const shown = await ok(["calls", "show", callId]);
    assert.match(shown, /^State +: established$/m);
    assert.match(shown, /^Established +: \S+Z \(\+\d+ s\)$/m);
    assert.match(shown, /^Ended +: live$/m);
    assert.match(shown, /^Quality: recorded when the call ends\.$/m);

    const before = toHost.length;
    const hungUp = await ok(["calls", "hangup", callId]);
    assert.equal(hungUp, `Call ${callId} (Boardroom 12) is hung up: its device gets a BYE, the bot has left the meeting.\n`);
    await settle();
    const told = toHost.slice(before).filter((m) => m.orderingKey === callId);
    assert.deepEqual(
      told.map((m) => (m.body as { state: string; resultInfo: { message: string } }).state),
      ["terminated"],
    );
    assert.equal((told[0]!.body as { resultInfo: { message: string } }).resultInfo.message, "an operator hung up the call");
    assert.equal(stack.graph.deleteRequests(callId), 1, "the bot left the meeting");
    assert.equal(row(await ok(["calls", "list"]), callId), undefined, "no longer live");

    const again = await cvi(["calls", "hangup", callId]);
    assert.equal(again.code, 5, again.stderr);
    assert.match(again.stderr, /has ended already \(at \S+, by operator: an operator hung up the call\)/);
    const ended = await ok(["calls", "show", callId]);
    assert.match(ended, /^EndedBy +: operator$/m);
    assert.match(ended, /^Quality: none recorded/m);
  });

  it("show prints each leg's quality with its loss", async () => {
    const callId = await joinCall("Boardroom 14");
    await deviceHangsUp(callId, "BYE");
    const quality = {
      deviceLeg: [{ kind: "audio", packetsSent: 1000, packetsReceived: 990, packetsLost: 10, jitterMs: 4.5, roundTripMs: 38 }],
      meetingLeg: [{ kind: "video", packetsSent: 5000, packetsReceived: 5000, packetsLost: 0, jitterMs: 2, roundTripMs: null }],
    };
    const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
    assert.equal((await adminApi(stack, "PUT", `/v1/calls/${callId}/quality`, { quality }, mediaHost)).status, 200);
    const shown = await ok(["calls", "show", callId]);
    assert.match(shown, /^device +audio +1000 +990 +10 +1\.00% +4\.5 +38$/m);
    assert.match(shown, /^meeting +video +5000 +5000 +0 +0\.00% +2$/m);
    assert.deepEqual(JSON.parse(await ok(["calls", "show", callId, "--json"])).quality, quality);
  });

  it("history follows pages up to --limit, filters by tenant and reason, and says when more match", async () => {
    const from = new Date().toISOString();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = await joinCall(`History ${i}`);
      await deviceHangsUp(id, i === 1 ? "media timeout" : "BYE");
      ids.push(id);
    }
    const two = await ok(["calls", "history", "--tenant", meeting.tenant.tenantId, "--from", from, "--limit", "2"]);
    assert.ok(row(two, ids[2]!) && row(two, ids[1]!) && !row(two, ids[0]!), two);
    assert.match(two, /^More calls match: raise --limit \(it was 2\) or narrow the window\.$/m);
    const all = JSON.parse(await ok(["calls", "history", "--tenant", meeting.tenant.tenantId, "--from", from, "--json"]));
    assert.deepEqual(
      all.value.map((c: { callId: string }) => c.callId),
      [...ids].reverse(),
    );
    assert.equal(all.continuationToken, undefined);
    const timedOut = await ok(["calls", "history", "--from", from, "--reason", "media timeout"]);
    const line = row(timedOut, ids[1]!);
    assert.ok(line?.includes("connected") && line.includes("device") && line.includes("media timeout"), timedOut);
    assert.equal(row(timedOut, ids[0]!), undefined);
  });

  it("says what is wrong: a bad filter (exit 3, naming it), an unknown call (exit 4), a bad --limit (exit 2)", async () => {
    const bad = await cvi(["calls", "history", "--from", "yesterday"]);
    assert.equal(bad.code, 3, bad.stderr);
    assert.match(bad.stderr, /from: from must be an ISO 8601 date and time/);
    const outcome = await cvi(["calls", "history", "--outcome", "great"]);
    assert.equal(outcome.code, 3);
    assert.match(outcome.stderr, /outcome: outcome must be one of connected, not-connected/);
    const unknown = await cvi(["calls", "show", randomUUID()]);
    assert.equal(unknown.code, 4);
    assert.match(unknown.stderr, /is not known/);
    const limit = await cvi(["calls", "history", "--limit", "0"]);
    assert.equal(limit.code, 2);
    const missing = await cvi(["calls", "hangup"]);
    assert.equal(missing.code, 2);
  });
});
