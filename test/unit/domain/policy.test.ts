import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  EMPTY_ASSIGNMENTS,
  GLOBAL_POLICY,
  type GroupAssignment,
  assignGroupPolicy,
  builtInPolicies,
  findPolicy,
  parseGlobalGrant,
  parseGroupGrant,
  parseUserGrant,
  removeGroupPolicy,
  resolveEffectivePolicy,
} from "../../../shared/domain/policy.js";
import { GUID_A, GUID_B, GUID_C, assertValidationError } from "./assertValidation.js";

const SERVICE = "OpenCVI";
const policies = builtInPolicies(SERVICE);
const ALL_NAMES =
  "Global, ServiceProviderDisabled, PolycomServiceProviderEnabled, BlueJeansServiceProviderEnabled, PexipServiceProviderEnabled, CiscoServiceProviderEnabled, OpenCVIServiceProviderEnabled";

describe("builtInPolicies", () => {
  it("starts with Global: disabled, DefaultProvider", () => {
    assert.deepEqual(policies[0], {
      identity: "Global",
      name: "Global",
      description: "Default: no video interop coordinates in invites.",
      providerName: "DefaultProvider",
      enabled: false,
    });
    assert.equal(GLOBAL_POLICY, "Global");
  });

  it("has ServiceProviderDisabled", () => {
    const p = policies.find((x) => x.name === "ServiceProviderDisabled");
    assert.ok(p);
    assert.equal(p.identity, "Tag:ServiceProviderDisabled");
    assert.equal(p.providerName, "DefaultProvider");
    assert.equal(p.enabled, false);
  });

  it("has an enabled policy per partner and for this service", () => {
    for (const provider of ["Polycom", "BlueJeans", "Pexip", "Cisco", SERVICE]) {
      const p = policies.find((x) => x.name === `${provider}ServiceProviderEnabled`);
      assert.ok(p, provider);
      assert.equal(p.identity, `Tag:${provider}ServiceProviderEnabled`);
      assert.equal(p.providerName, provider);
      assert.equal(p.enabled, true);
      assert.ok(p.description.includes(provider));
    }
  });

  it("has exactly those seven, with unique names", () => {
    assert.equal(policies.map((p) => p.name).join(", "), ALL_NAMES);
    assert.equal(new Set(policies.map((p) => p.name.toLowerCase())).size, policies.length);
  });

  it("follows the configured service name", () => {
    const names = builtInPolicies("Acme").map((p) => p.name);
    assert.ok(names.includes("AcmeServiceProviderEnabled"));
    assert.ok(!names.includes("OpenCVIServiceProviderEnabled"));
  });
});

describe("findPolicy", () => {
  it("finds by name or identity, case-insensitively", () => {
    assert.equal(findPolicy(policies, "PexipServiceProviderEnabled")?.name, "PexipServiceProviderEnabled");
    assert.equal(findPolicy(policies, "Tag:PexipServiceProviderEnabled")?.name, "PexipServiceProviderEnabled");
    assert.equal(findPolicy(policies, "tag:pexipserviceproviderenabled")?.name, "PexipServiceProviderEnabled");
    assert.equal(findPolicy(policies, " TAG:CISCOSERVICEPROVIDERENABLED ")?.name, "CiscoServiceProviderEnabled");
    assert.equal(findPolicy(policies, "global")?.name, "Global");
    assert.equal(findPolicy(policies, "opencviserviceproviderenabled")?.providerName, SERVICE);
  });

  it("finds nothing for unknown names", () => {
    assert.equal(findPolicy(policies, "ZoomServiceProviderEnabled"), undefined);
    assert.equal(findPolicy(policies, "DefaultProvider"), undefined);
    assert.equal(findPolicy(policies, ""), undefined);
    assert.equal(findPolicy(policies, "Tag:"), undefined);
    assert.equal(findPolicy([], "Global"), undefined);
  });
});

