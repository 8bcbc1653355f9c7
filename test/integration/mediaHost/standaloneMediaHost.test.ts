import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { seedDemo, type SeededDemo } from "../../../local/demo.js";
import { type LocalStack, startLocalStack } from "../../../local/stack.js";
import { generatePrompts } from "../../../media-host/prompts/generatePrompts.js";
import { startMediaHostProcess } from "../../support/mediaHostProcess.js";
import { RawSipDevice } from "../../support/peers/rawSipDevice.js";
import { describeResult, runSipp } from "../../support/peers/sipp.js";
import { waitFor, within } from "../../support/waiting.js";

// The media host as on its VM: its own process (node dist/media-host/main.js, settings from
// the environment), call events from Service Bus (the AMQP test broker, the real SDK, Entra
// ID tokens), the control plane over HTTP. SIGTERM drains it.
let stack: LocalStack;
let demo: SeededDemo;
let promptsDirectory: string;

before(async () => {
  promptsDirectory = mkdtempSync(join(tmpdir(), "prompts-"));
  await generatePrompts({ directory: promptsDirectory });
  stack = await startLocalStack({ logLevel: "none", serviceBus: true });
  demo = await seedDemo(stack);
});
after(() => stack.stop());

const direct = () => `${demo.tenantKey.split("@")[0]}.${demo.vtcId}`;

describe("a media host in its own process, on Service Bus", () => {
  it("takes a direct dial: the bot's events reach it over Service Bus, the call is answered and ends", async () => {
    const host = await startMediaHostProcess(stack, { id: "mh-vm-1", promptsDirectory });
    try {
      const before = stack.graph.calls().length;
      const result = await runSipp({
        scenario: "direct-dial",
        target: `127.0.0.1:${host.ports.sipUdp}`,
        service: direct(),
        transport: "u1",
        mediaMs: 300,
        timeoutInMs: 30_000,
      });
      assert.equal(result.successful, 1, describeResult(result));
      const [bot] = stack.graph.calls().slice(before);
      assert.ok(bot);
      const record = await fetch(`${stack.adminApiUrl}/v1/calls/${bot.id}`, { headers: { authorization: `Bearer ${await stack.issueToken()}` } });
      assert.equal(((await record.json()) as { mediaHostId: string }).mediaHostId, "mh-vm-1");
      const serviceBus = stack.serviceBus;
      assert.ok(serviceBus);
      assert.deepEqual(await serviceBus.broker.queueDeadLetters(serviceBus.queue, "mh-vm-1"), [], "none dead-lettered");
    } finally {
      host.kill("SIGKILL");
      await host.exited;
    }
  });

  it("SIGTERM drains: new calls get 503 + Retry-After, the call in progress goes on and its hang-up lets the process exit 0", async () => {
    const host = await startMediaHostProcess(stack, { id: "mh-vm-2", promptsDirectory, drainGraceMs: 60_000 });
    const inCall = await RawSipDevice.open({ gatewayPort: host.ports.sipUdp, dial: direct(), displayName: "Draining room" });
    const late = await RawSipDevice.open({ gatewayPort: host.ports.sipUdp, dial: direct() });
    try {
      inCall.invite();
      await inCall.until(() => inCall.responses.some((r) => r.status === 200), "the first call to be answered");
      host.kill("SIGTERM");
      await waitFor(() => host.log.some((l) => l.msg === "draining"), "the host to start draining");
      late.invite();
      await late.until(() => late.responses.some((r) => r.status >= 300), "the late call's refusal");
      const refusal = late.responses.find((r) => r.status >= 300);
      assert.equal(refusal?.status, 503);
      assert.match(refusal?.retryAfter ?? "", /^\d+$/, "with Retry-After");
      assert.equal(inCall.byeReason, undefined, "the call in progress is left alone");
      inCall.hangUp();
      const exit = await within(host.exited, 15_000, "the process to exit once its last call ended");
      assert.equal(exit.code, 0);
    } finally {
      inCall.close();
      late.close();
      host.kill("SIGKILL");
    }
  });

  it("after the drain grace, calls still up are ended cleanly: the device gets a BYE and the bot leaves", async () => {
    const host = await startMediaHostProcess(stack, { id: "mh-vm-3", promptsDirectory, drainGraceMs: 500 });
    const device = await RawSipDevice.open({ gatewayPort: host.ports.sipUdp, dial: direct(), displayName: "Stays too long" });
    try {
      const before = stack.graph.calls().length;
      device.invite();
      await device.until(() => device.responses.some((r) => r.status === 200), "the call to be answered");
      const [bot] = stack.graph.calls().slice(before);
      assert.ok(bot);
      host.kill("SIGTERM");
      await device.until(() => device.byeReason !== undefined, "the BYE at the end of the grace");
      assert.match(device.byeReason ?? "", /taken out of service/);
      const exit = await within(host.exited, 15_000, "the process to exit");
      assert.equal(exit.code, 0);
      assert.equal(stack.graph.calls().find((c) => c.id === bot.id)?.state, "terminated", "the bot left the meeting");
    } finally {
      device.close();
      host.kill("SIGKILL");
    }
  });

  it("refuses to start without Service Bus, saying which setting is missing", async () => {
    await assert.rejects(
      startMediaHostProcess(stack, { id: "mh-vm-1", promptsDirectory, env: { SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE: undefined } }),
      /SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE is required/,
    );
  });
});
