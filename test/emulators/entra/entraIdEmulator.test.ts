import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { ClientSecretCredential } from "@azure/identity";
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from "jose";
import { EntraIdEmulator } from "./entraIdEmulator.js";

const CVI_PERMISSIONS = ["Calls.AccessMedia.All", "Calls.JoinGroupCall.All", "Calls.JoinGroupCallAsGuest.All", "OnlineMeetings.Read.All"];
const GRAPH = "https://graph.microsoft.com/.default";
const CALLBACK = "https://127.0.0.1:8443/v1/consent/callback";

const contoso = { tenantId: randomUUID(), domain: "contoso.onmicrosoft.com", displayName: "Contoso" };
const fabrikam = { tenantId: randomUUID(), domain: "fabrikam.onmicrosoft.com", displayName: "Fabrikam" };
const northwind = { tenantId: randomUUID(), domain: "northwind.onmicrosoft.com", displayName: "Northwind Traders" };
const woodgrove = { tenantId: randomUUID(), domain: "woodgrove.onmicrosoft.com", displayName: "Woodgrove Bank" };
const gateway = { clientId: randomUUID(), clientSecret: "gw-secret~1", displayName: "OpenCVI Gateway" };
const adminApi = { clientId: randomUUID(), appIdUri: "api://opencvi-admin" };
const cli = { clientId: randomUUID(), clientSecret: "cli-secret~1" };

let server: Server;
let origin: string;
let entra: EntraIdEmulator;

before(async () => {
  const tls = { cert: readFileSync(".local/tls/server.pem"), key: readFileSync(".local/tls/server-key.pem") };
  server = createServer(tls, (req, res) => {
    entra.handle(req, res).then(
      (handled) => {
        if (!handled) res.writeHead(404).end();
      },
      () => res.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  entra = new EntraIdEmulator({ origin });
  await entra.start();
  for (const t of [contoso, fabrikam, northwind, woodgrove]) entra.addTenant(t);
  entra.registerApplication({ ...gateway, redirectUris: [CALLBACK], requiredApplicationPermissions: CVI_PERMISSIONS });
  entra.registerApplication({
    ...adminApi,
    displayName: "OpenCVI Admin API",
    appRoles: ["CVI.Admin", "CVI.Reader"],
    homeTenantId: contoso.tenantId,
  });
  entra.registerApplication({ ...cli, displayName: "OpenCVI CLI", homeTenantId: contoso.tenantId });
});

after(() => {
  server.closeAllConnections();
  server.close();
});

function credential(tenant: string, clientId = gateway.clientId, secret = gateway.clientSecret): ClientSecretCredential {
  return new ClientSecretCredential(tenant, clientId, secret, { authorityHost: origin, disableInstanceDiscovery: true });
}

async function graphToken(tenant: string): Promise<Record<string, any>> {
  const token = await credential(tenant).getToken(GRAPH);
  assert.ok(token, "a token");
  return decodeJwt(token.token);
}

async function postToken(tenant: string, form: Record<string, string>): Promise<{ status: number; json: any }> {
  const res = await fetch(`${origin}/${tenant}/oauth2/v2.0/token`, { method: "POST", body: new URLSearchParams(form) });
  return { status: res.status, json: await res.json() };
}

function assertEntraError(res: { status: number; json: any }, status: number, error: string, code: number): void {
  assert.equal(res.status, status, JSON.stringify(res.json));
  assert.equal(res.json.error, error);
  assert.deepEqual(res.json.error_codes, [code]);
  assert.match(
    res.json.error_description,
    new RegExp(`^AADSTS${code}: .+ Trace ID: [0-9a-f-]{36} Correlation ID: [0-9a-f-]{36} Timestamp: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ$`),
  );
  assert.equal(typeof res.json.trace_id, "string");
  assert.equal(typeof res.json.correlation_id, "string");
  assert.match(res.json.timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
}

/** What a browser would submit: the form's hidden fields plus the pressed button (and the chosen tenant). */
async function openConsentForm(url: string): Promise<{ action: string; fields: URLSearchParams; html: string; tenantOptions: string[] }> {
  const res = await fetch(url, { redirect: "manual" });
  const html = await res.text();
  assert.equal(res.status, 200, html);
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
  const unesc = (s: string) => s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)));
  const action = unesc(/<form method="post" action="([^"]+)"/.exec(html)![1]!);
  const fields = new URLSearchParams();
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields.append(m[1]!, unesc(m[2]!));
  const tenantOptions = [...html.matchAll(/<option value="([^"]+)">/g)].map((m) => unesc(m[1]!));
  return { action, fields, html, tenantOptions };
}

