import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { decodeJwt } from "jose";
import type { Browser, Page } from "playwright-core";
import { type SeededDemo, seedDemo } from "../../local/demo.js";
import { type LocalStack, startLocalStack } from "../../local/stack.js";
import { launchChromium } from "../support/browser.js";

// What the portal will do, in a real browser with the real MSAL.js (@azure/msal-browser, here
// through @azure/identity's dependencies): loginRedirect to the Entra ID emulator, pick an
// account on its page, back with a code redeemed with PKCE; the access token then opens the
// admin API of the local stack.

const MSAL_BUNDLE = "node_modules/@azure/msal-browser/lib/msal-browser.min.js";
const MSAL_REDIRECT_BRIDGE = "node_modules/@azure/msal-browser/lib/redirect-bridge/msal-redirect-bridge.min.js";
/** MSAL.js 5 hands popup and hidden-iframe responses to the app's window from a redirect page running its bridge. */
const REDIRECT_BRIDGE_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Redirect</title><script src="/msal-redirect-bridge.min.js"></script></head>
<body><script>msalRedirectBridge.broadcastResponseToMainFrame().catch((e) => { document.body.textContent = String(e); });</script></body></html>
`;

interface SignInResult {
  accessToken: string;
  idToken: string;
  scopes: string[];
  account: { username: string; homeAccountId: string; tenantId: string; name?: string };
  idTokenClaims: Record<string, unknown>;
}

/** What the test page exposes. */
interface TestPortal {
  ready: boolean;
  error?: string;
  result?: SignInResult | null;
  accounts(): number;
  signIn(): Promise<void>;
  refresh(): Promise<string>;
  signOut(): Promise<void>;
  ssoSilent(loginHint: string): Promise<string>;
}
declare const window: { portal: TestPortal };

let stack: LocalStack;
let demo: SeededDemo;
let browser: Browser;
let pageServer: Server;
let pageOrigin: string;

/** A page that signs in with MSAL.js as a single-page app would: the authority is the emulator's `organizations`. */
function testPage(): string {
  const config = {
    clientId: stack.portalSignIn.clientId,
    authority: stack.portalSignIn.authority,
    knownAuthorities: [new URL(stack.entra.origin).host],
    scopes: stack.portalSignIn.scopes,
  };
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>MSAL.js test page</title><script src="/msal-browser.min.js"></script></head>
<body><main><h1>MSAL.js test page</h1></main>
<script>
const config = ${JSON.stringify(config)};
const pca = new msal.PublicClientApplication({
  auth: { clientId: config.clientId, authority: config.authority, knownAuthorities: config.knownAuthorities, redirectUri: location.origin + "/", postLogoutRedirectUri: location.origin + "/" },
  cache: { cacheLocation: "sessionStorage" },
});
const describeError = (e) => (e && e.errorCode ? e.errorCode + ": " + e.message : String(e));
const api = {
  ready: false,
  accounts: () => pca.getAllAccounts().length,
  signIn: () => pca.loginRedirect({ scopes: config.scopes, prompt: "select_account" }),
  refresh: async () => (await pca.acquireTokenSilent({ scopes: config.scopes, account: pca.getAllAccounts()[0], forceRefresh: true })).accessToken,
  signOut: () => pca.logoutRedirect({ account: pca.getAllAccounts()[0] }),
  ssoSilent: async (loginHint) => {
    try {
      return (await pca.ssoSilent({ scopes: config.scopes, loginHint, redirectUri: location.origin + "/redirect" })).accessToken;
    } catch (e) {
      return "error " + describeError(e);
    }
  },
};
window.portal = api;
pca.initialize()
  .then(() => pca.handleRedirectPromise())
  .then((r) => {
    api.result = r && { accessToken: r.accessToken, idToken: r.idToken, scopes: r.scopes, idTokenClaims: r.idTokenClaims,
      account: { username: r.account.username, homeAccountId: r.account.homeAccountId, tenantId: r.account.tenantId, name: r.account.name } };
    api.ready = true;
  })
  .catch((e) => { api.error = describeError(e); api.ready = true; });
</script>
</body>
</html>
`;
}

