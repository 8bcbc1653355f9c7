import assert from "node:assert/strict";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { createRemoteJWKSet, decodeJwt, jwtVerify } from "jose";
import { EntraIdEmulator, type EntraIdEmulatorOptions, type EntraUser } from "./entraIdEmulator.js";

// A user signing in to a single-page app the way MSAL.js does it: authorize (account picker),
// code + PKCE redeemed cross-origin, refresh tokens, silent sign-in on the session, logout.

const PORTAL_ORIGIN = "http://127.0.0.1:5173";
const PORTAL_REDIRECT = `${PORTAL_ORIGIN}/`;
const WEB_REDIRECT = "https://127.0.0.1:8443/signin-oidc";
const API_SCOPE = "api://opencvi-admin/access_as_user";
const MSAL_SCOPES = `${API_SCOPE} openid profile offline_access`;

const contoso = { tenantId: randomUUID(), domain: "contoso.onmicrosoft.com", displayName: "Contoso" };
const fabrikam = { tenantId: randomUUID(), domain: "fabrikam.onmicrosoft.com", displayName: "Fabrikam" };
/** A tenant where the admin API has no service principal. */
const northwind = { tenantId: randomUUID(), domain: "northwind.onmicrosoft.com", displayName: "Northwind" };
const adminApi = { clientId: randomUUID(), appIdUri: "api://opencvi-admin" };
const portal = { clientId: randomUUID(), displayName: "OpenCVI portal" };
const webApp = { clientId: randomUUID(), clientSecret: "web-secret~1", displayName: "A web app" };

interface Emulator {
  readonly entra: EntraIdEmulator;
  readonly origin: string;
  readonly operator: EntraUser;
  readonly fabrikamAdmin: EntraUser;
  close(): void;
}

