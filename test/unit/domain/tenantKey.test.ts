import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { z } from "zod";
import {
  type RandomInt,
  TENANT_KEY_DIGITS,
  foreignTenantKeySchema,
  formatTenantKey,
  generateTenantKeyDigits,
  parseTenantKey,
  serviceTenantKeySchema,
} from "../../../shared/domain/tenantKey.js";
import { parseOrThrow } from "../../../shared/domain/validation.js";
import { assertValidationError } from "./assertValidation.js";

const DOMAIN = "cvi.example.net";
const validDigits = /^[1-9][0-9]{8}$/;

describe("generateTenantKeyDigits", () => {
  it("has nine digits", () => {
    assert.equal(TENANT_KEY_DIGITS, 9);
  });

  it("gives 9 digits not starting with 0 at the low extreme (randomInt returns 0)", () => {
    const asked: number[] = [];
    const digits = generateTenantKeyDigits((max) => {
      asked.push(max);
      return 0;
    });
    assert.equal(digits, "100000000");
    assert.match(digits, validDigits);
    assert.deepEqual(asked, [900_000_000]);
  });

  it("gives 9 digits at the high extreme (randomInt returns max - 1)", () => {
    const digits = generateTenantKeyDigits((max) => max - 1);
    assert.equal(digits, "999999999");
    assert.match(digits, validDigits);
  });

  it("gives valid digits across a deterministic sweep of the range", () => {
    const steps = 1000;
    for (let i = 0; i <= steps; i++) {
      const pick: RandomInt = (max) => Math.min(max - 1, Math.floor((max * i) / steps));
      const digits = generateTenantKeyDigits(pick);
      assert.match(digits, validDigits);
      assert.notEqual(parseTenantKey(formatTenantKey(digits, DOMAIN), DOMAIN), undefined);
    }
  });

  it("maps distinct random numbers to distinct keys", () => {
    const a = generateTenantKeyDigits(() => 12345);
    const b = generateTenantKeyDigits(() => 12346);
    assert.notEqual(a, b);
    assert.equal(Number(b) - Number(a), 1);
  });

  it("gives 10,000 valid keys with crypto.randomInt", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const digits = generateTenantKeyDigits(randomInt);
      assert.match(digits, validDigits);
      seen.add(digits);
    }
    // 10,000 draws from 9e8 values: collisions are possible but a handful at most.
    assert.ok(seen.size > 9_900, `only ${seen.size} distinct keys`);
  });
});

describe("formatTenantKey / parseTenantKey", () => {
  it("round-trips", () => {
    const key = formatTenantKey("813878896", DOMAIN);
    assert.equal(key, "813878896@t.cvi.example.net");
    assert.deepEqual(parseTenantKey(key, DOMAIN), { digits: "813878896", domain: DOMAIN });
  });

  it("compares the host case-insensitively and returns the domain lower-cased", () => {
    assert.deepEqual(parseTenantKey("813878896@T.CVI.Example.NET", "Cvi.Example.Net"), { digits: "813878896", domain: DOMAIN });
  });

  it("rejects another domain", () => {
    assert.equal(parseTenantKey("813878896@t.other.net", DOMAIN), undefined);
    assert.equal(parseTenantKey("813878896@cvi.example.net", DOMAIN), undefined, "missing t.");
    assert.equal(parseTenantKey("813878896@t.cvi.example.net.evil.com", DOMAIN), undefined);
    assert.equal(parseTenantKey("813878896@x.t.cvi.example.net", DOMAIN), undefined);
    assert.equal(parseTenantKey("813878896@t.plcm.vc", DOMAIN), undefined);
  });

  it("rejects 8 or 10 digits, a leading zero, non-digits and a missing @", () => {
    assert.equal(parseTenantKey("81387889@t.cvi.example.net", DOMAIN), undefined);
    assert.equal(parseTenantKey("8138788961@t.cvi.example.net", DOMAIN), undefined);
    assert.equal(parseTenantKey("013878896@t.cvi.example.net", DOMAIN), undefined);
    assert.equal(parseTenantKey("81387889a@t.cvi.example.net", DOMAIN), undefined);
    assert.equal(parseTenantKey("８13878896@t.cvi.example.net", DOMAIN), undefined, "full-width digit");
    assert.equal(parseTenantKey("813878896", DOMAIN), undefined);
    assert.equal(parseTenantKey("", DOMAIN), undefined);
    assert.equal(parseTenantKey("@t.cvi.example.net", DOMAIN), undefined);
  });
});

