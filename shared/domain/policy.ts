import { z } from "zod";
import { ValidationError } from "../errors.js";
import { guidSchema, userIdSchema } from "./ids.js";
import { PARTNER_PROVIDER_NAMES } from "./provider.js";
import { parseOrThrow } from "./validation.js";

/** A TeamsVideoInteropServicePolicy: which provider's coordinates an organizer's invites get. */
export interface VideoInteropPolicy {
  /** "Global", or "Tag:<name>" as Get-CsTeamsVideoInteropServicePolicy shows it. */
  readonly identity: string;
  /** What Grant-… takes as -PolicyName. */
  readonly name: string;
  readonly description: string;
  readonly providerName: string;
  readonly enabled: boolean;
}

export const GLOBAL_POLICY = "Global";
const DEFAULT_PROVIDER = "DefaultProvider";

/** The pre-built set; tenants cannot create their own CVI policies in Teams either. */
export function builtInPolicies(serviceProviderName: string): VideoInteropPolicy[] {
  const enabled = [...PARTNER_PROVIDER_NAMES, serviceProviderName].map((provider) => ({
    identity: `Tag:${provider}ServiceProviderEnabled`,
    name: `${provider}ServiceProviderEnabled`,
    description: `Meetings organized by users with this policy carry ${provider}'s video conferencing device coordinates.`,
    providerName: provider,
    enabled: true,
  }));
  return [
    {
      identity: GLOBAL_POLICY,
      name: GLOBAL_POLICY,
      description: "Default: no video interop coordinates in invites.",
      providerName: DEFAULT_PROVIDER,
      enabled: false,
    },
    {
      identity: "Tag:ServiceProviderDisabled",
      name: "ServiceProviderDisabled",
      description: "Video interop coordinates are turned off for these users.",
      providerName: DEFAULT_PROVIDER,
      enabled: false,
    },
    ...enabled,
  ];
}

/** Finds a policy by name or identity ("Tag:X" or "X"), case-insensitively. */
export function findPolicy(policies: readonly VideoInteropPolicy[], nameOrIdentity: string): VideoInteropPolicy | undefined {
  const wanted = nameOrIdentity.trim().toLowerCase().replace(/^tag:/, "");
  return policies.find((p) => p.name.toLowerCase() === wanted);
}

export interface GroupAssignment {
  readonly groupId: string;
  readonly policyName: string;
  /** 1 is the highest rank; ranks are contiguous 1..n as in Teams group policy assignment. */
  readonly rank: number;
}

/** A tenant's tenant-wide and group grants; user grants live one document per user. */
export interface PolicyAssignments {
  readonly global: string;
  readonly groups: readonly GroupAssignment[];
}

export const EMPTY_ASSIGNMENTS: PolicyAssignments = { global: GLOBAL_POLICY, groups: [] };

/**
 * Teams' group ranking: granting at a rank that is taken pushes that group and the
 * ones below it down by one; a rank beyond the end puts the group last; re-granting a
 * group moves it. Ranks stay 1..n with no gaps.
 */
export function assignGroupPolicy(groups: readonly GroupAssignment[], groupId: string, policyName: string, rank: number): GroupAssignment[] {
  const others = groups.filter((g) => g.groupId !== groupId).sort((a, b) => a.rank - b.rank);
  const position = Math.min(Math.max(rank, 1), others.length + 1) - 1;
  others.splice(position, 0, { groupId, policyName, rank });
  return others.map((g, i) => ({ ...g, rank: i + 1 }));
}

export function removeGroupPolicy(groups: readonly GroupAssignment[], groupId: string): GroupAssignment[] {
  return groups
    .filter((g) => g.groupId !== groupId)
    .sort((a, b) => a.rank - b.rank)
    .map((g, i) => ({ ...g, rank: i + 1 }));
}

export type PolicySource =
  | { readonly kind: "user" }
  | { readonly kind: "group"; readonly groupId: string; readonly rank: number }
  | { readonly kind: "global" };

