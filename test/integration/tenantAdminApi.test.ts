import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { processBus } from "../../functions/adapters/bus/processBus.js";
import { type SeededDemo, seedDemo } from "../../local/demo.js";
import { ADMIN_API_APP_ID_URI, type LocalStack, OPERATOR_ROLE, startLocalStack, TENANT_ADMIN_ROLE } from "../../local/stack.js";
import { adminApi, type EnabledMeeting, enabledMeeting, holdLease, onboardTenant } from "../support/onboarding.js";
import { callHandler } from "../support/functionsHarness.js";
import { signInAs } from "../support/userSignIn.js";
import { tenantsConsentLink } from "../../functions/handlers/tenantsConsentLink.js";

/**
 * Issue 16's roles, enforced by the admin API: the operator (CVI.Admin) works on every
 * tenant; a tenant's own admin (CVI.TenantAdmin, signed in from their tenant on the Entra ID
 * emulator) sees and changes only that tenant, and is answered 403 for any other.
 */

const HOST = "mh-tenant-admin";
let stack: LocalStack;
let demo: SeededDemo;
/** Another onboarded tenant, with a meeting its devices can join. */
let other: EnabledMeeting;
let lease: Awaited<ReturnType<typeof holdLease>>;
/** Tokens the Entra ID emulator issued on sign-in. */
let demoAdmin: string;
let otherAdmin: string;
let operator: string;

function assertProblem(res: { status: number; headers: Headers; json: any; text: string }, status: number, detail?: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/);
  assert.equal(res.json.status, status);
  if (detail) assert.match(res.json.detail, detail);
}

/** A user of `tenantId` holding `roles` on the admin API there, signed in: their access token. */
async function tenantUserToken(tenantId: string, roles: readonly string[]): Promise<string> {
  const user = stack.entra.addUser({
    tenantId,
    userPrincipalName: `admin-${randomUUID().slice(0, 8)}@${tenantId.slice(0, 8)}.example.com`,
    displayName: "A tenant admin",
  });
  for (const role of roles) stack.entra.assignUserAppRole(tenantId, ADMIN_API_APP_ID_URI, user.objectId, role);
  return signInAs(stack, user.objectId);
}

/** Joins the meeting as this test's media host would; returns the call id. */
async function join(meeting: { tenantKey: string; vtcId: string }, name: string): Promise<string> {
  const res = await adminApi(
    stack,
    "POST",
    "/v1/calls",
    {
      tenantKey: meeting.tenantKey,
      vtcId: meeting.vtcId,
      displayName: name,
      mediaHostId: HOST,
      mediaHostEpoch: lease.epoch,
      deviceCallId: `sip-${randomUUID()}`,
      mediaBlob: "{}",
    },
    await stack.issueToken({ roles: ["CVI.MediaHost"] }),
  );
  assert.equal(res.status, 201, res.text);
  return res.json.callId;
}

before(async () => {
  stack = await startLocalStack({ logLevel: "none" });
  demo = await seedDemo(stack);
  other = await enabledMeeting(stack, { subject: "Another tenant's meeting" });
  lease = await holdLease(stack, HOST);
  processBus.subscribe(HOST, async () => {});
  demoAdmin = await signInAs(stack, demo.admin.objectId);
  otherAdmin = await tenantUserToken(other.tenant.tenantId, [TENANT_ADMIN_ROLE]);
  operator = await signInAs(stack, stack.portalSignIn.operator.objectId);
});
after(async () => {
  await lease.release();
  await stack.stop();
});

