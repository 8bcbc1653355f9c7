import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { countVtcBlocks, findVtcCoordinates } from "../../shared/domain/vtcBlock.js";
import { type LocalStack, startLocalStack } from "../../local/stack.js";
import { adminApi, type OnboardedTenant, onboardTenant } from "../support/onboarding.js";

let stack: LocalStack;

before(async () => {
  stack = await startLocalStack({ logLevel: "none" });
});
after(() => stack.stop());

/** Waits until Graph has delivered every notification and our webhooks have answered. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await stack.graph.idle();
}

function body(tenantId: string, userId: string, eventId: string): string {
  const event = stack.graph.getEvent(tenantId, userId, eventId) as { body?: { content?: string } } | undefined;
  return event?.body?.content ?? "";
}

async function enabledOrganizer(): Promise<{ tenant: OnboardedTenant; organizerId: string }> {
  const tenant = await onboardTenant(stack);
  const organizer = stack.graph.addUser(tenant.tenantId, {
    displayName: "Olivia Organizer",
    userPrincipalName: `olivia@${tenant.tenantId.slice(0, 8)}.example.com`,
  });
  const provider = await adminApi(stack, "POST", `/v1/tenants/${tenant.tenantId}/providers`, {
    identity: "OpenCVI",
    tenantKey: tenant.tenantKey,
    instructionUri: "https://cvi.example.net/join?conf={ConfId}",
  });
  assert.equal(provider.status, 201, provider.text);
  const grant = await adminApi(stack, "PUT", `/v1/tenants/${tenant.tenantId}/policy-assignments/users/${organizer.id}`, {
    policyName: "OpenCVIServiceProviderEnabled",
  });
  assert.equal(grant.status, 200, grant.text);
  return { tenant, organizerId: organizer.id };
}

describe("meeting-coordinate injection through Graph change notifications", () => {
  it("an enabled organizer's meeting gets exactly one correct block through creation, updates and replays; revoking removes it", async () => {
    const { tenant, organizerId } = await enabledOrganizer();
    const subscriptions = stack.graph.subscriptions().filter((s) => s.tenantId === tenant.tenantId);
    assert.equal(subscriptions.length, 1, "the organizer's calendar is subscribed");

    const { eventId } = stack.graph.createTeamsMeetingEvent(tenant.tenantId, organizerId, {
      subject: "Quarterly review",
      start: new Date(Date.now() + 3600_000),
      end: new Date(Date.now() + 7200_000),
      bodyHtml: "<p>Agenda: numbers.</p>",
    });
    await settle();
    const first = body(tenant.tenantId, organizerId, eventId);
    assert.equal(countVtcBlocks(first), 1, first);
    const coordinates = findVtcCoordinates(first);
    assert.ok(coordinates, "the block carries coordinates");
    assert.equal(coordinates.tenantKey, tenant.tenantKey);
    assert.match(coordinates.vtcId, /^[1-9][0-9]{9}$/);
    assert.ok(first.includes(`https://cvi.example.net/join?conf=${coordinates.vtcId}`), "instruction URI with the ID filled in");
    assert.ok(first.includes("Agenda: numbers."), "the organizer's text is kept");

    stack.graph.updateEvent(tenant.tenantId, organizerId, eventId, { subject: "Quarterly review (moved)" });
    await settle();
    const current = body(tenant.tenantId, organizerId, eventId);
    stack.graph.updateEvent(tenant.tenantId, organizerId, eventId, {
      body: { contentType: "html", content: current.replace("Agenda: numbers.", "Agenda: numbers and plans.") },
    });
    await settle();
    const afterUpdates = body(tenant.tenantId, organizerId, eventId);
    assert.equal(countVtcBlocks(afterUpdates), 1);
    assert.equal(findVtcCoordinates(afterUpdates)?.vtcId, coordinates.vtcId, "the ID stays through updates");
    assert.ok(afterUpdates.includes("Agenda: numbers and plans."));

    const changeNotifications = stack.graph.sentNotifications.filter((n) => n.kind === "change" && n.tenantId === tenant.tenantId);
    assert.ok(changeNotifications.length >= 3);
    for (const n of changeNotifications.slice(0, 3)) await stack.graph.resend(n);
    await settle();
    assert.equal(body(tenant.tenantId, organizerId, eventId), afterUpdates, "replayed notifications change nothing");

    // The media host can resolve the dialed coordinates to this meeting.
    const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
    const resolved = await adminApi(
      stack,
      "GET",
      `/v1/resolve?tenantKey=${encodeURIComponent(tenant.tenantKey)}&vtcId=${coordinates.vtcId}`,
      undefined,
      mediaHost,
    );
    assert.equal(resolved.status, 200, resolved.text);
    assert.equal(resolved.json.meeting.organizerId, organizerId);
    assert.equal(resolved.json.joinAsGuest, true);

    const revoke = await adminApi(stack, "PUT", `/v1/tenants/${tenant.tenantId}/policy-assignments/users/${organizerId}`, { policyName: "none" });
    assert.equal(revoke.status, 204);
    await settle();
    const revoked = body(tenant.tenantId, organizerId, eventId);
    assert.equal(countVtcBlocks(revoked), 0, revoked);
    assert.ok(revoked.includes("Agenda: numbers and plans."));
    assert.equal(stack.graph.subscriptions().filter((s) => s.tenantId === tenant.tenantId).length, 0, "unsubscribed");
    const gone = await adminApi(
      stack,
      "GET",
      `/v1/resolve?tenantKey=${encodeURIComponent(tenant.tenantKey)}&vtcId=${coordinates.vtcId}`,
      undefined,
      mediaHost,
    );
    assert.equal(gone.status, 404);
    assert.equal(gone.json.code, "retired-vtc-id");
  });

  it("adopts Teams' own VTC ID, and resolves Teams-coordinated meetings it never saw through Graph's look-up", async () => {
    const { tenant, organizerId } = await enabledOrganizer();
    const adopted = stack.graph.createTeamsMeetingEvent(tenant.tenantId, organizerId, {
      subject: "Has a Teams VTC ID",
      start: new Date(),
      end: new Date(Date.now() + 3600_000),
      videoTeleconferenceId: "5550001234",
    });
    await settle();
    assert.equal(findVtcCoordinates(body(tenant.tenantId, organizerId, adopted.eventId))?.vtcId, "5550001234");

    // A meeting whose notification never reached us: only Graph knows its VTC ID.
    stack.graph.holdNotifications = true;
    const unseen = stack.graph.createTeamsMeetingEvent(tenant.tenantId, organizerId, {
      subject: "Coordinated by Teams",
      start: new Date(),
      end: new Date(Date.now() + 3600_000),
      videoTeleconferenceId: "5550009876",
    });
    stack.graph.holdNotifications = false;
    const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
    const resolved = await adminApi(
      stack,
      "GET",
      `/v1/resolve?tenantKey=${encodeURIComponent(tenant.tenantKey)}&vtcId=555%20000%209876`,
      undefined,
      mediaHost,
    );
    assert.equal(resolved.status, 200, resolved.text);
    assert.equal(resolved.json.meeting.id, unseen.meetingId);
    assert.equal(resolved.json.vtcId, "5550009876");
    const unknown = await adminApi(
      stack,
      "GET",
      `/v1/resolve?tenantKey=${encodeURIComponent(tenant.tenantKey)}&vtcId=5550000000`,
      undefined,
      mediaHost,
    );
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.code, "unknown-vtc-id");
    const wrongKey = await adminApi(stack, "GET", `/v1/resolve?tenantKey=999999999@t.cvi.localhost&vtcId=5550009876`, undefined, mediaHost);
    assert.equal(wrongKey.json.code, "unknown-tenant-key");
  });

  it("cancelling a meeting retires its VTC ID", async () => {
    const { tenant, organizerId } = await enabledOrganizer();
    const { eventId } = stack.graph.createTeamsMeetingEvent(tenant.tenantId, organizerId, {
      subject: "Stand-up",
      start: new Date(Date.now() + 3600_000),
      end: new Date(Date.now() + 5400_000),
    });
    await settle();
    const vtcId = findVtcCoordinates(body(tenant.tenantId, organizerId, eventId))?.vtcId;
    assert.ok(vtcId);
    stack.graph.cancelEvent(tenant.tenantId, organizerId, eventId);
    await settle();
    const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
    const resolved = await adminApi(
      stack,
      "GET",
      `/v1/resolve?tenantKey=${encodeURIComponent(tenant.tenantKey)}&vtcId=${vtcId}`,
      undefined,
      mediaHost,
    );
    assert.equal(resolved.status, 404);
    assert.equal(resolved.json.code, "retired-vtc-id");
    assert.equal(resolved.json.sipStatus, 404);
  });

  it("refuses notifications with a wrong clientState and changes nothing", async () => {
    const { tenant, organizerId } = await enabledOrganizer();
    const { eventId } = stack.graph.createTeamsMeetingEvent(tenant.tenantId, organizerId, {
      subject: "S",
      start: new Date(),
      end: new Date(Date.now() + 60_000),
    });
    await settle();
    const before = body(tenant.tenantId, organizerId, eventId);
    // Graph's genuine notification of this edit is held back: only the forged one reaches the webhook.
    stack.graph.holdNotifications = true;
    stack.graph.updateEvent(tenant.tenantId, organizerId, eventId, { body: { contentType: "html", content: "<p>organizer removed everything</p>" } });
    const forged = await fetch(`${stack.publicBaseUrl}/api/graph/notifications`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        value: [
          {
            subscriptionId: randomUUID(),
            changeType: "updated",
            resource: `Users/${organizerId}/Events/${eventId}`,
            clientState: "guessed",
            tenantId: tenant.tenantId,
          },
        ],
      }),
    });
    stack.graph.holdNotifications = false;
    assert.equal(forged.status, 403);
    assert.equal(countVtcBlocks(body(tenant.tenantId, organizerId, eventId)), 0, "the forged notification did not trigger a write");
    assert.ok(before.length > 0);
    const validation = await fetch(
      `${stack.publicBaseUrl}/api/graph/notifications?validationToken=${encodeURIComponent("Validation: Testing client application reachability")}`,
      { method: "POST" },
    );
    assert.equal(validation.status, 200);
    assert.equal(validation.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(await validation.text(), "Validation: Testing client application reachability");
  });
});
