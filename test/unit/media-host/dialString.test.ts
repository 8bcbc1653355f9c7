import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type DialedTarget, type DialPlan, MAX_USER_PART_LENGTH, parseDialString, parseRequestUri } from "../../../media-host/domain/dialString.js";
import { parseTenantKey } from "../../../shared/domain/tenantKey.js";

const NUM_RUNS = 300;
const DOMAIN = "cvi.example.net";
const KEY = "813878896@t.cvi.example.net";
const CONTOSO_KEY = "555123456@t.cvi.example.net";
const customerDomains = new Map([["video.contoso.com", CONTOSO_KEY]]);
const plan: DialPlan = { serviceDomain: DOMAIN, tenantKeyForDomain: (host) => customerDomains.get(host) };

const ivr = (tenantKey: string): DialedTarget => ({ kind: "ivr", tenantKey });
const msOrder = (digits: string, vtcId: string): DialedTarget => ({
  kind: "direct",
  tenantKey: `${digits}@t.${DOMAIN}`,
  vtcId,
  order: "tenant-first",
});
const webexOrder = (digits: string, vtcId: string): DialedTarget => ({
  kind: "direct",
  tenantKey: `${digits}@t.${DOMAIN}`,
  vtcId,
  order: "vtc-first",
});
const byDomain = (vtcId: string, domain = "video.contoso.com", tenantKey = CONTOSO_KEY): DialedTarget => ({
  kind: "direct-by-domain",
  tenantKey,
  vtcId,
  domain,
});

