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
    // Records written before the callChainId was kept have none.
    return { callChainId: null, ...record } as unknown as CallSessionRecord;
  },
};

type Known = Versioned<CallSessionRecord> & { readonly rawEtag: string };

/** Call sessions this instance wrote or read last, kept to start the next update from. */
const KNOWN_VERSIONS = 5000;

export class CosmosCallSessionRepository implements CallSessionRepository {
  readonly #store: CosmosStore;
  /**
   * A call's notifications mostly reach the instance that made the call, one after
   * another: starting each update from the version last seen here saves a read per
   * notification. A stale version only costs the failed conditional replace.
   */
  readonly #known = new Map<string, Known>();

  constructor(store: CosmosStore) {
    this.#store = store;
  }

  async create(session: CallSessionRecord): Promise<void> {
    try {
      this.#remember(await createVersioned(this.#store.callSessions, session, mapping));
    } catch (e) {
      if (isStatus(e, 409)) throw new ConflictError(`call ${session.callId} exists already`);
      throw e;
    }
  }

  async get(callId: string): Promise<Versioned<CallSessionRecord> | undefined> {
    const found = await readVersioned(this.#store.callSessions, callId, callId, mapping);
    if (found) this.#remember(found);
    return found;
  }

  async listActive(): Promise<CallSessionRecord[]> {
    const { resources } = await this.#store.callSessions.items
      .query<ItemDefinition>("SELECT * FROM c WHERE c.state != 'terminated' AND IS_NULL(c.endedAt)")
      .fetchAll();
    return resources.map(mapping.fromDocument);
  }

  async listLeftBehind(mediaHostId: string, epoch: number): Promise<CallSessionRecord[]> {
    const { resources } = await this.#store.callSessions.items
      .query<ItemDefinition>({
        query:
          "SELECT * FROM c WHERE c.mediaHostId = @host AND (NOT IS_DEFINED(c.mediaHostEpoch) OR c.mediaHostEpoch <= @epoch) " +
          "AND (IS_NULL(c.endedAt) OR (IS_DEFINED(c.reap) AND NOT IS_NULL(c.reap) AND IS_NULL(c.reap.leftMeetingAt)))",
        parameters: [
          { name: "@host", value: mediaHostId },
          { name: "@epoch", value: epoch },
        ],
      })
      .fetchAll();
    return resources.map(mapping.fromDocument);
  }

  async update(
    callId: string,
    mutation: Mutation<CallSessionRecord>,
    options: { readonly beforeWrite?: (next: CallSessionRecord, current: CallSessionRecord) => Promise<void> } = {},
  ): Promise<Versioned<CallSessionRecord>> {
    const basis = this.#known.get(callId);
    try {
      const updated = await mutateDocument(this.#store.callSessions, callId, callId, mapping, mutation, {
        notFoundMessage: `call ${callId} is not known`,
        ...(options.beforeWrite ? { beforeWrite: options.beforeWrite } : {}),
        ...(basis ? { basis } : {}),
      });
      this.#remember(updated);
      return updated;
    } catch (e) {
      this.#known.delete(callId);
      throw e;
    }
  }

  #remember(version: Known): void {
    this.#known.delete(version.value.callId);
    this.#known.set(version.value.callId, version);
    if (this.#known.size > KNOWN_VERSIONS) {
      const oldest = this.#known.keys().next().value;
      if (oldest !== undefined) this.#known.delete(oldest);
    }
  }
}
