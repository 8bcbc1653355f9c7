/**
 * The admin API's call history at scale: `calls` ended calls written through the call
 * record repository as the control plane writes them (record created, then ended, which
 * writes its history entry), spread over 30 days and `tenants` tenants; then pages of 50
 * through GET /v1/calls?state=ended over HTTP, with p50/p99 per query shape for its first
 * page and for the pages after it (continuation tokens), each as a ratio to the reference
 * measured in the same run: one call's record (GET /v1/calls/{id}, a point read).
 * The embedded Cosmos DB runs a query over its partition's documents only (local/
 * embeddedCosmos.ts), as Cosmos DB routes it; a page's cost grows with the days it walks
 * and the calls of each day, not with every call stored.
 * Prints JSON. Usage: node dist/bench/callHistory.js [calls=100000] [tenants=100] [pages=20]
 */
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { BulkOperationType, type OperationInput } from "@azure/cosmos";
import { CosmosCallSessionRepository, endedCallDocuments } from "../functions/adapters/cosmos/cosmosCallSessionRepository.js";
import { openCosmosStore } from "../functions/adapters/cosmos/cosmosStore.js";
import { type CallSessionRecord, INITIAL_CALL_SESSION } from "../shared/domain/callSession.js";
import { startLocalStack } from "../local/stack.js";

// Stdout carries the JSON result only: the control plane's informational lines go to stderr.
console.info = (...args: unknown[]) => console.error(...args);

