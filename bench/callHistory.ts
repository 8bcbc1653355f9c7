/**
 * The admin API's call history at scale: `calls` ended calls written through the call
 * record repository as the control plane writes them (record created, then ended, which
 * writes its history entry), spread over 30 days and `tenants` tenants; then pages of 50
 * through GET /v1/calls?state=ended over HTTP, with p50/p99 per query shape.
 * The embedded Cosmos DB scans a container for every query (the partition key only
 * narrows it through the filter), so these figures grow with the calls stored; in Cosmos
 * DB each day's query reads one partition's index.
 * Prints JSON. Usage: node dist/bench/callHistory.js [calls=100000] [tenants=100] [pages=40]
 */
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { CosmosCallSessionRepository } from "../functions/adapters/cosmos/cosmosCallSessionRepository.js";
import { openCosmosStore } from "../functions/adapters/cosmos/cosmosStore.js";
import { type CallSessionRecord, INITIAL_CALL_SESSION } from "../shared/domain/callSession.js";
import { startLocalStack } from "../local/stack.js";

// Stdout carries the JSON result only: the control plane's informational lines go to stderr.
console.info = (...args: unknown[]) => console.error(...args);

const calls = Number(process.argv[2] ?? 100_000);
const tenantCount = Number(process.argv[3] ?? 100);
const pages = Number(process.argv[4] ?? 40);
const DAY_IN_MS = 86_400_000;
const WRITERS = 16;

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
  const reasons = ["the device hung up", "BYE", "media timeout", "the meeting ended the call"];
  let next = 0;
  const writeStarted = performance.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      while (next < calls) {
        const i = next++;
        const createdAt = new Date(now - ((i * 30 * DAY_IN_MS) / calls + 60_000)).toISOString();
        const record: CallSessionRecord = {
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
          establishedAt: i % 10 === 0 ? null : createdAt,
          endedAt: null,
          endedBy: null,
          endReason: null,
          deliveredDigest: null,
        };
        await repository.create(record);
        // One call in 1000 ends for a rare reason: the filter that walks the whole window for a page.
        const endReason = i % 1000 === 7 ? "rare: codec mismatch" : reasons[i % reasons.length]!;
        await repository.update(record.callId, (r) => ({ ...r, endedAt: createdAt, endedBy: "device", endReason }));
      }
    }),
  );
  const writeSeconds = (performance.now() - writeStarted) / 1000;

  const token = await stack.issueToken();
  const get = async (query: string) => {
    const t0 = performance.now();
    const res = await fetch(`${stack.adminApiUrl}/v1/calls?${query}`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { value: unknown[]; continuationToken?: string };
    if (res.status !== 200) throw new Error(`GET /v1/calls?${query}: ${res.status} ${JSON.stringify(body)}`);
    return { ms: performance.now() - t0, items: body.value.length, next: body.continuationToken };
  };
  const iso = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
  /** Pages of 50 for a query, following tokens (restarting at the first page when one runs out), `pages` in all. */
  const shape = async (name: string, query: string) => {
    const latencies: number[] = [];
    let items = 0;
    let token: string | undefined;
    for (let i = 0; i < pages; i++) {
      const page = await get(`${query}&top=50${token ? `&continuationToken=${encodeURIComponent(token)}` : ""}`);
      latencies.push(page.ms);
      items += page.items;
      token = page.next;
    }
    latencies.sort((a, b) => a - b);
    return {
      name,
      query,
      pages,
      itemsPerPage: +(items / pages).toFixed(1),
      p50Ms: +percentile(latencies, 50).toFixed(1),
      p99Ms: +percentile(latencies, 99).toFixed(1),
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
        write: { seconds: +writeSeconds.toFixed(1), callsPerSecond: Math.round(calls / writeSeconds) },
        shapes,
        store: "embedded Cosmos DB (@vercel/cosmosdb-server): every query scans its container",
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await stack.stop();
}