describe("parseRequestUri: the forms that are accepted", () => {
  const cases: [string, string, DialedTarget][] = [
    ["IVR: tenant key at t.<domain>", "sip:813878896@t.cvi.example.net", ivr(KEY)],
    ["IVR: sips, upper-case scheme and host, port, transport", "SIPS:813878896@T.CVI.Example.NET:5061;transport=tls", ivr(KEY)],
    ["IVR: user=phone ignored", "sip:813878896@t.cvi.example.net;user=phone", ivr(KEY)],
    ["IVR: at the bare service domain", "sip:813878896@cvi.example.net", ivr(KEY)],
    ["IVR: trailing dot on the host (absolute FQDN)", "sip:813878896@t.cvi.example.net.", ivr(KEY)],
    ["IVR: password and URI headers ignored", "sip:813878896:secret@t.cvi.example.net?Subject=hello", ivr(KEY)],
    ["IVR: surrounding white space", "  sip:813878896@t.cvi.example.net  ", ivr(KEY)],
    ["IVR: separators inside the key", "sip:813-878-896@t.cvi.example.net", ivr(KEY)],
    ["Microsoft/BlueJeans order", "sip:813878896.1127180739@t.cvi.example.net", msOrder("813878896", "1127180739")],
    ["Microsoft order, sips, user=phone", "sips:813878896.1127180739@t.cvi.example.net;user=phone", msOrder("813878896", "1127180739")],
    [
      "Microsoft order, telephone-subscriber params in the user part",
      "sip:813878896.1127180739;phone-context=x@t.cvi.example.net",
      msOrder("813878896", "1127180739"),
    ],
    ["Webex order", "sip:1127180739.813878896@t.cvi.example.net", webexOrder("813878896", "1127180739")],
    ["Webex order at the bare service domain", "sip:1127180739.813878896@CVI.EXAMPLE.NET", webexOrder("813878896", "1127180739")],
    ["Teams' 9-digit ID with a leading 0, Microsoft order", "sip:813878896.017920684@t.cvi.example.net", msOrder("813878896", "017920684")],
    [
      "Teams' 9-digit ID with a leading 0, Webex order (a key never starts with 0)",
      "sip:017920684.813878896@t.cvi.example.net",
      webexOrder("813878896", "017920684"),
    ],
    ["%20 inside the VTC ID", "sip:813878896.112%20718%20073%209@t.cvi.example.net", msOrder("813878896", "1127180739")],
    ["dashes inside the VTC ID", "sip:813878896.112-718-0739@t.cvi.example.net", msOrder("813878896", "1127180739")],
    ["underscores inside the VTC ID", "sip:813878896.112_718_0739@t.cvi.example.net", msOrder("813878896", "1127180739")],
    ["separators inside the VTC ID, Webex order", "sip:112-718-073%209.813878896@t.cvi.example.net", webexOrder("813878896", "1127180739")],
    ["dots inside the VTC ID, Microsoft order", "sip:813878896.112.718.073.9@t.cvi.example.net", msOrder("813878896", "1127180739")],
    ["dots inside the VTC ID, Webex order", "sip:112.718.073.9.813878896@t.cvi.example.net", webexOrder("813878896", "1127180739")],
    ["escaped dot as the separator", "sip:813878896%2E1127180739@t.cvi.example.net", msOrder("813878896", "1127180739")],
    ["shortest VTC ID (6 digits)", "sip:813878896.123456@t.cvi.example.net", msOrder("813878896", "123456")],
    ["longest VTC ID (16 digits)", "sip:813878896.1234567890123456@t.cvi.example.net", msOrder("813878896", "1234567890123456")],
    ["per-customer domain", "sip:1127180739@video.contoso.com", byDomain("1127180739")],
    ["per-customer domain, case, port, user=phone", "sips:1127180739@Video.Contoso.COM:5061;user=phone", byDomain("1127180739")],
    ["per-customer domain, dots inside the ID (no separator there)", "sip:112.718.073.9@video.contoso.com", byDomain("1127180739")],
    ["per-customer domain, %20 inside the ID", "sip:112%20718%20073%209@video.contoso.com", byDomain("1127180739")],
    ["per-customer domain, 9 digits is a VTC ID there", "sip:813878896@video.contoso.com", byDomain("813878896")],
  ];
  for (const [name, uri, expected] of cases) {
    it(name, () => {
      const parsed = parseRequestUri(uri, plan);
      assert.deepEqual(parsed, expected);
      if (parsed.kind !== "invalid") assert.notEqual(parseTenantKey(parsed.tenantKey, DOMAIN), undefined, "the key is one the resolve API parses");
    });
  }

  it("prefers the Microsoft order when both readings are valid, and offers the other", () => {
    assert.deepEqual(parseRequestUri("sip:813878896.123456789@t.cvi.example.net", plan), {
      kind: "direct",
      tenantKey: KEY,
      vtcId: "123456789",
      order: "tenant-first",
      alternative: { tenantKey: `123456789@t.${DOMAIN}`, vtcId: "813878896", order: "vtc-first" },
    });
  });

  it("offers no alternative when one reading is impossible", () => {
    for (const uri of [
      "sip:813878896.1127180739@t.cvi.example.net",
      "sip:813878896.017920684@t.cvi.example.net",
      "sip:1127180739.813878896@t.cvi.example.net",
    ]) {
      const parsed = parseRequestUri(uri, plan);
      assert.equal(parsed.kind, "direct");
      assert.equal("alternative" in parsed, false, uri);
    }
  });

  it("asks the domain mapping with the host in lower case, without port or trailing dot, and never for the service's own hosts", () => {
    const asked: string[] = [];
    const spy: DialPlan = {
      serviceDomain: DOMAIN,
      tenantKeyForDomain: (host) => {
        asked.push(host);
        return customerDomains.get(host);
      },
    };
    assert.equal(parseRequestUri("sip:1127180739@VIDEO.Contoso.com.:5060", spy).kind, "direct-by-domain");
    assert.equal(parseRequestUri("sip:813878896@t.cvi.example.net", spy).kind, "ivr");
    assert.equal(parseRequestUri("sip:813878896@cvi.example.net", spy).kind, "ivr");
    assert.deepEqual(asked, ["video.contoso.com"]);
  });

  it("works without a domain mapping (no per-customer domains)", () => {
    assert.deepEqual(parseRequestUri("sip:813878896@t.cvi.example.net", { serviceDomain: DOMAIN }), ivr(KEY));
    assert.equal(parseRequestUri("sip:1127180739@video.contoso.com", { serviceDomain: DOMAIN }).kind, "invalid");
  });

  it("matches a service domain given in upper case", () => {
    assert.deepEqual(parseRequestUri("sip:813878896@t.cvi.example.net", { serviceDomain: "CVI.Example.NET" }), ivr(KEY));
  });

  it("parseDialString takes the user part and host separately", () => {
    assert.deepEqual(parseDialString("813878896.112%20718%20073%209", "t.cvi.example.net:5060", plan), msOrder("813878896", "1127180739"));
    assert.deepEqual(parseDialString("813878896", "[2001:DB8::1]:5060", plan), {
      kind: "invalid",
      reason: "2001:db8::1 is not a domain of this service",
    });
    assert.deepEqual(parseDialString("813878896", "", plan), { kind: "invalid", reason: "the URI has no valid host" });
  });
});

