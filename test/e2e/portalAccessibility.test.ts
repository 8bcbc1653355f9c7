import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { AxeBuilder } from "@axe-core/playwright";
import type { Browser, Page } from "playwright-core";
import { type SeededDemo, seedDemo } from "../../local/demo.js";
import { type LocalStack, startLocalStack } from "../../local/stack.js";
import { launchChromium } from "../support/browser.js";
import { signInToPortal } from "../support/portalSignIn.js";
import { adminApi } from "../support/onboarding.js";
import { describeResult, runSipp } from "../support/peers/sipp.js";
import { waitFor } from "../support/waiting.js";

// Every page of the portal (sign-in, Tenants, Pool, Live calls, Call history, a call's)
// checked by axe-core in headless Chromium, in both themes, at a laptop's size and a
// phone's: no serious or critical violation anywhere. A SIPp call through the local stack
// gives the live calls page a row, and the history and the call's own page a record. Each
// variant's screenshot goes to test-results/portal/a11y/.

let stack: LocalStack;
let demo: SeededDemo;
let browser: Browser;
const screenshots = "test-results/portal/a11y";

const VARIANTS = [
  { name: "light-1280", colorScheme: "light", viewport: { width: 1280, height: 800 } },
  { name: "dark-1280", colorScheme: "dark", viewport: { width: 1280, height: 800 } },
  { name: "light-390", colorScheme: "light", viewport: { width: 390, height: 844 } },
  { name: "dark-390", colorScheme: "dark", viewport: { width: 390, height: 844 } },
] as const;
type Variant = (typeof VARIANTS)[number];

before(async () => {
  stack = await startLocalStack({ logLevel: "none", portal: {}, mediaHost: {}, meetingMedia: {} });
  demo = await seedDemo(stack);
  browser = await launchChromium({ trustedCaFile: ".local/tls/ca.pem" });
  mkdirSync(screenshots, { recursive: true });
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

/** axe-core's serious and critical findings on the page as it is, one readable line each (empty when none). */
async function seriousViolations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).analyze();
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .flatMap((v) =>
      v.nodes
        .filter((n) => !(v.id === "aria-hidden-focus" && isTabsterDummy(n.html)))
        .map((n) => `${v.impact} ${v.id} (${v.help}) at ${n.target.join(" ")}: ${n.failureSummary?.replace(/\s+/g, " ")}`),
    );
}

/**
 * Fluent UI's keyboard navigation (tabster, behind TabList and Dialog) puts `<i tabindex="0"
 * aria-hidden="true" data-tabster-dummy>` at a group's edges: they pass focus on at once and
 * are hidden so screen readers skip them. axe counts them as aria-hidden-focus; Fluent UI and
 * Accessibility Insights treat them as a known false positive (tabster issue 288), and so
 * does this check, for that rule and those elements only.
 */
const isTabsterDummy = (html: string) => /^<i\b[^>]*\bdata-tabster-dummy\b/.test(html);

/** Each variant: the page at `hash` loaded afresh (the theme follows the system's), checked, photographed. */
async function checkEverywhere(page: Page, name: string, hash: string, ready: (page: Page) => Promise<void>): Promise<void> {
  const found: string[] = [];
  for (const variant of VARIANTS) {
    await show(page, variant, hash);
    await ready(page);
    await settled(page);
    await page.screenshot({ path: `${screenshots}/${name}-${variant.name}.png`, fullPage: true });
    found.push(...(await seriousViolations(page)).map((v) => `${name} ${variant.name}: ${v}`));
  }
  assert.deepEqual(found, [], `axe-core found serious or critical violations:\n${found.join("\n")}`);
}

/** Once Fluent UI's motion (a dialog fading in) is over, spinners aside: checked half-faded, text would pass or fail by chance. */
const settled = (page: Page) =>
  page.evaluate(
    "Promise.all(document.getAnimations().filter((a) => a.effect?.getTiming().iterations !== Infinity).map((a) => a.finished)).then(() => undefined)",
  );

