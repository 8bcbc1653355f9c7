import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { generatePrompts } from "../../../media-host/prompts/generatePrompts.js";
import { seedDemo, type SeededDemo } from "../../../local/demo.js";
import { type LocalStack, startLocalStack } from "../../../local/stack.js";
import { describeResult, runSipp } from "../../support/peers/sipp.js";
import { CLOSED_BY_PEER, startBaresip } from "../../support/peers/baresip.js";
import { enabledMeeting } from "../../support/onboarding.js";
import { waitFor } from "../../support/waiting.js";

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

  it("takes a delayed-offer INVITE (no SDP, SIPp's late-offer) to the demo by direct dial: the 200 carries our offer, the ACK the answer", async () => {
    const ports = stack.mediaHost?.ports;
    assert.ok(ports);
    const before = stack.graph.calls().length;
    const result = await runSipp({
      scenario: "late-offer",
      target: `127.0.0.1:${ports.sipUdp}`,
      service: `${demo.tenantKey.split("@")[0] ?? ""}.${demo.vtcId}`,
      transport: "u1",
      timeoutInMs: 30_000,
    });
    assert.equal(result.successful, 1, describeResult(result));
    const bot = await waitFor(() => stack.graph.calls().slice(before)[0], "its bot");
    assert.equal(bot.meetingId, demo.meetingId);
    // SIPp hung up after a second: had its answer not been taken, the gateway's BYE would have come first and failed the scenario.
    await waitFor(() => stack.graph.calls().find((c) => c.id === bot.id)?.state === "terminated", "the bot to leave after SIPp's BYE");
  });

  it("takes a re-INVITE without SDP mid-call (SIPp): the 200 carries a fresh offer, the ACK the answer, and the call goes on", async () => {
    const ports = stack.mediaHost?.ports;
    assert.ok(ports);
    const result = await runSipp({
      scenario: "reinvite-without-offer",
      target: `127.0.0.1:${ports.sipUdp}`,
      service: `${demo.tenantKey.split("@")[0] ?? ""}.${demo.vtcId}`,
      transport: "u1",
      timeoutInMs: 30_000,
    });
    assert.equal(result.successful, 1, describeResult(result));
  });

  it("baresip dials the IVR, keys the VTC ID in with RFC 4733 DTMF, shows in the roster under its name; its hang-up ends the bot's call", async () => {
    const ports = stack.mediaHost?.ports;
    assert.ok(ports);
    const baresip = await startBaresip({ displayName: "Baresip Boardroom", timeoutInMs: 90_000 });
    try {
      const before = stack.graph.calls().length;
      await baresip.dialTo(demo.tenantKey.split("@")[0] ?? "", `127.0.0.1:${ports.sipUdp}`);
      await baresip.waitForEstablished(15_000);
      // The welcome prompt starts; keys pressed during it barge in.
      await new Promise((r) => setTimeout(r, 1000));
      await baresip.sendDtmf(`${demo.vtcId}#`);
      const bot = await waitFor(
        () =>
          stack.graph
            .calls()
            .slice(before)
            .find((c) => c.state === "established"),
        "the bot in the meeting",
        30_000,
      );
      assert.equal(bot.meetingId, demo.meetingId);
      assert.equal(bot.identity.displayName, "Baresip Boardroom", "the roster shows the device's display name");
      await baresip.hangup();
      await waitFor(() => stack.graph.calls().find((c) => c.id === bot.id)?.state === "terminated" || undefined, "the bot's call to end");
      await waitFor(() => (stack.mediaHost?.host.activeCalls === 0 ? true : undefined), "the media host to free the call");
    } finally {
      await baresip.quit();
    }
  });

  it("baresip dials a meeting directly; the meeting ends and baresip receives the BYE", async () => {
    const ports = stack.mediaHost?.ports;
    assert.ok(ports);
    const meeting = await enabledMeeting(stack, { subject: "Ends for everyone" });
    const baresip = await startBaresip({ displayName: "Baresip Huddle", timeoutInMs: 60_000 });
    try {
      await baresip.dialTo(`${meeting.tenant.tenantKey.split("@")[0]}.${meeting.vtcId}`, `127.0.0.1:${ports.sipUdp}`);
      await baresip.waitForEstablished(15_000);
      const bot = stack.graph.calls().find((c) => c.meetingId === meeting.meetingId);
      assert.equal(bot?.state, "established", "answered once the bot is in the meeting");
      stack.graph.endMeeting(meeting.meetingId);
      const closed = await baresip.waitForClosed(10_000);
      assert.equal(closed.param, CLOSED_BY_PEER, "the BYE came from the gateway");
    } finally {
      await baresip.quit();
    }
  });
});
