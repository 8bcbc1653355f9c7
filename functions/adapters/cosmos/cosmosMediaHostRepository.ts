import { setTimeout as delay } from "node:timers/promises";
import type { ItemDefinition } from "@azure/cosmos";
import { DEFAULT_POOL, type MediaHostRecord } from "../../../shared/domain/pool.js";
import { PreconditionFailedError } from "../../../shared/errors.js";
import type { HostTransition, MediaHostRepository } from "../../ports.js";
import type { CosmosStore } from "./cosmosStore.js";
import { createVersioned, type DocumentMapping, isStatus, readVersioned, withoutSystemProperties } from "./documents.js";

const mapping: DocumentMapping<MediaHostRecord> = {
  // A dead host's record goes a day after its death (ttl in seconds; the container's default TTL must be on, as Bicep sets it).
  toDocument: (record) => ({ ...record, id: record.hostId, ...(record.death ? { ttl: 24 * 3600 } : {}) }),
  fromDocument: (document) => {
    const { id: _id, ttl: _ttl, ...record } = withoutSystemProperties(document);
    return record as unknown as MediaHostRecord;
  },
};

const MAX_ATTEMPTS = 20;

/** The host registry: one document per media host in its pool's partition of `hosts`. */
export class CosmosMediaHostRepository implements MediaHostRepository {
  readonly #store: CosmosStore;

  constructor(store: CosmosStore) {
    this.#store = store;
  }

  async get(hostId: string): Promise<MediaHostRecord | undefined> {
    return (await readVersioned(this.#store.hosts, hostId, DEFAULT_POOL, mapping))?.value;
  }

  async list(): Promise<MediaHostRecord[]> {
    const { resources } = await this.#store.hosts.items
      .query<ItemDefinition>(
        { query: "SELECT * FROM c WHERE c.pool = @pool ORDER BY c.hostId", parameters: [{ name: "@pool", value: DEFAULT_POOL }] },
        { partitionKey: DEFAULT_POOL },
      )
      .fetchAll();
    return resources.map(mapping.fromDocument);
  }

  async transition(hostId: string, decide: (current: MediaHostRecord | undefined) => HostTransition): Promise<MediaHostRecord | undefined> {
    const container = this.#store.hosts;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const current = await readVersioned(container, hostId, DEFAULT_POOL, mapping);
      const decision = decide(current?.value);
      if (decision === undefined) return current?.value;
      try {
        if ("remove" in decision) {
          if (current) await container.item(hostId, DEFAULT_POOL).delete({ accessCondition: { type: "IfMatch", condition: current.rawEtag } });
          return undefined;
        }
        if (!current) return (await createVersioned(container, decision.write, mapping)).value;
        const { resource } = await container
          .item(hostId, DEFAULT_POOL)
          .replace(mapping.toDocument(decision.write), { accessCondition: { type: "IfMatch", condition: current.rawEtag } });
        if (!resource) throw new Error("Cosmos DB returned no document on replace");
        return mapping.fromDocument(resource);
      } catch (e) {
        // Someone else wrote (or created, or removed) it first: decide again on what is there now.
        if (!isStatus(e, 412) && !isStatus(e, 409) && !isStatus(e, 404)) throw e;
        await delay(Math.random() * Math.min(100, 5 * 2 ** attempt));
      }
    }
    throw new PreconditionFailedError(`media host ${hostId} is being changed by many writers at once; retry`);
  }
}