async function startEmulator(options: Partial<EntraIdEmulatorOptions> = {}): Promise<Emulator> {
  const tls = { cert: readFileSync(".local/tls/server.pem"), key: readFileSync(".local/tls/server-key.pem") };
  let entra: EntraIdEmulator | undefined;
  const server = createServer(tls, (req, res) => {
    entra!.handle(req, res).then(
      (handled) => {
        if (!handled) res.writeHead(404).end();
      },
      () => res.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  entra = new EntraIdEmulator({ origin, ...options });
  await entra.start();
  entra.addTenant(contoso);
  entra.addTenant(fabrikam);
  entra.addTenant(northwind);
  entra.registerApplication({
    ...adminApi,
    displayName: "OpenCVI admin API",
    appRoles: ["CVI.Admin", "CVI.TenantAdmin"],
    delegatedScopes: ["access_as_user"],
    accessTokenVersion: 2,
    homeTenantId: contoso.tenantId,
  });
  entra.registerApplication({ ...portal, spaRedirectUris: [PORTAL_REDIRECT], homeTenantId: contoso.tenantId });
  entra.registerApplication({ ...webApp, redirectUris: [WEB_REDIRECT], homeTenantId: contoso.tenantId });
  const operator = entra.addUser({ tenantId: contoso.tenantId, userPrincipalName: "operator@contoso.onmicrosoft.com", displayName: "Olga Operator" });
  entra.assignUserAppRole(contoso.tenantId, adminApi.appIdUri, operator.objectId, "CVI.Admin");
  entra.addUser({ tenantId: contoso.tenantId, userPrincipalName: "nobody@contoso.onmicrosoft.com", displayName: "No Roles" });
  const fabrikamAdmin = entra.addUser({
    tenantId: fabrikam.tenantId,
    userPrincipalName: "admin@fabrikam.onmicrosoft.com",
    displayName: "Fabi Admin",
  });
  entra.assignUserAppRole(fabrikam.tenantId, adminApi.appIdUri, fabrikamAdmin.objectId, "CVI.TenantAdmin");
  return {
    entra,
    origin,
    operator,
    fabrikamAdmin,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

let em: Emulator;
before(async () => {
  em = await startEmulator();
});
after(() => em.close());

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

interface AuthorizeParams extends Record<string, string | undefined> {
  tenant?: string;
}

/** What MSAL.js sends to /authorize for loginRedirect({ scopes: [API_SCOPE] }). */
function msalAuthorizeParams(challenge: string, extra: AuthorizeParams = {}): AuthorizeParams {
  return {
    client_id: portal.clientId,
    scope: MSAL_SCOPES,
    redirect_uri: PORTAL_REDIRECT,
    "client-request-id": randomUUID(),
    response_mode: "fragment",
    response_type: "code",
    client_info: "1",
    code_challenge: challenge,
    code_challenge_method: "S256",
    nonce: randomUUID(),
    state: `state-${randomUUID()}`,
    ...extra,
  };
}

function authorizeUrl(params: AuthorizeParams, e: Emulator = em): string {
  const url = new URL(e.entra.authorizeEndpoint(params.tenant ?? contoso.tenantId));
  for (const [k, v] of Object.entries(params)) if (v !== undefined && k !== "tenant") url.searchParams.set(k, v);
  return url.href;
}

const unesc = (s: string) => s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)));

async function openPicker(url: string, cookie?: string): Promise<{ html: string; action: string; fields: URLSearchParams; accounts: string[] }> {
  const res = await fetch(url, { redirect: "manual", ...(cookie ? { headers: { cookie } } : {}) });
  const html = await res.text();
  assert.equal(res.status, 200, html);
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
  const action = unesc(/<form method="post" action="([^"]+)"/.exec(html)![1]!);
  const fields = new URLSearchParams();
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields.append(unesc(m[1]!), unesc(m[2]!));
  const accounts = [...html.matchAll(/<input type="radio" id="[^"]+" name="account" value="([^"]+)"/g)].map((m) => m[1]!);
  return { html, action, fields, accounts };
}

/** Picks an account on the page and signs in: the redirect back to the app, and the session cookie. */
async function signIn(params: AuthorizeParams, account: string, e: Emulator = em): Promise<{ location: URL; cookie: string }> {
  const picker = await openPicker(authorizeUrl(params, e));
  const body = new URLSearchParams(picker.fields);
  body.set("account", account);
  const res = await fetch(new URL(picker.action, e.origin), { method: "POST", body, redirect: "manual" });
  assert.equal(res.status, 302, await res.text());
  const setCookie = res.headers.get("set-cookie") ?? "";
  return { location: new URL(res.headers.get("location")!), cookie: setCookie.split(";")[0]! };
}

function responseParams(location: URL): URLSearchParams {
  return location.hash ? new URLSearchParams(location.hash.slice(1)) : location.searchParams;
}

async function postToken(
  form: Record<string, string>,
  options: { origin?: string | null; tenant?: string; e?: Emulator } = {},
): Promise<{ status: number; json: any; headers: Headers }> {
  const e = options.e ?? em;
  const origin = options.origin === undefined ? PORTAL_ORIGIN : options.origin;
  const res = await fetch(e.entra.tokenEndpoint(options.tenant ?? contoso.tenantId), {
    method: "POST",
    body: new URLSearchParams(form),
    headers: origin ? { origin } : {},
  });
  return { status: res.status, json: await res.json(), headers: res.headers };
}

function redeemForm(code: string, verifier: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    client_id: portal.clientId,
    redirect_uri: PORTAL_REDIRECT,
    scope: MSAL_SCOPES,
    code,
    code_verifier: verifier,
    grant_type: "authorization_code",
    client_info: "1",
    ...extra,
  };
}

/** Signs the operator in and returns the code, its verifier and the request's nonce. */
async function codeFor(account: string, extra: AuthorizeParams = {}, e: Emulator = em): Promise<{ code: string; verifier: string; nonce: string }> {
  const { verifier, challenge } = pkce();
  const params = msalAuthorizeParams(challenge, extra);
  const { location } = await signIn(params, account, e);
  const code = responseParams(location).get("code");
  assert.ok(code, `a code in ${location.href}`);
  return { code, verifier, nonce: params.nonce! };
}

function assertEntraError(res: { status: number; json: any }, status: number, error: string, code: number): void {
  assert.equal(res.status, status, JSON.stringify(res.json));
  assert.equal(res.json.error, error);
  assert.deepEqual(res.json.error_codes, [code]);
  assert.match(res.json.error_description, new RegExp(`^AADSTS${code}: .+ Trace ID: [0-9a-f-]{36} Correlation ID: [0-9a-f-]{36} Timestamp: `));
}

async function verify(token: string, audience: string, issuer: string): Promise<Record<string, any>> {
  const keys = createRemoteJWKSet(new URL(em.entra.jwksUri));
  return (await jwtVerify(token, keys, { audience, issuer, algorithms: ["RS256"] })).payload;
}

describe("authorize: the account picker", () => {
  it("shows the tenant's accounts as labelled radio buttons and carries the request through the form", async () => {
    const { challenge } = pkce();
    const params = msalAuthorizeParams(challenge);
    const picker = await openPicker(authorizeUrl(params));
    assert.deepEqual(new Set(picker.accounts), new Set(em.entra.users(contoso.tenantId).map((u) => u.objectId)));
    assert.ok(!picker.accounts.includes(em.fabrikamAdmin.objectId), "another tenant's user is not offered");
    assert.match(picker.html, /<html lang="en">/);
    assert.match(picker.html, /<legend>Accounts<\/legend>/);
    assert.match(picker.html, /<label class="account" for="account-0">/);
    assert.match(picker.html, /<button type="submit">Sign in<\/button>/);
    assert.match(picker.html, /Olga Operator/);
    assert.equal(picker.action, `/${contoso.tenantId}/login`);
    for (const name of ["client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "response_mode"]) {
      assert.equal(picker.fields.get(name), params[name], name);
    }
  });

  it("preselects the account login_hint names", async () => {
    const picker = await openPicker(authorizeUrl(msalAuthorizeParams(pkce().challenge, { login_hint: "OPERATOR@contoso.onmicrosoft.com" })));
    assert.match(picker.html, new RegExp(`value="${em.operator.objectId}" required checked`));
    assert.equal(picker.fields.get("login_hint"), "OPERATOR@contoso.onmicrosoft.com");
    const none = await openPicker(authorizeUrl(msalAuthorizeParams(pkce().challenge)));
    assert.doesNotMatch(none.html, / checked>/);
  });

  it("refuses to register a redirect URI that is not an absolute URL", () => {
    assert.throws(() => em.entra.addRedirectUri(portal.clientId, "/relative", "spa"), /not an absolute URL/);
    assert.throws(() => em.entra.registerApplication({ clientId: randomUUID(), displayName: "x", spaRedirectUris: ["nope"] }), /not an absolute URL/);
  });

  it("offers every tenant's accounts on organizations", async () => {
    const picker = await openPicker(authorizeUrl(msalAuthorizeParams(pkce().challenge, { tenant: "organizations" })));
    assert.ok(picker.accounts.includes(em.operator.objectId));
    assert.ok(picker.accounts.includes(em.fabrikamAdmin.objectId));
  });

  it("answers with an error page, never a redirect, when the tenant, client or redirect URI is wrong", async () => {
    const { challenge } = pkce();
    const cases: [AuthorizeParams, string, number][] = [
      [msalAuthorizeParams(challenge, { tenant: "nowhere.onmicrosoft.com" }), "invalid_tenant", 90002],
      [msalAuthorizeParams(challenge, { client_id: undefined }), "invalid_request", 900144],
      [msalAuthorizeParams(challenge, { client_id: randomUUID() }), "unauthorized_client", 700016],
      [msalAuthorizeParams(challenge, { redirect_uri: "https://evil.example/" }), "invalid_request", 50011],
      [msalAuthorizeParams(challenge, { redirect_uri: `${PORTAL_REDIRECT}x` }), "invalid_request", 50011],
      [msalAuthorizeParams(challenge, { redirect_uri: undefined }), "invalid_request", 50011],
    ];
    for (const [params, error, code] of cases) {
      const res = await fetch(authorizeUrl(params), { redirect: "manual" });
      const html = await res.text();
      assert.equal(res.status, 400, `${error} ${code}: ${html}`);
      assert.equal(res.headers.get("location"), null);
      assert.match(html, new RegExp(`data-error="${error}" data-code="${code}"`));
    }
  });

  it("sends the other errors back to the app with its state, in the fragment or the query as asked", async () => {
    const { challenge } = pkce();
    const cases: [AuthorizeParams, string, number][] = [
      [msalAuthorizeParams(challenge, { response_type: "token" }), "unsupported_response_type", 700054],
      [msalAuthorizeParams(challenge, { response_type: undefined }), "invalid_request", 900144],
      [msalAuthorizeParams(challenge, { scope: undefined }), "invalid_request", 900144],
      [msalAuthorizeParams(challenge, { scope: "api://opencvi-admin/nothing-like-it openid" }), "invalid_scope", 70011],
      [msalAuthorizeParams(challenge, { scope: `${API_SCOPE} User.Read` }), "invalid_scope", 28000],
      [msalAuthorizeParams(challenge, { scope: "api://unknown-api/.default" }), "invalid_resource", 500011],
      [msalAuthorizeParams(challenge, { tenant: northwind.tenantId, scope: "api://opencvi-admin/.default" }), "invalid_resource", 500011],
      [msalAuthorizeParams("", { code_challenge: undefined, code_challenge_method: undefined }), "invalid_request", 9002325],
      [msalAuthorizeParams(challenge, { code_challenge_method: "plain" }), "invalid_request", 501491],
      [msalAuthorizeParams("short", {}), "invalid_request", 501491],
      [msalAuthorizeParams(challenge, { prompt: "whenever" }), "invalid_request", 90023],
      [msalAuthorizeParams(challenge, { prompt: "none" }), "login_required", 50058],
    ];
    for (const [params, error, code] of cases) {
      const res = await fetch(authorizeUrl(params), { redirect: "manual" });
      assert.equal(res.status, 302, `${error} ${code}: ${await res.text()}`);
      const location = new URL(res.headers.get("location")!);
      assert.equal(`${location.origin}${location.pathname}`, PORTAL_REDIRECT);
      assert.equal(location.search, "", "fragment mode leaves the query alone");
      const answer = responseParams(location);
      assert.equal(answer.get("error"), error, `${code}: ${location.href}`);
      assert.match(answer.get("error_description") ?? "", new RegExp(`^AADSTS${code}: `));
      assert.equal(answer.get("state"), params.state);
      assert.equal(answer.get("code"), null);
    }
    const query = await fetch(authorizeUrl(msalAuthorizeParams(challenge, { response_mode: "query", response_type: "token", state: "s1" })), {
      redirect: "manual",
    });
    const location = new URL(query.headers.get("location")!);
    assert.equal(location.hash, "");
    assert.equal(location.searchParams.get("error"), "unsupported_response_type");
    assert.equal(location.searchParams.get("state"), "s1");
  });

  it("re-checks the redirect URI on the form's POST, and asks again when no account of the tenant was picked", async () => {
    const picker = await openPicker(authorizeUrl(msalAuthorizeParams(pkce().challenge)));
    const forged = new URLSearchParams(picker.fields);
    forged.set("redirect_uri", "https://evil.example/");
    forged.set("account", em.operator.objectId);
    const res = await fetch(new URL(picker.action, em.origin), { method: "POST", body: forged, redirect: "manual" });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get("location"), null);
    assert.match(await res.text(), /data-code="50011"/);
    for (const account of [undefined, em.fabrikamAdmin.objectId, randomUUID()]) {
      const body = new URLSearchParams(picker.fields);
      if (account) body.set("account", account);
      const again = await fetch(new URL(picker.action, em.origin), { method: "POST", body, redirect: "manual" });
      assert.equal(again.status, 400);
      assert.equal(again.headers.get("location"), null);
      assert.match(await again.text(), /role="alert">Pick one of this organization&#39;s accounts\./);
    }
  });
});

describe("token: authorization code with PKCE", () => {
  it("redeems the code for an access token with the user's roles, an id token, a refresh token and client_info", async () => {
    const { verifier, challenge } = pkce();
    const params = msalAuthorizeParams(challenge);
    const { location, cookie } = await signIn(params, em.operator.objectId);
    assert.equal(`${location.origin}${location.pathname}`, PORTAL_REDIRECT);
    assert.equal(location.search, "");
    const answer = responseParams(location);
    assert.equal(answer.get("state"), params.state);
    assert.ok(answer.get("session_state"));
    assert.deepEqual(JSON.parse(Buffer.from(answer.get("client_info")!, "base64url").toString()), {
      uid: em.operator.objectId,
      utid: contoso.tenantId,
    });
    assert.match(cookie, /^ESTSAUTH=.+/);

    const res = await postToken(redeemForm(answer.get("code")!, verifier));
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(res.headers.get("access-control-allow-origin"), PORTAL_ORIGIN);
    assert.equal(res.headers.get("cache-control"), "no-store, no-cache");
    assert.equal(res.json.token_type, "Bearer");
    assert.equal(res.json.scope, API_SCOPE);
    assert.equal(res.json.expires_in, 3599);
    assert.equal(typeof res.json.refresh_token, "string");
    assert.equal(res.json.refresh_token_expires_in, 86_400);
    assert.equal(res.json.client_info, answer.get("client_info"));

    const issuer = em.entra.issuerFor(contoso.tenantId);
    const access = await verify(res.json.access_token, adminApi.clientId, issuer);
    assert.deepEqual(access.roles, ["CVI.Admin"]);
    assert.equal(access.scp, "access_as_user");
    assert.equal(access.azp, portal.clientId);
    assert.equal(access.azpacr, "0");
    assert.equal(access.oid, em.operator.objectId);
    assert.equal(access.tid, contoso.tenantId);
    assert.equal(access.preferred_username, "operator@contoso.onmicrosoft.com");
    assert.equal(access.ver, "2.0");
    assert.equal(access.idtyp, undefined);

    const id = await verify(res.json.id_token, portal.clientId, issuer);
    assert.equal(id.nonce, params.nonce);
    assert.equal(id.oid, em.operator.objectId);
    assert.equal(id.tid, contoso.tenantId);
    assert.equal(id.name, "Olga Operator");
    assert.equal(id.preferred_username, "operator@contoso.onmicrosoft.com");
    assert.equal(id.sid, answer.get("session_state"));
    assert.equal(id.ver, "2.0");
    assert.notEqual(id.sub, access.sub, "sub is pairwise: one per app");
    assert.notEqual(id.sub, em.operator.objectId);
  });

  it("answers the browser's CORS preflight for the SPA's origin", async () => {
    const res = await fetch(em.entra.tokenEndpoint(contoso.tenantId), {
      method: "OPTIONS",
      headers: { origin: PORTAL_ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), PORTAL_ORIGIN);
    assert.match(res.headers.get("access-control-allow-methods") ?? "", /POST/);
    assert.equal(res.headers.get("access-control-allow-headers"), "content-type");
  });

  it("gives a tenant's admin a token of their own tenant with CVI.TenantAdmin (signed in on organizations)", async () => {
    const { code, verifier } = await codeFor(em.fabrikamAdmin.objectId, { tenant: "organizations" });
    const res = await postToken(redeemForm(code, verifier), { tenant: "organizations" });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const access = await verify(res.json.access_token, adminApi.clientId, em.entra.issuerFor(fabrikam.tenantId));
    assert.equal(access.tid, fabrikam.tenantId);
    assert.deepEqual(access.roles, ["CVI.TenantAdmin"]);
    const nobody = em.entra.users(contoso.tenantId).find((u) => u.displayName === "No Roles")!;
    const other = await codeFor(nobody.objectId);
    const plain = await postToken(redeemForm(other.code, other.verifier));
    assert.equal(decodeJwt(plain.json.access_token).roles, undefined, "no role assigned: no roles claim");
  });

  it("takes a code once: a replay fails and revokes the refresh token the first redemption issued", async () => {
    const { code, verifier } = await codeFor(em.operator.objectId);
    const first = await postToken(redeemForm(code, verifier));
    assert.equal(first.status, 200);
    const replay = await postToken(redeemForm(code, verifier));
    assertEntraError(replay, 400, "invalid_grant", 54005);
    assert.equal(replay.headers.get("access-control-allow-origin"), PORTAL_ORIGIN, "errors reach the SPA too");
    const refreshed = await postToken({ client_id: portal.clientId, grant_type: "refresh_token", refresh_token: first.json.refresh_token });
    assertEntraError(refreshed, 400, "invalid_grant", 9002313);
  });

  it("refuses a forged code, a wrong verifier, a wrong redirect URI, another client, and a code redeemed without an Origin", async () => {
    assertEntraError(await postToken(redeemForm(`1.${randomBytes(64).toString("base64url")}`, pkce().verifier)), 400, "invalid_grant", 9002313);

    const wrongVerifier = await codeFor(em.operator.objectId);
    assertEntraError(await postToken(redeemForm(wrongVerifier.code, pkce().verifier)), 400, "invalid_grant", 50148);
    // The failed attempt burnt the code: the right verifier cannot use it any more.
    assertEntraError(await postToken(redeemForm(wrongVerifier.code, wrongVerifier.verifier)), 400, "invalid_grant", 54005);

    const noVerifier = await codeFor(em.operator.objectId);
    const form = redeemForm(noVerifier.code, "");
    delete (form as Record<string, string | undefined>).code_verifier;
    assertEntraError(await postToken(form), 400, "invalid_request", 900144);

    const wrongRedirect = await codeFor(em.operator.objectId);
    assertEntraError(
      await postToken(redeemForm(wrongRedirect.code, wrongRedirect.verifier, { redirect_uri: `${PORTAL_ORIGIN}/elsewhere` })),
      400,
      "invalid_grant",
      500112,
    );

    const otherClient = await codeFor(em.operator.objectId);
    assertEntraError(
      await postToken(redeemForm(otherClient.code, otherClient.verifier, { client_id: webApp.clientId })),
      400,
      "invalid_grant",
      70000,
    );
    // Another client naming the code does not burn it.
    assert.equal((await postToken(redeemForm(otherClient.code, otherClient.verifier))).status, 200);

    const otherTenant = await codeFor(em.operator.objectId);
    assertEntraError(
      await postToken(redeemForm(otherTenant.code, otherTenant.verifier), { tenant: fabrikam.tenantId }),
      400,
      "invalid_grant",
      700005,
    );

    const serverSide = await codeFor(em.operator.objectId);
    assertEntraError(await postToken(redeemForm(serverSide.code, serverSide.verifier), { origin: null }), 400, "invalid_request", 9002327);

    assertEntraError(await postToken(redeemForm("x", "y", { client_id: randomUUID() })), 400, "unauthorized_client", 700016);
    assertEntraError(await postToken({ ...redeemForm("x", "y"), code: "" }), 400, "invalid_request", 900144);
  });

  it("lets a code expire", async () => {
    const short = await startEmulator({ authorizationCodeLifetimeSeconds: 0 });
    try {
      const { code, verifier } = await codeFor(short.operator.objectId, {}, short);
      assertEntraError(await postToken(redeemForm(code, verifier), { e: short }), 400, "invalid_grant", 70008);
    } finally {
      short.close();
    }
  });

  it("redeems a web app's code on its server, with its secret and without an Origin", async () => {
    const params = msalAuthorizeParams(pkce().challenge, { client_id: webApp.clientId, redirect_uri: WEB_REDIRECT, response_mode: "query" });
    delete params.code_challenge;
    delete params.code_challenge_method;
    const form = async () => {
      const { location } = await signIn(params, em.operator.objectId);
      return {
        client_id: webApp.clientId,
        redirect_uri: WEB_REDIRECT,
        code: location.searchParams.get("code")!,
        grant_type: "authorization_code",
        client_secret: webApp.clientSecret,
      };
    };
    assertEntraError(await postToken(await form()), 400, "invalid_request", 9002326);
    assertEntraError(await postToken({ ...(await form()), client_secret: "wrong" }, { origin: null }), 401, "invalid_client", 7000215);
    const ok = await postToken(await form(), { origin: null });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal(ok.json.refresh_token_expires_in, undefined, "only SPA refresh tokens have a fixed lifetime");
  });
});

describe("token: refresh tokens", () => {
  it("refreshes for the same API and for another resource, keeping the single-page app's fixed lifetime", async () => {
    const { code, verifier } = await codeFor(em.operator.objectId);
    const first = await postToken(redeemForm(code, verifier));
    const again = await postToken({
      client_id: portal.clientId,
      grant_type: "refresh_token",
      refresh_token: first.json.refresh_token,
      scope: MSAL_SCOPES,
    });
    assert.equal(again.status, 200, JSON.stringify(again.json));
    const access = await verify(again.json.access_token, adminApi.clientId, em.entra.issuerFor(contoso.tenantId));
    assert.deepEqual(access.roles, ["CVI.Admin"]);
    assert.notEqual(again.json.refresh_token, first.json.refresh_token);
    assert.ok(again.json.refresh_token_expires_in <= first.json.refresh_token_expires_in);
    const id = decodeJwt(again.json.id_token);
    assert.equal(id.nonce, undefined);
    assert.equal(id.oid, em.operator.objectId);

    const graph = await postToken({
      client_id: portal.clientId,
      grant_type: "refresh_token",
      refresh_token: first.json.refresh_token,
      scope: "User.Read openid profile offline_access",
    });
    assert.equal(graph.status, 200, JSON.stringify(graph.json));
    assert.equal(decodeJwt(graph.json.access_token).aud, "00000003-0000-0000-c000-000000000000");
    assert.match(graph.json.scope, /User\.Read/);
  });

  it("refuses an unknown or expired refresh token, another client's, and one redeemed without an Origin", async () => {
    const { code, verifier } = await codeFor(em.operator.objectId);
    const { refresh_token } = (await postToken(redeemForm(code, verifier))).json;
    const refresh = (extra: Record<string, string> = {}) => ({ client_id: portal.clientId, grant_type: "refresh_token", refresh_token, ...extra });
    assertEntraError(await postToken(refresh({ refresh_token: `1.${randomBytes(96).toString("base64url")}` })), 400, "invalid_grant", 9002313);
    assertEntraError(await postToken(refresh({ client_id: webApp.clientId })), 400, "invalid_grant", 70000);
    assertEntraError(await postToken(refresh(), { origin: null }), 400, "invalid_request", 9002327);
    assertEntraError(await postToken(refresh({ scope: `${API_SCOPE} User.Read` })), 400, "invalid_scope", 28000);
    assertEntraError(await postToken(refresh({ refresh_token: "" })), 400, "invalid_request", 900144);
    assert.equal((await postToken(refresh())).status, 200, "the failures took nothing away");

    const short = await startEmulator({ refreshTokenLifetimeSeconds: 0 });
    try {
      const c = await codeFor(short.operator.objectId, {}, short);
      const issued = await postToken(redeemForm(c.code, c.verifier), { e: short });
      assert.equal(issued.status, 200);
      const expired = await postToken(
        { client_id: portal.clientId, grant_type: "refresh_token", refresh_token: issued.json.refresh_token },
        { e: short },
      );
      assertEntraError(expired, 400, "invalid_grant", 700084);
    } finally {
      short.close();
    }
  });
});

describe("session and logout", () => {
  it("signs in silently (prompt=none) on the browser's session, and no more after logout", async () => {
    const { cookie } = await signIn(msalAuthorizeParams(pkce().challenge), em.operator.objectId);
    const { verifier, challenge } = pkce();
    const silent = msalAuthorizeParams(challenge, { prompt: "none" });
    const res = await fetch(authorizeUrl(silent), { redirect: "manual", headers: { cookie } });
    assert.equal(res.status, 302);
    const answer = responseParams(new URL(res.headers.get("location")!));
    assert.equal(answer.get("state"), silent.state);
    const tokens = await postToken(redeemForm(answer.get("code")!, verifier));
    assert.equal(tokens.status, 200, JSON.stringify(tokens.json));
    assert.equal(decodeJwt(tokens.json.id_token).nonce, silent.nonce);

    // An interactive prompt still shows the picker, with the session's account chosen.
    const picker = await openPicker(authorizeUrl(msalAuthorizeParams(pkce().challenge, { prompt: "select_account" })), cookie);
    assert.match(picker.html, new RegExp(`value="${em.operator.objectId}" required checked`));
    // The session is Contoso's: a silent request to Fabrikam needs a sign-in.
    const elsewhere = await fetch(
      authorizeUrl(msalAuthorizeParams(challenge, { prompt: "none", tenant: fabrikam.tenantId, scope: "openid profile" })),
      {
        redirect: "manual",
        headers: { cookie },
      },
    );
    assert.equal(responseParams(new URL(elsewhere.headers.get("location")!)).get("error"), "login_required");

    const logout = new URL(`${em.origin}/${contoso.tenantId}/oauth2/v2.0/logout`);
    logout.searchParams.set("post_logout_redirect_uri", PORTAL_REDIRECT);
    logout.searchParams.set("state", "bye");
    const out = await fetch(logout, { redirect: "manual", headers: { cookie } });
    assert.equal(out.status, 302);
    assert.equal(out.headers.get("location"), `${PORTAL_REDIRECT}?state=bye`);
    assert.match(out.headers.get("set-cookie") ?? "", /^ESTSAUTH=; .*Max-Age=0/);
    const after = await fetch(authorizeUrl(msalAuthorizeParams(pkce().challenge, { prompt: "none" })), { redirect: "manual", headers: { cookie } });
    assert.equal(responseParams(new URL(after.headers.get("location")!)).get("error"), "login_required");
  });

  it("shows the signed-out page instead of redirecting to an unregistered post-logout URI", async () => {
    for (const target of ["https://evil.example/", undefined]) {
      const logout = new URL(`${em.origin}/common/oauth2/v2.0/logout`);
      if (target) logout.searchParams.set("post_logout_redirect_uri", target);
      const res = await fetch(logout, { redirect: "manual" });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("location"), null);
      assert.match(await res.text(), /You signed out of your account/);
    }
    // Named client: only that client's URIs count.
    const other = new URL(`${em.origin}/common/oauth2/v2.0/logout`);
    other.searchParams.set("post_logout_redirect_uri", WEB_REDIRECT);
    other.searchParams.set("client_id", portal.clientId);
    assert.equal((await fetch(other, { redirect: "manual" })).status, 200);
  });
});