async function submit(action: string, fields: URLSearchParams, extra: Record<string, string>): Promise<Response> {
  const body = new URLSearchParams(fields);
  for (const [k, v] of Object.entries(extra)) body.set(k, v);
  return fetch(new URL(action, origin), { method: "POST", body, redirect: "manual" });
}

describe("discovery", () => {
  it("serves v2 OpenID configuration by tenant GUID and by domain, with GUID endpoints", async () => {
    for (const segment of [contoso.tenantId, contoso.domain.toUpperCase()]) {
      const res = await fetch(entra.openIdConfigurationUrl(segment));
      assert.equal(res.status, 200);
      const config: any = await res.json();
      assert.equal(config.issuer, `${origin}/${contoso.tenantId}/v2.0`);
      assert.equal(config.issuer, entra.issuerFor(contoso.domain));
      assert.equal(config.token_endpoint, `${origin}/${contoso.tenantId}/oauth2/v2.0/token`);
      assert.equal(config.authorization_endpoint, `${origin}/${contoso.tenantId}/oauth2/v2.0/authorize`);
      assert.equal(config.jwks_uri, `${origin}/${contoso.tenantId}/discovery/v2.0/keys`);
      assert.equal(config.end_session_endpoint, `${origin}/${contoso.tenantId}/oauth2/v2.0/logout`);
      assert.deepEqual(config.id_token_signing_alg_values_supported, ["RS256"]);
      assert.ok(config.response_types_supported.includes("code"));
      assert.deepEqual(config.subject_types_supported, ["pairwise"]);
      assert.equal(config.tenant_region_scope, "NA");
    }
  });

  it("serves the generic organizations document with a {tenantid} issuer, and the v1 shape", async () => {
    const org: any = await (await fetch(entra.openIdConfigurationUrl("organizations"))).json();
    assert.equal(org.issuer, `${origin}/{tenantid}/v2.0`);
    assert.equal(org.token_endpoint, `${origin}/organizations/oauth2/v2.0/token`);
    assert.equal(org.tenant_region_scope, null);
    const v1: any = await (await fetch(`${origin}/${fabrikam.domain}/.well-known/openid-configuration`)).json();
    assert.equal(v1.issuer, `https://sts.windows.net/${fabrikam.tenantId}/`);
    assert.equal(v1.jwks_uri, `${origin}/common/discovery/keys`);
  });

  it("answers an unknown tenant with AADSTS90002 in Entra's error shape", async () => {
    const res = await fetch(entra.openIdConfigurationUrl("nowhere.onmicrosoft.com"));
    assertEntraError({ status: res.status, json: await res.json() }, 400, "invalid_tenant", 90002);
  });

  it("publishes RSA signing keys with kid in the v2 and v1 key sets, and leaves other paths alone", async () => {
    const v2: any = await (await fetch(`${origin}/${contoso.tenantId}/discovery/v2.0/keys`)).json();
    const v1: any = await (await fetch(`${origin}/common/discovery/keys`)).json();
    assert.equal(v2.keys.length, 1);
    assert.equal(v2.keys[0].kty, "RSA");
    assert.equal(v2.keys[0].use, "sig");
    assert.equal(typeof v2.keys[0].kid, "string");
    assert.equal(v2.keys[0].issuer, entra.issuerFor(contoso.tenantId));
    assert.equal(v1.keys[0].kid, v2.keys[0].kid);
    assert.equal(v1.keys[0].issuer, undefined);
    assert.equal((await fetch(`${origin}/v1.0/communications/calls`)).status, 404);
  });
});

