import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { Browser } from "playwright-core";
import { type LocalStack, startLocalStack } from "../../local/stack.js";
import { launchChromium } from "../support/browser.js";

// The web portal (portal/, built by scripts/setup.sh) as the local stack serves it, in
// headless Chromium: the app starts from its run-time configuration, the admin API is
// reached through the portal's own origin, and what is not a file is the app's.
let stack: LocalStack;
let browser: Browser;
const screenshots = "test-results/portal";

before(async () => {
  stack = await startLocalStack({ logLevel: "none", portal: {} });
  browser = await launchChromium();
  mkdirSync(screenshots, { recursive: true });
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

describe("the web portal, served by the local stack", () => {
  it("starts signed out with MSAL configured from /config.json: a sign-in page, in light and dark themes", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.goto(stack.portalUrl as string);
    await page
      .getByRole("heading", { name: "Sign in" })
      .waitFor({ timeout: 15_000 })
      .catch(async (e: Error) => {
        throw new Error(`${e.message}\npage: ${await page.locator("body").textContent()}\nerrors: ${errors.join("\n")}`);
      });
    assert.ok(await page.getByRole("button", { name: "Sign in with Microsoft" }).isVisible());
    await page.screenshot({ path: `${screenshots}/sign-in-light.png` });
    const background = () => page.evaluate<string>("getComputedStyle(document.querySelector('main').parentElement).backgroundColor");
    const light = await background();
    await page.getByRole("switch", { name: "Dark theme" }).click();
    assert.notEqual(await background(), light, "the dark theme changes the page");
    await page.screenshot({ path: `${screenshots}/sign-in-dark.png` });
    assert.deepEqual(errors, []);
    await page.close();
  });

  it("serves its configuration, the app for any other path, and never a file outside its folder", async () => {
    const config = (await (await fetch(`${stack.portalUrl}/config.json`)).json()) as Record<string, unknown>;
    assert.equal(config.apiBaseUrl, "/api/v1");
    assert.match(String(config.authority), /^https:\/\/127\.0\.0\.1:\d+\/organizations$/);
    assert.deepEqual(config.scopes, ["api://opencvi-admin/.default"]);
    const deepLink = await fetch(`${stack.portalUrl}/tenants/some-tenant`);
    assert.equal(deepLink.status, 200);
    assert.match(await deepLink.text(), /<div id="root"><\/div>/);
    for (const path of ["/../package.json", "/%2e%2e/package.json", "/..%2f..%2fpackage.json"]) {
      const response = await fetch(`${stack.portalUrl}${path}`);
      const body = await response.text();
      assert.doesNotMatch(body, /"name": "opencvi"/, `${path} must not reach the repository`);
    }
    const post = await fetch(`${stack.portalUrl}/index.html`, { method: "POST" });
    assert.equal(post.status, 405);
  });

  it("passes /api to the admin API on its own origin: the operator's token lists tenants, none gets problem+json 401", async () => {
    const token = await stack.issueToken();
    const page = await browser.newPage();
    await page.goto(stack.portalUrl as string);
    const answers = await page.evaluate(async (bearer) => {
      const withToken = await fetch("/api/v1/tenants", { headers: { authorization: `Bearer ${bearer}` } });
      const without = await fetch("/api/v1/tenants");
      return {
        withToken: { status: withToken.status, body: await withToken.json() },
        without: { status: without.status, type: without.headers.get("content-type") },
      };
    }, token);
    assert.equal(answers.withToken.status, 200);
    assert.ok(Array.isArray((answers.withToken.body as { value?: unknown }).value));
    assert.equal(answers.without.status, 401);
    assert.match(String(answers.without.type), /application\/problem\+json/);
    await page.close();
  });
});