describe("a tenant admin and their own tenant", () => {
  it("the demo tenant's admin lists only the demo tenant, and reads it by id and by key", async () => {
    const list = await adminApi(stack, "GET", "/v1/tenants", undefined, demoAdmin);
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(
      list.json.value.map((t: { tenantId: string }) => t.tenantId),
      [demo.tenantId],
    );
    assert.equal(list.json.continuationToken, undefined);
    const byId = await adminApi(stack, "GET", `/v1/tenants/${demo.tenantId}`, undefined, demoAdmin);
    assert.equal(byId.status, 200, byId.text);
    assert.equal(byId.json.tenantKey, demo.tenantKey);
    const byKey = await adminApi(stack, "GET", `/v1/tenants/${encodeURIComponent(demo.tenantKey)}`, undefined, demoAdmin);
    assert.equal(byKey.json.tenantId, demo.tenantId);
    const link = await adminApi(stack, "POST", `/v1/tenants/${demo.tenantId}/consent-link`, undefined, demoAdmin);
    assert.equal(link.status, 201, link.text);
  });

  it("the operator still lists every tenant, the demo and the other one", async () => {
    const list = await adminApi(stack, "GET", "/v1/tenants?top=1000", undefined, operator);
    assert.equal(list.status, 200, list.text);
    const ids = list.json.value.map((t: { tenantId: string }) => t.tenantId);
    assert.ok(ids.includes(demo.tenantId) && ids.includes(other.tenant.tenantId), ids.join());
  });

  it("providers, grants and the effective policy of their own tenant: read and changed", async () => {
    const base = `/v1/tenants/${demo.tenantId}`;
    const providers = await adminApi(stack, "GET", `${base}/providers`, undefined, demoAdmin);
    assert.equal(providers.status, 200, providers.text);
    assert.deepEqual(
      providers.json.value.map((p: { identity: string }) => p.identity),
      ["OpenCVI"],
    );
    assert.equal((await adminApi(stack, "GET", `${base}/providers/OpenCVI`, undefined, demoAdmin)).status, 200);
    const set = await adminApi(stack, "PATCH", `${base}/providers/OpenCVI`, { instructionUri: "https://example.com/join/{ConfId}" }, demoAdmin);
    assert.equal(set.status, 200, set.text);
    assert.equal(set.json.instructionUri, "https://example.com/join/{ConfId}");
    const groupId = randomUUID();
    const userId = randomUUID();
    const group = await adminApi(
      stack,
      "PUT",
      `${base}/policy-assignments/groups/${groupId}`,
      { policyName: "ServiceProviderDisabled", rank: 1 },
      demoAdmin,
    );
    assert.equal(group.status, 200, group.text);
    const effective = await adminApi(stack, "GET", `${base}/users/${userId}/effective-policy?groupId=${groupId}`, undefined, demoAdmin);
    assert.equal(effective.status, 200, effective.text);
    assert.equal(effective.json.policy.name, "ServiceProviderDisabled");
    assert.deepEqual(effective.json.source, { kind: "group", groupId, rank: 1 });
    assert.equal((await adminApi(stack, "GET", `${base}/policy-assignments`, undefined, demoAdmin)).status, 200);
    assert.equal((await adminApi(stack, "GET", `${base}/policy-assignments/users`, undefined, demoAdmin)).status, 200);
    assert.equal((await adminApi(stack, "GET", "/v1/policies", undefined, demoAdmin)).status, 200);
    const removed = await adminApi(stack, "PUT", `${base}/policy-assignments/groups/${groupId}`, { policyName: null }, demoAdmin);
    assert.equal(removed.status, 200, removed.text);
  });
});

