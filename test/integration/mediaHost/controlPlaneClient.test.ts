import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadMediaHostConfig } from "../../../media-host/config.js";
import { ControlPlaneClient, ControlPlaneUnavailableError, mediaHostCredential } from "../../../media-host/controlPlane/controlPlaneClient.js";
import { type LocalStack, startLocalStack } from "../../../local/stack.js";
import { adminApi, enabledMeeting } from "../../support/onboarding.js";

let stack: LocalStack;
let client: ControlPlaneClient;

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
    const joined = await client.join({ tenantKey: tenant.tenantKey, vtcId, displayName: "Huddle room", deviceCallId: "c1", mediaBlob: "{}" });
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
