import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { clientStateFor, isClientStateFor } from "../../../shared/domain/clientState.js";
import {
  CALL_PERMISSIONS,
  type ConsentStateCheck,
  INVITE_PERMISSIONS,
  consentFromRoles,
  decodeConsentState,
  dialInRefusal,
  encodeConsentState,
  hashNonce,
} from "../../../shared/domain/consent.js";
import type { ConsentState } from "../../../shared/domain/tenant.js";

const NOW = new Date("2025-03-01T12:00:00.000Z");
const KEY = "consent-state-key-0123456789abcdef";
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const ALL_ROLES = [...CALL_PERMISSIONS, ...INVITE_PERMISSIONS];
const inMinutes = (m: number) => new Date(NOW.getTime() + m * 60_000);

describe("consentFromRoles", () => {
  it("is granted with nothing missing when every permission is there", () => {
    assert.deepEqual(consentFromRoles(ALL_ROLES, NOW), { status: "granted", roles: ALL_ROLES, missing: [], grantedAt: NOW.toISOString() });
  });

  it("ignores extra roles and their order", () => {
    const roles = ["Mail.Send", ...[...ALL_ROLES].reverse()];
    const c = consentFromRoles(roles, NOW);
    assert.equal(c.status, "granted");
    assert.deepEqual(c.status === "granted" && c.missing, []);
    assert.deepEqual(c.status === "granted" && c.roles, roles);
  });

  it("is granted, with Calendars.ReadWrite missing, when only the invite permission lacks (dial-in works)", () => {
    const roles = ALL_ROLES.filter((r) => r !== "Calendars.ReadWrite");
    const c = consentFromRoles(roles, NOW);
    assert.deepEqual(c, { status: "granted", roles, missing: ["Calendars.ReadWrite"], grantedAt: NOW.toISOString() });
    assert.equal(dialInRefusal(c), undefined);
  });

  it("is granted with every invite permission missing when only the call permissions are there", () => {
    const c = consentFromRoles([...CALL_PERMISSIONS], NOW);
    assert.deepEqual(c, { status: "granted", roles: [...CALL_PERMISSIONS], missing: [...INVITE_PERMISSIONS], grantedAt: NOW.toISOString() });
    assert.equal(dialInRefusal(c), undefined);
  });

  it("is incomplete when any call permission lacks, and says which", () => {
    for (const lacking of CALL_PERMISSIONS) {
      const roles = ALL_ROLES.filter((r) => r !== lacking);
      const c = consentFromRoles(roles, NOW);
      assert.deepEqual(c, { status: "incomplete", roles, missing: [lacking], checkedAt: NOW.toISOString() }, lacking);
    }
  });

  it("lists every missing permission, call ones first, when incomplete", () => {
    const c = consentFromRoles(["Calls.AccessMedia.All"], NOW);
    assert.deepEqual(c.status === "incomplete" && c.missing, [
      "Calls.JoinGroupCall.All",
      "Calls.JoinGroupCallAsGuest.All",
      "OnlineMeetings.Read.All",
      ...INVITE_PERMISSIONS,
    ]);
    assert.ok(INVITE_PERMISSIONS.includes("Calendars.ReadWrite" as never));
  });

  it("is incomplete for roles that are all unrelated", () => {
    assert.equal(consentFromRoles(["Mail.Send"], NOW).status, "incomplete");
  });

  it("is revoked when the token carries no roles", () => {
    const c = consentFromRoles([], NOW);
    assert.equal(c.status, "revoked");
    assert.equal(c.status === "revoked" && c.revokedAt, NOW.toISOString());
    assert.ok(c.status === "revoked" && c.reason.length > 0);
  });

  it("does not keep a reference to the caller's array", () => {
    const roles = [...ALL_ROLES];
    const c = consentFromRoles(roles, NOW);
    roles.pop();
    assert.deepEqual(c.status === "granted" && c.roles, ALL_ROLES);
  });

  it("grants exactly when every call permission is there (property)", () => {
    fc.assert(
      fc.property(fc.subarray([...ALL_ROLES, "Mail.Send", "Sites.Read.All"]), (roles) => {
        const c = consentFromRoles(roles, NOW);
        const hasCalls = CALL_PERMISSIONS.every((p) => roles.includes(p));
        if (roles.length === 0) assert.equal(c.status, "revoked");
        else assert.equal(c.status, hasCalls ? "granted" : "incomplete");
        if (c.status === "granted" || c.status === "incomplete") {
          assert.deepEqual([...c.missing].sort(), ALL_ROLES.filter((p) => !roles.includes(p)).sort());
        }
        assert.equal(dialInRefusal(c) === undefined, c.status === "granted");
      }),
      { numRuns: 300 },
    );
  });
});