describe("parseRequestUri: what is refused", () => {
  const cases: [string, string, RegExp][] = [
    ["a tel: URI", "tel:+18138788961", /not a sip/],
    ["no scheme", "813878896@t.cvi.example.net", /not a sip/],
    ["no user part", "sip:t.cvi.example.net", /no user part/],
    ["an empty user part", "sip:@t.cvi.example.net", /empty/],
    ["no host", "sip:813878896@", /no valid host/],
    ["a VTC ID alone at the service's host", "sip:1127180739@t.cvi.example.net", /tenant key is 9 digits/],
    ["nine digits starting with 0 alone (never a key)", "sip:012345678@t.cvi.example.net", /tenant key is 9 digits/],
    ["eight digits alone", "sip:81387889@t.cvi.example.net", /tenant key is 9 digits/],
    ["letters", "sip:meet@t.cvi.example.net", /must be digits/],
    ["a plus sign", "sip:+813878896@t.cvi.example.net", /must be digits/],
    ["full-width digits", "sip:８１３８７８８９６@t.cvi.example.net", /must be digits/],
    ["a tab escaped inside", "sip:813878896.112%09718@t.cvi.example.net", /must be digits/],
    ["a trailing separator", "sip:813878896.@t.cvi.example.net", /empty part/],
    ["a leading separator", "sip:.813878896@t.cvi.example.net", /empty part/],
    ["two separators in a row", "sip:813878896..1127180739@t.cvi.example.net", /empty part/],
    ["a key of 8 digits and an ID", "sip:81387889.1127180739@t.cvi.example.net", /expected <tenant key>/],
    ["a key of 10 digits and an ID", "sip:8138788961.1127180739@t.cvi.example.net", /expected <tenant key>/],
    ["a VTC ID of 5 digits", "sip:813878896.12345@t.cvi.example.net", /expected <tenant key>/],
    ["a VTC ID of 17 digits", "sip:813878896.12345678901234567@t.cvi.example.net", /expected <tenant key>/],
    ["two VTC IDs, no key", "sip:1127180739.1127180739@t.cvi.example.net", /expected <tenant key>/],
    ["a host that is not ours", "sip:813878896@other.example.com", /not a domain of this service/],
    ["a look-alike host", "sip:813878896@t.cvi.example.net.evil.example", /not a domain of this service/],
    ["a look-alike prefix", "sip:813878896@evil-t.cvi.example.net", /not a domain of this service/],
    ["an IP address host", "sip:813878896@[2001:db8::1]:5060", /not a domain of this service/],
    ["a malformed escape", "sip:813878896.%ZZ@t.cvi.example.net", /badly escaped/],
    ["an overlong user part", `sip:813878896.${"1".repeat(MAX_USER_PART_LENGTH)}@t.cvi.example.net`, /too long/],
    ["the direct form on a per-customer domain", "sip:813878896.1127180739@video.contoso.com", /conference ID/],
    ["letters on a per-customer domain", "sip:meet@video.contoso.com", /conference ID/],
    ["a short ID on a per-customer domain", "sip:12345@video.contoso.com", /conference ID/],
  ];
  for (const [name, uri, reason] of cases) {
    it(name, () => {
      const parsed = parseRequestUri(uri, plan);
      assert.equal(parsed.kind, "invalid", JSON.stringify(parsed));
      if (parsed.kind === "invalid") assert.match(parsed.reason, reason);
    });
  }
});

