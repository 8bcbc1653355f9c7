import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  drainHost,
  expireLease,
  hostView,
  LEASE_DURATION_IN_MS,
  type LeaseRequest,
  leaseGrant,
  type MediaHostRecord,
  requestLease,
  undrainHost,
} from "../../../shared/domain/pool.js";

const t0 = new Date("2030-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(t0.getTime() + ms);
const request = (epoch: number | null, over: Partial<LeaseRequest> = {}): LeaseRequest => ({
  epoch,
  sipUri: "sip:10.0.0.5:5060;transport=udp",
  capacity: 40,
  activeCalls: 2,
  load: 0.3,
  version: "1.0.0",
  ...over,
});

function registered(now = t0): MediaHostRecord {
  const outcome = requestLease(undefined, "mh-1", request(null), now);
  assert.equal(outcome.kind, "granted");
  return outcome.kind === "granted" ? outcome.record : (undefined as never);
}

describe("the pool's leases", () => {
  it("a first registration is epoch 1, active, with a lease of 6 s", () => {
    const record = registered();
    assert.deepEqual(
      { epoch: record.epoch, state: record.state, leaseUntil: record.leaseUntil, pool: record.pool, drain: record.drain, death: record.death },
      { epoch: 1, state: "active", leaseUntil: at(LEASE_DURATION_IN_MS).toISOString(), pool: "default", drain: null, death: null },
    );
    assert.deepEqual(leaseGrant(record), {
      hostId: "mh-1",
      epoch: 1,
      state: "active",
      leaseUntil: record.leaseUntil,
      leaseDurationInMs: 6000,
      renewIntervalInMs: 2000,
      drainDeadline: null,
    });
  });

  it("a renewal at the held epoch extends the lease and takes the report; at another epoch, or after it lapsed, it is lost", () => {
    const record = registered();
    const renewed = requestLease(record, "mh-1", request(1, { activeCalls: 9 }), at(2000));
    assert.equal(renewed.kind === "granted" && renewed.record.leaseUntil, at(8000).toISOString());
    assert.equal(renewed.kind === "granted" && renewed.record.activeCalls, 9);
    for (const [epoch, when] of [
      [2, 2000],
      [1, 6001],
    ] as const) {
      const lost = requestLease(record, "mh-1", request(epoch), at(when));
      assert.equal(lost.kind === "refused" && lost.code, "lease-lost", `epoch ${epoch} at +${when} ms`);
    }
    assert.equal(requestLease(undefined, "mh-1", request(1), t0).kind === "refused", true, "a renewal of nothing is lost too");
  });

  it("a registration over a live lease waits (host-id-in-use, until the lease's end); over a dead host, once its calls are ended, it is the next epoch", () => {
    const record = registered();
    const twin = requestLease(record, "mh-1", request(null), at(1000));
    assert.deepEqual(twin.kind === "refused" && [twin.code, twin.retryAfterInMs], ["host-id-in-use", 5000]);
    const dead = expireLease(record, at(7000));
    assert.equal(requestLease(dead, "mh-1", request(null), at(7000)).kind, "refused", "its calls are not ended yet");
    const cleaned = { ...dead, death: { ...dead.death!, callsEndedAt: at(8000).toISOString() } };
    const again = requestLease(cleaned, "mh-1", request(null), at(9000));
    assert.deepEqual(again.kind === "granted" && [again.record.epoch, again.record.state, again.record.death], [2, "active", null]);
  });

  it("a lapsed lease is declared dead once; a live one is left alone", () => {
    const record = registered();
    assert.equal(expireLease(record, at(6000)), record, "not lapsed at its very end");
    const dead = expireLease(record, at(6001));
    assert.equal(dead.state, "dead");
    assert.match(dead.death?.reason ?? "", /no lease renewal since/);
    assert.equal(expireLease(dead, at(9000)), dead, "already dead");
    assert.equal(hostView(record, at(6001)).status, "unresponsive");
    assert.equal(hostView(dead, at(6001)).status, "dead");
  });

  it("drain and undrain: the operator's deadline, moved by a second drain; a dead host neither; a host drains itself through its renewals", () => {
    const record = registered();
    const drained = drainHost(record, at(60_000), at(1000));
    assert.equal(drained.kind, "changed");
    const draining = drained.kind === "changed" ? drained.record : record;
    assert.deepEqual([draining.state, draining.drain?.deadline, draining.drain?.by], ["draining", at(60_000).toISOString(), "operator"]);
    assert.equal(drainHost(draining, at(60_000), at(2000)).kind, "unchanged");
    const moved = drainHost(draining, at(90_000), at(2000));
    assert.equal(moved.kind === "changed" && moved.record.drain?.requestedAt, at(1000).toISOString(), "the first request's time stays");
    assert.equal(undrainHost(draining).kind, "changed");
    assert.equal(undrainHost(record).kind, "unchanged");
    const dead = expireLease(record, at(7000));
    assert.equal(drainHost(dead, at(60_000), at(7000)).kind, "dead");
    assert.equal(undrainHost(dead).kind, "dead");
    const selfDrain = requestLease(record, "mh-1", request(1, { draining: { deadline: at(300_000).toISOString() } }), at(2000));
    assert.deepEqual(selfDrain.kind === "granted" && [selfDrain.record.state, selfDrain.record.drain?.by], ["draining", "host"]);
  });
});