describe("parseUserGrant", () => {
  it("grants a policy by name, returning the canonical name", () => {
    assert.deepEqual(parseUserGrant({ policyName: "PexipServiceProviderEnabled" }, GUID_A, policies), {
      userId: GUID_A,
      policyName: "PexipServiceProviderEnabled",
    });
  });

  it("accepts the Tag: prefix and any case", () => {
    assert.equal(parseUserGrant({ policyName: "Tag:PexipServiceProviderEnabled" }, GUID_A, policies).policyName, "PexipServiceProviderEnabled");
    assert.equal(
      parseUserGrant({ policyName: "tag:bluejeansserviceproviderenabled" }, GUID_A, policies).policyName,
      "BlueJeansServiceProviderEnabled",
    );
    assert.equal(parseUserGrant({ policyName: "SERVICEPROVIDERDISABLED" }, GUID_A, policies).policyName, "ServiceProviderDisabled");
  });

  it("takes the grant away with none, $null, null or JSON null", () => {
    for (const revoke of ["none", "None", " NONE ", "$null", "$NULL", "null", "Null", null]) {
      assert.equal(parseUserGrant({ policyName: revoke }, GUID_A, policies).policyName, null, String(revoke));
    }
  });

  it("rejects an unknown policy, listing the valid ones", () => {
    assertValidationError(
      () => parseUserGrant({ policyName: "Zoom" }, GUID_A, policies),
      "policyName",
      `policyName "Zoom" is not a video interop policy; use one of ${ALL_NAMES}`,
    );
    assertValidationError(() => parseUserGrant({ policyName: "" }, GUID_A, policies), "policyName", "is not a video interop policy");
  });

  it("cuts a long unknown name short in the message", () => {
    const e = assertValidationError(() => parseUserGrant({ policyName: "p".repeat(300) }, GUID_A, policies), "policyName", `"${"p".repeat(64)}"`);
    assert.ok(!e.message.includes("p".repeat(65)));
  });

  it("rejects a missing or non-string policyName", () => {
    assertValidationError(() => parseUserGrant({}, GUID_A, policies), "policyName", "policyName is required and must be a string");
    assertValidationError(() => parseUserGrant({ policyName: 3 }, GUID_A, policies), "policyName", "policyName is required and must be a string");
  });

  it("rejects unknown fields", () => {
    assertValidationError(() => parseUserGrant({ policyName: "Global", rank: 1 }, GUID_A, policies), "", "unknown field(s): rank");
  });

  it("takes the user as an object id or a UPN, lower-cased", () => {
    assert.equal(parseUserGrant({ policyName: "none" }, GUID_A.toUpperCase(), policies).userId, GUID_A);
    assert.equal(parseUserGrant({ policyName: "none" }, "Alice@Contoso.COM", policies).userId, "alice@contoso.com");
  });

  it("rejects a user that is neither", () => {
    assertValidationError(
      () => parseUserGrant({ policyName: "none" }, "alice", policies),
      "userId",
      "user must be an object id (GUID) or a user principal name",
    );
    assertValidationError(() => parseUserGrant({ policyName: "none" }, "", policies), "userId", "user must not be empty");
    assertValidationError(() => parseUserGrant({ policyName: "none" }, undefined, policies), "userId", "user is required and must be a string");
  });
});

