import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { Browser } from "playwright-core";
import { type LocalStack, startLocalStack } from "../../local/stack.js";
import { launchChromium } from "../support/browser.js";
import { signInToPortal } from "../support/portalSignIn.js";
import { adminApi } from "../support/onboarding.js";

// The web portal (portal/, built by scripts/setup.sh) as the local stack serves it, in
// headless Chromium: the app starts from its run-time configuration, the admin API is
// reached through the portal's own origin, and what is not a file is the app's.
let stack: LocalStack;
let browser: Browser;
const screenshots = "test-results/portal";

before(async () => {
  stack = await startLocalStack({ logLevel: "none", portal: {} });
  // The Entra emulator is HTTPS under the local CA: trusted as a person would (their NSS database).
  browser = await launchChromium({ trustedCaFile: ".local/tls/ca.pem" });
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
    assert.deepEqual(config.scopes, ["api://opencvi-admin/access_as_user"]);
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

  it("the operator signs in on the Entra emulator (MSAL, code + PKCE), onboards a tenant — a bad id shown at its field, the form kept — and makes its consent link", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(stack.portalUrl as string);
    await page.getByRole("button", { name: "Sign in with Microsoft" }).click();
    // The emulator's account picker (no passwords), then back to the portal with a code MSAL redeems.
    await page.getByRole("radio", { name: /OpenCVI operator/ }).check();
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Tenants" }).waitFor({ timeout: 15_000 });
    assert.equal(await page.getByLabel("Signed in as").textContent(), stack.portalSignIn.operator.userPrincipalName);

    await page.getByLabel("Entra tenant id").fill("not-a-guid");
    await page.getByLabel("Name").fill("Fabrikam");
    await page.getByRole("button", { name: "Onboard" }).click();
    const fieldError = page.getByText(/tenantId|GUID|uuid/i).first();
    await fieldError.waitFor();
    assert.equal(await page.getByLabel("Name").inputValue(), "Fabrikam", "the form keeps what was typed");
    await page.screenshot({ path: `${screenshots}/tenants-field-error.png` });

    const tenantId = "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
    // Fabrikam exists in Entra ID (the emulator), so its admin can consent.
    stack.entra.addTenant({ tenantId, domain: "fabrikam.onmicrosoft.com", displayName: "Fabrikam" });
    await page.getByLabel("Entra tenant id").fill(tenantId);
    await page.getByRole("button", { name: "Onboard" }).click();
    const row = page.getByRole("row", { name: new RegExp(tenantId) });
    await row.waitFor();
    assert.match(String(await row.textContent()), /Fabrikam/);
    assert.match(String(await row.textContent()), /Not yet/, "consent: none yet");
    await row.getByRole("button", { name: "Consent link" }).click();
    const link = await page.getByText(/adminconsent/).textContent();
    assert.match(String(link), new RegExp(`^${stack.entra.origin.replace(/[.]/g, "\\.")}/`), "a link to Entra ID's admin consent");

    // Fabrikam's admin opens the link (another browser window) and accepts on Entra ID's page; the portal, not reloaded, shows it granted.
    const admin = await browser.newPage();
    await admin.goto(String(link));
    await admin.getByRole("button", { name: /accept/i }).click();
    await admin.waitForLoadState();
    await admin.close();
    await row.getByText("Granted").waitFor({ timeout: 10_000 });
    await page.screenshot({ path: `${screenshots}/tenants.png` });

    // Removed, after a confirmation.
    await row.getByRole("button", { name: "Remove" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Remove tenant" }).click();
    await row.waitFor({ state: "detached", timeout: 10_000 });
    assert.equal((await adminApi(stack, "GET", `/v1/tenants/${tenantId}`)).status, 404);
    assert.deepEqual(errors, []);
    await page.close();
  });

  it("an expired sign-in sends the operator back through Entra ID's sign-in and keeps the onboarding form's content", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await signInToPortal(page, stack.portalUrl as string, /OpenCVI operator/);

    // The onboarding request goes to the admin API with an expired token in place of the
    // page's (MSAL's cached one is an hour long): the API's own 401 comes back, once.
    const refused: number[] = [];
    const expired = await stack.issueToken({ expiresInSeconds: -600 });
    await page.route("**/api/v1/tenants", async (route) => {
      if (route.request().method() !== "POST" || refused.length > 0) return route.continue();
      const response = await route.fetch({ headers: { ...route.request().headers(), authorization: `Bearer ${expired}` } });
      refused.push(response.status());
      return route.fulfill({ response });
    });
    const tenantId = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    await page.getByLabel("Entra tenant id").fill(tenantId);
    await page.getByLabel("Name").fill("Northwind Traders");
    await page.getByRole("button", { name: "Onboard" }).click();

    // Entra ID's sign-in page (the emulator's account picker), then back to the portal.
    await page.getByRole("radio", { name: /OpenCVI operator/ }).waitFor({ timeout: 15_000 });
    assert.ok(page.url().startsWith(stack.entra.origin), `on Entra ID's sign-in page: ${page.url()}`);
    assert.deepEqual(refused, [401], "the admin API refused the expired token");
    assert.equal((await adminApi(stack, "GET", `/v1/tenants/${tenantId}`)).status, 404, "nothing was onboarded");
    await page.getByRole("radio", { name: /OpenCVI operator/ }).check();
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Tenants" }).waitFor({ timeout: 15_000 });
    assert.equal(await page.getByLabel("Entra tenant id").inputValue(), tenantId, "the tenant id as typed");
    assert.equal(await page.getByLabel("Name").inputValue(), "Northwind Traders", "the name as typed");
    await page.getByText(/what you typed is back/).waitFor();
    await page.screenshot({ path: `${screenshots}/tenants-after-sign-in-again.png` });
    assert.equal(await page.evaluate(() => sessionStorage.getItem("opencvi.draft.onboard-tenant")), null, "the kept fields come back once");

    // Signed in afresh, the same fields onboard the tenant.
    await page.getByRole("button", { name: "Onboard" }).click();
    await page.getByRole("row", { name: new RegExp(tenantId) }).waitFor();
    assert.equal((await adminApi(stack, "GET", `/v1/tenants/${tenantId}`)).json.name, "Northwind Traders");
    assert.deepEqual(errors, []);
    await page.close();
  });
});