describe("client credentials with the real @azure/identity SDK", () => {
  it("a Graph token carries exactly the permissions the tenant consented to, in Entra's v1 app-only shape", async () => {
    entra.grantConsent(contoso.tenantId, gateway.clientId);
    const claims = await graphToken(contoso.tenantId);
    assert.deepEqual([...claims.roles].sort(), CVI_PERMISSIONS);
    assert.equal(claims.aud, "https://graph.microsoft.com");
    assert.equal(claims.iss, `https://sts.windows.net/${contoso.tenantId}/`);
    assert.equal(claims.appid, gateway.clientId);
    assert.equal(claims.app_displayname, gateway.displayName);
    assert.equal(claims.tid, contoso.tenantId);
    assert.equal(claims.idtyp, "app");
    assert.equal(claims.ver, "1.0");
    assert.equal(claims.sub, claims.oid);
    assert.equal(claims.azp, undefined, "v1 tokens name the caller in appid, not azp");
    assert.ok(claims.nbf <= Date.now() / 1000 && claims.exp > Date.now() / 1000 + 3000);
  });

  it("accepts the tenant's domain in place of its GUID", async () => {
    const claims = await graphToken(contoso.domain);
    assert.equal(claims.tid, contoso.tenantId);
  });

  it("a partial grant shows as exactly that subset; a revoked consent as no roles claim at all", async () => {
    entra.grantConsent(fabrikam.tenantId, gateway.clientId, ["Calls.JoinGroupCallAsGuest.All", "OnlineMeetings.Read.All"]);
    assert.deepEqual((await graphToken(fabrikam.tenantId)).roles.sort(), ["Calls.JoinGroupCallAsGuest.All", "OnlineMeetings.Read.All"]);
    entra.revokeConsent(fabrikam.tenantId, gateway.clientId);
    assert.ok(entra.hasServicePrincipal(fabrikam.tenantId, gateway.clientId));
    assert.deepEqual(entra.consentedRoles(fabrikam.tenantId, gateway.clientId), []);
    const claims = await graphToken(fabrikam.tenantId);
    assert.equal("roles" in claims, false);
    assert.equal(claims.tid, fabrikam.tenantId);
  });

  it("rejects a tenant that never consented and an unknown client with AADSTS700016, a wrong secret with AADSTS7000215", async () => {
    await assert.rejects(credential(woodgrove.tenantId).getToken(GRAPH), /AADSTS700016/);
    await assert.rejects(credential(contoso.tenantId, randomUUID(), "x").getToken(GRAPH), /AADSTS700016/);
    await assert.rejects(credential(contoso.tenantId, gateway.clientId, "wrong").getToken(GRAPH), /AADSTS7000215/);
  });

  it("an unknown tenant fails discovery, as against Entra: the SDK reports endpoints_resolution_error, not AADSTS90002", async () => {
    await assert.rejects(credential(randomUUID()).getToken(GRAPH), { name: "CredentialUnavailableError", message: /endpoints_resolution_error/ });
  });

  it("tokens for a custom API carry its app roles assigned to the caller, audience the app ID URI", async () => {
    entra.assignAppRole(contoso.tenantId, adminApi.appIdUri, cli.clientId, "CVI.Admin");
    const token = await credential(contoso.tenantId, cli.clientId, cli.clientSecret).getToken(`${adminApi.appIdUri}/.default`);
    const { payload } = await jwtVerify(token!.token, createRemoteJWKSet(new URL(entra.jwksUri)), {
      issuer: `https://sts.windows.net/${contoso.tenantId}/`,
      audience: adminApi.appIdUri,
    });
    assert.deepEqual(payload.roles, ["CVI.Admin"]);
    assert.equal(payload.appid, cli.clientId);
    // The API has no service principal in Fabrikam, so it cannot be asked for there.
    entra.grantConsent(fabrikam.tenantId, cli.clientId, []);
    await assert.rejects(credential(fabrikam.tenantId, cli.clientId, cli.clientSecret).getToken(`${adminApi.appIdUri}/.default`), /AADSTS500011/);
  });

  it("Graph tokens verify against the served JWKS with the documented issuer and audience", async () => {
    const token = await credential(contoso.tenantId).getToken(GRAPH);
    const config: any = await (await fetch(entra.openIdConfigurationUrl(contoso.tenantId))).json();
    const { protectedHeader } = await jwtVerify(token!.token, createRemoteJWKSet(new URL(config.jwks_uri)), {
      issuer: `https://sts.windows.net/${contoso.tenantId}/`,
      audience: "https://graph.microsoft.com",
      algorithms: ["RS256"],
    });
    assert.equal(protectedHeader.typ, "JWT");
    assert.equal(typeof protectedHeader.kid, "string");
  });
});

