import {
  assignGroupPolicy,
  builtInPolicies,
  type EffectivePolicy,
  parseGlobalGrant,
  parseGroupGrant,
  parseUserGrant,
  type PolicyAssignments,
  removeGroupPolicy,
  resolveEffectivePolicy,
  type VideoInteropPolicy,
} from "../../shared/domain/policy.js";
import { guidSchema, userIdSchema } from "../../shared/domain/ids.js";
import { compileFilter } from "../../shared/domain/provider.js";
import { parseOrThrow } from "../../shared/domain/validation.js";
import { z } from "zod";
import type { ListOptions, MutateOptions, Page, PolicyAssignmentRepository, UserPolicyGrant, Versioned } from "../ports.js";
import type { TenantService } from "./tenantService.js";

/** `Get-CsTeamsVideoInteropServicePolicy` and `Grant-CsTeamsVideoInteropServicePolicy`. */
export class PolicyService {
  readonly #repository: PolicyAssignmentRepository;
  readonly #tenants: TenantService;
  readonly #policies: readonly VideoInteropPolicy[];
  readonly #now: () => Date;

  /** Told after every grant change, so that cached decisions about the tenant's organizers are dropped. */
  readonly #onChange: (tenantId: string) => void;

  constructor(
    repository: PolicyAssignmentRepository,
    tenants: TenantService,
    serviceProviderName: string,
    now: () => Date,
    onChange: (tenantId: string) => void = () => {},
  ) {
    this.#onChange = onChange;
    this.#repository = repository;
    this.#tenants = tenants;
    this.#policies = builtInPolicies(serviceProviderName);
    this.#now = now;
  }

  /** The pre-built policies, optionally filtered by a regex over their identities. */
  list(filter?: string): VideoInteropPolicy[] {
    const pattern = compileFilter(filter);
    return pattern ? this.#policies.filter((p) => pattern.test(p.identity)) : [...this.#policies];
  }

  async getAssignments(tenantId: string): Promise<Versioned<PolicyAssignments>> {
    const { value: tenant } = await this.#tenants.require(tenantId);
    return this.#repository.getAssignments(tenant.tenantId);
  }

  async listUserGrants(tenantId: string, options?: ListOptions): Promise<Page<UserPolicyGrant>> {
    const { value: tenant } = await this.#tenants.require(tenantId);
    return this.#repository.listUserGrants(tenant.tenantId, options);
  }

  /** Grants to one user; `policyName: null` ("none", "$null") returns the user to their group's or the Global policy. */
  async grantToUser(tenantId: string, userId: string, input: unknown): Promise<UserPolicyGrant | undefined> {
    const grant = parseUserGrant(input, userId, this.#policies);
    const { value: tenant } = await this.#tenants.require(tenantId);
    if (grant.policyName === null) {
      await this.#repository.removeUserGrant(tenant.tenantId, grant.userId);
      this.#onChange(tenant.tenantId);
      return undefined;
    }
    const stored = { userId: grant.userId, policyName: grant.policyName, grantedAt: this.#now().toISOString() };
    await this.#repository.setUserGrant(tenant.tenantId, stored);
    this.#onChange(tenant.tenantId);
    return stored;
  }

  /** Grants to a group at a rank (1 = highest); `policyName: null` removes the group's grant. */
  async grantToGroup(tenantId: string, groupId: string, input: unknown, options?: MutateOptions): Promise<Versioned<PolicyAssignments>> {
    const grant = parseGroupGrant(input, groupId, this.#policies);
    const { value: tenant } = await this.#tenants.require(tenantId);
    const updated = await this.#repository.updateAssignments(
      tenant.tenantId,
      (current) => ({
        ...current,
        groups:
          grant.policyName === null
            ? removeGroupPolicy(current.groups, grant.groupId)
            : assignGroupPolicy(current.groups, grant.groupId, grant.policyName, grant.rank),
      }),
      options,
    );
    this.#onChange(tenant.tenantId);
    return updated;
  }

  /** Grants tenant-wide (`-Global`); `policyName: null` goes back to the built-in Global policy. */
  async grantGlobally(tenantId: string, input: unknown, options?: MutateOptions): Promise<Versioned<PolicyAssignments>> {
    const policyName = parseGlobalGrant(input, this.#policies);
    const { value: tenant } = await this.#tenants.require(tenantId);
    const updated = await this.#repository.updateAssignments(tenant.tenantId, (current) => ({ ...current, global: policyName }), options);
    this.#onChange(tenant.tenantId);
    return updated;
  }

  /**
   * The policy in force for a user. Group membership is given by the caller (the
   * admin API's `groupId` query parameters); the Graph-backed look-up of a user's
   * groups arrives with the identity work.
   */
  async effectiveFor(tenantId: string, userId: string | readonly string[], groupIds: readonly string[]): Promise<EffectivePolicy> {
    const { value: tenant } = await this.#tenants.require(tenantId);
    return this.effectiveForKnownTenant(tenant.tenantId, userId, groupIds);
  }

  /** effectiveFor, for callers that have just read the tenant (its normalized id): no second read. */
  async effectiveForKnownTenant(tenantId: string, userId: string | readonly string[], groupIds: readonly string[]): Promise<EffectivePolicy> {
    // A user may have been granted under their object id or their UPN: every alias is looked up.
    const aliases = typeof userId === "string" ? [userId] : userId;
    const parsed = parseOrThrow(effectiveForSchema, { userIds: aliases, groupIds });
    const tenant = { tenantId };
    const [grants, assignments] = await Promise.all([
      Promise.all(parsed.userIds.map((id) => this.#repository.getUserGrant(tenant.tenantId, id))),
      this.#repository.getAssignments(tenant.tenantId),
    ]);
    const userGrant = grants.find((g) => g !== undefined);
    return resolveEffectivePolicy({
      policies: this.#policies,
      userPolicyName: userGrant?.policyName,
      userGroupIds: parsed.groupIds,
      assignments: assignments.value,
    });
  }
}

const effectiveForSchema = z.object({
  userIds: z.array(userIdSchema).min(1, "userId is required"),
  groupIds: z.array(guidSchema("groupId")).max(1000, "at most 1000 groupId values"),
});
