import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { encodeConsentState } from "../../shared/domain/consent.js";
import { decideConsent } from "../support/onboarding.js";
import { BOT_APP_PERMISSIONS, LOCAL_BOT_APP_ID, type LocalStack, startLocalStack } from "../../local/stack.js";

let stack: LocalStack;
let token: string;

before(async () => {
  stack = await startLocalStack({ logLevel: "none" });
  token = await stack.issueToken();
});
after(() => stack.stop());

const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${stack.adminApiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json().catch(() => undefined)) as any };
};

/** A tenant known to both our admin API and the Entra ID emulator. */
async function onboard(): Promise<{ tenantId: string; tenantKey: string }> {
  const tenantId = randomUUID();
  stack.entra.addTenant({ tenantId, domain: `t${tenantId.slice(0, 8)}.onmicrosoft.com`, displayName: `Tenant ${tenantId.slice(0, 8)}` });
  const created = await api("POST", "/v1/tenants", { tenantId, name: `Tenant ${tenantId.slice(0, 8)}` });
  assert.equal(created.status, 201);
  return created.json;
}

async function consentLink(tenantId: string): Promise<string> {
  const link = await api("POST", `/v1/tenants/${tenantId}/consent-link`);
  assert.equal(link.status, 201);
  assert.ok(new Date(link.json.expiresAt).getTime() > Date.now());
  return link.json.url;
}

describe("tenant admin consent, end to end over HTTP", () => {
  it("grants: the link leads to Entra ID's page, the callback proves the roles and records them", async () => {
    const tenant = await onboard();
    const url = new URL(await consentLink(tenant.tenantId));
    assert.equal(url.origin, stack.entra.origin);
    assert.equal(url.pathname, `/${tenant.tenantId}/v2.0/adminconsent`);
    assert.equal(url.searchParams.get("client_id"), LOCAL_BOT_APP_ID);
    assert.equal(url.searchParams.get("redirect_uri"), `${stack.publicBaseUrl}/api/consent/callback`);

    const back = await decideConsent(url.toString(), "accept");
    assert.equal(back.searchParams.get("admin_consent"), "True");
    const result = await fetch(back);
    assert.equal(result.status, 200);
    assert.match(await result.text(), /Video conferencing devices are enabled/);
    const stored = await api("GET", `/v1/tenants/${tenant.tenantId}`);
    assert.equal(stored.json.consent.status, "granted");
    assert.deepEqual([...stored.json.consent.roles].sort(), [...BOT_APP_PERMISSIONS].sort());
    assert.deepEqual(stored.json.consent.missing, []);

    // The same redirect again (a replay) changes nothing.
    const replay = await fetch(back);
    assert.equal(replay.status, 400);
    assert.match(await replay.text(), /used already/);
    assert.equal((await api("GET", `/v1/tenants/${tenant.tenantId}`)).json.consent.grantedAt, stored.json.consent.grantedAt);
  });

  it("declined: the decision is recorded and dial-ins will be refused", async () => {
    const tenant = await onboard();
    const back = await decideConsent(await consentLink(tenant.tenantId), "cancel");
    assert.equal(back.searchParams.get("error"), "access_denied");
    const result = await fetch(back);
    assert.equal(result.status, 200);
    assert.match(await result.text(), /Consent declined/);
    const stored = await api("GET", `/v1/tenants/${tenant.tenantId}`);
    assert.equal(stored.json.consent.status, "declined");
    assert.match(stored.json.consent.reason, /AADSTS65004/);
  });

  it("all but one permission: recorded as incomplete, naming what is missing", async () => {
    const tenant = await onboard();
    stack.entra.withholdPermissions(tenant.tenantId, LOCAL_BOT_APP_ID, ["OnlineMeetings.Read.All"]);
    const result = await fetch(await decideConsent(await consentLink(tenant.tenantId), "accept"));
    const page = await result.text();
    assert.match(page, /Some permissions are missing/);
    assert.match(page, /OnlineMeetings\.Read\.All/);
    const stored = await api("GET", `/v1/tenants/${tenant.tenantId}`);
    assert.equal(stored.json.consent.status, "incomplete");
    assert.deepEqual(stored.json.consent.missing, ["OnlineMeetings.Read.All"]);
  });

  it("refuses forged, expired, replayed-after-renewal and cross-tenant states, changing nothing", async () => {
    const tenant = await onboard();
    const other = await onboard();
    const callback = (query: Record<string, string>) => fetch(`${stack.publicBaseUrl}/api/consent/callback?${new URLSearchParams(query)}`);
    const link = new URL(await consentLink(tenant.tenantId));
    const state = link.searchParams.get("state") ?? "";

    const [payload, signature] = state.split(".");
    const tampered = `${Buffer.from(JSON.stringify({ t: other.tenantId, n: "x", e: 9999999999 })).toString("base64url")}.${signature}`;
    const forged = await callback({ admin_consent: "True", tenant: other.tenantId, state: tampered });
    assert.equal(forged.status, 400);
    assert.match(await forged.text(), /not issued by this service/);

    const expiredState = encodeConsentState(
      { tenantId: tenant.tenantId, nonce: "n", expiresAt: new Date(Date.now() - 1000) },
      stack.settings.STATE_SIGNING_KEY ?? "",
    );
    const expired = await callback({ admin_consent: "True", tenant: tenant.tenantId, state: expiredState });
    assert.equal(expired.status, 400);
    assert.match(await expired.text(), /expired/);

    const wrongTenant = await callback({ admin_consent: "True", tenant: other.tenantId, state: `${payload}.${signature}` });
    assert.equal(wrongTenant.status, 400);
    assert.match(await wrongTenant.text(), /different organization/);

    // A newer link replaces the older one: the old state is no longer accepted.
    await consentLink(tenant.tenantId);
    const stale = await callback({ admin_consent: "True", tenant: tenant.tenantId, state });
    assert.equal(stale.status, 400);

    assert.equal((await callback({ admin_consent: "True" })).status, 400, "no state at all");
    for (const t of [tenant, other]) assert.equal((await api("GET", `/v1/tenants/${t.tenantId}`)).json.consent.status, "none");
  });
});
