import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadControlPlaneConfig } from "../../../functions/config.js";

const valid = {
  COSMOS_ENDPOINT: "https://cvi.documents.azure.com:443/",
  SERVICE_DOMAIN: "CVI.Example.net",
  ADMIN_AUTH_ISSUER: "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
  ADMIN_AUTH_JWKS_URI: "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/discovery/v2.0/keys",
  ADMIN_AUTH_AUDIENCE: "api://opencvi-admin",
};

describe("control plane configuration", () => {
  it("accepts the required settings and fills in the defaults", () => {
    const config = loadControlPlaneConfig(valid);
    assert.equal(config.SERVICE_DOMAIN, "cvi.example.net");
    assert.equal(config.COSMOS_DATABASE, "cvi");
    assert.equal(config.SERVICE_PROVIDER_NAME, "OpenCVI");
    assert.equal(config.ADMIN_AUTH_ROLE, "CVI.Admin");
    assert.equal(config.COSMOS_KEY, undefined, "no key: managed identity");
  });

  it("lists every missing setting by its app-setting name, in one error", () => {
    assert.throws(
      () => loadControlPlaneConfig({}),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        for (const name of ["COSMOS_ENDPOINT", "SERVICE_DOMAIN", "ADMIN_AUTH_ISSUER", "ADMIN_AUTH_JWKS_URI", "ADMIN_AUTH_AUDIENCE"]) {
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
      () => loadControlPlaneConfig({ ...valid, COSMOS_KEY: secret, COSMOS_ENDPOINT: "nope" }),
      (e: Error) => !e.message.includes(secret),
    );
  });
});