export interface EffectivePolicy {
  readonly policy: VideoInteropPolicy;
  readonly source: PolicySource;
}

export interface EffectivePolicyInput {
  readonly policies: readonly VideoInteropPolicy[];
  readonly userPolicyName: string | undefined;
  readonly userGroupIds: readonly string[];
  readonly assignments: PolicyAssignments;
}

/** The user's own grant, else their highest-ranked group's grant, else the tenant-wide one. */
export function resolveEffectivePolicy(input: EffectivePolicyInput): EffectivePolicy {
  const byName = (name: string): VideoInteropPolicy => {
    const policy = findPolicy(input.policies, name);
    if (!policy) throw new Error(`stored grant names unknown policy ${name}`);
    return policy;
  };
  if (input.userPolicyName !== undefined) return { policy: byName(input.userPolicyName), source: { kind: "user" } };
  const member = new Set(input.userGroupIds.map((g) => g.toLowerCase()));
  const best = input.assignments.groups.filter((g) => member.has(g.groupId)).sort((a, b) => a.rank - b.rank)[0];
  if (best) return { policy: byName(best.policyName), source: { kind: "group", groupId: best.groupId, rank: best.rank } };
  return { policy: byName(input.assignments.global), source: { kind: "global" } };
}

/** "none", "$null" and null all mean: take the grant away (the user or group falls back). */
const REVOKE_WORDS = new Set(["none", "$null", "null"]);

/** A policy name, or null when the grant is to be taken away (every grant can be). */
function policyNameSchema(policies: readonly VideoInteropPolicy[]) {
  return z.union([z.string(), z.null()], { error: "policyName is required and must be a string" }).transform((value, ctx): string | null => {
    if (value === null || REVOKE_WORDS.has(value.trim().toLowerCase())) return null;
    const policy = findPolicy(policies, value);
    if (!policy) {
      ctx.addIssue({
        code: "custom",
        message: `policyName "${value.slice(0, 64)}" is not a video interop policy; use one of ${policies.map((p) => p.name).join(", ")}`,
      });
      return z.NEVER;
    }
    return policy.name;
  });
}

export interface UserGrant {
  readonly userId: string;
  /** null takes the user's grant away: they return to their group's or the Global policy. */
  readonly policyName: string | null;
}

export function parseUserGrant(input: unknown, userId: unknown, policies: readonly VideoInteropPolicy[]): UserGrant {
  const body = parseOrThrow(z.strictObject({ policyName: policyNameSchema(policies) }), input);
  return { userId: parseOrThrow(z.object({ userId: userIdSchema }), { userId }).userId, policyName: body.policyName };
}

export interface GroupGrant {
  readonly groupId: string;
  readonly policyName: string | null;
  readonly rank: number;
}

export function parseGroupGrant(input: unknown, groupId: unknown, policies: readonly VideoInteropPolicy[]): GroupGrant {
  const body = parseOrThrow(
    z.strictObject({
      policyName: policyNameSchema(policies),
      rank: z
        .number({ error: "rank must be a whole number from 1" })
        .int("rank must be a whole number from 1")
        .min(1, "rank must be a whole number from 1")
        .max(10000, "rank must be at most 10000")
        .optional(),
    }),
    input,
  );
  if (body.policyName !== null && body.rank === undefined) {
    throw new ValidationError([{ field: "rank", message: "rank is required when granting a policy to a group" }]);
  }
  const id = parseOrThrow(z.object({ groupId: guidSchema("groupId") }), { groupId }).groupId;
  return { groupId: id, policyName: body.policyName, rank: body.rank ?? 1 };
}

export function parseGlobalGrant(input: unknown, policies: readonly VideoInteropPolicy[]): string {
  const body = parseOrThrow(z.strictObject({ policyName: policyNameSchema(policies) }), input);
  // Taking the tenant-wide grant away means going back to the built-in Global policy.
  return body.policyName ?? GLOBAL_POLICY;
}