describe("token endpoint errors on the wire", () => {
  const base = () => ({ grant_type: "client_credentials", client_id: gateway.clientId, client_secret: gateway.clientSecret, scope: GRAPH });

  it("answers each failure with its documented error and AADSTS code", async () => {
    const cases: [string, Record<string, string>, number, string, number][] = [
      [randomUUID(), base(), 400, "invalid_request", 90002],
      ["organizations", base(), 400, "invalid_request", 50059],
      [contoso.tenantId, { ...base(), grant_type: "password" }, 400, "unsupported_grant_type", 70003],
      [contoso.tenantId, { ...base(), client_id: randomUUID() }, 400, "unauthorized_client", 700016],
      [contoso.tenantId, { ...base(), client_secret: "nope" }, 401, "invalid_client", 7000215],
      [contoso.tenantId, { ...base(), client_secret: "" }, 401, "invalid_client", 7000218],
      [contoso.tenantId, { ...base(), scope: "" }, 400, "invalid_request", 900144],
      [contoso.tenantId, { ...base(), scope: "https://graph.microsoft.com/User.Read.All" }, 400, "invalid_scope", 1002012],
      [contoso.tenantId, { ...base(), scope: `${GRAPH} api://opencvi-admin/.default` }, 400, "invalid_scope", 70011],
      [contoso.tenantId, { ...base(), scope: "api://nothing-here/.default" }, 400, "invalid_resource", 500011],
    ];
    for (const [tenant, form, status, error, code] of cases) assertEntraError(await postToken(tenant, form), status, error, code);
    const correlationId = randomUUID();
    const echoed = await fetch(`${origin}/${contoso.tenantId}/oauth2/v2.0/token?client-request-id=${correlationId}`, {
      method: "POST",
      body: new URLSearchParams({ ...base(), client_secret: "nope" }),
    });
    assert.equal(((await echoed.json()) as any).correlation_id, correlationId, "the caller's client-request-id comes back as the correlation id");
    const get = await fetch(`${origin}/${contoso.tenantId}/oauth2/v2.0/token`);
    assertEntraError({ status: get.status, json: await get.json() }, 400, "invalid_request", 900561);
  });

  it("also accepts client_secret_basic and the Graph app id as the resource", async () => {
    const res = await fetch(`${origin}/${contoso.tenantId}/oauth2/v2.0/token`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${gateway.clientId}:${encodeURIComponent(gateway.clientSecret)}`).toString("base64")}` },
      body: new URLSearchParams({ grant_type: "client_credentials", scope: "00000003-0000-0000-c000-000000000000/.default" }),
    });
    const json: any = await res.json();
    assert.equal(res.status, 200, JSON.stringify(json));
    assert.equal(json.token_type, "Bearer");
    assert.equal(json.expires_in, 3599);
    assert.equal(json.ext_expires_in, 3599);
    assert.equal(decodeJwt(json.access_token).aud, "00000003-0000-0000-c000-000000000000");
  });
});

