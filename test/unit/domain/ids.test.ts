import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { z } from "zod";
import { guidSchema, isGuid, userIdSchema } from "../../../shared/domain/ids.js";
import { parseOrThrow } from "../../../shared/domain/validation.js";
import { GUID_A, assertValidationError } from "./assertValidation.js";

const parseGuid = (v: unknown) => parseOrThrow(z.object({ id: guidSchema("id") }), { id: v }).id;
const parseUser = (v: unknown) => parseOrThrow(z.object({ user: userIdSchema }), { user: v }).user;

describe("isGuid", () => {
  it("accepts GUIDs in either case", () => {
    assert.equal(isGuid(GUID_A), true);
    assert.equal(isGuid(GUID_A.toUpperCase()), true);
  });

  it("rejects anything else", () => {
    for (const bad of ["", "x", GUID_A.slice(1), `${GUID_A}0`, `{${GUID_A}}`, GUID_A.replaceAll("-", ""), GUID_A.replace("7", "g"), ` ${GUID_A}`]) {
      assert.equal(isGuid(bad), false, bad);
    }
  });
});

describe("guidSchema", () => {
  it("trims and lower-cases", () => {
    assert.equal(parseGuid(`  ${GUID_A.toUpperCase()} `), GUID_A);
  });

  it("names the field in its messages", () => {
    assertValidationError(() => parseGuid("not-a-guid"), "id", "id must be a GUID like");
    assertValidationError(() => parseGuid(42), "id", "id is required and must be a string");
    assertValidationError(() => parseGuid(undefined), "id", "id is required and must be a string");
  });
});

describe("userIdSchema", () => {
  it("accepts an object id and lower-cases it", () => {
    assert.equal(parseUser(GUID_A.toUpperCase()), GUID_A);
  });

  it("accepts a user principal name and lower-cases it", () => {
    assert.equal(parseUser(" Alice@Contoso.com "), "alice@contoso.com");
  });

  it("rejects empty, too long, non-string and malformed users", () => {
    assertValidationError(() => parseUser("  "), "user", "user must not be empty");
    assertValidationError(() => parseUser(`${"a".repeat(310)}@contoso.com`), "user", "at most 320 characters");
    assertValidationError(() => parseUser(7), "user", "user is required and must be a string");
    for (const bad of ["alice", "alice@contoso", "a b@contoso.com", "@contoso.com", "alice@@contoso.com"]) {
      assertValidationError(() => parseUser(bad), "user", "user must be an object id (GUID) or a user principal name");
    }
  });

  it("accepts a UPN of exactly 320 characters", () => {
    const upn = `${"a".repeat(320 - "@contoso.com".length)}@contoso.com`;
    assert.equal(upn.length, 320);
    assert.equal(parseUser(upn), upn);
  });
});