// ---------------------------------------------------------------------------
// Properties: format a random valid key / VTC ID in each form, parse it back.

const tenantDigitsArb = fc.integer({ min: 100_000_000, max: 999_999_999 }).map(String);
const vtcIdArb = fc
  .integer({ min: 6, max: 16 })
  .chain((n) => fc.array(fc.constantFrom(..."0123456789"), { minLength: n, maxLength: n }))
  .map((d) => d.join(""));

/** Inserts separators people and dial plans use between random groups of digits. */
const withSeparators = (digits: string, separators: readonly string[]) =>
  fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.constantFrom(...separators)), { maxLength: 6 }).map((cuts) => {
    let out = "";
    let rest = digits;
    for (const [size, sep] of cuts) {
      if (rest.length <= size) break;
      out += rest.slice(0, size) + sep;
      rest = rest.slice(size);
    }
    return out + rest;
  });

const randomCase = (s: string) =>
  fc
    .array(fc.boolean(), { minLength: s.length, maxLength: s.length })
    .map((flags) => [...s].map((c, i) => (flags[i] ? c.toUpperCase() : c)).join(""));

const schemeArb = fc.constantFrom("sip", "sips", "SIP", "Sips");
const portArb = fc.constantFrom("", ":5060", ":5061");
const paramsArb = fc.constantFrom("", ";user=phone", ";transport=tls", ";user=phone;transport=tcp");
const serviceHostArb = fc.constantFrom(`t.${DOMAIN}`, DOMAIN).chain(randomCase);
const idSeparators = ["-", "_", "%20"];

const uri = (scheme: string, user: string, host: string, port: string, params: string) => `${scheme}:${user}@${host}${port}${params}`;

