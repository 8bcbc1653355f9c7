import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import functions from "@azure/functions";
import { controlPlane } from "../../functions/controlPlane.js";
import { callsKeepAlive } from "../../functions/handlers/callsKeepAlive.js";
import { subscriptionsMaintain } from "../../functions/handlers/subscriptionsMaintain.js";
import { countVtcBlocks, findVtcCoordinates } from "../../shared/domain/vtcBlock.js";
import { LOCAL_BOT_APP_ID, type LocalStack, startLocalStack } from "../../local/stack.js";
import { adminApi, holdLease, type OnboardedTenant, onboardTenant } from "../support/onboarding.js";

const { InvocationContext } = functions;
let stack: LocalStack;
let lease: Awaited<ReturnType<typeof holdLease>>;

before(async () => {
  // Short-lived tokens, so a withdrawn consent shows at the next Graph call (as it does in Entra ID once the cached token expires).
  stack = await startLocalStack({ logLevel: "none", entraTokenLifetimeSeconds: 120 });
  // This test joins as the media host "mh-keep".
  lease = await holdLease(stack, "mh-keep");
});
after(async () => {
  await lease.release();
  await stack.stop();
});

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await stack.graph.idle();
}

async function enabledTenant(): Promise<{ tenant: OnboardedTenant; organizerId: string }> {
  const tenant = await onboardTenant(stack);
  const organizer = stack.graph.addUser(tenant.tenantId, {
    displayName: "Olivia",
    userPrincipalName: `olivia@${tenant.tenantId.slice(0, 8)}.example.com`,
  });
  await adminApi(stack, "POST", `/v1/tenants/${tenant.tenantId}/providers`, { identity: "OpenCVI", tenantKey: tenant.tenantKey });
  await adminApi(stack, "PUT", `/v1/tenants/${tenant.tenantId}/policy-assignments/global`, { policyName: "OpenCVIServiceProviderEnabled" });
  return { tenant, organizerId: organizer.id };
}

const timer = { isPastDue: false, scheduleStatus: { last: "", next: "", lastUpdated: "" } };
const context = (name: string) => new InvocationContext({ invocationId: "test", functionName: name, logHandler: () => {} });

describe("subscription lifecycle", () => {
  it("reauthorizes on reauthorizationRequired; subscribes again and resyncs on subscriptionRemoved", async () => {
    const { tenant, organizerId } = await enabledTenant();
    await settle();
    const [subscription] = stack.graph.subscriptions().filter((s) => s.tenantId === tenant.tenantId);
    assert.ok(subscription);

    stack.graph.sendLifecycleEvent(subscription.id, "reauthorizationRequired", { pauseDelivery: true });
    await settle();
    const reauthorized = stack.graph.subscriptions().find((s) => s.id === subscription.id);
    assert.equal(reauthorized?.paused, false, "delivery resumed after reauthorize");

    stack.graph.sendLifecycleEvent(subscription.id, "subscriptionRemoved");
    // An event created while the subscription is gone is caught up by the resync.
    const { eventId } = stack.graph.createTeamsMeetingEvent(tenant.tenantId, organizerId, {
      subject: "Missed",
      start: new Date(),
      end: new Date(Date.now() + 60_000),
    });
    await settle();
    const now = stack.graph.subscriptions().filter((s) => s.tenantId === tenant.tenantId);
    assert.equal(now.length, 1);
    assert.notEqual(now[0]?.id, subscription.id, "a new subscription replaced the removed one");
    const content = (stack.graph.getEvent(tenant.tenantId, organizerId, eventId) as { body: { content: string } }).body.content;
    assert.equal(countVtcBlocks(content), 1);
  });

  it("refuses a lifecycle notification for an unknown subscription or with the wrong clientState", async () => {
    const { tenant } = await enabledTenant();
    await settle();
    const [subscription] = stack.graph.subscriptions().filter((s) => s.tenantId === tenant.tenantId);
    for (const n of [
      { subscriptionId: subscription?.id, tenantId: tenant.tenantId, clientState: "wrong", lifecycleEvent: "subscriptionRemoved" },
      { subscriptionId: "not-ours", tenantId: tenant.tenantId, clientState: subscription?.clientState, lifecycleEvent: "missed" },
    ]) {
      const res = await fetch(`${stack.publicBaseUrl}/api/graph/lifecycle`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ value: [n] }),
      });
      assert.equal(res.status, 403);
    }
    assert.deepEqual(
      stack.graph
        .subscriptions()
        .filter((s) => s.tenantId === tenant.tenantId)
        .map((s) => s.id),
      [subscription?.id],
      "nothing was recreated",
    );
  });

  it("the maintenance timer renews subscriptions that would expire within a day", async () => {
    const { tenant } = await enabledTenant();
    await settle();
    const [before] = stack.graph.subscriptions().filter((s) => s.tenantId === tenant.tenantId);
    assert.ok(before);
    await subscriptionsMaintain(timer as never, context("subscriptionsMaintain"));
    assert.equal(stack.graph.subscriptions().find((s) => s.id === before.id)?.expirationDateTime, before.expirationDateTime, "not due yet");
    // Make it due: our record says it expires in an hour.
    const plane = await controlPlane();
    const soon = new Date(Date.now() + 3600_000).toISOString();
    const { CosmosOrganizerSubscriptionRepository } = await import("../../functions/adapters/cosmos/cosmosOrganizerSubscriptionRepository.js");
    const { openCosmosStore } = await import("../../functions/adapters/cosmos/cosmosStore.js");
    const records = new CosmosOrganizerSubscriptionRepository(
      await openCosmosStore({ endpoint: stack.cosmosEndpoint, key: stack.settings.COSMOS_KEY, databaseId: plane.config.COSMOS_DATABASE }),
    );
    const [record] = await records.list(tenant.tenantId);
    assert.ok(record);
    await records.put(tenant.tenantId, { ...record, expiresAt: soon });
    await subscriptionsMaintain(timer as never, context("subscriptionsMaintain"));
    const renewed = stack.graph.subscriptions().find((s) => s.id === before.id);
    assert.ok(renewed && Date.parse(renewed.expirationDateTime) > Date.parse(soon) + 24 * 3600_000, "renewed for days");
    assert.ok(Date.parse((await records.list(tenant.tenantId))[0]?.expiresAt ?? "") > Date.parse(soon), "our record follows");
  });
});

