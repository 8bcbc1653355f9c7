import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { effectivePolicyGet } from "../../functions/handlers/effectivePolicyGet.js";
import { policiesList } from "../../functions/handlers/policiesList.js";
import { policyAssignmentsGet } from "../../functions/handlers/policyAssignmentsGet.js";
import { policyGrantGlobally } from "../../functions/handlers/policyGrantGlobally.js";
import { policyGrantToGroup } from "../../functions/handlers/policyGrantToGroup.js";
import { policyGrantToUser } from "../../functions/handlers/policyGrantToUser.js";
import { policyUserGrantsList } from "../../functions/handlers/policyUserGrantsList.js";
import { providersCreate } from "../../functions/handlers/providersCreate.js";
import { providersGet } from "../../functions/handlers/providersGet.js";
import { providersList } from "../../functions/handlers/providersList.js";
import { providersRemove } from "../../functions/handlers/providersRemove.js";
import { providersSet } from "../../functions/handlers/providersSet.js";
import { tenantsCreate } from "../../functions/handlers/tenantsCreate.js";
import { tenantsGet } from "../../functions/handlers/tenantsGet.js";
import { tenantsList } from "../../functions/handlers/tenantsList.js";
import { tenantsRemove } from "../../functions/handlers/tenantsRemove.js";
import { type LocalStack, startLocalStack } from "../../local/stack.js";
import { callHandler } from "../support/functionsHarness.js";

let stack: LocalStack;
let token: string;

before(async () => {
  stack = await startLocalStack({ logLevel: "none" });
  token = await stack.issueToken();
});
after(() => stack.stop());

async function addTenant(name = "Contoso"): Promise<{ tenantId: string; tenantKey: string }> {
  const tenantId = randomUUID();
  const res = await callHandler(tenantsCreate, { method: "POST", path: "/v1/tenants", token, body: { tenantId, name } });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

function assertProblem(res: { status: number; headers: Headers; json: any }, status: number): void {
  assert.equal(res.status, status, JSON.stringify(res.json));
  assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/);
  assert.equal(res.json.status, status);
  assert.equal(typeof res.json.title, "string");
  assert.equal(typeof res.json.detail, "string");
  assert.ok(!/\n\s+at /.test(res.json.detail), "no stack trace in a problem");
}

describe("authentication and authorization", () => {
  it("401 without a token, with a WWW-Authenticate challenge", async () => {
    const res = await callHandler(tenantsList, { path: "/v1/tenants" });
    assertProblem(res, 401);
    assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer error="invalid_token"/);
  });

  it("401 for a malformed, forged, expired or wrong-audience token", async () => {
    const bad = [
      "not-a-jwt",
      await stack.issueToken({ forged: true }),
      await stack.issueToken({ expiresInSeconds: -600 }),
      await stack.issueToken({ audience: "api://someone-else" }),
    ];
    for (const t of bad) assertProblem(await callHandler(tenantsList, { path: "/v1/tenants", token: t }), 401);
  });

  it("403 for a valid token without the admin role, and nothing is created", async () => {
    const reader = await stack.issueToken({ roles: ["CVI.Reader"] });
    const tenantId = randomUUID();
    const res = await callHandler(tenantsCreate, { method: "POST", path: "/v1/tenants", token: reader, body: { tenantId, name: "X" } });
    assertProblem(res, 403);
    assertProblem(await callHandler(tenantsGet, { params: { tenant: tenantId }, token }), 404);
  });
});

