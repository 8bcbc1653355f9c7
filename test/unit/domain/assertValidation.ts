import assert from "node:assert/strict";
import { type FieldIssue, ValidationError } from "../../../shared/errors.js";

/**
 * Runs `fn`, asserts it throws a ValidationError with an issue for exactly `field`
 * whose message contains `fragment` (or matches it, for a RegExp). Returns the error.
 */
export function assertValidationError(fn: () => unknown, field: string, fragment: string | RegExp): ValidationError {
  let caught: unknown;
  let returned: unknown;
  try {
    returned = fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `expected a ValidationError, but it returned ${JSON.stringify(returned)}`);
  assert.ok(caught instanceof ValidationError, `expected a ValidationError, got ${String(caught)}`);
  const issue: FieldIssue | undefined = caught.issues.find((i) => i.field === field);
  assert.ok(issue, `no issue for field "${field}" in ${JSON.stringify(caught.issues)}`);
  if (typeof fragment === "string") {
    assert.ok(issue.message.includes(fragment), `message "${issue.message}" does not contain "${fragment}"`);
  } else {
    assert.match(issue.message, fragment);
  }
  return caught;
}

export const GUID_A = "72f988bf-86f1-41af-91ab-2d7cd011db47";
export const GUID_B = "0b5c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3";
export const GUID_C = "11111111-2222-4333-8444-555555555555";
