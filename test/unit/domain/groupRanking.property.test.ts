import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type GroupAssignment, assignGroupPolicy, builtInPolicies, removeGroupPolicy } from "../../../shared/domain/policy.js";

const NUM_RUNS = 500;
const policyNames = builtInPolicies("OpenCVI").map((p) => p.name);
/** A small pool so that operations hit the same groups again and again. */
const groupIds = Array.from({ length: 7 }, (_, i) => `0000000${i}-0000-4000-8000-000000000000`);

type Op =
  | { readonly kind: "assign"; readonly groupId: string; readonly policyName: string; readonly rank: number }
  | { readonly kind: "remove"; readonly groupId: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("assign" as const),
      groupId: fc.constantFrom(...groupIds),
      policyName: fc.constantFrom(...policyNames),
      rank: fc.integer({ min: 1, max: 12 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("remove" as const), groupId: fc.constantFrom(...groupIds) }) },
);

const byRank = (groups: readonly GroupAssignment[]) => [...groups].sort((a, b) => a.rank - b.rank);
const orderWithout = (groups: readonly GroupAssignment[], groupId: string) =>
  byRank(groups)
    .map((g) => g.groupId)
    .filter((id) => id !== groupId);

function assertWellFormed(groups: readonly GroupAssignment[]): void {
  assert.deepEqual(
    groups.map((g) => g.rank).sort((a, b) => a - b),
    Array.from({ length: groups.length }, (_, i) => i + 1),
    "ranks are exactly 1..n",
  );
  assert.equal(new Set(groups.map((g) => g.groupId)).size, groups.length, "each group at most once");
  for (const g of groups) assert.ok(policyNames.includes(g.policyName), "policy names are kept");
}

/** An independent model: the groups as an ordered list of [groupId, policyName]. */
function applyModel(model: readonly (readonly [string, string])[], op: Op): (readonly [string, string])[] {
  const rest = model.filter(([id]) => id !== op.groupId);
  if (op.kind === "remove") return rest;
  const at = Math.min(op.rank, rest.length + 1) - 1;
  return [...rest.slice(0, at), [op.groupId, op.policyName] as const, ...rest.slice(at)];
}

describe("group ranking (property)", () => {
  it("keeps ranks 1..n, groups unique, the assigned group at min(r, n), the others in order", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        let groups: GroupAssignment[] = [];
        let model: (readonly [string, string])[] = [];
        for (const op of ops) {
          const before = groups;
          const wasThere = before.some((g) => g.groupId === op.groupId);
          groups = op.kind === "assign" ? assignGroupPolicy(before, op.groupId, op.policyName, op.rank) : removeGroupPolicy(before, op.groupId);
          model = applyModel(model, op);
          assertWellFormed(groups);
          assert.deepEqual(orderWithout(groups, op.groupId), orderWithout(before, op.groupId), "the other groups keep their relative order");
          if (op.kind === "assign") {
            const n = groups.length;
            assert.equal(n, before.length + (wasThere ? 0 : 1));
            const placed = groups.filter((g) => g.groupId === op.groupId);
            assert.equal(placed.length, 1);
            assert.equal(placed[0]?.rank, Math.min(op.rank, n), "assigned group sits at min(r, n)");
            assert.equal(placed[0]?.policyName, op.policyName);
          } else {
            assert.equal(groups.length, before.length - (wasThere ? 1 : 0));
            assert.ok(!groups.some((g) => g.groupId === op.groupId), "removed group is gone");
          }
          assert.deepEqual(
            byRank(groups).map((g) => [g.groupId, g.policyName]),
            model.map(([id, name]) => [id, name]),
            "matches the list model",
          );
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("does not depend on the order the stored groups come in, and never mutates its input", () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 20 }).chain((ops) => {
          let groups: GroupAssignment[] = [];
          for (const op of ops)
            groups = op.kind === "assign" ? assignGroupPolicy(groups, op.groupId, op.policyName, op.rank) : removeGroupPolicy(groups, op.groupId);
          return fc.tuple(fc.constant(groups), fc.shuffledSubarray(groups, { minLength: groups.length, maxLength: groups.length }), opArb);
        }),
        ([groups, shuffled, op]) => {
          const snapshot = structuredClone(shuffled);
          const apply = (gs: readonly GroupAssignment[]) =>
            op.kind === "assign" ? assignGroupPolicy(gs, op.groupId, op.policyName, op.rank) : removeGroupPolicy(gs, op.groupId);
          assert.deepEqual(apply(shuffled), apply(groups));
          assert.deepEqual(shuffled, snapshot, "input untouched");
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it("removing a group just assigned restores the previous ranking", () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 20 }),
        fc.uuid(),
        fc.constantFrom(...policyNames),
        fc.integer({ min: 1, max: 12 }),
        (ops, newId, policyName, rank) => {
          let groups: GroupAssignment[] = [];
          for (const op of ops)
            groups = op.kind === "assign" ? assignGroupPolicy(groups, op.groupId, op.policyName, op.rank) : removeGroupPolicy(groups, op.groupId);
          fc.pre(!groups.some((g) => g.groupId === newId));
          assert.deepEqual(removeGroupPolicy(assignGroupPolicy(groups, newId, policyName, rank), newId), byRank(groups));
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });
});
