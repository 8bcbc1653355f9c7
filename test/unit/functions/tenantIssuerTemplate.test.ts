import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { tenantIssuerTemplate } from "../../../functions/platform/bearerTokenAuthenticator.js";

describe("tenantIssuerTemplate", () => {
  it("puts {tenantid} where the operator issuer names its tenant, in Entra's v2 and v1 forms", () => {
    assert.equal(
      tenantIssuerTemplate("https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"),
      "https://login.microsoftonline.com/{tenantid}/v2.0",
    );
    assert.equal(tenantIssuerTemplate("https://sts.windows.net/72F988BF-86F1-41AF-91AB-2D7CD011DB47/"), "https://sts.windows.net/{tenantid}/");
  });

  it("gives none for an issuer that names no tenant id: then only the operator's tokens are accepted", () => {
    assert.equal(tenantIssuerTemplate("https://issuer.example.com/"), undefined);
  });
});