describe("dialInRefusal", () => {
  const at = NOW.toISOString();

  it("lets a granted tenant's room systems in", () => {
    assert.equal(dialInRefusal({ status: "granted", roles: ALL_ROLES, missing: [], grantedAt: at }), undefined);
    assert.equal(dialInRefusal({ status: "granted", roles: [...CALL_PERMISSIONS], missing: ["Calendars.ReadWrite"], grantedAt: at }), undefined);
  });

  it("gives a reason for every other status", () => {
    const cases: [ConsentState, RegExp][] = [
      [{ status: "none" }, /not enabled/],
      [{ status: "declined", declinedAt: at, reason: "admin said no" }, /declined/],
      [{ status: "revoked", revokedAt: at, reason: "no roles" }, /withdrawn/],
      [{ status: "incomplete", roles: [], missing: ["Calls.AccessMedia.All"], checkedAt: at }, /lacks Calls\.AccessMedia\.All/],
    ];
    for (const [consent, reason] of cases) {
      const refusal = dialInRefusal(consent);
      assert.equal(typeof refusal, "string", consent.status);
      assert.match(refusal!, reason);
    }
  });

  it("names only the missing call permissions when incomplete (not Calendars.ReadWrite)", () => {
    const refusal = dialInRefusal({
      status: "incomplete",
      roles: ["Calls.AccessMedia.All"],
      missing: ["Calls.JoinGroupCall.All", "OnlineMeetings.Read.All", "Calendars.ReadWrite"],
      checkedAt: NOW.toISOString(),
    });
    assert.equal(refusal, "the organization's consent lacks Calls.JoinGroupCall.All, OnlineMeetings.Read.All");
  });
});

// ---------------------------------------------------------------- consent state

const claims = { tenantId: TENANT, nonce: "n0nce-AbC_123", expiresAt: inMinutes(10) };
const ok = (check: ConsentStateCheck) => {
  assert.ok(check.ok, check.ok ? "" : check.reason);
  return check.claims;
};
const refused = (check: ConsentStateCheck, reason?: RegExp) => {
  assert.equal(check.ok, false);
  if (!check.ok) {
    assert.ok(check.reason.length > 0);
    if (reason) assert.match(check.reason, reason);
  }
};
const MALFORMED = /malformed/;
const FORGED = /not issued by this service/;

/**
 * A state whose signature is right for its payload, whatever the payload: what a holder
 * of the key (or an older encoder) could produce. Only the parsing after the signature
 * check can catch these, and it must answer rather than throw.
 */
const signedWithKey = (payloadJson: string, key = KEY) => {
  const payload = Buffer.from(payloadJson).toString("base64url");
  return `${payload}.${createHmac("sha256", key).update(`opencvi-consent-state:${payload}`).digest("base64url")}`;
};

