import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadMediaHostConfig } from "../../../media-host/config.js";
import { ControlPlaneClient, ControlPlaneUnavailableError, mediaHostCredential } from "../../../media-host/controlPlane/controlPlaneClient.js";
import { type LocalStack, startLocalStack } from "../../../local/stack.js";
import { adminApi, enabledMeeting } from "../../support/onboarding.js";
import type { LeaseRequest } from "../../../shared/domain/pool.js";

let stack: LocalStack;
let client: ControlPlaneClient;

const leaseRequest = (epoch: number | null): LeaseRequest => ({
  epoch,
  sipUri: "sip:127.0.0.1:5999;transport=udp",
  capacity: 10,
  activeCalls: 0,
  load: 0,
  version: "test",
});
const hostSettings = () => ({
  CONTROL_PLANE_URL: stack.adminApiUrl,
  AZURE_TENANT_ID: stack.mediaHostIdentity.tenantId,
  AZURE_CLIENT_ID: stack.mediaHostIdentity.clientId,
  AZURE_CLIENT_SECRET: stack.mediaHostIdentity.clientSecret,
  AZURE_AUTHORITY_HOST: stack.entra.origin,
});

before(async () => {
  stack = await startLocalStack({ logLevel: "none" });
  const config = loadMediaHostConfig({
    MEDIA_HOST_ID: "mh-client-test",
    CONTROL_PLANE_URL: stack.adminApiUrl,
    AZURE_TENANT_ID: stack.mediaHostIdentity.tenantId,
    AZURE_CLIENT_ID: stack.mediaHostIdentity.clientId,
    AZURE_CLIENT_SECRET: stack.mediaHostIdentity.clientSecret,
    AZURE_AUTHORITY_HOST: stack.entra.origin,
  });
  client = new ControlPlaneClient(config, mediaHostCredential(config));
});
after(() => stack.stop());

