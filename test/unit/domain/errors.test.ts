import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { z } from "zod";
import {
  AuthenticationError,
  AuthorizationError,
  ConflictError,
  NotFoundError,
  PreconditionFailedError,
  ValidationError,
} from "../../../shared/errors.js";
import { parseOrThrow, toFieldIssues } from "../../../shared/domain/validation.js";
import { assertValidationError } from "./assertValidation.js";

describe("errors", () => {
  it("ValidationError keeps its issues and joins them into the message", () => {
    const issues = [
      { field: "name", message: "name must not be empty" },
      { field: "aadApplicationIds/2", message: "bad GUID" },
    ];
    const e = new ValidationError(issues);
    assert.ok(e instanceof Error);
    assert.equal(e.name, "ValidationError");
    assert.deepEqual(e.issues, issues);
    assert.equal(e.message, "name: name must not be empty; aadApplicationIds/2: bad GUID");
  });

  it("ValidationError leaves out the field prefix for object-level issues", () => {
    const e = new ValidationError([{ field: "", message: "give at least one field to change" }]);
    assert.equal(e.message, "give at least one field to change");
  });

  it("ValidationError takes an explicit message", () => {
    const e = new ValidationError([{ field: "x", message: "y" }], "custom");
    assert.equal(e.message, "custom");
    assert.equal(e.issues.length, 1);
  });

  it("the other errors carry their names and messages", () => {
    for (const [Ctor, name] of [
      [NotFoundError, "NotFoundError"],
      [ConflictError, "ConflictError"],
      [PreconditionFailedError, "PreconditionFailedError"],
      [AuthenticationError, "AuthenticationError"],
      [AuthorizationError, "AuthorizationError"],
    ] as const) {
      const e = new Ctor("boom");
      assert.ok(e instanceof Error);
      assert.ok(e instanceof Ctor);
      assert.equal(e.name, name);
      assert.equal(e.message, "boom");
      assert.ok(!(e instanceof ValidationError));
    }
  });
});

describe("validation", () => {
  const schema = z.strictObject({
    a: z.string("a must be a string"),
    list: z.array(z.number("each entry must be a number")),
    nested: z.object({ b: z.boolean("b must be a boolean") }),
  });

  it("parseOrThrow returns the parsed output on success", () => {
    const value = { a: "x", list: [1, 2], nested: { b: true } };
    assert.deepEqual(parseOrThrow(schema, value), value);
  });

  it("parseOrThrow turns every zod issue into a field issue with a slash-separated path", () => {
    const e = assertValidationError(
      () => parseOrThrow(schema, { a: 1, list: [1, "two"], nested: { b: "no" } }),
      "list/1",
      "each entry must be a number",
    );
    assert.deepEqual(e.issues.map((i) => i.field).sort(), ["a", "list/1", "nested/b"].sort());
    assertValidationError(() => parseOrThrow(schema, { a: 1, list: [], nested: { b: true } }), "a", "a must be a string");
    assertValidationError(() => parseOrThrow(schema, { a: "", list: [], nested: { b: 1 } }), "nested/b", "b must be a boolean");
  });

  it("toFieldIssues names unknown fields", () => {
    const result = schema.safeParse({ a: "x", list: [], nested: { b: true }, extra: 1, other: 2 });
    assert.equal(result.success, false);
    if (result.success) return;
    const issues = toFieldIssues(result.error);
    assert.deepEqual(issues, [{ field: "", message: "unknown field(s): extra, other" }]);
  });
});