describe("calls over time, and consent withdrawn", () => {
  it("keep-alives keep a long call up; without them Graph ends it", async () => {
    const { tenant, organizerId } = await enabledTenant();
    const { eventId } = stack.graph.createTeamsMeetingEvent(tenant.tenantId, organizerId, {
      subject: "Long",
      start: new Date(),
      end: new Date(Date.now() + 8 * 3600_000),
      lobbyScope: "everyone",
    });
    await settle();
    const vtcId = findVtcCoordinates(
      (stack.graph.getEvent(tenant.tenantId, organizerId, eventId) as { body: { content: string } }).body.content,
    )?.vtcId;
    const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
    const joined = await adminApi(
      stack,
      "POST",
      "/v1/calls",
      {
        tenantKey: tenant.tenantKey,
        vtcId,
        displayName: "Room",
        mediaHostId: "mh-keep",
        mediaHostEpoch: lease.epoch,
        deviceCallId: "k1",
        mediaBlob: "{}",
      },
      mediaHost,
    );
    assert.equal(joined.status, 201, joined.text);
    await settle();
    for (let i = 0; i < 4; i++) {
      stack.graph.advanceClock(30 * 60_000);
      await callsKeepAlive(timer as never, context("callsKeepAlive"));
    }
    await settle();
    assert.equal(stack.graph.calls().find((c) => c.id === joined.json.callId)?.state, "established", "alive after two hours");
    stack.graph.advanceClock(50 * 60_000);
    await settle();
    const record = await adminApi(stack, "GET", `/v1/calls/${joined.json.callId}`);
    assert.equal(record.json.state, "terminated");
    assert.equal(record.json.endedBy, "meeting");
  });

  it("a tenant whose consent was withdrawn is marked so, and dial-ins are refused with that reason", async () => {
    const { tenant, organizerId } = await enabledTenant();
    const { eventId } = stack.graph.createTeamsMeetingEvent(tenant.tenantId, organizerId, {
      subject: "X",
      start: new Date(),
      end: new Date(Date.now() + 3600_000),
      lobbyScope: "everyone",
    });
    await settle();
    const vtcId = findVtcCoordinates(
      (stack.graph.getEvent(tenant.tenantId, organizerId, eventId) as { body: { content: string } }).body.content,
    )?.vtcId;
    stack.entra.revokeConsent(tenant.tenantId, LOCAL_BOT_APP_ID);
    const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
    const join = {
      tenantKey: tenant.tenantKey,
      vtcId,
      displayName: "Room",
      mediaHostId: "mh-keep",
      mediaHostEpoch: lease.epoch,
      deviceCallId: "r1",
      mediaBlob: "{}",
    };
    const refused = await adminApi(stack, "POST", "/v1/calls", join, mediaHost);
    assert.equal(refused.status, 403, refused.text);
    assert.equal(refused.json.code, "tenant-not-consented");
    assert.equal((await adminApi(stack, "GET", `/v1/tenants/${tenant.tenantId}`)).json.consent.status, "revoked");
    const again = await adminApi(stack, "GET", `/v1/resolve?tenantKey=${encodeURIComponent(tenant.tenantKey)}&vtcId=${vtcId}`, undefined, mediaHost);
    assert.equal(again.status, 403);
    assert.match(again.json.detail, /withdrawn/);
  });
});
