import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const bench = (name: string) => fileURLToPath(new URL(`../../bench/${name}.js`, import.meta.url));

// The benchmarks themselves run outside the test suite (npm run bench); this keeps them working.
describe("benchmarks still run and print their JSON", () => {
  it("call-notifications, on a tiny load", async () => {
    const { stdout } = await run(process.execPath, [bench("callNotifications"), "40", "2"], { timeout: 120_000 });
    const result = JSON.parse(stdout.slice(stdout.indexOf("{")));
    assert.equal(result.benchmark, "call-notifications");
    assert.equal(result.notifications, 40);
    for (const side of [result.webhook, result.storeOnly]) {
      assert.ok(side.perSecond > 0);
      assert.ok(side.p99Ms >= side.p50Ms);
    }
    assert.equal(typeof result.ratio, "number");
  });

  it("dial-in, on a tiny load", async () => {
    const { stdout } = await run(process.execPath, [bench("dialIn"), "10", "2", "10"], { timeout: 180_000, env: process.env });
    const result = JSON.parse(stdout.slice(stdout.indexOf("{")));
    assert.equal(result.benchmark, "dial-in");
    assert.equal(result.setupTime.successful, 10);
    assert.ok(result.setupTime.p99Ms >= result.setupTime.p50Ms);
    assert.ok(result.setupTime.emulatorJoinP50Ms > 0);
    assert.equal(typeof result.setupTime.ratio, "number");
    // Every phase of the set-up measured on the media host, and together no more than the whole.
    const phases = result.setupTime.phaseMeansMs as Record<string, number>;
    assert.deepEqual(Object.keys(phases), ["meeting-leg", "anchor", "meeting-offer", "join-request", "until-established"]);
    for (const [phase, ms] of Object.entries(phases)) assert.ok(typeof ms === "number" && ms >= 0, `${phase}: ${ms}`);
    assert.equal(result.sustainedRate.steps.length, 1);
    assert.ok(result.sustainedRate.steps[0].cpuMsPerCall > 0);
  });

  it("pool, on a tiny load", async () => {
    const { stdout } = await run(process.execPath, [bench("pool"), "10", "2", "25", "1"], {
      timeout: 300_000,
      env: process.env,
      maxBuffer: 16 * 1024 * 1024,
    });
    const result = JSON.parse(stdout.slice(stdout.indexOf("{")));
    assert.equal(result.benchmark, "pool");
    const edgeOnly = result.setupTime.edgeOnly;
    assert.ok(edgeOnly.throughEdge.calls >= 25 && edgeOnly.straight.calls >= 25);
    assert.equal(typeof edgeOnly.addedP50Ms, "number");
    assert.equal(result.setupTime.fullPath.throughEdge.rounds, 5);
    assert.equal(result.sustainedRate.throughEdge.steps.length, 1);
    assert.equal(result.sustainedRate.straight.steps.length, 1);
    assert.equal(typeof result.sustainedRate.ratio, "number");
    assert.equal(result.killToLastGhostGone.kills.length, 1);
    assert.ok(result.killToLastGhostGone.kills[0].calls > 0);
    assert.ok(result.killToLastGhostGone.maxMs > 0);
  });

  it("call-history, on a tiny store", async () => {
    // 2500 calls: the first 2000 through the repository, the rest in bulk, each path's documents read back by the queries.
    const { stdout } = await run(process.execPath, [bench("callHistory"), "2500", "3", "2"], { timeout: 180_000, env: process.env });
    const result = JSON.parse(stdout.slice(stdout.indexOf("{")));
    assert.equal(result.benchmark, "call-history");
    assert.equal(result.calls, 2500);
    assert.deepEqual([result.write.throughRepository.calls, result.write.inBulk.calls], [2000, 500]);
    assert.ok(result.reference.requests === 4 && result.reference.p99Ms >= result.reference.p50Ms, JSON.stringify(result.reference));
    assert.equal(result.shapes.length, 5);
    for (const shape of result.shapes) {
      assert.ok(shape.firstPage.pages === 2 && shape.firstPage.p99Ms >= shape.firstPage.p50Ms, JSON.stringify(shape));
      assert.equal(shape.firstPage.ratioP50, +(shape.firstPage.p50Ms / result.reference.p50Ms).toFixed(1));
    }
    // 2500 calls over 30 days: a week of every tenant's fills its pages, and the tokens lead to full pages after it.
    assert.equal(result.shapes[1].itemsPerPage, 50, JSON.stringify(result.shapes[1]));
    assert.equal(result.shapes[1].followingPages.pages, 2);
    // One tenant's calls over 31 days that never connected (one in 7): 834 calls, ~119 of them, pages of 50 after the first.
    assert.ok(result.shapes[3].itemsPerPage > 0 && result.shapes[3].followingPages.pages === 2, JSON.stringify(result.shapes[3]));
    // The rare reason (call 7 of each 1000, calls 7, 1007 and 2007): every match on the first page, no page after it.
    assert.equal(result.shapes[4].itemsPerPage, 3);
    assert.equal(result.shapes[4].followingPages, null);
  });

  it("media, one short step", async () => {
    const { stdout } = await run(process.execPath, [bench("media"), "1", "1"], { timeout: 240_000, env: process.env, maxBuffer: 16 * 1024 * 1024 });
    const result = JSON.parse(stdout.slice(stdout.indexOf("{")));
    assert.equal(result.benchmark, "media");
    assert.ok(result.steps.length >= 1);
    assert.ok(result.reference.rtpenginePlainRelay.packetsPerSecondPerCore > 0);
    assert.equal(typeof result.result.ratio, "number");
    assert.ok(result.steps[0].packets.toMeeting.sent > 0 && result.steps[0].packets.toDevice.sent > 0);
  });

  it("content, one call for 1 s per mode", async () => {
    const { stdout } = await run(process.execPath, [bench("content"), "1", "1"], { timeout: 180_000, env: process.env, maxBuffer: 16 * 1024 * 1024 });
    const result = JSON.parse(stdout.slice(stdout.indexOf("{")));
    assert.equal(result.benchmark, "content");
    assert.deepEqual(
      result.steps.map((s: { mode: string }) => s.mode),
      ["none", "device 5 fps", "device 15 fps", "meeting 15 fps", "none"],
    );
    for (const step of result.steps.filter((s: { mode: string }) => s.mode !== "none")) {
      assert.ok(step.content.sent > 0 && step.content.forwardedByBridge > 0, JSON.stringify(step));
      assert.ok(step.content.latencyMs.relayProbe.p50 > 0, JSON.stringify(step));
    }
    assert.equal(result.result.length, 3);
    for (const row of result.result) assert.equal(typeof row.bridgeCpuPercentPerCall.ratio, "number");
  });

  it("soak, one call for 20 s with one wrap per stream", async () => {
    const { stdout } = await run(process.execPath, [bench("soak"), "1", "20", "1", "1500", "3"], { timeout: 180_000, maxBuffer: 16 * 1024 * 1024 });
    const result = JSON.parse(stdout.slice(stdout.indexOf("{")));
    assert.equal(result.benchmark, "soak");
    assert.equal(result.streams.length, 4);
    for (const stream of result.streams) assert.ok(stream.received > 0 && stream.wraps >= 1, JSON.stringify(stream));
    assert.equal(typeof result.authenticationFailures.rtpengine.callErrorCounters, "number");
    assert.equal(typeof result.memory.bridge.rssMB.maxDeviationPercent, "number");
    assert.ok(result.reference.rtpenginePlainRelay.received > 0);
    assert.equal(typeof result.ratio.cpuPerPacketPathOverRelay, "number");
    assert.equal(typeof result.pass, "boolean");
  });

  it("rtpengine-scheduling, one short round with one hog", async () => {
    const { stdout } = await run(process.execPath, [bench("rtpengineScheduling"), "2", "1", "1", "2"], { timeout: 120_000 });
    const result = JSON.parse(stdout.slice(stdout.indexOf("{")));
    assert.equal(result.benchmark, "rtpengine-scheduling");
    assert.deepEqual(
      result.variants.map((v: { variant: string }) => v.variant),
      ["ordinary", "nice -10", "SCHED_RR 10"],
    );
    for (const variant of result.variants) {
      assert.ok(variant.probe.packets > 50, JSON.stringify(variant));
      assert.ok(variant.probe.maxMs >= variant.probe.p99Ms && variant.probe.p99Ms >= variant.probe.p50Ms);
      assert.ok(variant.hogIterationsPerSecond > 0);
      assert.equal(typeof variant.vsOrdinary.probeP99, "number");
    }
  });

  it("srtp, one short round", async () => {
    const { stdout } = await run(process.execPath, [bench("srtp"), "1", "20"], { timeout: 120_000 });
    const result = JSON.parse(stdout.slice(stdout.indexOf("{")));
    assert.match(result.benchmark, /werift SRTP/);
    assert.ok(result.srtp.length > 0);
    for (const row of result.srtp) {
      assert.ok(row.unpatched.packetsPerSecondPerCore > 0 && row.patched.packetsPerSecondPerCore > 0, JSON.stringify(row));
      assert.equal(typeof row.speedup, "number");
    }
  });
});