/** A confirmation dialog, opened on the page in each variant, checked and photographed, then cancelled. */
async function checkDialogEverywhere(page: Page, name: string, hash: string, open: (page: Page) => Promise<void>): Promise<void> {
  const found: string[] = [];
  for (const variant of VARIANTS) {
    await show(page, variant, hash);
    await open(page);
    await page.getByRole("dialog").waitFor();
    await settled(page);
    await page.screenshot({ path: `${screenshots}/${name}-${variant.name}.png` });
    found.push(...(await seriousViolations(page)).map((v) => `${name} ${variant.name}: ${v}`));
    await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
  }
  assert.deepEqual(found, [], `axe-core found serious or critical violations:\n${found.join("\n")}`);
}

async function show(page: Page, variant: Variant, hash: string): Promise<void> {
  await page.setViewportSize(variant.viewport);
  await page.emulateMedia({ colorScheme: variant.colorScheme });
  await page.goto(`${stack.portalUrl}/${hash}`);
  await page.reload();
}

describe("the portal's accessibility (axe-core: no serious or critical violation)", () => {
  it("the sign-in page, in light and dark themes, at 1280x800 and 390x844", async () => {
    // AxeBuilder needs a page of a context the test made (it opens its own pages there for frames).
    const page = await (await browser.newContext()).newPage();
    await checkEverywhere(page, "sign-in", "", (p) => p.getByRole("button", { name: "Sign in with Microsoft" }).waitFor({ timeout: 15_000 }));
    await page.context().close();
  });

  it("Tenants, Providers and policies, Pool, Live calls with a SIPp call up, Call history and the call's page, signed in as the operator", async () => {
    const page = await (await browser.newContext()).newPage();
    await signInToPortal(page, stack.portalUrl as string, /OpenCVI operator/);
    await checkEverywhere(page, "tenants", "#/tenants", (p) => p.getByRole("table", { name: "Tenants" }).waitFor({ timeout: 15_000 }));
    await checkEverywhere(page, "policies", "#/policies", (p) => p.getByRole("form", { name: "Effective policy" }).waitFor({ timeout: 15_000 }));
    await checkEverywhere(page, "pool", "#/pool", (p) => p.getByRole("row", { name: /local-media-host/ }).waitFor({ timeout: 15_000 }));
    await checkDialogEverywhere(page, "pool-drain-dialog", "#/pool", (p) =>
      p
        .getByRole("row", { name: /local-media-host/ })
        .getByRole("button", { name: "Drain" })
        .click({ timeout: 15_000 }),
    );

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
    await checkEverywhere(page, "live-calls", "#/calls", (p) => p.getByRole("row", { name: /OpenCVI test/ }).waitFor({ timeout: 15_000 }));
    await checkDialogEverywhere(page, "hang-up-dialog", "#/calls", (p) =>
      p
        .getByRole("row", { name: /OpenCVI test/ })
        .getByRole("button", { name: "Hang up" })
        .click({ timeout: 15_000 }),
    );
    const hangUp = await adminApi(stack, "POST", `/v1/calls/${bot.id}/hangup`);
    assert.ok(hangUp.status >= 200 && hangUp.status < 300, `the operator hangs the call up: ${hangUp.status}`);
    const result = await sipp;
    assert.equal(result.successful, 1, `SIPp received the BYE: ${describeResult(result)}`);
    await waitFor(async () => (await adminApi(stack, "GET", `/v1/calls/${bot.id}`)).json.endedAt, "the call's record ended", 15_000);

    await checkEverywhere(page, "call-history", "#/history", (p) =>
      p
        .getByRole("row", { name: /OpenCVI test/ })
        .first()
        .waitFor({ timeout: 15_000 }),
    );
    await checkEverywhere(page, "call", `#/calls/${encodeURIComponent(bot.id)}`, (p) => p.getByTestId("phases").waitFor({ timeout: 15_000 }));
    await page.context().close();
  });
});
