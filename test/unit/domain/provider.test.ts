import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  PARTNER_PROVIDER_NAMES,
  type ProviderNaming,
  type VideoInteropServiceProvider,
  applyProviderChanges,
  canonicalProviderName,
  checkProviderBelongsToTenant,
  compileFilter,
  createProvider,
  parseNewProvider,
  parseProviderChanges,
  providerNames,
} from "../../../shared/domain/provider.js";
import { GUID_A, GUID_B, GUID_C, assertValidationError } from "./assertValidation.js";

const naming: ProviderNaming = { serviceProviderName: "OpenCVI", serviceDomain: "cvi.example.net" };
const OUR_KEY = "813878896@t.cvi.example.net";
const PEXIP_KEY = "contoso@pexip.me";

/** A valid new-provider body for a partner, with `extra` merged in. */
const partner = (extra: Record<string, unknown> = {}) => ({ identity: "Pexip", tenantKey: PEXIP_KEY, ...extra });
const newPartner = (extra: Record<string, unknown> = {}) => parseNewProvider(partner(extra), naming);
const change = (body: unknown, identity = "Pexip") => parseProviderChanges(body, identity, naming);

function guid(i: number): string {
  return `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
}

describe("provider names", () => {
  it("lists the partners then this service", () => {
    assert.deepEqual([...PARTNER_PROVIDER_NAMES], ["Polycom", "BlueJeans", "Pexip", "Cisco"]);
    assert.deepEqual(providerNames(naming), ["Polycom", "BlueJeans", "Pexip", "Cisco", "OpenCVI"]);
  });

  it("canonicalises case-insensitively and trims", () => {
    assert.equal(canonicalProviderName("pexip", naming), "Pexip");
    assert.equal(canonicalProviderName(" BLUEJEANS ", naming), "BlueJeans");
    assert.equal(canonicalProviderName("opencvi", naming), "OpenCVI");
    assert.equal(canonicalProviderName("zoom", naming), undefined);
    assert.equal(canonicalProviderName("", naming), undefined);
    assert.equal(canonicalProviderName("DefaultProvider", naming), undefined);
  });
});

describe("parseNewProvider", () => {
  it("fills in the defaults", () => {
    assert.deepEqual(newPartner(), {
      identity: "Pexip",
      tenantKey: PEXIP_KEY,
      instructionUri: null,
      allowAppGuestJoinsAsAuthenticated: false,
      aadApplicationIds: [],
    });
  });

  it("accepts every field", () => {
    assert.deepEqual(
      newPartner({
        instructionUri: "https://pexip.example.com/join?conf={ConfId}",
        allowAppGuestJoinsAsAuthenticated: true,
        aadApplicationIds: [GUID_A, GUID_B],
      }),
      {
        identity: "Pexip",
        tenantKey: PEXIP_KEY,
        instructionUri: "https://pexip.example.com/join?conf={ConfId}",
        allowAppGuestJoinsAsAuthenticated: true,
        aadApplicationIds: [GUID_A, GUID_B],
      },
    );
  });

  describe("identity", () => {
    it("canonicalises the spelling (pexip -> Pexip)", () => {
      assert.equal(parseNewProvider({ identity: "pexip", tenantKey: PEXIP_KEY }, naming).identity, "Pexip");
      assert.equal(parseNewProvider({ identity: "CISCO", tenantKey: PEXIP_KEY }, naming).identity, "Cisco");
      assert.equal(parseNewProvider({ identity: " opencvi ", tenantKey: OUR_KEY }, naming).identity, "OpenCVI");
    });

    it("rejects an unknown provider, listing the known ones", () => {
      assertValidationError(
        () => parseNewProvider({ identity: "Zoom", tenantKey: PEXIP_KEY }, naming),
        "identity",
        'identity must be one of Polycom, BlueJeans, Pexip, Cisco, OpenCVI; got "Zoom"',
      );
    });

    it("cuts a long unknown identity short in the message", () => {
      const e = assertValidationError(
        () => parseNewProvider({ identity: "z".repeat(500), tenantKey: PEXIP_KEY }, naming),
        "identity",
        `got "${"z".repeat(64)}"`,
      );
      assert.ok(!e.message.includes("z".repeat(65)));
    });

    it("rejects a missing or non-string identity", () => {
      assertValidationError(() => parseNewProvider({ tenantKey: PEXIP_KEY }, naming), "identity", "identity is required and must be a string");
      assertValidationError(
        () => parseNewProvider({ identity: 1, tenantKey: PEXIP_KEY }, naming),
        "identity",
        "identity is required and must be a string",
      );
    });
  });

  describe("tenantKey", () => {
    it("accepts a partner's own format for a partner provider, lower-cased", () => {
      assert.equal(parseNewProvider({ identity: "Polycom", tenantKey: "813878896@T.PLCM.VC" }, naming).tenantKey, "813878896@t.plcm.vc");
      assert.equal(parseNewProvider({ identity: "Pexip", tenantKey: "Contoso@Pexip.me" }, naming).tenantKey, "contoso@pexip.me");
    });

    it("rejects a malformed key for a partner provider", () => {
      assertValidationError(
        () => parseNewProvider({ identity: "Cisco", tenantKey: "not a key" }, naming),
        "tenantKey",
        "tenantKey must look like <key>@<host>",
      );
    });

    it("requires this service's format for this service's provider", () => {
      assert.equal(parseNewProvider({ identity: "OpenCVI", tenantKey: " 813878896@t.CVI.example.net " }, naming).tenantKey, OUR_KEY);
      const expected = "tenantKey must be 9 digits (not starting with 0) followed by @t.cvi.example.net";
      for (const bad of [
        "813878896@t.plcm.vc",
        "013878896@t.cvi.example.net",
        "81387889@t.cvi.example.net",
        "8138788961@t.cvi.example.net",
        "contoso@pexip.me",
      ]) {
        assertValidationError(() => parseNewProvider({ identity: "opencvi", tenantKey: bad }, naming), "tenantKey", expected);
      }
    });

    it("follows the configured provider name and domain", () => {
      const other: ProviderNaming = { serviceProviderName: "Acme", serviceDomain: "video.acme.io" };
      assert.equal(parseNewProvider({ identity: "acme", tenantKey: "123456789@t.video.acme.io" }, other).identity, "Acme");
      assertValidationError(() => parseNewProvider({ identity: "Acme", tenantKey: OUR_KEY }, other), "tenantKey", "@t.video.acme.io");
      // OpenCVI is not a provider under that naming.
      assertValidationError(
        () => parseNewProvider({ identity: "OpenCVI", tenantKey: OUR_KEY }, other),
        "identity",
        "identity must be one of Polycom, BlueJeans, Pexip, Cisco, Acme",
      );
    });

    it("rejects a missing, empty or non-string key", () => {
      assertValidationError(() => parseNewProvider({ identity: "Pexip" }, naming), "tenantKey", "tenantKey is required");
      assertValidationError(() => parseNewProvider({ identity: "Pexip", tenantKey: "" }, naming), "tenantKey", "tenantKey is required");
      assertValidationError(() => parseNewProvider({ identity: "Pexip", tenantKey: 813878896 }, naming), "tenantKey", "tenantKey must be a string");
    });
  });

  describe("instructionUri", () => {
    it("accepts https and http URIs, with or without {ConfId}", () => {
      assert.equal(newPartner({ instructionUri: "https://example.com/join?conf={ConfId}" }).instructionUri, "https://example.com/join?conf={ConfId}");
      assert.equal(newPartner({ instructionUri: "http://example.com/{ConfId}/{ConfId}" }).instructionUri, "http://example.com/{ConfId}/{ConfId}");
      assert.equal(newPartner({ instructionUri: "  https://example.com/help  " }).instructionUri, "https://example.com/help");
    });

    it("accepts null", () => {
      assert.equal(newPartner({ instructionUri: null }).instructionUri, null);
    });

    it("rejects a URI that is not absolute", () => {
      for (const bad of ["/join?conf={ConfId}", "example.com/join", "join here"]) {
        assertValidationError(() => newPartner({ instructionUri: bad }), "instructionUri", "instructionUri must be an absolute URI");
      }
    });

    it("rejects a scheme other than https or http", () => {
      assertValidationError(
        () => newPartner({ instructionUri: "ftp://example.com/x" }),
        "instructionUri",
        "instructionUri must use https or http, not ftp",
      );
      assertValidationError(() => newPartner({ instructionUri: "javascript:alert(1)" }), "instructionUri", "not javascript");
      assertValidationError(() => newPartner({ instructionUri: "sip:{ConfId}@example.com" }), "instructionUri", "not sip");
    });

    it("rejects an unknown placeholder, naming it", () => {
      assertValidationError(
        () => newPartner({ instructionUri: "https://example.com/{Foo}" }),
        "instructionUri",
        "instructionUri has unknown placeholder {Foo}; only {ConfId} is supported",
      );
      assertValidationError(
        () => newPartner({ instructionUri: "https://example.com/{ConfId}?x={confid}" }),
        "instructionUri",
        "unknown placeholder {confid}",
      );
      assertValidationError(() => newPartner({ instructionUri: "https://example.com/{}" }), "instructionUri", "unknown placeholder {}");
    });

    it("accepts exactly 2048 characters and rejects more", () => {
      const base = "https://example.com/";
      const max = base + "a".repeat(2048 - base.length);
      assert.equal(newPartner({ instructionUri: max }).instructionUri, max);
      assertValidationError(() => newPartner({ instructionUri: `${max}a` }), "instructionUri", "instructionUri must be at most 2048 characters");
    });

    it("rejects a non-string", () => {
      assertValidationError(() => newPartner({ instructionUri: 5 }), "instructionUri", "instructionUri must be a string");
    });

    it("turns an empty URI into none when the provider is created", () => {
      const input = newPartner({ instructionUri: "" });
      assert.equal(createProvider(input, new Date(0)).instructionUri, null);
    });
  });

  describe("allowAppGuestJoinsAsAuthenticated", () => {
    it("accepts booleans", () => {
      assert.equal(newPartner({ allowAppGuestJoinsAsAuthenticated: true }).allowAppGuestJoinsAsAuthenticated, true);
      assert.equal(newPartner({ allowAppGuestJoinsAsAuthenticated: false }).allowAppGuestJoinsAsAuthenticated, false);
    });

    it("rejects anything else", () => {
      for (const bad of ["true", 1, null]) {
        assertValidationError(
          () => newPartner({ allowAppGuestJoinsAsAuthenticated: bad }),
          "allowAppGuestJoinsAsAuthenticated",
          "allowAppGuestJoinsAsAuthenticated must be true or false",
        );
      }
    });
  });

  describe("aadApplicationIds", () => {
    it("accepts an array, lower-casing the ids", () => {
      assert.deepEqual(newPartner({ aadApplicationIds: [GUID_A.toUpperCase(), GUID_B] }).aadApplicationIds, [GUID_A, GUID_B]);
    });

    it("accepts a semicolon-separated string, ignoring blanks and spaces", () => {
      assert.deepEqual(newPartner({ aadApplicationIds: ` ${GUID_A} ; ;${GUID_B};` }).aadApplicationIds, [GUID_A, GUID_B]);
      assert.deepEqual(newPartner({ aadApplicationIds: "" }).aadApplicationIds, []);
      assert.deepEqual(newPartner({ aadApplicationIds: [] }).aadApplicationIds, []);
    });

    it("names the bad entry by index", () => {
      assertValidationError(
        () => newPartner({ aadApplicationIds: [GUID_A, "nope"] }),
        "aadApplicationIds/1",
        "each aadApplicationIds entry must be a GUID",
      );
      assertValidationError(
        () => newPartner({ aadApplicationIds: `${GUID_A};${GUID_B};nope` }),
        "aadApplicationIds/2",
        "each aadApplicationIds entry must be a GUID",
      );
      assertValidationError(() => newPartner({ aadApplicationIds: ["nope"] }), "aadApplicationIds/0", "must be a GUID");
    });

    it("drops duplicates, case-insensitively, keeping first-seen order", () => {
      assert.deepEqual(newPartner({ aadApplicationIds: [GUID_B, GUID_A, GUID_B.toUpperCase(), GUID_A, GUID_C] }).aadApplicationIds, [
        GUID_B,
        GUID_A,
        GUID_C,
      ]);
      assert.deepEqual(newPartner({ aadApplicationIds: `${GUID_A};${GUID_A}` }).aadApplicationIds, [GUID_A]);
    });

    it("takes at most 16 ids", () => {
      const sixteen = Array.from({ length: 16 }, (_, i) => guid(i));
      assert.deepEqual(newPartner({ aadApplicationIds: sixteen }).aadApplicationIds, sixteen);
      assertValidationError(
        () => newPartner({ aadApplicationIds: [...sixteen, guid(16)] }),
        "aadApplicationIds",
        "aadApplicationIds may list at most 16 distinct application ids",
      );
      assertValidationError(() => newPartner({ aadApplicationIds: [...sixteen, guid(16)].join(";") }), "aadApplicationIds", "at most 16");
    });

    it("rejects other types", () => {
      for (const bad of [5, { 0: GUID_A }, null, [1]]) {
        assertValidationError(
          () => newPartner({ aadApplicationIds: bad }),
          "aadApplicationIds",
          "aadApplicationIds must be an array of GUIDs or a semicolon-separated string of GUIDs",
        );
      }
    });
  });

  it("rejects unknown fields", () => {
    assertValidationError(() => newPartner({ instructionURI: "https://x.com" }), "", "unknown field(s): instructionURI");
    assertValidationError(() => newPartner({ createdAt: "x", updatedAt: "y" }), "", "unknown field(s): createdAt, updatedAt");
  });

  it("rejects input that is not an object", () => {
    assertValidationError(() => parseNewProvider("Pexip", naming), "", "expected object");
  });
});

describe("parseProviderChanges", () => {
  it("returns only the given fields", () => {
    assert.deepEqual(change({ allowAppGuestJoinsAsAuthenticated: true }), { allowAppGuestJoinsAsAuthenticated: true });
    assert.deepEqual(change({ aadApplicationIds: `${GUID_A};${GUID_A.toUpperCase()}` }), { aadApplicationIds: [GUID_A] });
    assert.deepEqual(change({ tenantKey: " Other@Pexip.me " }), { tenantKey: "other@pexip.me" });
    assert.deepEqual(change({ instructionUri: "https://x.com/{ConfId}", allowAppGuestJoinsAsAuthenticated: false }), {
      instructionUri: "https://x.com/{ConfId}",
      allowAppGuestJoinsAsAuthenticated: false,
    });
  });

  it("requires at least one field", () => {
    assertValidationError(() => change({}), "", "give at least one field to change");
  });

  it("treats null and an empty instructionUri as clearing it", () => {
    assert.deepEqual(change({ instructionUri: null }), { instructionUri: null });
    assert.deepEqual(change({ instructionUri: "" }), { instructionUri: null });
    assert.deepEqual(change({ instructionUri: "   " }), { instructionUri: null });
  });

  it("validates instructionUri as on create", () => {
    assertValidationError(() => change({ instructionUri: "/relative" }), "instructionUri", "absolute URI");
    assertValidationError(() => change({ instructionUri: "https://x.com/{Foo}" }), "instructionUri", "unknown placeholder {Foo}");
    assertValidationError(() => change({ instructionUri: "mailto:a@b.com" }), "instructionUri", "must use https or http, not mailto");
    assertValidationError(() => change({ instructionUri: `https://x.com/${"a".repeat(2048)}` }), "instructionUri", "at most 2048");
  });

  it("checks the tenant key against the provider's identity", () => {
    assert.deepEqual(change({ tenantKey: OUR_KEY }, "OpenCVI"), { tenantKey: OUR_KEY });
    assertValidationError(
      () => change({ tenantKey: PEXIP_KEY }, "OpenCVI"),
      "tenantKey",
      "tenantKey must be 9 digits (not starting with 0) followed by @t.cvi.example.net",
    );
    assertValidationError(() => change({ tenantKey: "bad" }, "Pexip"), "tenantKey", "tenantKey must look like <key>@<host>");
    assertValidationError(() => change({ tenantKey: 1 }, "Pexip"), "tenantKey", "tenantKey must be a string");
  });

  it("validates the other fields", () => {
    assertValidationError(() => change({ allowAppGuestJoinsAsAuthenticated: "yes" }), "allowAppGuestJoinsAsAuthenticated", "must be true or false");
    assertValidationError(() => change({ aadApplicationIds: [GUID_A, "x"] }), "aadApplicationIds/1", "must be a GUID");
  });

  it("rejects unknown fields, including identity", () => {
    assertValidationError(() => change({ identity: "Cisco" }), "", "unknown field(s): identity");
    assertValidationError(() => change({ allowAppGuestJoinsAsAuthenticated: true, foo: 1 }), "", "unknown field(s): foo");
  });
});

