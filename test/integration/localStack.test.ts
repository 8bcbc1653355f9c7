import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import { after, before, describe, it } from "node:test";
import { httpRoutes } from "../../functions/platform/httpRoutes.js";
import { type LocalStack, startLocalStack } from "../../local/stack.js";

let stack: LocalStack;
let token: string;

before(async () => {
  stack = await startLocalStack({ logLevel: "none" });
  token = await stack.issueToken();
});
after(() => stack.stop());

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${stack.adminApiUrl}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });

describe("the local stack serves the registered Functions over HTTP", () => {
  it("routes to the same handlers, with route parameters, query and headers", async () => {
    const tenantId = randomUUID();
    const created = await api("/v1/tenants", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ tenantId, name: "Woodgrove" }),
    });
    assert.equal(created.status, 201);
    const { tenantKey } = (await created.json()) as { tenantKey: string };
    const byKey = await api(`/v1/tenants/${encodeURIComponent(tenantKey)}`);
    assert.equal(byKey.status, 200);
    assert.equal(((await byKey.json()) as { tenantId: string }).tenantId, tenantId);
    assert.match(byKey.headers.get("etag") ?? "", /^".+"$/);
  });

  it("answers unknown paths with 404 and wrong methods with 405 and Allow, as problem+json", async () => {
    const missing = await api("/v2/nothing");
    assert.equal(missing.status, 404);
    assert.match(missing.headers.get("content-type") ?? "", /problem\+json/);
    const wrong = await api("/v1/policies", { method: "DELETE" });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get("allow"), "GET");
  });

  it("refuses oversized bodies with 413 and malformed path escapes with 400", async () => {
    const big = await api("/v1/tenants", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "x".repeat(2 * 1024 * 1024),
    }).catch((e: Error) => e);
    // The server may close the connection while the client still sends; either way nothing is stored and nothing crashes.
    if (!(big instanceof Error)) assert.equal(big.status, 413);
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(stack.adminApiUrl);
      const req = httpRequest(
        { host: url.hostname, port: url.port, path: "/api/v1/tenants/%E0%A4%A", headers: { authorization: `Bearer ${token}` } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end();
    });
    assert.equal(status, 400);
    assert.equal((await api("/v1/policies")).status, 200, "still serving");
  });

  it("serves an OpenAPI document that lists every registered operation", async () => {
    const res = await fetch(`${stack.adminApiUrl}/openapi.json`);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, unknown> };
    };
    assert.equal(doc.openapi, "3.1.0");
    const operations = Object.values(doc.paths).flatMap((p) => Object.values(p).map((o) => o.operationId));
    assert.deepEqual(new Set(operations), new Set(httpRoutes.map((r) => r.name)));
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const op of Object.values(methods)) {
        const refs = JSON.stringify(op).match(/#\/components\/schemas\/[A-Za-z]+/g) ?? [];
        for (const ref of refs) assert.ok(doc.components.schemas[ref.split("/").pop() ?? ""], `${path} refers to missing ${ref}`);
        const anonymous = httpRoutes.find((r) => r.name === op.operationId)?.doc.anonymous === true;
        if (!anonymous) assert.ok(op.responses["401"], `${path} requires a token, so documents 401`);
      }
    }
  });
});
