import type { ItemDefinition } from "@azure/cosmos";
import type { OrganizerSubscription, OrganizerSubscriptionRepository } from "../../ports.js";
import type { CosmosStore } from "./cosmosStore.js";
import { isStatus, tenantQuery } from "./documents.js";

const documentId = (userId: string) => `subscription:${userId}`;
const toSubscription = (d: ItemDefinition): OrganizerSubscription => ({
  userId: String(d.userId),
  subscriptionId: String(d.subscriptionId),
  expiresAt: String(d.expiresAt),
});

/** One Graph subscription per enabled organizer, in the tenant's partition (no secret stored: clientState is derived). */
export class CosmosOrganizerSubscriptionRepository implements OrganizerSubscriptionRepository {
  readonly #store: CosmosStore;

  constructor(store: CosmosStore) {
    this.#store = store;
  }

  async get(tenantId: string, userId: string): Promise<OrganizerSubscription | undefined> {
    try {
      const { resource } = await this.#store.tenants.item(documentId(userId), tenantId).read<ItemDefinition>();
      return resource ? toSubscription(resource) : undefined;
    } catch (e) {
      if (isStatus(e, 404)) return undefined;
      throw e;
    }
  }

  async findBySubscriptionId(tenantId: string, subscriptionId: string): Promise<OrganizerSubscription | undefined> {
    const spec = tenantQuery(
      "SELECT * FROM c WHERE c.tenantId = @tenantId AND c.type = 'subscription' AND c.subscriptionId = @subscriptionId",
      tenantId,
    );
    const { resources } = await this.#store.tenants.items
      .query<ItemDefinition>(
        { ...spec, parameters: [...(spec.parameters ?? []), { name: "@subscriptionId", value: subscriptionId }] },
        { partitionKey: tenantId },
      )
      .fetchAll();
    return resources[0] ? toSubscription(resources[0]) : undefined;
  }

  async list(tenantId: string): Promise<OrganizerSubscription[]> {
    const { resources } = await this.#store.tenants.items
      .query<ItemDefinition>(tenantQuery("SELECT * FROM c WHERE c.tenantId = @tenantId AND c.type = 'subscription'", tenantId), {
        partitionKey: tenantId,
      })
      .fetchAll();
    return resources.map(toSubscription);
  }

  async put(tenantId: string, subscription: OrganizerSubscription): Promise<void> {
    await this.#store.tenants.items.upsert({ id: documentId(subscription.userId), tenantId, type: "subscription", ...subscription });
  }

  async remove(tenantId: string, userId: string): Promise<void> {
    try {
      await this.#store.tenants.item(documentId(userId), tenantId).delete();
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }
}