before(async () => {
  stack = await startLocalStack({ logLevel: "none" });
  demo = await seedDemo(stack);
  const bundle = readFileSync(MSAL_BUNDLE);
  const bridge = readFileSync(MSAL_REDIRECT_BRIDGE);
  pageServer = createServer((req, res) => {
    if (req.url === "/msal-browser.min.js") res.writeHead(200, { "content-type": "text/javascript" }).end(bundle);
    else if (req.url === "/msal-redirect-bridge.min.js") res.writeHead(200, { "content-type": "text/javascript" }).end(bridge);
    else if (req.url?.startsWith("/redirect")) res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(REDIRECT_BRIDGE_PAGE);
    else if (req.url === "/" || req.url?.startsWith("/?")) res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(testPage());
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => pageServer.listen(0, "127.0.0.1", resolve));
  pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
  // The test page is the portal here: its origin is one more SPA redirect URI of the portal's registration.
  stack.entra.addRedirectUri(stack.portalSignIn.clientId, `${pageOrigin}/`, "spa");
  stack.entra.addRedirectUri(stack.portalSignIn.clientId, `${pageOrigin}/redirect`, "spa");
  browser = await launchChromium({ trustedCaFile: ".local/tls/ca.pem" });
});
after(async () => {
  await browser?.close();
  pageServer?.closeAllConnections();
  pageServer?.close();
  await stack?.stop();
});

async function portalState(page: Page): Promise<{ ready: boolean; error?: string; result?: SignInResult | null }> {
  await page.waitForFunction(() => window.portal?.ready === true, null, { timeout: 20_000 });
  return page.evaluate(() => ({ ready: window.portal.ready, error: window.portal.error, result: window.portal.result }));
}

/** Opens the test page, starts loginRedirect, picks the account on the emulator's page and signs in. */
async function signInAs(page: Page, displayName: string): Promise<SignInResult> {
  await page.goto(`${pageOrigin}/`);
  const start = await portalState(page);
  assert.equal(start.error, undefined);
  await page.evaluate(() => {
    void window.portal.signIn();
  });
  await page.waitForURL((url) => url.origin === stack.entra.origin, { timeout: 20_000 });
  assert.equal(await page.title(), "Sign in to your account");
  await page.getByRole("radio", { name: new RegExp(displayName) }).check();
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((url) => url.origin === pageOrigin, { timeout: 20_000 });
  const state = await portalState(page);
  assert.equal(state.error, undefined, state.error);
  assert.ok(state.result, "handleRedirectPromise returned the sign-in");
  return state.result;
}

describe("signing in to a single-page app with MSAL.js against the Entra ID emulator", () => {
  it("the operator signs in by picking their account; the access token opens the admin API, a silent refresh too; logout ends the session", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const result = await signInAs(page, "OpenCVI operator");
      const { operator } = stack.portalSignIn;
      assert.equal(result.account.username, operator.userPrincipalName);
      assert.equal(result.account.homeAccountId, `${operator.objectId}.${stack.operatorTenantId}`);
      assert.equal(result.account.tenantId, stack.operatorTenantId);
      assert.equal(result.idTokenClaims.oid, operator.objectId);
      assert.equal(result.idTokenClaims.aud, stack.portalSignIn.clientId);
      assert.equal(typeof result.idTokenClaims.nonce, "string", "MSAL sent a nonce and checked it");
      const claims = decodeJwt(result.accessToken);
      assert.deepEqual(claims.roles, ["CVI.Admin"]);
      assert.equal(claims.scp, "access_as_user");

      const tenants = await fetch(`${stack.adminApiUrl}/v1/tenants`, { headers: { authorization: `Bearer ${result.accessToken}` } });
      const body = await tenants.text();
      assert.equal(tenants.status, 200, body);
      assert.ok(body.includes(demo.tenantId), "the operator sees the demo tenant");

      // acquireTokenSilent with forceRefresh: the refresh token, redeemed by fetch from the page's origin.
      const refreshed = await page.evaluate(() => window.portal.refresh());
      assert.notEqual(refreshed, result.accessToken);
      const again = await fetch(`${stack.adminApiUrl}/v1/tenants`, { headers: { authorization: `Bearer ${refreshed}` } });
      assert.equal(again.status, 200, await again.text());

      await page.evaluate(() => {
        void window.portal.signOut();
      });
      await page.waitForURL((url) => url.origin === pageOrigin, { timeout: 20_000 });
      await portalState(page);
      assert.equal(await page.evaluate(() => window.portal.accounts()), 0, "MSAL forgot the account");
      // A hidden-iframe sign-in (prompt=none, answered through MSAL's redirect bridge) finds no session any more.
      const silent = await page.evaluate((hint) => window.portal.ssoSilent(hint), operator.userPrincipalName);
      assert.match(silent, /^error login_required: .*AADSTS50058/);
      const cookies = await context.cookies(stack.entra.origin);
      assert.equal(
        cookies.find((c) => c.name === "ESTSAUTH"),
        undefined,
        "the emulator's session cookie is gone",
      );
    } finally {
      await context.close();
    }
  });

  it("the demo tenant's admin signs in from their own tenant and gets a token of that tenant with CVI.TenantAdmin", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const result = await signInAs(page, "Adele Vance");
      assert.equal(result.account.username, demo.admin.userPrincipalName);
      assert.equal(result.account.tenantId, demo.tenantId);
      const claims = decodeJwt(result.accessToken);
      assert.equal(claims.tid, demo.tenantId);
      assert.equal(claims.iss, stack.entra.issuerFor(demo.tenantId));
      assert.deepEqual(claims.roles, ["CVI.TenantAdmin"]);
      assert.equal(claims.oid, demo.admin.objectId);
    } finally {
      await context.close();
    }
  });
});