describe("tenants", () => {
  it("creates a tenant with a well-formed key, found by id and by key", async () => {
    const tenant = await addTenant("Fabrikam");
    assert.match(tenant.tenantKey, /^[1-9][0-9]{8}@t\.cvi\.localhost$/);
    const byId = await callHandler(tenantsGet, { params: { tenant: tenant.tenantId }, token });
    assert.equal(byId.status, 200);
    assert.equal(byId.json.name, "Fabrikam");
    assert.deepEqual(byId.json.consent, { status: "none" });
    assert.match(byId.headers.get("etag") ?? "", /^".+"$/);
    const byKey = await callHandler(tenantsGet, { params: { tenant: tenant.tenantKey.toUpperCase() }, token });
    assert.equal(byKey.json.tenantId, tenant.tenantId);
  });

  it("400 with field-level detail for bad input, and unknown fields are refused", async () => {
    const res = await callHandler(tenantsCreate, { method: "POST", path: "/v1/tenants", token, body: { tenantId: "123", name: "", color: "red" } });
    assertProblem(res, 400);
    const fields = res.json.errors.map((e: { field: string }) => e.field).sort();
    assert.deepEqual(fields, ["", "name", "tenantId"]);
    assert.match(res.json.errors.find((e: { field: string }) => e.field === "").detail, /unknown field\(s\): color/);
  });

  it("400 for malformed JSON, 415 for a non-JSON body, 413 for an oversized one", async () => {
    assertProblem(
      await callHandler(tenantsCreate, { method: "POST", token, rawBody: "{not json", headers: { "content-type": "application/json" } }),
      400,
    );
    assertProblem(
      await callHandler(tenantsCreate, {
        method: "POST",
        token,
        rawBody: "tenantId=x",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      }),
      415,
    );
    const huge = JSON.stringify({ tenantId: randomUUID(), name: "x".repeat(70_000) });
    assertProblem(await callHandler(tenantsCreate, { method: "POST", token, rawBody: huge, headers: { "content-type": "application/json" } }), 413);
  });

  it("409 for a tenant that exists", async () => {
    const tenant = await addTenant();
    const res = await callHandler(tenantsCreate, { method: "POST", token, body: { tenantId: tenant.tenantId.toUpperCase(), name: "Again" } });
    assertProblem(res, 409);
  });

  it("404 for unknown tenants; 400 for a reference that is neither id nor key", async () => {
    assertProblem(await callHandler(tenantsGet, { params: { tenant: randomUUID() }, token }), 404);
    assertProblem(await callHandler(tenantsGet, { params: { tenant: "123456789@t.cvi.localhost" }, token }), 404);
    const res = await callHandler(tenantsGet, { params: { tenant: "contoso" }, token });
    assertProblem(res, 400);
    assert.equal(res.json.errors[0].field, "tenant");
  });

  it("100 parallel creations get 100 distinct, well-formed keys", async () => {
    const ids = Array.from({ length: 100 }, () => randomUUID());
    const results = await Promise.all(
      ids.map((tenantId, i) => callHandler(tenantsCreate, { method: "POST", token, body: { tenantId, name: `T${i}` } })),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      ids.map(() => 201),
    );
    const keys = results.map((r) => r.json.tenantKey as string);
    assert.equal(new Set(keys).size, 100);
    for (const key of keys) assert.match(key, /^[1-9][0-9]{8}@t\.cvi\.localhost$/);
    // Each key leads back to its own tenant.
    const lookups = await Promise.all(keys.slice(0, 20).map((k) => callHandler(tenantsGet, { params: { tenant: k }, token })));
    for (const [i, l] of lookups.entries()) assert.equal(l.json.tenantId, ids[i]);
  });

  it("lists tenants page by page with continuation tokens", async () => {
    for (let i = 0; i < 3; i++) await addTenant(`Paged ${i}`);
    const seen = new Set<string>();
    let continuationToken: string | undefined;
    let pages = 0;
    do {
      const res = await callHandler(tenantsList, {
        token,
        query: `top=2${continuationToken ? `&continuationToken=${encodeURIComponent(continuationToken)}` : ""}`,
      });
      assert.equal(res.status, 200);
      assert.ok(res.json.value.length <= 2);
      for (const t of res.json.value) seen.add(t.tenantId);
      continuationToken = res.json.continuationToken;
      pages++;
    } while (continuationToken && pages < 500);
    assert.ok(pages >= 2);
    assert.ok(seen.size >= 3);
    assertProblem(await callHandler(tenantsList, { token, query: "top=0" }), 400);
  });

  it("removing a tenant removes its providers and grants and retires its key", async () => {
    const tenant = await addTenant();
    const params = { tenantId: tenant.tenantId };
    assert.equal(
      (await callHandler(providersCreate, { method: "POST", params, token, body: { identity: "Pexip", tenantKey: "1234@t.pexip.example.com" } }))
        .status,
      201,
    );
    assert.equal(
      (
        await callHandler(policyGrantToUser, {
          method: "PUT",
          params: { ...params, userId: "alice@contoso.com" },
          token,
          body: { policyName: "PexipServiceProviderEnabled" },
        })
      ).status,
      200,
    );
    assert.equal((await callHandler(tenantsRemove, { method: "DELETE", params: { tenant: tenant.tenantKey }, token })).status, 204);
    assertProblem(await callHandler(tenantsGet, { params: { tenant: tenant.tenantId }, token }), 404);
    assertProblem(await callHandler(tenantsGet, { params: { tenant: tenant.tenantKey }, token }), 404);
    assertProblem(await callHandler(tenantsRemove, { method: "DELETE", params: { tenant: tenant.tenantId }, token }), 404);
    // Re-onboarding the same tenant id starts clean and gets a different key.
    const again = await callHandler(tenantsCreate, { method: "POST", token, body: { tenantId: tenant.tenantId, name: "Back" } });
    assert.equal(again.status, 201);
    assert.notEqual(again.json.tenantKey, tenant.tenantKey);
    assert.deepEqual((await callHandler(providersList, { params, token })).json.value, []);
    assert.deepEqual((await callHandler(policyUserGrantsList, { params, token })).json.value, []);
  });
});

