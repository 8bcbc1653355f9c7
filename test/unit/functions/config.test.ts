import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadControlPlaneConfig } from "../../../functions/config.js";

const valid = {
  COSMOS_ENDPOINT: "https://cvi.documents.azure.com:443/",
  SERVICE_DOMAIN: "CVI.Example.net",
  ADMIN_AUTH_ISSUER: "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
  ADMIN_AUTH_JWKS_URI: "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/discovery/v2.0/keys",
  ADMIN_AUTH_AUDIENCE: "api://opencvi-admin",
  PUBLIC_BASE_URL: "https://cvi-functions.example.net/",
  BOT_APP_ID: "6c1f2a3b-0d4e-4f5a-8b6c-7d8e9f0a1b2c",
  BOT_APP_CLIENT_SECRET: "not-a-real-secret",
  STATE_SIGNING_KEY: "0123456789abcdef0123456789abcdef",
};

describe("control plane configuration", () => {
  it("accepts the required settings and fills in the defaults", () => {
    const config = loadControlPlaneConfig(valid);
    assert.equal(config.SERVICE_DOMAIN, "cvi.example.net");
    assert.equal(config.COSMOS_DATABASE, "cvi");
    assert.equal(config.SERVICE_PROVIDER_NAME, "OpenCVI");
    assert.equal(config.ADMIN_AUTH_ROLE, "CVI.Admin");
    assert.equal(config.TENANT_ADMIN_ROLE, "CVI.TenantAdmin");
    assert.equal(config.COSMOS_KEY, undefined, "no key: managed identity");
    assert.equal(config.PUBLIC_BASE_URL, "https://cvi-functions.example.net");
    assert.equal(config.GRAPH_BASE_URL, "https://graph.microsoft.com");
    assert.equal(config.ENTRA_AUTHORITY_HOST, "https://login.microsoftonline.com");
    assert.deepEqual(config.CALL_NOTIFICATION_ISSUERS, ["https://api.botframework.com", "https://graph.microsoft.com"]);
  });

  it("lists every missing setting by its app-setting name, in one error", () => {
    assert.throws(
      () => loadControlPlaneConfig({}),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        for (const name of [
          "COSMOS_ENDPOINT",
          "SERVICE_DOMAIN",
          "ADMIN_AUTH_ISSUER",
          "ADMIN_AUTH_JWKS_URI",
          "ADMIN_AUTH_AUDIENCE",
          "PUBLIC_BASE_URL",
          "BOT_APP_ID",
          "BOT_APP_CLIENT_SECRET",
          "STATE_SIGNING_KEY",
        ]) {
          assert.match(e.message, new RegExp(`- ${name}: `));
        }
        return true;
      },
    );
  });

  it("explains each invalid value", () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ COSMOS_ENDPOINT: "http://cvi.documents.azure.com" }, /COSMOS_ENDPOINT: COSMOS_ENDPOINT must be an https:\/\/ URL/],
      [{ COSMOS_ENDPOINT: "not a url" }, /COSMOS_ENDPOINT: COSMOS_ENDPOINT must be an absolute URL/],
      [{ SERVICE_DOMAIN: "not a domain!" }, /SERVICE_DOMAIN: SERVICE_DOMAIN must be a DNS name/],
      [{ SERVICE_PROVIDER_NAME: "Pexip" }, /SERVICE_PROVIDER_NAME must not be a partner's name/],
      [{ SERVICE_PROVIDER_NAME: "9lives" }, /SERVICE_PROVIDER_NAME must be 2-32 letters and digits/],
      [{ COSMOS_DATABASE: "a/b" }, /COSMOS_DATABASE must be 1-255 letters/],
      [{ ADMIN_AUTH_JWKS_URI: "http://insecure.example.com/keys" }, /ADMIN_AUTH_JWKS_URI must be an https:\/\/ URL/],
      [{ BOT_APP_ID: "bot" }, /BOT_APP_ID must be a GUID/],
      [{ STATE_SIGNING_KEY: "short" }, /STATE_SIGNING_KEY must be at least 32 characters/],
    ];
    for (const [override, message] of cases) {
      assert.throws(() => loadControlPlaneConfig({ ...valid, ...override }), message);
    }
  });

  it("treats an empty setting as missing and never echoes a secret value", () => {
    assert.throws(() => loadControlPlaneConfig({ ...valid, SERVICE_DOMAIN: "" }), /SERVICE_DOMAIN: SERVICE_DOMAIN is required/);
    assert.throws(
      () => loadControlPlaneConfig({ ...valid, COSMOS_KEY: "", SERVICE_DOMAIN: "bad domain" }),
      (e: Error) => !e.message.includes("super-secret"),
    );
    const secret = "c3VwZXItc2VjcmV0LWtleQ==";
    assert.throws(
      () => loadControlPlaneConfig({ ...valid, COSMOS_KEY: secret, BOT_APP_CLIENT_SECRET: secret, STATE_SIGNING_KEY: "x", COSMOS_ENDPOINT: "nope" }),
      (e: Error) => !e.message.includes(secret),
    );
  });
});
