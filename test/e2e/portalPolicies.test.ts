import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { type SeededDemo, seedDemo } from "../../local/demo.js";
import { type LocalStack, startLocalStack } from "../../local/stack.js";
import { launchChromium } from "../support/browser.js";
import { signInToPortal } from "../support/portalSignIn.js";
import { adminApi, onboardTenant } from "../support/onboarding.js";

// Providers and policies in the portal, against the local stack's admin API: the CVI cmdlets
// as forms, the API's field errors at their field, and the effective-policy view agreeing
// with `cvi policy effective` (the CLI run as a user runs it).

let stack: LocalStack;
let demo: SeededDemo;
let browser: Browser;
let page: Page;
const screenshots = "test-results/portal";

function cvi(args: readonly string[]): Promise<string> {
  const env = {
    ...process.env,
    CVI_URL: stack.adminApiUrl,
    CVI_STACK_FILE: "/nonexistent/stack.json",
    NODE_EXTRA_CA_CERTS: resolve(".local/tls/ca.pem"),
  };
  return new Promise((done, fail) =>
    stack
      .issueToken({ roles: ["CVI.Admin"] })
      .then((token) =>
        execFile(
          process.execPath,
          [join("dist", "cli", "cvi.js"), ...args],
          { env: { ...env, CVI_TOKEN: token }, timeout: 20_000 },
          (error, stdout, stderr) => (error ? fail(new Error(`cvi ${args.join(" ")}: ${error.message}\n${stderr}`)) : done(stdout)),
        ),
      ),
  );
}

before(async () => {
  stack = await startLocalStack({ logLevel: "none", portal: {} });
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

describe("the portal's providers and policies", () => {
  it("creates a provider (a bad tenant key shown at its field first), grants a group at rank 1, and shows the effective policy as `cvi policy effective` does", async () => {
    await page.getByRole("tab", { name: "Providers and policies" }).click();
    await page.getByRole("heading", { name: "Providers and policies" }).waitFor();
    await page.getByLabel("Tenant", { exact: true }).selectOption(demo.tenantId);
    const provider = page.getByRole("form", { name: "Provider" });
    await provider.getByLabel("Identity", { exact: true }).fill("Pexip");
    await provider.getByLabel("Tenant key", { exact: true }).fill("not a key");
    await provider.getByRole("button", { name: "Create provider" }).click();
    await provider.getByText(/tenantKey must look like/).waitFor();
    assert.equal(await provider.getByLabel("Identity", { exact: true }).inputValue(), "Pexip", "the form keeps what was typed");
    await page.screenshot({ path: `${screenshots}/policies-field-error.png`, fullPage: true });
    await provider.getByLabel("Tenant key", { exact: true }).fill("813878896@t.plcm.vc");
    await provider.getByRole("button", { name: "Create provider" }).click();
    await page.getByRole("row", { name: /Pexip/ }).waitFor();
    const stored = await adminApi(stack, "GET", `/v1/tenants/${demo.tenantId}/providers`);
    assert.ok(
      (stored.json.value as { identity: string; tenantKey: string }[]).some((p) => p.identity === "Pexip" && p.tenantKey === "813878896@t.plcm.vc"),
    );

    const groupId = randomUUID();
    const grant = page.getByRole("form", { name: "Group grant" });
    await grant.getByLabel("Group id").fill(groupId);
    await grant.getByLabel("Group policy").selectOption("PexipServiceProviderEnabled");
    await grant.getByLabel("Rank").fill("1");
    await grant.getByRole("button", { name: "Grant to group" }).click();
    await page.getByRole("row", { name: new RegExp(groupId) }).waitFor();

    const lookup = page.getByRole("form", { name: "Effective policy" });
    await lookup.getByLabel("User to look up").fill("someone@contoso-demo.onmicrosoft.com");
    await lookup.getByLabel("Their groups (ids, comma-separated)").fill(groupId);
    await lookup.getByRole("button", { name: "Show effective policy" }).click();
    const shown = String(await page.getByTestId("effective-policy").textContent());
    await page.screenshot({ path: `${screenshots}/policies.png`, fullPage: true });

    const cli = await cvi(["policy", "effective", "--tenant", demo.tenantKey, "--user", "someone@contoso-demo.onmicrosoft.com", "--group", groupId]);
    const field = (label: string) => new RegExp(`^${label} +: ?(.*)$`, "m").exec(cli)?.[1]?.trim();
    assert.equal(field("PolicyName"), "PexipServiceProviderEnabled");
    assert.match(String(field("Source")), new RegExp(`group ${groupId} \\(rank 1\\)`));
    assert.ok(shown.startsWith(field("PolicyName") ?? "?"), `the page shows ${shown}`);
    assert.match(shown, new RegExp(`group ${groupId} \\(rank 1\\)`), "the same source as the CLI");
  });

  it("the demo tenant's admin, signed in from their own tenant, sees only that tenant: no onboarding, no removal, no other tenant on any page", async () => {
    const other = await onboardTenant(stack);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const admin = await context.newPage();
      await signInToPortal(admin, stack.portalUrl as string, /Adele Vance/);
      await admin.getByRole("row", { name: new RegExp(demo.tenantId) }).waitFor();
      const rows = await admin.getByRole("table", { name: "Tenants" }).getByRole("row").allTextContents();
      assert.equal(rows.length, 2, `a header and their tenant: ${rows.join(" | ")}`);
      assert.ok(!rows.some((r) => r.includes(other.tenantId)), "another tenant is not shown");
      assert.equal(await admin.getByRole("button", { name: "Onboard" }).count(), 0, "no onboarding form");
      assert.equal(await admin.getByRole("button", { name: "Remove" }).count(), 0, "no removal");
      await admin.screenshot({ path: `${screenshots}/tenants-tenant-admin.png` });

      await admin.getByRole("tab", { name: "Providers and policies" }).click();
      await admin.getByLabel("Tenant", { exact: true }).locator("option").first().waitFor({ state: "attached" });
      const tenants = await admin.getByLabel("Tenant", { exact: true }).locator("option").allTextContents();
      assert.deepEqual(tenants.length, 1, `only their tenant to pick: ${tenants.join(" | ")}`);
      assert.match(tenants[0] ?? "", new RegExp(demo.tenantId));
      await admin
        .getByRole("row", { name: /OpenCVI/ })
        .first()
        .waitFor();
    } finally {
      await context.close();
    }
  });
});
