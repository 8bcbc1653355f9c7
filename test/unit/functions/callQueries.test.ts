import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CallHistoryTokens, parseCallListRequest } from "../../../functions/app/callQueries.js";
import { callOutcome, callSummary, INITIAL_CALL_SESSION } from "../../../shared/domain/callSession.js";
import { ValidationError } from "../../../shared/errors.js";

const NOW = new Date("2026-12-07T12:00:00.000Z");
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const parse = (query: string) => parseCallListRequest(new URLSearchParams(query), NOW);

function fieldsOf(query: string): string[] {
  try {
    parse(query);
  } catch (e) {
    assert.ok(e instanceof ValidationError, String(e));
    return e.issues.map((i) => i.field);
  }
  assert.fail(`${query} was accepted`);
}

describe("GET /v1/calls parameters", () => {
  it("live by default, optionally one tenant's (lower-cased)", () => {
    assert.deepEqual(parse(""), { state: "live" });
    assert.deepEqual(parse(`state=live&tenant=${TENANT.toUpperCase()}`), { state: "live", tenantId: TENANT });
  });

  it("history defaults to the last 24 hours, 50 a page", () => {
    const request = parse("state=ended");
    assert.equal(request.state, "ended");
    if (request.state !== "ended") return;
    assert.deepEqual(request.query, { from: new Date("2026-12-06T12:00:00.000Z"), to: NOW });
    assert.equal(request.top, 50);
  });

  it("takes zones other than Z and every filter", () => {
    const request = parse(`state=ended&tenant=${TENANT}&from=2026-12-01T08:00%2B01:00&to=2026-12-02T00:00:00Z&outcome=connected&reason=BYE&top=200`);
    assert.ok(request.state === "ended");
    assert.deepEqual(request.query, {
      from: new Date("2026-12-01T07:00:00.000Z"),
      to: new Date("2026-12-02T00:00:00.000Z"),
      tenantId: TENANT,
      outcome: "connected",
      endReason: "BYE",
    });
    assert.equal(request.top, 200);
  });

  it("names every wrong parameter at once", () => {
    assert.deepEqual(fieldsOf("state=ended&from=2026-12-01&top=201&outcome=ok&tenant=x&reason="), ["tenant", "from", "outcome", "reason", "top"]);
    assert.deepEqual(fieldsOf("state=over"), ["state"]);
    assert.deepEqual(fieldsOf("foo=1"), ["foo"]);
    assert.deepEqual(fieldsOf("state=live&reason=BYE&continuationToken=x"), ["reason", "continuationToken"]);
    assert.deepEqual(fieldsOf("state=ended&from=2026-10-01T00:00:00Z&to=2026-12-01T00:00:00Z"), ["from"], "more than 31 days");
    assert.deepEqual(fieldsOf("state=ended&from=2026-12-01T00:00:00Z&to=2026-12-01T00:00:00Z"), ["from"], "an empty window");
    assert.deepEqual(fieldsOf("state=ended&to=2026-02-30T00:00:00Z"), ["to"], "no such day");
    assert.deepEqual(fieldsOf("state=ended&top=1e2"), ["top"]);
    assert.deepEqual(fieldsOf("state=ended&from=2026-12-01T24:00:00Z"), ["from"], "no such hour");
    // An unencoded "+" is a space in a query string: the zone is then missing, and the problem says how it should look.
    assert.deepEqual(fieldsOf("state=ended&from=2026-12-01T08:00+01:00"), ["from"]);
  });
});

describe("history page tokens", () => {
  const tokens = new CallHistoryTokens("k".repeat(32));
  const query = { from: new Date("2026-12-01T00:00:00Z"), to: new Date("2026-12-02T00:00:00Z"), tenantId: TENANT, endReason: "BYE" };

  it("carry the query and the position back", () => {
    const token = tokens.issue(query, '{"d":"2026-12-01","c":"x"}');
    assert.deepEqual(tokens.read(token, {}), { query, position: '{"d":"2026-12-01","c":"x"}' });
    assert.deepEqual(tokens.read(token, { tenant: TENANT.toUpperCase(), from: "2026-12-01T01:00:00+01:00", reason: "BYE" }).query, query);
  });

  it("refuse another key's, a changed payload, garbage, and other filters", () => {
    const token = tokens.issue(query, "p");
    const other = new CallHistoryTokens("o".repeat(32)).issue(query, "p");
    const [payload, signature] = token.split(".");
    const changed = `${Buffer.from(JSON.stringify({ q: { ...JSON.parse(Buffer.from(payload!, "base64url").toString()).q, tenantId: undefined }, p: "p" })).toString("base64url")}.${signature}`;
    for (const bad of [other, changed, "garbage", `${payload}.`, `${token}.x`, ""]) assert.throws(() => tokens.read(bad, {}), ValidationError, bad);
    for (const named of [{ tenant: "00000000-0000-0000-0000-000000000000" }, { outcome: "connected" }, { to: "2026-12-03T00:00:00Z" }])
      assert.throws(() => tokens.read(token, named), /another query/);
  });
});

describe("call outcome and summary", () => {
  const record = {
    ...INITIAL_CALL_SESSION,
    callId: "c1",
    tenantId: TENANT,
    mediaHostId: "mh-1",
    mediaHostEpoch: 1,
    deviceCallId: "sip-1",
    displayName: "Room",
    vtcId: "123",
    meetingId: "m1",
    organizerId: "o1",
    joinAsGuest: true,
    createdAt: "2026-12-07T10:00:00.000Z",
    establishedAt: null,
    endedAt: null,
    endedBy: null,
    endReason: null,
    deliveredDigest: "d",
  } as const;

  it("live, connected once established, not connected when it ended before", () => {
    assert.equal(callOutcome(record), null);
    assert.equal(callOutcome({ ...record, establishedAt: "t", endedAt: "t" }), "connected");
    assert.equal(callOutcome({ ...record, endedAt: "t" }), "not-connected");
  });

  it("a record written before the dial form, address and subject were kept summarizes them as null", () => {
    const summary = callSummary(record);
    assert.equal(summary.dialForm, null);
    assert.equal(summary.deviceAddress, null);
    assert.equal(summary.meetingSubject, null);
    assert.equal("deliveredDigest" in summary, false);
  });
});
