import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { type SeededDemo, seedDemo } from "../../local/demo.js";
import { type LocalStack, startLocalStack } from "../../local/stack.js";
import { launchChromium } from "../support/browser.js";
import { signInToPortal } from "../support/portalSignIn.js";
import { adminApi } from "../support/onboarding.js";
import { describeResult, runSipp } from "../support/peers/sipp.js";
import { waitFor } from "../support/waiting.js";

// The portal's call pages with a real call: SIPp dials the demo meeting through the local
// stack's media host; the operator, signed in on the Entra emulator, sees it on the live
// calls page, hangs it up there (SIPp must receive the BYE), and finds it in the history
// with its phases and its quality drawn by uPlot from the stored record.

let stack: LocalStack;
let demo: SeededDemo;
let browser: Browser;
let page: Page;
const screenshots = "test-results/portal";

before(async () => {
  stack = await startLocalStack({ logLevel: "none", portal: {}, mediaHost: {}, meetingMedia: {} });
  demo = await seedDemo(stack);
  browser = await launchChromium({ trustedCaFile: ".local/tls/ca.pem" });
  mkdirSync(screenshots, { recursive: true });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await signInToPortal(page, stack.portalUrl as string, /OpenCVI operator/);
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

describe("the portal's live calls, history and call pages with a SIPp call", () => {
  it("a call shows on the live page by itself; Hang up ends it (SIPp gets the BYE); the history and its page show its phases and quality from the record", async () => {
    await page.getByRole("tab", { name: "Live calls" }).click();
    await page.getByRole("heading", { name: "Live calls" }).waitFor();
    await page.getByText(/No call right now/).waitFor({ timeout: 10_000 });

    const dialledAt = performance.now();
    const sipp = runSipp({
      scenario: "hung-up-by-far-end",
      target: `127.0.0.1:${stack.mediaHost!.ports.sipUdp}`,
      service: `${demo.tenantKey.split("@")[0]}.${demo.vtcId}`,
      mediaMs: 20_000,
      timeoutInMs: 90_000,
    });
    const row = page.getByRole("row", { name: /OpenCVI test/ });
    await row.waitFor({ timeout: 20_000 });
    const shownMs = Math.round(performance.now() - dialledAt);
    const bot = await waitFor(
      () => stack.graph.calls().find((c) => c.identity.displayName === "OpenCVI test" && c.state === "established"),
      "the bot in the meeting",
      20_000,
    );
    const established = performance.now();
    await waitFor(async () => /established/.test(String(await row.textContent())), "the row says established", 10_000);
    console.log(
      JSON.stringify({ figure: "dial to the live page's row", ms: shownMs, establishedToRowStateMs: Math.round(performance.now() - established) }),
    );
    assert.match(String(await row.textContent()), /127\.0\.0\.1/, "the device's address");
    assert.match(String(await row.textContent()), /Direct/, "how it dialled");
    await page.screenshot({ path: `${screenshots}/live-calls.png` });

    // Let some media flow, so the call has quality to show.
    await new Promise((r) => setTimeout(r, 3000));
    await row.getByRole("button", { name: "Hang up" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Hang up" }).click();
    const result = await sipp;
    assert.equal(result.successful, 1, `SIPp received the BYE and answered it: ${describeResult(result)}`);
    await page.getByText(/No call right now/).waitFor({ timeout: 10_000 });

    const record = await waitFor(
      async () => {
        const r = await adminApi(stack, "GET", `/v1/calls/${bot.id}`);
        return r.json.quality ? r.json : undefined;
      },
      "the call's quality in its record",
      15_000,
    );
    assert.equal(record.endedBy, "operator");

    await page.getByRole("tab", { name: "Call history" }).click();
    const ended = page.getByRole("row", { name: /OpenCVI test/ }).first();
    await ended.waitFor({ timeout: 10_000 });
    assert.match(String(await ended.textContent()), /Connected/);
    assert.match(String(await ended.textContent()), /an operator hung up/);
    await page.screenshot({ path: `${screenshots}/call-history.png` });
    await ended.getByRole("link", { name: "OpenCVI test" }).click();
    await page.getByRole("heading", { name: "OpenCVI test" }).waitFor();
    const phases = String(await page.getByTestId("phases").textContent());
    assert.match(phases, /Dialled in.*In the meeting.*Ended/s);
    assert.match(String(await page.getByTestId("end-reason").textContent()), /an operator hung up/);

    // Each chart draws, per stream of both legs, what the record holds.
    const streams = [...record.quality.deviceLeg, ...record.quality.meetingLeg] as Record<string, number | null>[];
    for (const [title, field] of [
      ["Packets received", "packetsReceived"],
      ["Packets lost", "packetsLost"],
      ["Jitter", "jitterMs"],
      ["Round trip", "roundTripMs"],
    ] as const) {
      if (streams.every((s) => s[field] === null)) {
        await page.getByText(new RegExp(`^${title}: not measured`)).waitFor();
        continue;
      }
      const chart = page.locator(`[data-chart="${title}"]`);
      await chart.locator("canvas").waitFor();
      const drawn = JSON.parse((await chart.getAttribute("data-values")) ?? "[]") as (number | null)[];
      assert.deepEqual(
        drawn,
        streams.map((s) => s[field] ?? null),
        `${title}: the chart's points are the record's`,
      );
    }
    assert.ok((streams[0]?.packetsReceived ?? 0) > 0, "the device's audio was measured");
    assert.ok(record.quality.meetingLeg.length > 0, "the meeting leg measured too (the meeting's media server connected)");
    await page.screenshot({ path: `${screenshots}/call.png`, fullPage: true });
  });
});