const calls = Number(process.argv[2] ?? 100_000);
const tenantCount = Number(process.argv[3] ?? 100);
const pages = Number(process.argv[4] ?? 20);
const DAY_IN_MS = 86_400_000;
const WRITERS = 16;
/** Calls written through the repository one by one (~300 a second here); the rest go in bulk. */
const THROUGH_REPOSITORY = 2000;
const BULK_CHUNK = 2000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const stack = await startLocalStack({ logLevel: "none" });
try {
  const store = await openCosmosStore({
    endpoint: stack.cosmosEndpoint,
    key: stack.settings.COSMOS_KEY,
    databaseId: stack.settings.COSMOS_DATABASE ?? "cvi",
  });
  const repository = new CosmosCallSessionRepository(store);
  const tenants = Array.from({ length: tenantCount }, () => randomUUID());
  const now = Date.now();
  const callIds: string[] = [];
  const reasons = ["the device hung up", "BYE", "media timeout", "the meeting ended the call"];
  const endedCall = (i: number): CallSessionRecord => {
    const createdAt = new Date(now - ((i * 30 * DAY_IN_MS) / calls + 60_000)).toISOString();
    return {
      ...INITIAL_CALL_SESSION,
      callId: randomUUID(),
      tenantId: tenants[i % tenantCount]!,
      mediaHostId: `mh-${i % 8}`,
      mediaHostEpoch: 1,
      deviceCallId: `sip-${i}`,
      displayName: `Room ${i}`,
      vtcId: String(1_000_000_000 + i),
      meetingId: `meeting-${i % 1000}`,
      organizerId: randomUUID(),
      joinAsGuest: true,
      createdAt,
      // One call in 7 never connected (7 is prime to the tenant counts used, so each tenant has some).
      establishedAt: i % 7 === 0 ? null : createdAt,
      endedAt: createdAt,
      endedBy: "device",
      // One call in 1000 ends for a rare reason: the filter that walks the whole window for a page.
      endReason: i % 1000 === 7 ? "rare: codec mismatch" : reasons[i % reasons.length]!,
      deliveredDigest: null,
    };
  };
  const writeStarted = performance.now();
  // The first calls as the control plane writes them (record created, then ended, which writes its history entry)...
  const throughRepository = Math.min(calls, THROUGH_REPOSITORY);
  let next = 0;
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      while (next < throughRepository) {
        const ended = endedCall(next++);
        await repository.create({ ...ended, endedAt: null, endedBy: null, endReason: null });
        callIds.push(ended.callId);
        await repository.update(ended.callId, () => ended);
      }
    }),
  );
  const repositorySeconds = (performance.now() - writeStarted) / 1000;
  // ...the rest in bulk, the same documents (the repository's mapping): a record and a history entry per call.
  const bulk = async (container: typeof store.callHistory, documents: OperationInput[]) => {
    for (const result of await container.items.executeBulkOperations(documents))
      if (result.error || (result.response && result.response.statusCode >= 300))
        throw new Error(`bulk create in ${container.id}: ${result.error?.message ?? result.response?.statusCode}`);
  };
  for (let from = throughRepository; from < calls; from += BULK_CHUNK) {
    const documents = Array.from({ length: Math.min(BULK_CHUNK, calls - from) }, (_, k) => endedCallDocuments(endedCall(from + k)));
    for (const d of documents) callIds.push(String(d.session.id));
    await Promise.all([
      bulk(
        store.callSessions,
        documents.map((d) => ({ operationType: BulkOperationType.Create, partitionKey: String(d.session.id), resourceBody: d.session })),
      ),
      bulk(
        store.callHistory,
        documents.map((d) => ({ operationType: BulkOperationType.Create, partitionKey: String(d.history.day), resourceBody: d.history })),
      ),
    ]);
  }
  const writeSeconds = (performance.now() - writeStarted) / 1000;

  const token = await stack.issueToken();
  const timed = async (path: string) => {
    const t0 = performance.now();
    const res = await fetch(`${stack.adminApiUrl}/v1/${path}`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { value?: unknown[]; continuationToken?: string };
    if (res.status !== 200) throw new Error(`GET /v1/${path}: ${res.status} ${JSON.stringify(body)}`);
    return { ms: performance.now() - t0, body };
  };
  const get = async (query: string) => {
    const { ms, body } = await timed(`calls?${query}`);
    return { ms, items: body.value?.length ?? 0, next: body.continuationToken };
  };
  const stats = (latencies: number[]) => {
    const sorted = [...latencies].sort((a, b) => a - b);
    return { p50Ms: +percentile(sorted, 50).toFixed(1), p99Ms: +percentile(sorted, 99).toFixed(1) };
  };
  // The reference: one call's record, a point read through the same API, auth and HTTP.
  const referenceLatencies: number[] = [];
  for (let i = 0; i < pages * 2; i++) referenceLatencies.push((await timed(`calls/${callIds[(i * 7919) % callIds.length]}`)).ms);
  const reference = {
    name: "one call's record (GET /v1/calls/{id}, a point read)",
    requests: referenceLatencies.length,
    ...stats(referenceLatencies),
  };
  const ratio = (s: { p50Ms: number; p99Ms: number }) => ({
    ...s,
    ratioP50: +(s.p50Ms / reference.p50Ms).toFixed(1),
    ratioP99: +(s.p99Ms / reference.p99Ms).toFixed(1),
  });
  const iso = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
  /**
   * A query shape: its first page `pages` times, then `pages` pages after it following the
   * continuation tokens (from the first page again when they run out).
   */
  const shape = async (name: string, query: string) => {
    const first: number[] = [];
    const following: number[] = [];
    let items = 0;
    let token: string | undefined;
    for (let i = 0; i < pages; i++) {
      const page = await get(`${query}&top=50`);
      first.push(page.ms);
      items += page.items;
      token = page.next;
    }
    let followed = 0;
    for (let i = 0; i < pages && token; i++) {
      const page = await get(`${query}&top=50&continuationToken=${encodeURIComponent(token)}`);
      following.push(page.ms);
      items += page.items;
      followed++;
      token = page.next ?? (await get(`${query}&top=50`)).next;
    }
    return {
      name,
      query,
      itemsPerPage: +(items / (pages + followed)).toFixed(1),
      firstPage: { pages, ...ratio(stats(first)) },
      followingPages: followed ? { pages: followed, ...ratio(stats(following)) } : null,
    };
  };
  const end = now + 1000;
  const shapes = [
    await shape("every tenant, last 24 hours", `state=ended`),
    await shape("every tenant, 7 days", `state=ended&from=${iso(end - 7 * DAY_IN_MS)}&to=${iso(end)}`),
    await shape("one tenant, 7 days", `state=ended&tenant=${tenants[0]}&from=${iso(end - 7 * DAY_IN_MS)}&to=${iso(end)}`),
    await shape(
      "one tenant, 31 days, not connected",
      `state=ended&tenant=${tenants[0]}&from=${iso(end - 31 * DAY_IN_MS)}&to=${iso(end)}&outcome=not-connected`,
    ),
    await shape(
      "rare end reason, 31 days (walks every day)",
      `state=ended&from=${iso(end - 31 * DAY_IN_MS)}&to=${iso(end)}&reason=${encodeURIComponent("rare: codec mismatch")}`,
    ),
  ];
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: "call-history",
        calls,
        tenants: tenantCount,
        days: 30,
        pageSize: 50,
        write: {
          seconds: +writeSeconds.toFixed(1),
          throughRepository: { calls: throughRepository, callsPerSecond: Math.round(throughRepository / repositorySeconds) },
          inBulk:
            calls > throughRepository
              ? { calls: calls - throughRepository, callsPerSecond: Math.round((calls - throughRepository) / (writeSeconds - repositorySeconds)) }
              : null,
        },
        reference,
        shapes,
        store: "embedded Cosmos DB (@vercel/cosmosdb-server), a query run over its partition's documents (local/embeddedCosmos.ts)",
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await stack.stop();
}
