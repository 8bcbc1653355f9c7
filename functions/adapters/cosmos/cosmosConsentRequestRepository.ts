import type { ItemDefinition } from "@azure/cosmos";
import type { ConsentRequest, ConsentRequestRepository } from "../../ports.js";
import type { CosmosStore } from "./cosmosStore.js";
import { isStatus } from "./documents.js";

const DOCUMENT_ID = "consentRequest";

/** The open admin-consent request, in the tenant's partition. */
export class CosmosConsentRequestRepository implements ConsentRequestRepository {
  readonly #store: CosmosStore;

  constructor(store: CosmosStore) {
    this.#store = store;
  }

  async open(tenantId: string, request: ConsentRequest): Promise<void> {
    await this.#store.tenants.items.upsert({ id: DOCUMENT_ID, tenantId, type: "consentRequest", ...request });
  }

  async consume(tenantId: string, nonceHash: string): Promise<boolean> {
    let document: (ItemDefinition & Partial<ConsentRequest>) | undefined;
    try {
      ({ resource: document } = await this.#store.tenants.item(DOCUMENT_ID, tenantId).read<ItemDefinition & Partial<ConsentRequest>>());
    } catch (e) {
      if (isStatus(e, 404)) return false;
      throw e;
    }
    if (!document || document.nonceHash !== nonceHash) return false;
    try {
      // Deleting under the ETag read: of two callbacks racing with the same state, one wins.
      await this.#store.tenants.item(DOCUMENT_ID, tenantId).delete({ accessCondition: { type: "IfMatch", condition: String(document._etag) } });
      return true;
    } catch (e) {
      if (isStatus(e, 404) || isStatus(e, 412)) return false;
      throw e;
    }
  }
}