describe("parseGroupGrant", () => {
  it("grants a policy at a rank, lower-casing the group id", () => {
    assert.deepEqual(parseGroupGrant({ policyName: "tag:PexipServiceProviderEnabled", rank: 3 }, GUID_A.toUpperCase(), policies), {
      groupId: GUID_A,
      policyName: "PexipServiceProviderEnabled",
      rank: 3,
    });
  });

  it("requires a rank when granting", () => {
    assertValidationError(
      () => parseGroupGrant({ policyName: "PexipServiceProviderEnabled" }, GUID_A, policies),
      "rank",
      "rank is required when granting a policy to a group",
    );
  });

  it("does not require a rank when taking the grant away", () => {
    for (const revoke of ["none", "$null", "null", null]) {
      assert.deepEqual(parseGroupGrant({ policyName: revoke }, GUID_A, policies), { groupId: GUID_A, policyName: null, rank: 1 });
    }
    assert.deepEqual(parseGroupGrant({ policyName: "none", rank: 4 }, GUID_A, policies), { groupId: GUID_A, policyName: null, rank: 4 });
  });

  it("accepts ranks 1 to 10000", () => {
    assert.equal(parseGroupGrant({ policyName: "Global", rank: 1 }, GUID_A, policies).rank, 1);
    assert.equal(parseGroupGrant({ policyName: "Global", rank: 10000 }, GUID_A, policies).rank, 10000);
  });

  it("rejects ranks below 1, above 10000, fractional or not numbers", () => {
    for (const bad of [0, -1, 1.5, "1", null, Number.NaN, Number.POSITIVE_INFINITY]) {
      assertValidationError(
        () => parseGroupGrant({ policyName: "Global", rank: bad }, GUID_A, policies),
        "rank",
        "rank must be a whole number from 1",
      );
    }
    assertValidationError(() => parseGroupGrant({ policyName: "Global", rank: 10001 }, GUID_A, policies), "rank", "rank must be at most 10000");
  });

  it("requires the group id to be a GUID", () => {
    assertValidationError(
      () => parseGroupGrant({ policyName: "Global", rank: 1 }, "sales@contoso.com", policies),
      "groupId",
      "groupId must be a GUID like",
    );
    assertValidationError(() => parseGroupGrant({ policyName: "none" }, 12, policies), "groupId", "groupId is required and must be a string");
  });

  it("rejects an unknown policy and unknown fields", () => {
    assertValidationError(() => parseGroupGrant({ policyName: "Nope", rank: 1 }, GUID_A, policies), "policyName", `use one of ${ALL_NAMES}`);
    assertValidationError(() => parseGroupGrant({ policyName: "Global", rank: 1, priority: 2 }, GUID_A, policies), "", "unknown field(s): priority");
  });
});

describe("parseGlobalGrant", () => {
  it("grants a policy tenant-wide", () => {
    assert.equal(parseGlobalGrant({ policyName: "tag:ciscoserviceproviderenabled" }, policies), "CiscoServiceProviderEnabled");
    assert.equal(parseGlobalGrant({ policyName: "Global" }, policies), "Global");
  });

  it("goes back to Global on revoke", () => {
    for (const revoke of ["none", "$null", "null", null]) {
      assert.equal(parseGlobalGrant({ policyName: revoke }, policies), "Global");
    }
  });

  it("rejects an unknown policy, a missing name and unknown fields", () => {
    assertValidationError(() => parseGlobalGrant({ policyName: "Nope" }, policies), "policyName", `use one of ${ALL_NAMES}`);
    assertValidationError(() => parseGlobalGrant({}, policies), "policyName", "policyName is required and must be a string");
    assertValidationError(() => parseGlobalGrant({ policyName: "Global", rank: 1 }, policies), "", "unknown field(s): rank");
  });
});