describe("the media host's control-plane client, with its own Entra identity", () => {
  it("resolves, joins and leaves through the control plane", async () => {
    const { tenant, vtcId } = await enabledMeeting(stack, { subject: "Sync" });

    const resolved = await client.resolve(tenant.tenantKey, vtcId);
    assert.equal(resolved.kind, "resolved");
    const lease = await client.renewLease(leaseRequest(null));
    assert.equal(lease.kind, "granted");
    if (lease.kind !== "granted") return;
    const joined = await client.join({
      mediaHostEpoch: lease.grant.epoch,
      tenantKey: tenant.tenantKey,
      vtcId,
      displayName: "Huddle room",
      deviceCallId: "c1",
      mediaBlob: "{}",
    });
    assert.equal(joined.kind, "joined");
    if (joined.kind !== "joined") return;
    await client.leave(joined.callId, "BYE from device");
    await client.leave(joined.callId, "again: nothing left to leave");
    const record = await adminApi(stack, "GET", `/v1/calls/${joined.callId}`);
    assert.equal(record.json.endedBy, "device");

    const refused = await client.resolve(tenant.tenantKey, "1111111111");
    assert.deepEqual(
      { kind: refused.kind, code: refused.kind === "refused" ? refused.code : "", sipStatus: refused.kind === "refused" ? refused.sipStatus : 0 },
      {
        kind: "refused",
        code: "unknown-vtc-id",
        sipStatus: 404,
      },
    );
  });

  it("takes, renews and gives back a lease in the pool; a join without a live lease is refused as unavailable", async () => {
    const { tenant, vtcId } = await enabledMeeting(stack, { subject: "Lease" });
    const config = loadMediaHostConfig({ ...hostSettings(), MEDIA_HOST_ID: "mh-lease" });
    const host = new ControlPlaneClient(config, mediaHostCredential(config));
    const first = await host.renewLease(leaseRequest(null));
    assert.equal(first.kind, "granted");
    if (first.kind !== "granted") return;
    assert.deepEqual(
      { state: first.grant.state, leaseDurationInMs: first.grant.leaseDurationInMs, renewIntervalInMs: first.grant.renewIntervalInMs },
      { state: "active", leaseDurationInMs: 6000, renewIntervalInMs: 2000 },
    );
    // A second process with the same id waits (the lease is live); a renewal at another epoch is told it lost the lease.
    const twin = await host.renewLease(leaseRequest(null));
    assert.equal(twin.kind === "refused" && twin.code, "host-id-in-use");
    assert.ok(twin.kind === "refused" && twin.retryAfterInMs >= 1000);
    const stale = await host.renewLease(leaseRequest(first.grant.epoch + 1));
    assert.equal(stale.kind === "refused" && stale.code, "lease-lost");
    const renewed = await host.renewLease({ ...leaseRequest(first.grant.epoch), activeCalls: 3 });
    assert.equal(renewed.kind === "granted" && renewed.grant.epoch, first.grant.epoch);
    const listed = await adminApi(stack, "GET", "/v1/pool/hosts/mh-lease");
    assert.deepEqual({ status: listed.json.status, activeCalls: listed.json.activeCalls }, { status: "active", activeCalls: 3 });

    const join = (mediaHostEpoch: number) =>
      host.join({
        mediaHostEpoch,
        tenantKey: tenant.tenantKey,
        vtcId,
        displayName: "Lease room",
        deviceCallId: `c-${mediaHostEpoch}`,
        mediaBlob: "{}",
      });
    await assert.rejects(join(first.grant.epoch + 1), (e: unknown) => e instanceof ControlPlaneUnavailableError && /no live lease/.test(e.message));
    await host.releaseLease(first.grant.epoch);
    assert.equal((await adminApi(stack, "GET", "/v1/pool/hosts/mh-lease")).status, 404);
    await assert.rejects(join(first.grant.epoch), ControlPlaneUnavailableError);
    // Gone from the pool, the id starts afresh.
    const again = await host.renewLease(leaseRequest(null));
    assert.equal(again.kind === "granted" && again.grant.epoch, 1);
    await host.releaseLease(1);
  });

  it("takes and gives up the bot's screen share through the control plane (Graph's changeScreenSharingRole); an ended call's share is refused", async () => {
    const { tenant, vtcId, meetingId } = await enabledMeeting(stack, { subject: "Slides", lobbyScope: "everyone" });
    const config = loadMediaHostConfig({ ...hostSettings(), MEDIA_HOST_ID: "mh-share" });
    const host = new ControlPlaneClient(config, mediaHostCredential(config));
    const lease = await host.renewLease(leaseRequest(null));
    assert.equal(lease.kind, "granted");
    if (lease.kind !== "granted") return;
    const joined = await host.join({
      mediaHostEpoch: lease.grant.epoch,
      tenantKey: tenant.tenantKey,
      vtcId,
      displayName: "Slides room",
      deviceCallId: "c-share",
      mediaBlob: "{}",
    });
    assert.equal(joined.kind, "joined");
    if (joined.kind !== "joined") return;
    for (let i = 0; i < 3; i++) await stack.graph.idle();
    const bot = stack.graph.calls().find((c) => c.id === joined.callId)!;
    await host.changeScreenSharingRole(joined.callId, "sharer");
    await host.changeScreenSharingRole(joined.callId, "sharer");
    assert.equal(stack.graph.screenSharer(meetingId), bot.myParticipantId);
    await host.changeScreenSharingRole(joined.callId, "viewer");
    assert.equal(stack.graph.screenSharer(meetingId), null);
    await host.leave(joined.callId, "BYE from device");
    await assert.rejects(
      host.changeScreenSharingRole(joined.callId, "sharer"),
      (e: unknown) => e instanceof ControlPlaneUnavailableError && /answered 409/.test(e.message),
    );
    await host.releaseLease(lease.grant.epoch);
  });

  it("reports an unreachable control plane as unavailable (the SIP side answers 503), not as a refusal", async () => {
    const config = loadMediaHostConfig({
      MEDIA_HOST_ID: "mh-x",
      CONTROL_PLANE_URL: "http://127.0.0.1:9/api",
      AZURE_TENANT_ID: stack.mediaHostIdentity.tenantId,
      AZURE_CLIENT_ID: stack.mediaHostIdentity.clientId,
      AZURE_CLIENT_SECRET: stack.mediaHostIdentity.clientSecret,
      AZURE_AUTHORITY_HOST: stack.entra.origin,
    });
    const unreachable = new ControlPlaneClient(config, mediaHostCredential(config));
    await assert.rejects(
      unreachable.resolve("123456789@t.cvi.localhost", "1234567890"),
      (e: unknown) => e instanceof ControlPlaneUnavailableError && e.sipStatus === 503,
    );
  });

  it("validates its settings with one line per problem", () => {
    assert.throws(() => loadMediaHostConfig({}), /MEDIA_HOST_ID: MEDIA_HOST_ID is required[\s\S]*CONTROL_PLANE_URL: CONTROL_PLANE_URL is required/);
    assert.throws(
      () => loadMediaHostConfig({ MEDIA_HOST_ID: "a b", CONTROL_PLANE_URL: "http://example.com" }),
      /MEDIA_HOST_ID must be[\s\S]*CONTROL_PLANE_URL must be https/,
    );
    assert.throws(
      () => loadMediaHostConfig({ MEDIA_HOST_ID: "a", CONTROL_PLANE_URL: "https://x.example.com", AZURE_CLIENT_SECRET: "s" }),
      /needs AZURE_TENANT_ID/,
    );
  });
});
