import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { generatePrompts } from "../../../media-host/prompts/generatePrompts.js";
import { seedDemo, type SeededDemo } from "../../../local/demo.js";
import { type LocalStack, startLocalStack } from "../../../local/stack.js";
import { describeResult, runSipp } from "../../support/peers/sipp.js";

// What `npm start` runs: the control plane with its emulators and a media host, seeded
// with the demo; a room system dials the demo meeting the ways the README says.
let stack: LocalStack;
let demo: SeededDemo;

before(async () => {
  const promptsDirectory = mkdtempSync(join(tmpdir(), "prompts-"));
  await generatePrompts({ directory: promptsDirectory });
  stack = await startLocalStack({ logLevel: "none", mediaHost: { promptsDirectory } });
  demo = await seedDemo(stack);
});
after(() => stack.stop());

describe("the local stack's media host", () => {
  it("is healthy, and serves metrics", async () => {
    const ports = stack.mediaHost?.ports;
    assert.ok(ports);
    const health = await fetch(`http://127.0.0.1:${ports.health}/healthz`);
    assert.equal(health.status, 200);
    assert.match(await (await fetch(`http://127.0.0.1:${ports.health}/metrics`)).text(), /cvi_active_calls/);
  });

  it("takes the demo's direct dial over UDP and TLS, and its IVR dial", async () => {
    const ports = stack.mediaHost?.ports;
    assert.ok(ports?.sipTls);
    const digits = demo.tenantKey.split("@")[0] ?? "";
    const direct = await runSipp({
      scenario: "direct-dial",
      target: `127.0.0.1:${ports.sipUdp}`,
      service: `${digits}.${demo.vtcId}`,
      transport: "u1",
      mediaMs: 300,
      timeoutInMs: 30_000,
    });
    assert.equal(direct.successful, 1, describeResult(direct));
    const overTls = await runSipp({
      scenario: "direct-dial",
      target: `127.0.0.1:${ports.sipTls}`,
      service: `${digits}.${demo.vtcId}`,
      transport: "l1",
      mediaMs: 300,
      timeoutInMs: 30_000,
    });
    assert.equal(overTls.successful, 1, describeResult(overTls));
    const ivr = await runSipp({
      scenario: "ivr-info",
      target: `127.0.0.1:${ports.sipUdp}`,
      service: digits,
      transport: "u1",
      csv: { rows: [[`${demo.vtcId}#`]] },
      timeoutInMs: 40_000,
    });
    assert.equal(ivr.successful, 1, describeResult(ivr));
    const bots = stack.graph.calls().filter((c) => c.meetingId === demo.meetingId);
    assert.equal(bots.length, 3, "one bot per device call");
    assert.ok(bots.every((b) => b.identity.displayName === "OpenCVI test"));
  });
});
