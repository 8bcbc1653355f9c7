import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  type EffectivePolicyInput,
  type GroupAssignment,
  type PolicySource,
  builtInPolicies,
  resolveEffectivePolicy,
} from "../../../shared/domain/policy.js";

const NUM_RUNS = 500;
const policies = builtInPolicies("OpenCVI");
const policyNames = policies.map((p) => p.name);
const policyNameArb = fc.constantFrom(...policyNames);

/**
 * The rule written out the slow way: the user's grant; else, over every pair of
 * (user group, assigned group) that match, the assignment with the smallest rank
 * number; else the tenant-wide grant.
 */
function reference(input: EffectivePolicyInput): { readonly name: string; readonly source: PolicySource } {
  if (input.userPolicyName !== undefined) return { name: input.userPolicyName, source: { kind: "user" } };
  let best: GroupAssignment | undefined;
  for (const member of input.userGroupIds) {
    for (const assignment of input.assignments.groups) {
      if (member.toLowerCase() !== assignment.groupId.toLowerCase()) continue;
      if (best === undefined || assignment.rank < best.rank) best = assignment;
    }
  }
  if (best !== undefined) return { name: best.policyName, source: { kind: "group", groupId: best.groupId, rank: best.rank } };
  return { name: input.assignments.global, source: { kind: "global" } };
}

/** Group assignments as stored: lower-case ids, distinct ranks (contiguous or not), in any order. */
const assignmentsArb: fc.Arbitrary<GroupAssignment[]> = fc
  .uniqueArray(fc.record({ groupId: fc.uuid(), policyName: policyNameArb }), { selector: (a) => a.groupId, maxLength: 8 })
  .chain((entries) =>
    fc.tuple(
      fc.constant(entries),
      fc.oneof(
        fc.constant(entries.map((_, i) => i + 1)),
        fc.uniqueArray(fc.integer({ min: 1, max: 10000 }), { minLength: entries.length, maxLength: entries.length }),
      ),
    ),
  )
  .map(([entries, ranks]) => entries.map((e, i) => ({ groupId: e.groupId.toLowerCase(), policyName: e.policyName, rank: ranks[i] ?? i + 1 })))
  .chain((groups) => fc.shuffledSubarray(groups, { minLength: groups.length, maxLength: groups.length }));

/** The user's groups (as Graph lists them, in any case and order): some assigned ones, some not. */
const inputArb: fc.Arbitrary<EffectivePolicyInput> = assignmentsArb.chain((groups) =>
  fc
    .record({
      userPolicyName: fc.option(policyNameArb, { nil: undefined, freq: 3 }),
      global: policyNameArb,
      assigned: fc.subarray(groups.map((g) => g.groupId)),
      unassigned: fc.array(fc.uuid(), { maxLength: 4 }),
      upper: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
    })
    .chain((r) => {
      const ids = [...r.assigned, ...r.unassigned].map((id, i) => (r.upper[i % r.upper.length] ? id.toUpperCase() : id));
      return fc.shuffledSubarray(ids, { minLength: ids.length, maxLength: ids.length }).map(
        (userGroupIds): EffectivePolicyInput => ({
          policies,
          userPolicyName: r.userPolicyName,
          userGroupIds,
          assignments: { global: r.global, groups },
        }),
      );
    }),
);

describe("resolveEffectivePolicy (property)", () => {
  it("agrees with the brute-force reference on policy and source", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const actual = resolveEffectivePolicy(input);
        const expected = reference(input);
        assert.equal(actual.policy.name, expected.name);
        assert.deepEqual(actual.source, expected.source);
        assert.ok(policies.includes(actual.policy), "the result is one of the built-in policies");
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("a user's own grant always wins", () => {
    fc.assert(
      fc.property(inputArb, policyNameArb, (input, own) => {
        const actual = resolveEffectivePolicy({ ...input, userPolicyName: own });
        assert.equal(actual.policy.name, own);
        assert.deepEqual(actual.source, { kind: "user" });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("without a user grant, the result comes from a group the user is in or, failing that, the global grant", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const actual = resolveEffectivePolicy({ ...input, userPolicyName: undefined });
        const member = new Set(input.userGroupIds.map((g) => g.toLowerCase()));
        const mine = input.assignments.groups.filter((g) => member.has(g.groupId));
        if (mine.length === 0) {
          assert.deepEqual(actual.source, { kind: "global" });
          assert.equal(actual.policy.name, input.assignments.global);
          return;
        }
        const source = actual.source;
        assert.equal(source.kind, "group");
        if (source.kind !== "group") return;
        const chosen = mine.find((g) => g.groupId === source.groupId);
        assert.ok(chosen, "the chosen group is one of the user's groups");
        assert.equal(source.rank, chosen.rank);
        assert.equal(actual.policy.name, chosen.policyName);
        for (const g of mine) assert.ok(chosen.rank <= g.rank, "no group of the user's ranks higher");
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("does not depend on the order of the user's groups", () => {
    fc.assert(
      fc.property(
        inputArb.chain((input) =>
          fc.tuple(
            fc.constant(input),
            fc.shuffledSubarray([...input.userGroupIds], { minLength: input.userGroupIds.length, maxLength: input.userGroupIds.length }),
          ),
        ),
        ([input, reordered]) => {
          assert.deepEqual(resolveEffectivePolicy({ ...input, userGroupIds: reordered }), resolveEffectivePolicy(input));
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });
});
