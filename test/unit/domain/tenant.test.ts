import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createTenant, parseNewTenant } from "../../../shared/domain/tenant.js";
import { ValidationError } from "../../../shared/errors.js";
import { GUID_A, assertValidationError } from "./assertValidation.js";

describe("parseNewTenant", () => {
  it("accepts a tenant, trimming the name and lower-casing the tenant id", () => {
    assert.deepEqual(parseNewTenant({ tenantId: ` ${GUID_A.toUpperCase()} `, name: "  Contoso Ltd  " }), { tenantId: GUID_A, name: "Contoso Ltd" });
  });

  it("accepts a name of exactly 256 characters and non-ASCII names", () => {
    assert.equal(parseNewTenant({ tenantId: GUID_A, name: "x".repeat(256) }).name.length, 256);
    assert.equal(parseNewTenant({ tenantId: GUID_A, name: "Ünïcødé 株式会社" }).name, "Ünïcødé 株式会社");
  });

  it("rejects a tenant id that is not a GUID", () => {
    for (const bad of ["contoso.onmicrosoft.com", "", GUID_A.slice(0, -1), `${GUID_A}x`, GUID_A.replaceAll("-", "")]) {
      assertValidationError(() => parseNewTenant({ tenantId: bad, name: "Contoso" }), "tenantId", "tenantId must be a GUID like");
    }
  });

  it("rejects a missing or non-string tenant id", () => {
    assertValidationError(() => parseNewTenant({ name: "Contoso" }), "tenantId", "tenantId is required and must be a string");
    assertValidationError(() => parseNewTenant({ tenantId: 1, name: "Contoso" }), "tenantId", "tenantId is required and must be a string");
  });

  it("rejects an empty or blank name", () => {
    assertValidationError(() => parseNewTenant({ tenantId: GUID_A, name: "" }), "name", "name must not be empty");
    assertValidationError(() => parseNewTenant({ tenantId: GUID_A, name: " \t " }), "name", "name must not be empty");
  });

  it("rejects a name longer than 256 characters", () => {
    assertValidationError(() => parseNewTenant({ tenantId: GUID_A, name: "x".repeat(257) }), "name", "name must be at most 256 characters");
  });

  it("rejects control characters inside the name", () => {
    for (const bad of ["Con\u0000toso", "Con\ntoso", "Con\u001btoso", "Con\u007ftoso", "Con\ttoso"]) {
      assertValidationError(() => parseNewTenant({ tenantId: GUID_A, name: bad }), "name", "name must not contain control characters");
    }
  });

  it("rejects a missing or non-string name", () => {
    assertValidationError(() => parseNewTenant({ tenantId: GUID_A }), "name", "name is required and must be a string");
    assertValidationError(() => parseNewTenant({ tenantId: GUID_A, name: 5 }), "name", "name is required and must be a string");
    assertValidationError(() => parseNewTenant({ tenantId: GUID_A, name: ["Contoso"] }), "name", "name is required and must be a string");
  });

  it("rejects unknown fields", () => {
    assertValidationError(
      () => parseNewTenant({ tenantId: GUID_A, name: "Contoso", tenantKey: "813878896@t.x.net" }),
      "",
      "unknown field(s): tenantKey",
    );
  });

  it("rejects input that is not an object", () => {
    for (const bad of [null, undefined, "Contoso", 1, [GUID_A, "Contoso"]]) {
      assert.throws(() => parseNewTenant(bad), ValidationError);
    }
  });

  it("reports every bad field at once", () => {
    const e = assertValidationError(() => parseNewTenant({ tenantId: "x", name: "" }), "tenantId", "GUID");
    assert.deepEqual(e.issues.map((i) => i.field).sort(), ["name", "tenantId"]);
    assert.match(e.message, /tenantId: .*; name: |name: .*; tenantId: /);
  });
});

describe("createTenant", () => {
  it("stamps key, consent and times", () => {
    const now = new Date("2025-01-02T03:04:05.678Z");
    const tenant = createTenant({ tenantId: GUID_A, name: "Contoso" }, "813878896@t.cvi.example.net", now);
    assert.deepEqual(tenant, {
      tenantId: GUID_A,
      name: "Contoso",
      tenantKey: "813878896@t.cvi.example.net",
      consent: { status: "none" },
      createdAt: "2025-01-02T03:04:05.678Z",
      updatedAt: "2025-01-02T03:04:05.678Z",
    });
  });
});