describe("encodeConsentState / decodeConsentState", () => {
  it("round-trips the claims", () => {
    assert.deepEqual(ok(decodeConsentState(encodeConsentState(claims, KEY), KEY, NOW)), claims);
  });

  it("keeps the expiry to the second", () => {
    const expiresAt = new Date(inMinutes(10).getTime() + 999);
    assert.deepEqual(ok(decodeConsentState(encodeConsentState({ ...claims, expiresAt }, KEY), KEY, NOW)).expiresAt, inMinutes(10));
  });

  it("is URL-safe: two base64url parts joined by a dot", () => {
    assert.match(encodeConsentState(claims, KEY), /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  });

  it("round-trips any tenant, nonce and future expiry (property)", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 40 }),
        fc.string({ unit: "grapheme", maxLength: 40 }),
        fc.integer({ min: 1, max: 10 * 365 * 86_400 }),
        fc.string({ minLength: 1, maxLength: 40 }),
        (tenantId, nonce, seconds, key) => {
          const expiresAt = new Date(Math.floor(NOW.getTime() / 1000) * 1000 + seconds * 1000);
          assert.deepEqual(ok(decodeConsentState(encodeConsentState({ tenantId, nonce, expiresAt }, key), key, NOW)), { tenantId, nonce, expiresAt });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses a state whose payload was changed (another tenant), keeping the signature", () => {
    const [, signature] = encodeConsentState(claims, KEY).split(".");
    const [otherPayload] = encodeConsentState({ ...claims, tenantId: "00000000-0000-0000-0000-000000000001" }, KEY).split(".");
    refused(decodeConsentState(`${otherPayload}.${signature}`, KEY, NOW), FORGED);
  });

  it("refuses a state whose expiry was pushed out, keeping the signature", () => {
    const [, signature] = encodeConsentState({ ...claims, expiresAt: inMinutes(-5) }, KEY).split(".");
    const [later] = encodeConsentState({ ...claims, expiresAt: inMinutes(60 * 24 * 365) }, KEY).split(".");
    refused(decodeConsentState(`${later}.${signature}`, KEY, NOW), FORGED);
  });

  it("refuses a state whose signature was changed in any one character", () => {
    const state = encodeConsentState(claims, KEY);
    const dot = state.indexOf(".");
    for (let i = dot + 1; i < state.length; i++) {
      const replacement = state[i] === "A" ? "B" : "A";
      refused(decodeConsentState(`${state.slice(0, i)}${replacement}${state.slice(i + 1)}`, KEY, NOW), FORGED);
    }
  });

  it("refuses a truncated or extended signature", () => {
    const state = encodeConsentState(claims, KEY);
    refused(decodeConsentState(state.slice(0, -1), KEY, NOW), FORGED);
    refused(decodeConsentState(`${state}A`, KEY, NOW), FORGED);
  });

  it("refuses a state signed with another key", () => {
    refused(decodeConsentState(encodeConsentState(claims, "another-key"), KEY, NOW), FORGED);
    refused(decodeConsentState(encodeConsentState(claims, KEY), `${KEY} `, NOW), FORGED);
  });

  it("refuses an expired state, and one that expires right now", () => {
    refused(decodeConsentState(encodeConsentState({ ...claims, expiresAt: inMinutes(-1) }, KEY), KEY, NOW), /expired/);
    refused(decodeConsentState(encodeConsentState({ ...claims, expiresAt: NOW }, KEY), KEY, NOW), /expired/);
    ok(decodeConsentState(encodeConsentState({ ...claims, expiresAt: new Date(NOW.getTime() + 1000) }, KEY), KEY, NOW));
  });

  it("refuses malformed strings with a reason, without throwing", () => {
    const state = encodeConsentState(claims, KEY);
    const [payload, signature] = state.split(".");
    for (const bad of [
      "",
      ".",
      "no-dot-at-all",
      state.replace(".", ""),
      `${payload}.`,
      `.${signature}`,
      `${state}.extra`,
      `${payload}.${signature}.${signature}`,
      "%%%.***",
      "not base64!.not base64!",
      "x".repeat(5000),
      `${payload}.${"A".repeat(5000)}`,
      `${"A".repeat(2100)}.${signature}`,
    ]) {
      const check = decodeConsentState(bad, KEY, NOW);
      assert.equal(check.ok, false, bad.slice(0, 60));
      assert.ok(!check.ok && check.reason.length > 0);
    }
  });

  it("refuses correctly signed payloads that are not base64 JSON of the right shape", () => {
    const cases = [
      "not json",
      "",
      "null",
      "42",
      '"a string"',
      "[]",
      "{}",
      JSON.stringify({ t: TENANT, n: "nonce" }),
      JSON.stringify({ t: TENANT, n: "nonce", e: "1900000000" }),
      JSON.stringify({ t: 42, n: "nonce", e: 1_900_000_000 }),
      JSON.stringify({ t: TENANT, n: null, e: 1_900_000_000 }),
      JSON.stringify({ t: TENANT, n: ["nonce"], e: 1_900_000_000 }),
      JSON.stringify({ t: TENANT, n: "nonce", e: 1e300 }), // beyond any date
    ];
    for (const json of cases) {
      let check: ConsentStateCheck | undefined;
      assert.doesNotThrow(() => {
        check = decodeConsentState(signedWithKey(json), KEY, NOW);
      }, json);
      refused(check!, MALFORMED);
    }
    // The same construction with a well-formed payload is accepted: the cases above fail for their payload only.
    ok(decodeConsentState(signedWithKey(JSON.stringify({ t: TENANT, n: "nonce", e: 1_900_000_000 })), KEY, NOW));
  });

  it("refuses a payload that is not base64url, even correctly signed", () => {
    const payload = "@@@@";
    const state = `${payload}.${createHmac("sha256", KEY).update(`opencvi-consent-state:${payload}`).digest("base64url")}`;
    refused(decodeConsentState(state, KEY, NOW), MALFORMED);
  });

  it("never throws, whatever the string (property)", () => {
    const valid = encodeConsentState(claims, KEY);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.tuple(fc.string({ maxLength: 100 }), fc.string({ maxLength: 100 })).map(([a, b]) => `${a}.${b}`),
          fc.nat({ max: valid.length - 1 }).map((i) => valid.slice(0, i) + valid.slice(i + 1)),
        ),
        (state) => {
          const check = decodeConsentState(state, KEY, NOW);
          assert.equal(check.ok, false);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("hashNonce", () => {
  it("is deterministic", () => {
    assert.equal(hashNonce("abc"), hashNonce("abc"));
  });

  it("differs for different nonces and does not reveal the nonce", () => {
    assert.notEqual(hashNonce("abc"), hashNonce("abd"));
    assert.notEqual(hashNonce("abc"), hashNonce("ABC"));
    assert.ok(!hashNonce("a-rather-long-nonce-value").includes("a-rather-long-nonce-value"));
  });

  it("is a base64url SHA-256 digest (43 characters)", () => {
    fc.assert(
      fc.property(fc.string(), (nonce) => {
        assert.match(hashNonce(nonce), /^[A-Za-z0-9_-]{43}$/);
      }),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------- client state

describe("clientStateFor", () => {
  const USER = "a5a1c3f4-7d6e-4c0e-9b1a-3f2e6c7d8e9f";

  it("is deterministic", () => {
    assert.equal(clientStateFor(KEY, TENANT, USER), clientStateFor(KEY, TENANT, USER));
  });

  it("differs per tenant, per user and per key", () => {
    const base = clientStateFor(KEY, TENANT, USER);
    assert.notEqual(clientStateFor(KEY, "00000000-0000-0000-0000-000000000001", USER), base);
    assert.notEqual(clientStateFor(KEY, TENANT, "00000000-0000-0000-0000-000000000002"), base);
    assert.notEqual(clientStateFor("another-key", TENANT, USER), base);
    assert.notEqual(clientStateFor(KEY, USER, TENANT), base, "tenant and user are not interchangeable");
  });

  it("ignores the case of the ids (Graph may spell GUIDs either way)", () => {
    assert.equal(clientStateFor(KEY, TENANT.toUpperCase(), USER.toUpperCase()), clientStateFor(KEY, TENANT, USER));
  });

  it("does not contain the key or the ids, and fits Graph's 128-character clientState", () => {
    const s = clientStateFor(KEY, TENANT, USER);
    assert.ok(!s.includes(KEY) && !s.includes(TENANT) && !s.includes(USER));
    assert.ok(s.length <= 128);
    assert.match(s, /^[A-Za-z0-9_-]+$/);
  });

  it("differs for different organizers (property)", () => {
    fc.assert(
      fc.property(fc.uuid(), fc.uuid(), fc.uuid(), fc.uuid(), (t1, u1, t2, u2) => {
        fc.pre(t1.toLowerCase() !== t2.toLowerCase() || u1.toLowerCase() !== u2.toLowerCase());
        assert.notEqual(clientStateFor(KEY, t1, u1), clientStateFor(KEY, t2, u2));
      }),
      { numRuns: 200 },
    );
  });
});

describe("isClientStateFor", () => {
  const USER = "a5a1c3f4-7d6e-4c0e-9b1a-3f2e6c7d8e9f";
  const good = clientStateFor(KEY, TENANT, USER);

  it("accepts the organizer's own clientState, whatever the case of the ids", () => {
    assert.equal(isClientStateFor(KEY, TENANT, USER, good), true);
    assert.equal(isClientStateFor(KEY, TENANT.toUpperCase(), USER, good), true);
  });

  it("rejects another organizer's clientState, or one made with another key", () => {
    assert.equal(isClientStateFor(KEY, TENANT, "00000000-0000-0000-0000-000000000002", good), false);
    assert.equal(isClientStateFor(KEY, "00000000-0000-0000-0000-000000000001", USER, good), false);
    assert.equal(isClientStateFor("another-key", TENANT, USER, good), false);
  });

  it("rejects a value changed in one character, or a case-changed one", () => {
    assert.equal(isClientStateFor(KEY, TENANT, USER, `${good.slice(0, -1)}${good.endsWith("A") ? "B" : "A"}`), false);
    if (good.toUpperCase() !== good) assert.equal(isClientStateFor(KEY, TENANT, USER, good.toUpperCase()), false);
  });

  it("rejects values of another length", () => {
    for (const v of ["", good.slice(0, -1), `${good}A`, `${good}${good}`, "x".repeat(5000)])
      assert.equal(isClientStateFor(KEY, TENANT, USER, v), false);
  });

  it("rejects a value that has the right length in characters but not in bytes", () => {
    assert.equal(isClientStateFor(KEY, TENANT, USER, `${good.slice(0, -1)}é`), false);
  });

  it("rejects missing and non-string values", () => {
    for (const v of [undefined, null, 0, 42, true, {}, [], [good], { toString: () => good }, Buffer.from(good)]) {
      assert.equal(isClientStateFor(KEY, TENANT, USER, v), false, String(v));
    }
  });
});