describe("assignGroupPolicy / removeGroupPolicy", () => {
  const g = (groupId: string, rank: number, policyName = "Global"): GroupAssignment => ({ groupId, policyName, rank });
  const ids = (groups: readonly GroupAssignment[]) => groups.map((x) => `${x.rank}:${x.groupId}`);

  it("starts empty", () => {
    assert.deepEqual(EMPTY_ASSIGNMENTS, { global: "Global", groups: [] });
    assert.deepEqual(assignGroupPolicy([], "a", "Global", 5), [g("a", 1)]);
  });

  it("pushes the group at a taken rank and the ones below it down", () => {
    const before = [g("a", 1), g("b", 2), g("c", 3)];
    assert.deepEqual(ids(assignGroupPolicy(before, "d", "Global", 2)), ["1:a", "2:d", "3:b", "4:c"]);
    assert.deepEqual(ids(before), ["1:a", "2:b", "3:c"], "the input is untouched");
  });

  it("puts a group last when the rank is beyond the end", () => {
    assert.deepEqual(ids(assignGroupPolicy([g("a", 1), g("b", 2)], "c", "Global", 99)), ["1:a", "2:b", "3:c"]);
  });

  it("moves a group that is granted again, updating its policy", () => {
    const after = assignGroupPolicy([g("a", 1), g("b", 2), g("c", 3)], "c", "PexipServiceProviderEnabled", 1);
    assert.deepEqual(ids(after), ["1:c", "2:a", "3:b"]);
    assert.equal(after[0]?.policyName, "PexipServiceProviderEnabled");
    assert.deepEqual(ids(assignGroupPolicy([g("a", 1), g("b", 2), g("c", 3)], "a", "Global", 3)), ["1:b", "2:c", "3:a"]);
  });

  it("sorts unsorted input by rank", () => {
    assert.deepEqual(ids(assignGroupPolicy([g("c", 3), g("a", 1), g("b", 2)], "d", "Global", 4)), ["1:a", "2:b", "3:c", "4:d"]);
  });

  it("closes the gap on removal and ignores unknown groups", () => {
    assert.deepEqual(ids(removeGroupPolicy([g("a", 1), g("b", 2), g("c", 3)], "b")), ["1:a", "2:c"]);
    assert.deepEqual(ids(removeGroupPolicy([g("a", 1), g("b", 2)], "zzz")), ["1:a", "2:b"]);
    assert.deepEqual(removeGroupPolicy([], "a"), []);
  });
});

describe("resolveEffectivePolicy", () => {
  const assignments = {
    global: "CiscoServiceProviderEnabled",
    groups: [
      { groupId: GUID_A, policyName: "PexipServiceProviderEnabled", rank: 1 },
      { groupId: GUID_B, policyName: "PolycomServiceProviderEnabled", rank: 2 },
    ],
  };

  it("prefers the user's own grant", () => {
    const r = resolveEffectivePolicy({ policies, userPolicyName: "ServiceProviderDisabled", userGroupIds: [GUID_A], assignments });
    assert.equal(r.policy.name, "ServiceProviderDisabled");
    assert.deepEqual(r.source, { kind: "user" });
  });

  it("else takes the highest-ranked of the user's groups, matching ids case-insensitively", () => {
    const r = resolveEffectivePolicy({ policies, userPolicyName: undefined, userGroupIds: [GUID_C, GUID_B, GUID_A.toUpperCase()], assignments });
    assert.equal(r.policy.name, "PexipServiceProviderEnabled");
    assert.deepEqual(r.source, { kind: "group", groupId: GUID_A, rank: 1 });
    const r2 = resolveEffectivePolicy({ policies, userPolicyName: undefined, userGroupIds: [GUID_B], assignments });
    assert.deepEqual(r2.source, { kind: "group", groupId: GUID_B, rank: 2 });
  });

  it("else takes the tenant-wide grant", () => {
    const r = resolveEffectivePolicy({ policies, userPolicyName: undefined, userGroupIds: [GUID_C], assignments });
    assert.equal(r.policy.name, "CiscoServiceProviderEnabled");
    assert.deepEqual(r.source, { kind: "global" });
    const empty = resolveEffectivePolicy({ policies, userPolicyName: undefined, userGroupIds: [], assignments: EMPTY_ASSIGNMENTS });
    assert.equal(empty.policy.name, "Global");
    assert.equal(empty.policy.enabled, false);
  });

  it("throws when a stored grant names an unknown policy", () => {
    assert.throws(
      () => resolveEffectivePolicy({ policies, userPolicyName: "Gone", userGroupIds: [], assignments }),
      /stored grant names unknown policy Gone/,
    );
    assert.throws(
      () => resolveEffectivePolicy({ policies, userPolicyName: undefined, userGroupIds: [], assignments: { global: "Gone", groups: [] } }),
      /unknown policy Gone/,
    );
  });
});
