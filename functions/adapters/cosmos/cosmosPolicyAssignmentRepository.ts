import type { ItemDefinition } from "@azure/cosmos";
import { EMPTY_ASSIGNMENTS, type PolicyAssignments } from "../../../shared/domain/policy.js";
import type { ListOptions, MutateOptions, Mutation, Page, PolicyAssignmentRepository, UserPolicyGrant, Versioned } from "../../ports.js";
import type { CosmosStore } from "./cosmosStore.js";
import { type DocumentMapping, tenantQuery, isStatus, mutateDocument, readVersioned, withoutSystemProperties } from "./documents.js";

// Tenant-wide and group grants share one document so that re-ranking groups (which
// moves several at once) is a single conditional write. User grants are one document
// each: a tenant may grant to many thousands of users.
const ASSIGNMENTS_DOCUMENT_ID = "policyAssignments";
const userDocumentId = (userId: string) => `userPolicy:${userId}`;

function assignmentsMapping(tenantId: string): DocumentMapping<PolicyAssignments> {
  return {
    toDocument: (a) => ({ id: ASSIGNMENTS_DOCUMENT_ID, tenantId, type: "policyAssignments", global: a.global, groups: a.groups }),
    fromDocument: (d) => ({ global: String(d.global), groups: (d.groups ?? []) as PolicyAssignments["groups"] }),
  };
}

function userGrantFromDocument(document: ItemDefinition): UserPolicyGrant {
  const { userId, policyName, grantedAt } = withoutSystemProperties(document) as Record<string, string>;
  return { userId: String(userId), policyName: String(policyName), grantedAt: String(grantedAt) };
}

export class CosmosPolicyAssignmentRepository implements PolicyAssignmentRepository {
  readonly #store: CosmosStore;

  constructor(store: CosmosStore) {
    this.#store = store;
  }

  async getAssignments(tenantId: string): Promise<Versioned<PolicyAssignments>> {
    const stored = await readVersioned(this.#store.tenants, ASSIGNMENTS_DOCUMENT_ID, tenantId, assignmentsMapping(tenantId));
    // No document yet means no grants were made; "" is no ETag a stored version has.
    return stored ?? { value: EMPTY_ASSIGNMENTS, etag: "" };
  }

  updateAssignments(tenantId: string, mutation: Mutation<PolicyAssignments>, options: MutateOptions = {}): Promise<Versioned<PolicyAssignments>> {
    return mutateDocument(this.#store.tenants, ASSIGNMENTS_DOCUMENT_ID, tenantId, assignmentsMapping(tenantId), mutation, {
      ...options,
      initial: () => EMPTY_ASSIGNMENTS,
      notFoundMessage: `tenant ${tenantId} has no policy assignments yet`,
    });
  }

  async getUserGrant(tenantId: string, userId: string): Promise<UserPolicyGrant | undefined> {
    try {
      const { resource } = await this.#store.tenants.item(userDocumentId(userId), tenantId).read<ItemDefinition>();
      return resource ? userGrantFromDocument(resource) : undefined;
    } catch (e) {
      if (isStatus(e, 404)) return undefined;
      throw e;
    }
  }

  async setUserGrant(tenantId: string, grant: UserPolicyGrant): Promise<void> {
    // Last writer wins by design: a user holds exactly one grant, and each grant replaces it whole.
    await this.#store.tenants.items.upsert({ id: userDocumentId(grant.userId), tenantId, type: "userPolicy", ...grant });
  }

  async removeUserGrant(tenantId: string, userId: string): Promise<void> {
    try {
      await this.#store.tenants.item(userDocumentId(userId), tenantId).delete();
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }

  async listUserGrants(tenantId: string, options: ListOptions = {}): Promise<Page<UserPolicyGrant>> {
    const page = await this.#store.tenants.items
      .query<ItemDefinition>(tenantQuery("SELECT * FROM c WHERE c.tenantId = @tenantId AND c.type = 'userPolicy' ORDER BY c.userId", tenantId), {
        partitionKey: tenantId,
        maxItemCount: options.maxItemCount ?? 100,
        ...(options.continuationToken ? { continuationToken: options.continuationToken } : {}),
      })
      .fetchNext();
    return { items: page.resources.map(userGrantFromDocument), continuationToken: page.continuationToken };
  }
}