describe("createProvider / applyProviderChanges", () => {
  const created = createProvider(
    {
      identity: "Pexip",
      tenantKey: PEXIP_KEY,
      instructionUri: "https://x.com/{ConfId}",
      allowAppGuestJoinsAsAuthenticated: false,
      aadApplicationIds: [GUID_A],
    },
    new Date("2025-01-01T00:00:00.000Z"),
  );

  it("stamps both times on create", () => {
    assert.deepEqual(created, {
      identity: "Pexip",
      tenantKey: PEXIP_KEY,
      instructionUri: "https://x.com/{ConfId}",
      allowAppGuestJoinsAsAuthenticated: false,
      aadApplicationIds: [GUID_A],
      createdAt: "2025-01-01T00:00:00.000Z",
      updatedAt: "2025-01-01T00:00:00.000Z",
    });
  });

  it("changes only the given fields and updatedAt", () => {
    const later = new Date("2025-02-01T00:00:00.000Z");
    const updated: VideoInteropServiceProvider = applyProviderChanges(
      created,
      change({ instructionUri: "", allowAppGuestJoinsAsAuthenticated: true }),
      later,
    );
    assert.deepEqual(updated, {
      ...created,
      instructionUri: null,
      allowAppGuestJoinsAsAuthenticated: true,
      updatedAt: "2025-02-01T00:00:00.000Z",
    });
    assert.equal(updated.createdAt, created.createdAt);
    assert.equal(created.instructionUri, "https://x.com/{ConfId}", "the original is untouched");
  });
});

