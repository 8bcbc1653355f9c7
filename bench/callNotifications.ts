/**
 * Call notifications per second through the call webhook on the embedded stack
 * (calling-platform JWT validation + call-session update in Cosmos DB + hand-off on
 * the bus), with p50/p99 latency. The reference, measured in the same run on the same
 * store, is the store-only cost: the same session updates without HTTP or JWT.
 * Prints JSON. Usage: node dist/bench/callNotifications.js [notifications] [concurrency]
 */
import { performance } from "node:perf_hooks";
import { CosmosCallSessionRepository } from "../functions/adapters/cosmos/cosmosCallSessionRepository.js";
import { openCosmosStore } from "../functions/adapters/cosmos/cosmosStore.js";
import { observeCall } from "../shared/domain/callSession.js";
import { findVtcCoordinates } from "../shared/domain/vtcBlock.js";
import { LOCAL_BOT_APP_ID, startLocalStack } from "../local/stack.js";
import { adminApi, holdLease, onboardTenant } from "../test/support/onboarding.js";

// Stdout carries the JSON result only: the control plane's informational lines go to stderr.
console.info = (...args: unknown[]) => console.error(...args);

const total = Number(process.argv[2] ?? 2000);
const concurrency = Number(process.argv[3] ?? 8);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function measure(count: number, parallel: number, op: (i: number) => Promise<void>) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const i = next++;
        const t0 = performance.now();
        await op(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: Math.round(count / seconds), p50Ms: +percentile(latencies, 50).toFixed(2), p99Ms: +percentile(latencies, 99).toFixed(2) };
}

const stack = await startLocalStack({ logLevel: "none" });
// The bench joins as the media host "bench": it holds a lease in the pool while it runs.
const lease = await holdLease(stack, "bench");
try {
  const tenant = await onboardTenant(stack);
  const organizer = stack.graph.addUser(tenant.tenantId, { displayName: "Bench", userPrincipalName: "bench@bench.example.com" });
  await adminApi(stack, "POST", `/v1/tenants/${tenant.tenantId}/providers`, { identity: "OpenCVI", tenantKey: tenant.tenantKey });
  await adminApi(stack, "PUT", `/v1/tenants/${tenant.tenantId}/policy-assignments/global`, { policyName: "OpenCVIServiceProviderEnabled" });
  const { eventId } = stack.graph.createTeamsMeetingEvent(tenant.tenantId, organizer.id, {
    subject: "Bench",
    start: new Date(),
    end: new Date(Date.now() + 3600_000),
    lobbyScope: "everyone",
  });
  for (let i = 0; i < 3; i++) await stack.graph.idle();
  const vtcId = findVtcCoordinates(
    String((stack.graph.getEvent(tenant.tenantId, organizer.id, eventId) as { body: { content: string } }).body.content),
  )?.vtcId;
  const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
  // One call per concurrent sender, so senders do not all contend for one record.
  const callIds: string[] = [];
  for (let c = 0; c < concurrency; c++) {
    const joined = await adminApi(
      stack,
      "POST",
      "/v1/calls",
      {
        tenantKey: tenant.tenantKey,
        vtcId,
        displayName: `Room ${c}`,
        mediaHostId: "bench",
        mediaHostEpoch: lease.epoch,
        deviceCallId: `b${c}`,
        mediaBlob: "{}",
      },
      mediaHost,
    );
    callIds.push(joined.json.callId);
  }
  for (let i = 0; i < 3; i++) await stack.graph.idle();
  const token = await stack.graph.signCallNotificationToken({ audience: LOCAL_BOT_APP_ID, tenantId: tenant.tenantId, expiresInSeconds: 3600 });
  // Each notification is a roster update with a new sequence number: every one changes the record and is handed on.
  const participant = (i: number) => ({
    id: `p-${i % 50}`,
    info: { identity: { user: { id: `u-${i % 50}`, displayName: `Person ${i % 50}` } } },
    isInLobby: false,
    isMuted: i % 2 === 0,
    rosterSequenceNumber: 10 + i,
  });
  const notification = (i: number) =>
    JSON.stringify({
      "@odata.type": "#microsoft.graph.commsNotifications",
      value: [
        {
          "@odata.type": "#microsoft.graph.commsNotification",
          changeType: "updated",
          resourceUrl: `/communications/calls/${callIds[i % callIds.length]}/participants`,
          resourceData: [participant(i)],
        },
      ],
    });
  const url = `${stack.publicBaseUrl}/api/graph/calls`;
  const webhook = await measure(total, concurrency, async (i) => {
    const res = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: notification(i),
    });
    if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
  });

  const store = await openCosmosStore({
    endpoint: stack.cosmosEndpoint,
    key: stack.settings.COSMOS_KEY,
    databaseId: stack.settings.COSMOS_DATABASE ?? "cvi",
  });
  const sessions = new CosmosCallSessionRepository(store);
  const storeOnly = await measure(total, concurrency, async (i) => {
    const callId = callIds[i % callIds.length] ?? "";
    await sessions.get(callId);
    const p = participant(total + i);
    await sessions.update(callId, (r) =>
      observeCall(
        r,
        {
          kind: "participants",
          updated: [
            {
              id: p.id,
              displayName: p.info.identity.user.displayName,
              isInLobby: false,
              isMuted: p.isMuted,
              sequence: p.rosterSequenceNumber,
              left: false,
            },
          ],
        },
        new Date(),
      ),
    );
  });
  process.stdout.write(
    `${JSON.stringify({ benchmark: "call-notifications", notifications: total, concurrency, webhook, storeOnly, ratio: +(webhook.perSecond / storeOnly.perSecond).toFixed(3) }, null, 2)}\n`,
  );
} finally {
  await lease.release();
  await stack.stop();
}