describe("serviceTenantKeySchema", () => {
  const parse = (v: unknown) => parseOrThrow(z.object({ tenantKey: serviceTenantKeySchema(DOMAIN) }), { tenantKey: v }).tenantKey;

  it("accepts this service's keys, trimmed and lower-cased", () => {
    assert.equal(parse(" 813878896@T.CVI.example.net "), "813878896@t.cvi.example.net");
  });

  it("rejects anything else with a message showing the expected format", () => {
    for (const bad of ["813878896@t.plcm.vc", "013878896@t.cvi.example.net", "81387889@t.cvi.example.net", "8138788960@t.cvi.example.net"]) {
      assertValidationError(() => parse(bad), "tenantKey", "tenantKey must be 9 digits (not starting with 0) followed by @t.cvi.example.net");
    }
    assertValidationError(() => parse(1), "tenantKey", "tenantKey is required and must be a string");
  });
});

describe("foreignTenantKeySchema", () => {
  const parse = (v: unknown) => parseOrThrow(z.object({ tenantKey: foreignTenantKeySchema }), { tenantKey: v }).tenantKey;

  it("accepts the partners' formats and lower-cases them", () => {
    assert.equal(parse("813878896@t.plcm.vc"), "813878896@t.plcm.vc");
    assert.equal(parse(" Contoso.Corp@Pexip.ME "), "contoso.corp@pexip.me");
    assert.equal(parse("a+b_c-d@video.example.co.uk"), "a+b_c-d@video.example.co.uk");
  });

  it("rejects keys that are not <key>@<host>", () => {
    for (const bad of [
      "",
      "813878896",
      "@t.plcm.vc",
      "813878896@",
      "813878896@localhost",
      "a b@t.plcm.vc",
      ".a@t.plcm.vc",
      "a@-bad.vc",
      "a@b@c.vc",
      `${"a".repeat(65)}@t.plcm.vc`,
    ]) {
      assertValidationError(() => parse(bad), "tenantKey", "tenantKey must look like <key>@<host>");
    }
  });

  it("rejects keys longer than 254 characters", () => {
    assertValidationError(
      () => parse(`a@${"b".repeat(60)}.${"c".repeat(60)}.${"d".repeat(60)}.${"e".repeat(60)}.${"f".repeat(10)}.com`),
      "tenantKey",
      "at most 254 characters",
    );
  });

  it("rejects non-strings", () => {
    assertValidationError(() => parse(null), "tenantKey", "tenantKey is required and must be a string");
  });
});

describe("tenant keys (property)", () => {
  it("every random number in range gives a key that parses back to the same digits", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 899_999_999 }), fc.constantFrom(DOMAIN, "video.acme.io", "T.Example.COM"), (n, domain) => {
        const digits = generateTenantKeyDigits((max) => {
          assert.ok(n < max);
          return n;
        });
        assert.match(digits, validDigits);
        assert.deepEqual(parseTenantKey(formatTenantKey(digits, domain), domain), { digits, domain: domain.toLowerCase() });
      }),
      { numRuns: 500 },
    );
  });

  it("digit strings of the wrong length or with a leading zero never parse", () => {
    const badDigits = fc.oneof(fc.stringMatching(/^[0-9]{0,8}$/), fc.stringMatching(/^[0-9]{10,14}$/), fc.stringMatching(/^0[0-9]{8}$/));
    fc.assert(
      fc.property(badDigits, (digits) => {
        assert.equal(parseTenantKey(`${digits}@t.${DOMAIN}`, DOMAIN), undefined);
      }),
      { numRuns: 500 },
    );
  });
});