describe("a tenant admin and any other tenant: 403, and nothing changes", () => {
  it("another tenant's GET, DELETE and consent link, by id and by key, and a key that leads nowhere", async () => {
    for (const ref of [other.tenant.tenantId, other.tenant.tenantId.toUpperCase(), other.tenant.tenantKey, "987654321@t.cvi.localhost"]) {
      const path = `/v1/tenants/${encodeURIComponent(ref)}`;
      assertProblem(await adminApi(stack, "GET", path, undefined, demoAdmin), 403, /only on their own tenant/);
      assertProblem(await adminApi(stack, "DELETE", path, undefined, demoAdmin), 403);
      assertProblem(await adminApi(stack, "POST", `${path}/consent-link`, undefined, demoAdmin), 403);
    }
    const still = await adminApi(stack, "GET", `/v1/tenants/${other.tenant.tenantId}`, undefined, operator);
    assert.equal(still.status, 200, "the other tenant was not removed");
    // The other tenant's admin is held the same way, the other way round.
    assertProblem(await adminApi(stack, "GET", `/v1/tenants/${demo.tenantId}`, undefined, otherAdmin), 403);
    const theirs = await adminApi(stack, "GET", "/v1/tenants", undefined, otherAdmin);
    assert.deepEqual(
      theirs.json.value.map((t: { tenantId: string }) => t.tenantId),
      [other.tenant.tenantId],
    );
  });

  it("another tenant's providers, grants, user grants and effective policy", async () => {
    const base = `/v1/tenants/${other.tenant.tenantId}`;
    const before = await adminApi(stack, "GET", `${base}/policy-assignments`, undefined, operator);
    const attempts: [string, string, unknown?][] = [
      ["GET", `${base}/providers`],
      ["GET", `${base}/providers/OpenCVI`],
      ["POST", `${base}/providers`, { identity: "Intruder", tenantKey: demo.tenantKey }],
      ["PATCH", `${base}/providers/OpenCVI`, { instructionUri: "https://attacker.example/{ConfId}" }],
      ["DELETE", `${base}/providers/OpenCVI`],
      ["GET", `${base}/policy-assignments`],
      ["PUT", `${base}/policy-assignments/global`, { policyName: "ServiceProviderDisabled" }],
      ["PUT", `${base}/policy-assignments/groups/${randomUUID()}`, { policyName: "ServiceProviderDisabled", rank: 1 }],
      ["PUT", `${base}/policy-assignments/users/${randomUUID()}`, { policyName: "ServiceProviderDisabled" }],
      ["GET", `${base}/policy-assignments/users`],
      ["GET", `${base}/users/${randomUUID()}/effective-policy`],
    ];
    for (const [method, path, body] of attempts) assertProblem(await adminApi(stack, method, path, body, demoAdmin), 403, /only on their own tenant/);
    const provider = await adminApi(stack, "GET", `${base}/providers/OpenCVI`, undefined, operator);
    assert.equal(provider.status, 200, "the provider is still there");
    assert.equal(provider.json.instructionUri ?? null, null);
    const afterwards = await adminApi(stack, "GET", `${base}/policy-assignments`, undefined, operator);
    assert.deepEqual(afterwards.json, before.json, "the grants are unchanged");
  });

  it("operator-only routes: onboarding and removing a tenant (their own too), the pool, and the media hosts' routes", async () => {
    const tenantId = randomUUID();
    assertProblem(await adminApi(stack, "POST", "/v1/tenants", { tenantId, name: "Sneaky" }, demoAdmin), 403, /CVI\.Admin/);
    assertProblem(await adminApi(stack, "DELETE", `/v1/tenants/${demo.tenantId}`, undefined, demoAdmin), 403, /CVI\.Admin/);
    assert.equal((await adminApi(stack, "GET", `/v1/tenants/${demo.tenantId}`, undefined, operator)).status, 200, "still there");
    assertProblem(await adminApi(stack, "GET", `/v1/tenants/${tenantId}`, undefined, operator), 404);
    assertProblem(await adminApi(stack, "GET", "/v1/pool/hosts", undefined, demoAdmin), 403);
    assertProblem(await adminApi(stack, "POST", `/v1/pool/hosts/${HOST}/drain`, {}, demoAdmin), 403);
    assertProblem(
      await adminApi(stack, "GET", `/v1/resolve?tenantKey=${encodeURIComponent(demo.tenantKey)}&vtcId=${demo.vtcId}`, undefined, demoAdmin),
      403,
    );
  });

  it("a CVI.Admin role assigned in the tenant's own directory is not honoured: still held to that tenant", async () => {
    const selfMade = await tenantUserToken(other.tenant.tenantId, [OPERATOR_ROLE, TENANT_ADMIN_ROLE, "CVI.MediaHost"]);
    assertProblem(await adminApi(stack, "POST", "/v1/tenants", { tenantId: randomUUID(), name: "Sneaky" }, selfMade), 403);
    assertProblem(await adminApi(stack, "GET", `/v1/tenants/${demo.tenantId}`, undefined, selfMade), 403);
    assertProblem(await adminApi(stack, "GET", "/v1/pool/hosts", undefined, selfMade), 403);
    const resolve = `/v1/resolve?tenantKey=${encodeURIComponent(other.tenant.tenantKey)}&vtcId=${other.vtcId}`;
    assertProblem(await adminApi(stack, "GET", resolve, undefined, selfMade), 403, /CVI\.MediaHost/);
    const list = await adminApi(stack, "GET", "/v1/tenants", undefined, selfMade);
    assert.deepEqual(
      list.json.value.map((t: { tenantId: string }) => t.tenantId),
      [other.tenant.tenantId],
    );
  });
});

describe("calls, held to the tenant admin's own tenant", () => {
  it("lists, shows and hangs up their own tenant's calls; another tenant's are refused and stay up", async () => {
    const ours = await join(demo, "Demo boardroom");
    const theirs = await join({ tenantKey: other.tenant.tenantKey, vtcId: other.vtcId }, "Their boardroom");
    const live = await adminApi(stack, "GET", "/v1/calls?state=live", undefined, demoAdmin);
    assert.equal(live.status, 200, live.text);
    const ids = live.json.value.map((c: { callId: string }) => c.callId);
    assert.ok(ids.includes(ours), "their own call is listed");
    assert.ok(!ids.includes(theirs), "another tenant's call is not");
    assert.ok(live.json.value.every((c: { tenantId: string }) => c.tenantId === demo.tenantId));
    assertProblem(await adminApi(stack, "GET", `/v1/calls?state=live&tenant=${other.tenant.tenantId}`, undefined, demoAdmin), 403);
    assertProblem(await adminApi(stack, "GET", `/v1/calls?state=ended&tenant=${other.tenant.tenantId}`, undefined, demoAdmin), 403);
    assertProblem(await adminApi(stack, "GET", `/v1/calls/${theirs}`, undefined, demoAdmin), 403);
    assertProblem(await adminApi(stack, "POST", `/v1/calls/${theirs}/hangup`, undefined, demoAdmin), 403);
    const stillUp = await adminApi(stack, "GET", `/v1/calls/${theirs}`, undefined, operator);
    assert.equal(stillUp.json.endedAt, null, "another tenant's call is still up");

    assert.equal((await adminApi(stack, "GET", `/v1/calls/${ours}`, undefined, demoAdmin)).status, 200);
    const hungUp = await adminApi(stack, "POST", `/v1/calls/${ours}/hangup`, undefined, demoAdmin);
    assert.equal(hungUp.status, 200, hungUp.text);
    assert.ok(hungUp.json.endedAt);
    assert.equal(hungUp.json.endedBy, "operator", "ended through the admin API");
    assert.equal(hungUp.json.endReason, "the tenant's admin hung up the call");
    const history = await adminApi(stack, "GET", "/v1/calls?state=ended", undefined, demoAdmin);
    assert.equal(history.status, 200, history.text);
    assert.ok(history.json.value.some((c: { callId: string }) => c.callId === ours));
    assert.ok(history.json.value.every((c: { tenantId: string }) => c.tenantId === demo.tenantId));
    assert.equal((await adminApi(stack, "POST", `/v1/calls/${theirs}/hangup`, undefined, operator)).status, 200);
  });
});