describe("minted tokens (issueToken)", () => {
  const jwks = () => createRemoteJWKSet(new URL(entra.jwksUri));

  it("verify against the JWKS with issuerFor(tenant); forged ones do not", async () => {
    const token = await entra.issueToken({ tenantId: contoso.tenantId, audience: "api://opencvi-admin", roles: ["CVI.Admin"] });
    const { payload } = await jwtVerify(token, jwks(), { issuer: entra.issuerFor(contoso.tenantId), audience: "api://opencvi-admin" });
    assert.deepEqual(payload.roles, ["CVI.Admin"]);
    assert.equal(payload.ver, "2.0");
    assert.equal(payload.idtyp, "app");
    assert.equal(payload.tid, contoso.tenantId);
    const forged = await entra.issueToken({ tenantId: contoso.tenantId, audience: "api://opencvi-admin", roles: ["CVI.Admin"], forged: true });
    assert.equal(decodeProtectedHeader(forged).kid, decodeProtectedHeader(token).kid);
    await assert.rejects(jwtVerify(forged, jwks()), joseErrors.JWSSignatureVerificationFailed);
    const expired = await entra.issueToken({ tenantId: contoso.tenantId, audience: "api://opencvi-admin", expiresInSeconds: -600 });
    await assert.rejects(jwtVerify(expired, jwks()), joseErrors.JWTExpired);
    assert.equal("roles" in decodeJwt(expired), false);
  });

  it("after a key rotation both old and new tokens verify", async () => {
    const before = await entra.issueToken({ tenantId: contoso.tenantId, audience: "api://opencvi-admin", roles: ["CVI.Reader"] });
    const kid = await entra.rotateSigningKey();
    const afterRotation = await entra.issueToken({ tenantId: contoso.tenantId, audience: "api://opencvi-admin", roles: ["CVI.Reader"] });
    assert.equal(decodeProtectedHeader(afterRotation).kid, kid);
    for (const t of [before, afterRotation]) await jwtVerify(t, jwks(), { issuer: entra.issuerFor(contoso.tenantId) });
  });
});

