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

// The portal's Pool page against the local stack's real media host: it lists the host with
// its lease and load, and Drain and Undrain (each behind a confirmation) change its state in
// the control plane. A SIPp call stays up meanwhile, as a drain is meant for a host with
// calls: without one the host would leave the pool at once, and could not be undrained.

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

const host = async (hostId: string) => (await adminApi(stack, "GET", `/v1/pool/hosts/${hostId}`)).json;

describe("the portal's Pool page with the local stack's media host", () => {
  it("lists the host (state, calls against capacity, load, version, lease); Drain makes it draining, a bad deadline is shown at its field, Undrain makes it active again, and the API agrees", async () => {
    const hostId = "local-media-host";
    const before = await host(hostId);
    assert.equal(before.status, "active");

    await page.getByRole("tab", { name: "Pool" }).click();
    await page.getByRole("heading", { name: "Pool" }).waitFor();
    const row = page.getByRole("row", { name: new RegExp(hostId) });
    await row.waitFor({ timeout: 10_000 });
    const shown = String(await row.textContent());
    assert.match(shown, /Active/);
    assert.match(shown, new RegExp(`0 / ${before.capacity}`), "calls against capacity");
    assert.match(shown, new RegExp(before.version.replace(/[.]/g, "\\.")), "the host's version");
    assert.match(shown, /epoch \d+, until/, "the lease");
    assert.match(shown, /\d+%/, "the load");

    const sipp = runSipp({
      scenario: "hung-up-by-far-end",
      target: `127.0.0.1:${stack.mediaHost?.ports.sipUdp}`,
      service: `${demo.tenantKey.split("@")[0]}.${demo.vtcId}`,
      mediaMs: 60_000,
      timeoutInMs: 120_000,
    });
    const bot = await waitFor(
      () => stack.graph.calls().find((c) => c.identity.displayName === "OpenCVI test" && c.state === "established"),
      "the bot in the meeting",
      20_000,
    );
    // The host reports its calls at its next renewal; the page asks every 2 s.
    await waitFor(async () => String(await row.textContent()).includes(`1 / ${before.capacity}`), "the call counted on the page", 10_000);

    await row.getByRole("button", { name: "Drain" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("Minutes until its calls are ended").fill("20000");
    await dialog.getByRole("button", { name: "Drain" }).click();
    await dialog.getByText(/deadlineInMinutes must be at most a week/).waitFor();
    assert.equal((await host(hostId)).status, "active", "a refused drain changes nothing");
    await dialog.getByLabel("Minutes until its calls are ended").fill("30");
    await dialog.getByRole("button", { name: "Drain" }).click();
    await waitFor(async () => /Draining/.test(String(await row.textContent())), "the row says draining", 10_000);
    const drained = await host(hostId);
    assert.equal(drained.status, "draining");
    assert.equal(drained.drain.by, "operator");
    assert.equal(Date.parse(drained.drain.deadline) - Date.parse(drained.drain.requestedAt), 30 * 60_000, "the 30 minutes asked for");
    await page.screenshot({ path: `${screenshots}/pool-draining.png` });

    await row.getByRole("button", { name: "Undrain" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Undrain" }).click();
    await waitFor(async () => /Active/.test(String(await row.textContent())), "the row says active", 10_000);
    const undrained = await host(hostId);
    assert.equal(undrained.status, "active");
    assert.equal(undrained.drain, null);
    assert.ok(await row.getByRole("button", { name: "Drain" }).isVisible(), "it can be drained again");
    await page.screenshot({ path: `${screenshots}/pool.png` });

    const hangUp = await adminApi(stack, "POST", `/v1/calls/${bot.id}/hangup`);
    assert.ok(hangUp.status >= 200 && hangUp.status < 300, `the call is hung up: ${hangUp.status}`);
    const result = await sipp;
    assert.equal(result.successful, 1, `the call went on through the drain and ended with a BYE: ${describeResult(result)}`);
    assert.equal((await host(hostId)).status, "active", "the undrained host stays in the pool after its call ends");
  });
});