describe("the audit line", () => {
  it("names a tenant admin with their tenant, through the Functions handler itself", async () => {
    const res = await callHandler(tenantsConsentLink, {
      method: "POST",
      path: `/v1/tenants/${demo.tenantId}/consent-link`,
      params: { tenant: demo.tenantId },
      token: demoAdmin,
    });
    assert.equal(res.status, 201, res.text);
    assert.ok(
      res.logs.some((l) =>
        l.endsWith(`admin POST /api/v1/tenants/${demo.tenantId}/consent-link by ${demo.admin.objectId} of tenant ${demo.tenantId} -> 201`),
      ),
      res.logs.join("\n"),
    );
    const refused = await callHandler(tenantsConsentLink, {
      method: "POST",
      path: `/v1/tenants/${other.tenant.tenantId}/consent-link`,
      params: { tenant: other.tenant.tenantId },
      token: demoAdmin,
    });
    assertProblem(refused, 403);
    assert.ok(
      refused.logs.some((l) => l.includes(`of tenant ${demo.tenantId} -> 403`)),
      refused.logs.join("\n"),
    );
  });
});

describe("tokens of tenants that are not onboarded", () => {
  it("401 problem+json naming the tenant for a tenant Entra knows but this service does not", async () => {
    const tenantId = randomUUID();
    stack.entra.addTenant({ tenantId, domain: `n${tenantId.slice(0, 8)}.onmicrosoft.com`, displayName: "Northwind" });
    const stranger = await tenantUserToken(tenantId, [TENANT_ADMIN_ROLE]);
    const res = await adminApi(stack, "GET", "/v1/tenants", undefined, stranger);
    assertProblem(res, 401, new RegExp(`tenant ${tenantId} is not onboarded`));
    assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer error="invalid_token"/);
    assertProblem(await adminApi(stack, "GET", `/v1/tenants/${tenantId}`, undefined, stranger), 401);
  });

  it("a removed tenant's admin is shut out at once (401), though their token has not expired", async () => {
    const gone = await onboardTenant(stack, { consent: false });
    const token = await tenantUserToken(gone.tenantId, [TENANT_ADMIN_ROLE]);
    assert.equal((await adminApi(stack, "GET", `/v1/tenants/${gone.tenantId}`, undefined, token)).status, 200);
    assert.equal((await adminApi(stack, "DELETE", `/v1/tenants/${gone.tenantId}`, undefined, operator)).status, 204);
    assertProblem(await adminApi(stack, "GET", "/v1/tenants", undefined, token), 401, /not onboarded/);
  });
});

describe("the OpenAPI description", () => {
  it("names the roles of each operation and documents the tenant admin's 403", async () => {
    const doc = (await (await fetch(`${stack.adminApiUrl}/openapi.json`)).json()) as any;
    assert.match(doc.info.description, /CVI\.TenantAdmin/);
    const get = doc.paths["/v1/tenants/{tenant}"].get;
    assert.deepEqual(get["x-roles"], ["CVI.Admin", "CVI.TenantAdmin"]);
    assert.match(get.responses["403"].description, /another tenant/);
    const create = doc.paths["/v1/tenants"].post;
    assert.equal(create["x-roles"], undefined);
    assert.match(create.responses["403"].description, /CVI\.Admin/);
    assert.deepEqual(doc.paths["/v1/calls/{callId}/hangup"].post["x-roles"], ["CVI.Admin", "CVI.TenantAdmin"]);
    assert.equal(doc.paths["/v1/pool/hosts"].get["x-roles"], undefined);
  });
});