describe("providers", () => {
  it("new, get, set, filter, remove — as the cmdlets do", async () => {
    const tenant = await addTenant();
    const params = { tenantId: tenant.tenantId };
    const appId = randomUUID();
    const created = await callHandler(providersCreate, {
      method: "POST",
      params,
      token,
      body: {
        identity: "opencvi",
        tenantKey: tenant.tenantKey,
        instructionUri: "https://cvi.example.net/join?conf={ConfId}",
        aadApplicationIds: `${appId};${appId}`,
      },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json.identity, "OpenCVI");
    assert.deepEqual(created.json.aadApplicationIds, [appId]);
    assert.equal(created.json.allowAppGuestJoinsAsAuthenticated, false);
    assert.equal(created.headers.get("location"), `/api/v1/tenants/${tenant.tenantId}/providers/OpenCVI`);

    const set = await callHandler(providersSet, {
      method: "PATCH",
      params: { ...params, identity: "OPENCVI" },
      token,
      body: { allowAppGuestJoinsAsAuthenticated: true, instructionUri: null },
    });
    assert.equal(set.status, 200, set.text);
    assert.equal(set.json.allowAppGuestJoinsAsAuthenticated, true);
    assert.equal(set.json.instructionUri, null);
    assert.deepEqual(set.json.aadApplicationIds, [appId], "fields not given stay as they were");

    await callHandler(providersCreate, { method: "POST", params, token, body: { identity: "Polycom", tenantKey: "813878896@t.plcm.vc" } });
    const filtered = await callHandler(providersList, { params, token, query: "filter=^poly" });
    assert.deepEqual(
      filtered.json.value.map((p: { identity: string }) => p.identity),
      ["Polycom"],
    );
    assert.equal((await callHandler(providersList, { params, token })).json.value.length, 2);
    assertProblem(await callHandler(providersList, { params, token, query: "filter=(" }), 400);

    assert.equal((await callHandler(providersRemove, { method: "DELETE", params: { ...params, identity: "Polycom" }, token })).status, 204);
    assertProblem(await callHandler(providersGet, { params: { ...params, identity: "Polycom" }, token }), 404);
  });

  it("refuses this service's provider with another tenant's key, and duplicates", async () => {
    const tenant = await addTenant();
    const other = await addTenant();
    const params = { tenantId: tenant.tenantId };
    const res = await callHandler(providersCreate, { method: "POST", params, token, body: { identity: "OpenCVI", tenantKey: other.tenantKey } });
    assertProblem(res, 400);
    assert.equal(res.json.errors[0].field, "tenantKey");
    assert.equal(
      (await callHandler(providersCreate, { method: "POST", params, token, body: { identity: "Cisco", tenantKey: "abc@cisco.example.com" } })).status,
      201,
    );
    assertProblem(
      await callHandler(providersCreate, { method: "POST", params, token, body: { identity: "cisco", tenantKey: "abc@cisco.example.com" } }),
      409,
    );
  });

  it("404 for an unknown tenant or identity", async () => {
    assertProblem(
      await callHandler(providersCreate, {
        method: "POST",
        params: { tenantId: randomUUID() },
        token,
        body: { identity: "Pexip", tenantKey: "a@b.example.com" },
      }),
      404,
    );
    const tenant = await addTenant();
    assertProblem(await callHandler(providersGet, { params: { tenantId: tenant.tenantId, identity: "Zoom" }, token }), 404);
    assertProblem(
      await callHandler(providersSet, {
        method: "PATCH",
        params: { tenantId: tenant.tenantId, identity: "Pexip" },
        token,
        body: { allowAppGuestJoinsAsAuthenticated: true },
      }),
      404,
    );
  });

  it("412 when If-Match names a version that is no longer current", async () => {
    const tenant = await addTenant();
    const params = { tenantId: tenant.tenantId, identity: "Pexip" };
    const created = await callHandler(providersCreate, {
      method: "POST",
      params,
      token,
      body: { identity: "Pexip", tenantKey: "k@pexip.example.com" },
    });
    const etag = created.headers.get("etag") ?? "";
    const first = await callHandler(providersSet, {
      method: "PATCH",
      params,
      token,
      headers: { "if-match": etag },
      body: { instructionUri: "https://a.example.com" },
    });
    assert.equal(first.status, 200);
    const stale = await callHandler(providersSet, {
      method: "PATCH",
      params,
      token,
      headers: { "if-match": etag },
      body: { instructionUri: "https://b.example.com" },
    });
    assertProblem(stale, 412);
    assertProblem(await callHandler(providersRemove, { method: "DELETE", params, token, headers: { "if-match": etag } }), 412);
    const now = await callHandler(providersGet, { params, token });
    assert.equal(now.json.instructionUri, "https://a.example.com", "the stale write changed nothing");
  });

  it("concurrent updates of different fields all land (no lost update)", async () => {
    const tenant = await addTenant();
    const params = { tenantId: tenant.tenantId, identity: "BlueJeans" };
    await callHandler(providersCreate, { method: "POST", params, token, body: { identity: "BlueJeans", tenantKey: "k@bjn.example.com" } });
    const appIds = [randomUUID(), randomUUID()];
    const changes = [
      { instructionUri: "https://bjn.example.com/{ConfId}" },
      { allowAppGuestJoinsAsAuthenticated: true },
      { aadApplicationIds: appIds },
      { tenantKey: "new@bjn.example.com" },
    ];
    const results = await Promise.all(changes.map((body) => callHandler(providersSet, { method: "PATCH", params, token, body })));
    assert.deepEqual(
      results.map((r) => r.status),
      [200, 200, 200, 200],
    );
    const final = (await callHandler(providersGet, { params, token })).json;
    assert.equal(final.instructionUri, "https://bjn.example.com/{ConfId}");
    assert.equal(final.allowAppGuestJoinsAsAuthenticated, true);
    assert.deepEqual(final.aadApplicationIds, appIds);
    assert.equal(final.tenantKey, "new@bjn.example.com");
  });
});

describe("policies", () => {
  it("lists the pre-built policies, filtered by regex", async () => {
    const all = await callHandler(policiesList, { token });
    assert.equal(all.status, 200);
    assert.deepEqual(
      all.json.value.map((p: { identity: string }) => p.identity),
      [
        "Global",
        "Tag:ServiceProviderDisabled",
        "Tag:PolycomServiceProviderEnabled",
        "Tag:BlueJeansServiceProviderEnabled",
        "Tag:PexipServiceProviderEnabled",
        "Tag:CiscoServiceProviderEnabled",
        "Tag:OpenCVIServiceProviderEnabled",
      ],
    );
    const pexip = await callHandler(policiesList, { token, query: "filter=pexip" });
    assert.deepEqual(
      pexip.json.value.map((p: { name: string }) => p.name),
      ["PexipServiceProviderEnabled"],
    );
  });

  it("resolves user grant, then highest-ranked group grant, then the tenant-wide grant", async () => {
    const tenant = await addTenant();
    const params = { tenantId: tenant.tenantId };
    const [engineering, sales] = [randomUUID(), randomUUID()];
    const effective = async (userId: string, groups: string[]) =>
      (await callHandler(effectivePolicyGet, { params: { ...params, userId }, token, query: groups.map((g) => `groupId=${g}`).join("&") })).json;

    assert.equal((await effective("bob@contoso.com", [])).policy.name, "Global");
    assert.equal(
      (await callHandler(policyGrantGlobally, { method: "PUT", params, token, body: { policyName: "Tag:OpenCVIServiceProviderEnabled" } })).status,
      200,
    );
    assert.deepEqual((await effective("bob@contoso.com", [])).source, { kind: "global" });
    assert.equal((await effective("bob@contoso.com", [])).policy.name, "OpenCVIServiceProviderEnabled");

    await callHandler(policyGrantToGroup, {
      method: "PUT",
      params: { ...params, groupId: sales },
      token,
      body: { policyName: "PolycomServiceProviderEnabled", rank: 1 },
    });
    const grouped = await callHandler(policyGrantToGroup, {
      method: "PUT",
      params: { ...params, groupId: engineering },
      token,
      body: { policyName: "PexipServiceProviderEnabled", rank: 1 },
    });
    assert.deepEqual(
      grouped.json.groups.map((g: { groupId: string; rank: number }) => [g.groupId, g.rank]),
      [
        [engineering, 1],
        [sales, 2],
      ],
      "granting at a taken rank pushes the holder down",
    );
    const inBoth = await effective("carol@contoso.com", [sales, engineering]);
    assert.equal(inBoth.policy.name, "PexipServiceProviderEnabled");
    assert.deepEqual(inBoth.source, { kind: "group", groupId: engineering, rank: 1 });
    assert.equal((await effective("dave@contoso.com", [sales])).policy.name, "PolycomServiceProviderEnabled");

    await callHandler(policyGrantToUser, {
      method: "PUT",
      params: { ...params, userId: "carol@contoso.com" },
      token,
      body: { policyName: "ServiceProviderDisabled" },
    });
    assert.deepEqual((await effective("Carol@Contoso.com", [sales, engineering])).source, { kind: "user" });
    const none = await callHandler(policyGrantToUser, {
      method: "PUT",
      params: { ...params, userId: "carol@contoso.com" },
      token,
      body: { policyName: "none" },
    });
    assert.equal(none.status, 204);
    assert.equal((await effective("carol@contoso.com", [sales, engineering])).source.kind, "group");
    assert.equal((await effective("carol@contoso.com", [])).source.kind, "global");

    const assignments = await callHandler(policyAssignmentsGet, { params, token });
    assert.equal(assignments.json.global, "OpenCVIServiceProviderEnabled");
    assert.equal(assignments.json.groups.length, 2);
  });

  it("concurrent group grants all land with ranks 1..n", async () => {
    const tenant = await addTenant();
    const params = { tenantId: tenant.tenantId };
    const groups = Array.from({ length: 20 }, () => randomUUID());
    const results = await Promise.all(
      groups.map((groupId) =>
        callHandler(policyGrantToGroup, {
          method: "PUT",
          params: { ...params, groupId },
          token,
          body: { policyName: "PexipServiceProviderEnabled", rank: 1 },
        }),
      ),
    );
    assert.ok(results.every((r) => r.status === 200));
    const final = (await callHandler(policyAssignmentsGet, { params, token })).json;
    assert.deepEqual(new Set(final.groups.map((g: { groupId: string }) => g.groupId)), new Set(groups));
    assert.deepEqual(
      final.groups.map((g: { rank: number }) => g.rank),
      groups.map((_, i) => i + 1),
    );
  });

  it("400 for unknown policies, bad ranks and bad ids; 404 for an unknown tenant", async () => {
    const tenant = await addTenant();
    const params = { tenantId: tenant.tenantId };
    const unknown = await callHandler(policyGrantGlobally, { method: "PUT", params, token, body: { policyName: "ZoomServiceProviderEnabled" } });
    assertProblem(unknown, 400);
    assert.match(unknown.json.errors[0].detail, /PexipServiceProviderEnabled/);
    assertProblem(
      await callHandler(policyGrantToGroup, {
        method: "PUT",
        params: { ...params, groupId: randomUUID() },
        token,
        body: { policyName: "PexipServiceProviderEnabled" },
      }),
      400,
    );
    assertProblem(
      await callHandler(policyGrantToGroup, {
        method: "PUT",
        params: { ...params, groupId: randomUUID() },
        token,
        body: { policyName: "PexipServiceProviderEnabled", rank: 0 },
      }),
      400,
    );
    assertProblem(
      await callHandler(policyGrantToGroup, {
        method: "PUT",
        params: { ...params, groupId: "sales" },
        token,
        body: { policyName: "PexipServiceProviderEnabled", rank: 1 },
      }),
      400,
    );
    assertProblem(
      await callHandler(policyGrantToUser, { method: "PUT", params: { ...params, userId: "not a user" }, token, body: { policyName: "Global" } }),
      400,
    );
    assertProblem(await callHandler(effectivePolicyGet, { params: { ...params, userId: "bob@contoso.com" }, token, query: "groupId=nope" }), 400);
    assertProblem(
      await callHandler(policyGrantGlobally, { method: "PUT", params: { tenantId: randomUUID() }, token, body: { policyName: "Global" } }),
      404,
    );
  });
});

describe("hostile input never yields a 5xx", () => {
  it("random JSON bodies and parameters get 2xx or 4xx", async () => {
    const tenant = await addTenant();
    const targets = [tenantsCreate, providersCreate, providersSet, policyGrantToUser, policyGrantToGroup, policyGrantGlobally];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...targets),
        fc.oneof(
          fc.jsonValue(),
          fc.dictionary(
            fc.constantFrom(
              "tenantId",
              "name",
              "identity",
              "tenantKey",
              "instructionUri",
              "aadApplicationIds",
              "policyName",
              "rank",
              "allowAppGuestJoinsAsAuthenticated",
            ),
            fc.jsonValue(),
          ),
        ),
        fc.constantFrom(tenant.tenantId, "x", "", "%", randomUUID(), "../../etc"),
        fc.constantFrom("Pexip", "opencvi", "", "Zoom", "\u0000"),
        async (handler, body, tenantId, identity) => {
          const res = await callHandler(handler, {
            method: "POST",
            params: { tenantId, identity, userId: "u@contoso.com", groupId: randomUUID() },
            token,
            body,
          });
          assert.ok(res.status < 500, `${handler.name} answered ${res.status}: ${res.text}`);
        },
      ),
      { numRuns: 150 },
    );
  });
});