describe("admin consent page", () => {
  const consentUrl = (tenant: string, state = `st-${randomUUID()}`, redirectUri = CALLBACK) =>
    entra.adminConsentUrl({ tenant, clientId: gateway.clientId, redirectUri, state });

  it("lists the app's permissions; Accept redirects with admin_consent=True, tenant, scope and state, and grants them", async () => {
    const state = "opaque/state+with=chars&more";
    const { action, fields, html } = await openConsentForm(consentUrl(northwind.tenantId, state));
    assert.ok(html.includes(gateway.displayName));
    assert.ok(html.includes(northwind.displayName));
    for (const p of CVI_PERMISSIONS) assert.ok(html.includes(`data-permission="${p}"`), p);
    assert.match(html, /value="accept"[^>]*>Accept</);
    assert.match(html, /value="cancel"[^>]*>Cancel</);
    const res = await submit(action, fields, { decision: "accept" });
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get("location")!);
    assert.equal(`${location.origin}${location.pathname}`, CALLBACK);
    assert.equal(location.searchParams.get("admin_consent"), "True");
    assert.equal(location.searchParams.get("tenant"), northwind.tenantId);
    assert.equal(location.searchParams.get("scope"), GRAPH);
    assert.equal(location.searchParams.get("state"), state);
    assert.deepEqual(entra.consentedRoles(northwind.tenantId, gateway.clientId), CVI_PERMISSIONS);
    assert.deepEqual((await graphToken(northwind.tenantId)).roles.sort(), CVI_PERMISSIONS);
  });

  it("Cancel redirects with access_denied, AADSTS65004 and the state, granting nothing", async () => {
    const { action, fields } = await openConsentForm(consentUrl(woodgrove.domain, "s-1"));
    const res = await submit(action, fields, { decision: "cancel" });
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get("location")!);
    assert.equal(location.searchParams.get("error"), "access_denied");
    assert.equal(location.searchParams.get("error_description"), "AADSTS65004: User declined to consent to access the app.");
    assert.equal(location.searchParams.get("state"), "s-1");
    assert.equal(location.searchParams.has("admin_consent"), false);
    assert.equal(entra.hasServicePrincipal(woodgrove.tenantId, gateway.clientId), false);
  });

  it("an unregistered redirect_uri gets an AADSTS50011 error page, never a redirect (also on the POST)", async () => {
    const res = await fetch(consentUrl(contoso.tenantId, "s", "https://evil.example/cb"), { redirect: "manual" });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get("location"), null);
    assert.match(await res.text(), /AADSTS50011/);
    const { action, fields } = await openConsentForm(consentUrl(contoso.tenantId));
    fields.set("redirect_uri", "https://evil.example/cb");
    const post = await submit(action, fields, { decision: "accept" });
    assert.equal(post.status, 400);
    assert.equal(post.headers.get("location"), null);
    const unknownApp = await fetch(entra.adminConsentUrl({ tenant: contoso.tenantId, clientId: randomUUID(), redirectUri: CALLBACK }), {
      redirect: "manual",
    });
    assert.equal(unknownApp.status, 400);
    assert.match(await unknownApp.text(), /AADSTS700016/);
  });

  it("with organizations the admin picks their tenant, and the callback names it", async () => {
    const { action, fields, html, tenantOptions } = await openConsentForm(consentUrl("organizations", "org-state"));
    assert.match(html, /<select id="tenant" name="tenant" required>/);
    assert.deepEqual(tenantOptions.sort(), [contoso, fabrikam, northwind, woodgrove].map((t) => t.tenantId).sort());
    const unchosen = await submit(action, fields, { decision: "accept" });
    assert.equal(unchosen.status, 400);
    assert.equal(unchosen.headers.get("location"), null);
    const res = await submit(action, fields, { decision: "accept", tenant: woodgrove.tenantId });
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get("location")!);
    assert.equal(location.searchParams.get("tenant"), woodgrove.tenantId);
    assert.equal(location.searchParams.get("state"), "org-state");
    assert.deepEqual(entra.consentedRoles(woodgrove.tenantId, gateway.clientId), CVI_PERMISSIONS);
  });

  it("a tenant that withholds one permission grants all but it", async () => {
    entra.revokeConsent(fabrikam.tenantId, gateway.clientId);
    entra.withholdPermissions(fabrikam.tenantId, gateway.clientId, ["Calls.AccessMedia.All"]);
    const { action, fields } = await openConsentForm(consentUrl(fabrikam.tenantId));
    const res = await submit(action, fields, { decision: "accept" });
    assert.equal(new URL(res.headers.get("location")!).searchParams.get("admin_consent"), "True");
    const expected = CVI_PERMISSIONS.filter((p) => p !== "Calls.AccessMedia.All");
    assert.deepEqual(entra.consentedRoles(fabrikam.tenantId, gateway.clientId), expected);
    assert.deepEqual((await graphToken(fabrikam.tenantId)).roles.sort(), expected);
  });

  it("a missing scope is refused back to the app (redirect_uri is valid by then)", async () => {
    const url = new URL(consentUrl(contoso.tenantId, "s-2"));
    url.searchParams.delete("scope");
    const res = await fetch(url, { redirect: "manual" });
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get("location")!);
    assert.equal(location.searchParams.get("error"), "invalid_request");
    assert.match(location.searchParams.get("error_description")!, /^AADSTS900144/);
    assert.equal(location.searchParams.get("state"), "s-2");
  });
});