describe("parseRequestUri: properties", () => {
  it("IVR form: <key>@t.<domain> parses back to the key", () => {
    fc.assert(
      fc.property(tenantDigitsArb, schemeArb, serviceHostArb, portArb, paramsArb, (digits, scheme, host, port, params) => {
        assert.deepEqual(parseRequestUri(uri(scheme, digits, host, port, params), plan), ivr(`${digits}@t.${DOMAIN}`));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("Microsoft order: <key>.<id> parses back, whatever separators the ID carries", () => {
    fc.assert(
      fc.property(
        tenantDigitsArb,
        vtcIdArb.chain((id) => fc.tuple(fc.constant(id), withSeparators(id, [...idSeparators, "."]))),
        schemeArb,
        serviceHostArb,
        portArb,
        paramsArb,
        (digits, [vtcId, written], scheme, host, port, params) => {
          const parsed = parseRequestUri(uri(scheme, `${digits}.${written}`, host, port, params), plan);
          assert.equal(parsed.kind, "direct");
          if (parsed.kind !== "direct") return;
          assert.equal(parsed.tenantKey, `${digits}@t.${DOMAIN}`);
          assert.equal(parsed.vtcId, vtcId);
          assert.equal(parsed.order, "tenant-first");
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it("Webex order: <id>.<key> parses back; only a 9-digit ID not starting with 0 is read the other way first, with this reading as the alternative", () => {
    fc.assert(
      fc.property(
        tenantDigitsArb,
        vtcIdArb.chain((id) => fc.tuple(fc.constant(id), withSeparators(id, idSeparators))),
        schemeArb,
        serviceHostArb,
        (digits, [vtcId, written], scheme, host) => {
          const parsed = parseRequestUri(uri(scheme, `${written}.${digits}`, host, "", ""), plan);
          const expected = { tenantKey: `${digits}@t.${DOMAIN}`, vtcId, order: "vtc-first" as const };
          const ambiguous = /^[1-9][0-9]{8}$/.test(vtcId);
          assert.equal(parsed.kind, "direct");
          if (parsed.kind !== "direct") return;
          if (ambiguous) {
            assert.deepEqual(
              { tenantKey: parsed.tenantKey, vtcId: parsed.vtcId, order: parsed.order },
              {
                tenantKey: `${vtcId}@t.${DOMAIN}`,
                vtcId: digits,
                order: "tenant-first",
              },
            );
            assert.deepEqual(parsed.alternative, expected);
          } else {
            assert.deepEqual(parsed, { kind: "direct", ...expected });
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it("Webex order with dots inside the ID parses back when the ID is not itself key-shaped", () => {
    fc.assert(
      fc.property(
        tenantDigitsArb,
        vtcIdArb.filter((id) => id.length !== 9).chain((id) => fc.tuple(fc.constant(id), withSeparators(id, [...idSeparators, "."]))),
        (digits, [vtcId, written]) => {
          const parsed = parseRequestUri(`sip:${written}.${digits}@t.${DOMAIN}`, plan);
          // The first group could still be 9 key-like digits followed by a valid rest: then the Microsoft reading wins, with this as the alternative.
          const reading = parsed.kind === "direct" && parsed.order === "tenant-first" ? parsed.alternative : parsed;
          assert.deepEqual(reading && "vtcId" in reading ? { tenantKey: reading.tenantKey, vtcId: reading.vtcId } : reading, {
            tenantKey: `${digits}@t.${DOMAIN}`,
            vtcId,
          });
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it("per-customer domain: <id>@<domain> parses back with the domain's key, any separators including dots", () => {
    fc.assert(
      fc.property(
        vtcIdArb.chain((id) => fc.tuple(fc.constant(id), withSeparators(id, [...idSeparators, "."]))),
        randomCase("video.contoso.com"),
        portArb,
        paramsArb,
        schemeArb,
        ([vtcId, written], host, port, params, scheme) => {
          assert.deepEqual(parseRequestUri(uri(scheme, written, host, port, params), plan), byDomain(vtcId));
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it("never throws, and whatever it accepts names a key the resolve API parses and a 6-16 digit ID", () => {
    const chunk = fc.constantFrom(
      "sip:",
      "sips:",
      "@",
      ".",
      "%20",
      "%",
      ";",
      ":",
      "[",
      "]",
      "t.cvi.example.net",
      "video.contoso.com",
      "813878896",
      "0",
      "-",
      "?",
    );
    const noise = fc.oneof(
      fc.string(),
      fc.array(chunk, { maxLength: 12 }).map((a) => a.join("")),
    );
    fc.assert(
      fc.property(noise, (text) => {
        const parsed = parseRequestUri(text, plan);
        if (parsed.kind === "invalid") {
          assert.ok(parsed.reason.length > 0);
          return;
        }
        assert.notEqual(parseTenantKey(parsed.tenantKey, DOMAIN), undefined);
        if (parsed.kind !== "ivr") assert.match(parsed.vtcId, /^[0-9]{6,16}$/);
      }),
      { numRuns: NUM_RUNS * 3 },
    );
  });
});

describe("dialing the media host by IP address", () => {
  it("treats the host's own addresses as the service's host", async () => {
    const { parseRequestUri } = await import("../../../media-host/domain/dialString.js");
    const plan = { serviceDomain: "cvi.example.net", ownHosts: ["203.0.113.5"] };
    assert.deepEqual(parseRequestUri("sip:813878896.1127180739@203.0.113.5:5060", plan), {
      kind: "direct",
      tenantKey: "813878896@t.cvi.example.net",
      vtcId: "1127180739",
      order: "tenant-first",
    });
    assert.equal(parseRequestUri("sip:813878896.1127180739@198.51.100.1", plan).kind, "invalid");
  });
});
