import type { ItemDefinition, SqlParameter } from "@azure/cosmos";
import { ConflictError, ValidationError } from "../../../shared/errors.js";
import { type CallSessionRecord, type CallSummary, callSummary } from "../../../shared/domain/callSession.js";
import type { CallHistoryQuery, CallSessionRepository, ListOptions, Mutation, Page, Versioned } from "../../ports.js";
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

/** A history entry: the call's summary under the UTC day it started (the partition key). */
type HistoryDocument = CallSummary & { readonly id: string; readonly day: string };

// An ended call is over for whoever reads history, whatever Graph's last state said (a late
// "terminated" after the device's BYE then rewrites nothing).
const historyDocument = (record: CallSessionRecord): HistoryDocument => ({
  id: record.callId,
  day: record.createdAt.slice(0, 10),
  ...callSummary(record),
  state: "terminated",
  inLobby: false,
});

/**
 * The documents an ended call leaves, as this repository writes them: its record (in
 * `callSessions`) and its history entry (in `callHistory`). For bulk loads that must look
 * like the product's writes (bench/callHistory.ts).
 */
export function endedCallDocuments(record: CallSessionRecord): { readonly session: ItemDefinition; readonly history: ItemDefinition } {
  if (record.endedAt === null) throw new Error(`call ${record.callId} has not ended`);
  return { session: mapping.toDocument(record), history: historyDocument(record) };
}

const HISTORY_PAGE_DEFAULT = 50;
const DAY_IN_MS = 86_400_000;

/** The UTC days [from, to) touches, newest first. */
function daysNewestFirst(from: Date, to: Date): string[] {
  const days: string[] = [];
  const first = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate());
  for (let t = to.getTime() - 1; t >= first; t -= DAY_IN_MS) days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}

/** Where the next history page starts: a day, and Cosmos DB's continuation within it (null: at its start). */
interface HistoryPosition {
  readonly d: string;
  readonly c: string | null;
}

function readHistoryPosition(token: string, days: readonly string[]): HistoryPosition {
  let position: unknown;
  try {
    position = JSON.parse(token);
  } catch {
    position = undefined;
  }
  const p = position as Partial<HistoryPosition> | undefined;
  if (typeof p?.d !== "string" || !days.includes(p.d) || !(p.c === null || typeof p.c === "string"))
    throw new ValidationError([{ field: "continuationToken", message: "continuationToken is not one this API issued for this query" }]);
  return { d: p.d, c: p.c };
}

const withoutSystem = (documents: readonly HistoryDocument[]): HistoryDocument[] =>
  documents.map((d) => withoutSystemProperties(d as unknown as ItemDefinition) as unknown as HistoryDocument);

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

  async listLive(options: { readonly tenantId?: string } = {}): Promise<CallSessionRecord[]> {
    const parameters: SqlParameter[] = options.tenantId ? [{ name: "@tenant", value: options.tenantId }] : [];
    const { resources } = await this.#store.callSessions.items
      .query<ItemDefinition>({
        query: `SELECT * FROM c WHERE IS_NULL(c.endedAt)${options.tenantId ? " AND c.tenantId = @tenant" : ""} ORDER BY c.createdAt DESC`,
        parameters,
      })
      .fetchAll();
    return resources.map(mapping.fromDocument);
  }

  async listEnded(query: CallHistoryQuery, options: ListOptions): Promise<Page<CallSummary>> {
    const days = daysNewestFirst(query.from, query.to);
    const want = options.maxItemCount ?? HISTORY_PAGE_DEFAULT;
    const start = options.continuationToken ? readHistoryPosition(options.continuationToken, days) : { d: days[0], c: null };
    const filters = [
      ["tenantId", "@tenant", query.tenantId],
      ["outcome", "@outcome", query.outcome],
      ["endReason", "@reason", query.endReason],
    ] as const;
    const spec = (day: string) => ({
      query:
        // The day is the partition key, named in the filter as well: the query stays in its partition whatever the client does with the option.
        "SELECT * FROM c WHERE c.day = @day AND c.createdAt >= @from AND c.createdAt < @to" +
        filters.map(([field, name, value]) => (value === undefined ? "" : ` AND c.${field} = ${name}`)).join("") +
        " ORDER BY c.createdAt DESC",
      parameters: [
        { name: "@from", value: query.from.toISOString() },
        { name: "@to", value: query.to.toISOString() },
        { name: "@day", value: day },
        ...filters.filter(([, , value]) => value !== undefined).map(([, name, value]) => ({ name, value: value as string })),
      ],
    });
    const items: CallSummary[] = [];
    for (let i = days.indexOf(start.d ?? ""); i >= 0 && i < days.length; i++) {
      const day = days[i]!;
      let continuation = day === start.d ? start.c : null;
      do {
        const page = await this.#store.callHistory.items
          .query<HistoryDocument>(spec(day), {
            partitionKey: day,
            maxItemCount: want - items.length,
            ...(continuation ? { continuationToken: continuation } : {}),
            ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
          })
          .fetchNext()
          .catch((e: unknown) => {
            if (isStatus(e, 400)) throw new ValidationError([{ field: "continuationToken", message: "continuationToken is not valid any more" }]);
            throw e;
          });
        for (const { id, day: _day, ...summary } of withoutSystem(page.resources)) items.push(summary);
        continuation = page.continuationToken ?? null;
        if (items.length >= want) {
          const next: HistoryPosition | undefined = continuation
            ? { d: day, c: continuation }
            : days[i + 1]
              ? { d: days[i + 1]!, c: null }
              : undefined;
          return { items, continuationToken: next ? JSON.stringify(next) : undefined };
        }
      } while (continuation);
    }
    return { items, continuationToken: undefined };
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
    // An ended call's history entry is written before the record (and again whenever its summary
    // changes, e.g. a late "established"): a record never says ended without its entry in history.
    const beforeWrite = async (next: CallSessionRecord, current: CallSessionRecord) => {
      await options.beforeWrite?.(next, current);
      if (next.endedAt === null) return;
      const entry = historyDocument(next);
      if (current.endedAt !== null && JSON.stringify(entry) === JSON.stringify(historyDocument(current))) return;
      await this.#store.callHistory.items.upsert(entry);
    };
    try {
      const updated = await mutateDocument(this.#store.callSessions, callId, callId, mapping, mutation, {
        notFoundMessage: `call ${callId} is not known`,
        beforeWrite,
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