describe("checkProviderBelongsToTenant", () => {
  it("accepts this service's provider carrying the tenant's key", () => {
    assert.doesNotThrow(() => checkProviderBelongsToTenant({ identity: "OpenCVI", tenantKey: OUR_KEY }, OUR_KEY, naming));
  });

  it("rejects this service's provider carrying another key", () => {
    assertValidationError(
      () => checkProviderBelongsToTenant({ identity: "OpenCVI", tenantKey: "999999999@t.cvi.example.net" }, OUR_KEY, naming),
      "tenantKey",
      `tenantKey of the OpenCVI provider must be this tenant's key ${OUR_KEY}`,
    );
  });

  it("does not constrain partner providers", () => {
    assert.doesNotThrow(() => checkProviderBelongsToTenant({ identity: "Pexip", tenantKey: PEXIP_KEY }, OUR_KEY, naming));
    assert.doesNotThrow(() => checkProviderBelongsToTenant({ identity: "Polycom", tenantKey: "999999999@t.cvi.example.net" }, OUR_KEY, naming));
  });
});

describe("compileFilter", () => {
  it("gives no filter for undefined or empty", () => {
    assert.equal(compileFilter(undefined), undefined);
    assert.equal(compileFilter(""), undefined);
  });

  it("compiles a case-insensitive regex", () => {
    const re = compileFilter("^pex");
    assert.ok(re instanceof RegExp);
    assert.equal(re.flags, "i");
    assert.equal(re.test("Pexip"), true);
    assert.equal(re.test("Cisco"), false);
  });

  it("accepts 200 characters and rejects 201", () => {
    assert.ok(compileFilter("a".repeat(200)) instanceof RegExp);
    assertValidationError(() => compileFilter("a".repeat(201)), "filter", "filter must be at most 200 characters");
  });

  it("rejects an invalid regex", () => {
    for (const bad of ["(", "[a-", "*x", "a{2,1}"]) {
      assertValidationError(() => compileFilter(bad), "filter", "filter is not a valid regular expression: ");
    }
  });

  it("names the field it was given", () => {
    assertValidationError(() => compileFilter("(", "identity"), "identity", "identity is not a valid regular expression");
    assertValidationError(() => compileFilter("x".repeat(201), "identity"), "identity", "identity must be at most 200 characters");
  });
});

describe("instructionUri braces", () => {
  const naming = { serviceProviderName: "OpenCVI", serviceDomain: "cvi.example.net" };
  it("rejects an unbalanced placeholder", () => {
    assert.throws(
      () => parseNewProvider({ identity: "Pexip", tenantKey: "k@pexip.example.com", instructionUri: "https://example.com/?c={ConfId" }, naming),
      (e: Error) => /unbalanced \{ or \}/.test(e.message),
    );
  });
});
