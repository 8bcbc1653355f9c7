import type { ItemDefinition } from "@azure/cosmos";
import { ConflictError } from "../../../shared/errors.js";
import type { CallSessionRecord } from "../../../shared/domain/callSession.js";
import type { CallSessionRepository, Mutation, Versioned } from "../../ports.js";
import type { CosmosStore } from "./cosmosStore.js";
import { createVersioned, type DocumentMapping, isStatus, mutateDocument, readVersioned, withoutSystemProperties } from "./documents.js";

const mapping: DocumentMapping<CallSessionRecord> = {
  toDocument: (record) => ({ ...record, id: record.callId }),
  fromDocument: (document) => {
    const { id, ...record } = withoutSystemProperties(document);
    return record as unknown as CallSessionRecord;
  },
};

export class CosmosCallSessionRepository implements CallSessionRepository {
  readonly #store: CosmosStore;

  constructor(store: CosmosStore) {
    this.#store = store;
  }

  async create(session: CallSessionRecord): Promise<void> {
    try {
      await createVersioned(this.#store.callSessions, session, mapping);
    } catch (e) {
      if (isStatus(e, 409)) throw new ConflictError(`call ${session.callId} exists already`);
      throw e;
    }
  }

  get(callId: string): Promise<Versioned<CallSessionRecord> | undefined> {
    return readVersioned(this.#store.callSessions, callId, callId, mapping);
  }

  async listActive(): Promise<CallSessionRecord[]> {
    const { resources } = await this.#store.callSessions.items
      .query<ItemDefinition>("SELECT * FROM c WHERE c.state != 'terminated' AND IS_NULL(c.endedAt)")
      .fetchAll();
    return resources.map(mapping.fromDocument);
  }

  async recordDelivered(callId: string, digest: string): Promise<void> {
    await this.#store.callSessions.item(callId, callId).patch([{ op: "set", path: "/deliveredDigest", value: digest }]);
  }

  update(callId: string, mutation: Mutation<CallSessionRecord>): Promise<Versioned<CallSessionRecord>> {
    return mutateDocument(this.#store.callSessions, callId, callId, mapping, mutation, { notFoundMessage: `call ${callId} is not known` });
  }
}
