import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LeaseAnswer } from "../../../media-host/controlPlane/controlPlaneClient.js";
import { PoolMembership, type PoolRegistry } from "../../../media-host/pool/poolMembership.js";
import type { LeaseRequest } from "../../../shared/domain/pool.js";
import { waitFor } from "../../support/waiting.js";

// The media host's side of its lease, against a registry this test plays: when it takes, keeps
// and loses its lease, and what it does then. Short leases so that it all happens in moments.

const LEASE_MS = 150;

/** A registry that grants or refuses as told, and can be slow or unreachable. */
class TestRegistry implements PoolRegistry {
  readonly requests: LeaseRequest[] = [];
  epoch = 0;
  refuse: "lease-lost" | "host-id-in-use" | undefined;
  unreachable = false;
  delayInMs = 0;
  drainDeadline: string | null = null;
  released: number[] = [];

  async renewLease(request: LeaseRequest, options: { abortSignal?: AbortSignal } = {}): Promise<LeaseAnswer> {
    this.requests.push(request);
    if (this.delayInMs) await new Promise((resolve) => setTimeout(resolve, this.delayInMs));
    options.abortSignal?.throwIfAborted();
    if (this.unreachable) throw new Error("the control plane could not be reached");
    if (this.refuse) return { kind: "refused", code: this.refuse, reason: `refused: ${this.refuse}`, retryAfterInMs: 20 };
    if (request.epoch === null) this.epoch++;
    return {
      kind: "granted",
      grant: {
        hostId: "mh-t",
        epoch: this.epoch,
        state: this.drainDeadline ? "draining" : "active",
        leaseUntil: new Date(Date.now() + LEASE_MS).toISOString(),
        leaseDurationInMs: LEASE_MS,
        renewIntervalInMs: 30,
        drainDeadline: this.drainDeadline,
      },
    };
  }

  async releaseLease(epoch: number): Promise<void> {
    this.released.push(epoch);
  }
}

function membership(registry: TestRegistry, activeCalls = () => 0): PoolMembership {
  return new PoolMembership({
    registry,
    report: { sipUri: "sip:127.0.0.1:5070;transport=udp", capacity: 10, version: "t", activeCalls, load: () => 0.5 },
    checkIntervalInMs: 10,
    retryInMs: 20,
  });
}

describe("a media host's lease in the pool", () => {
  it("registers, renews with its calls and load, and serves while its lease holds", async () => {
    const registry = new TestRegistry();
    const member = membership(registry, () => 3);
    try {
      assert.equal(await member.start(), 1);
      assert.equal(member.serving, true);
      assert.equal(member.epoch, 1);
      await waitFor(() => registry.requests.length >= 4, "a few renewals");
      const renewal = registry.requests.at(-1)!;
      assert.deepEqual(
        { epoch: renewal.epoch, activeCalls: renewal.activeCalls, load: renewal.load, capacity: renewal.capacity },
        { epoch: 1, activeCalls: 3, load: 0.5, capacity: 10 },
      );
      assert.equal(registry.requests[0]!.epoch, null);
    } finally {
      await member.stop();
    }
  });

  it("fences itself when no renewal gets through for a lease's length, then comes back as the next epoch", async () => {
    const registry = new TestRegistry();
    const member = membership(registry);
    const fenced: string[] = [];
    member.on("fenced", (reason) => fenced.push(reason));
    try {
      await member.start();
      registry.unreachable = true;
      await waitFor(() => fenced.length === 1, "the host to fence itself");
      assert.match(fenced[0]!, /lease lapsed/);
      assert.equal(member.serving, false, "no new call without a lease");
      assert.equal(member.epoch, undefined, "no join without a lease");
      registry.unreachable = false;
      await waitFor(() => member.epoch === 2, "the next epoch");
      assert.equal(member.serving, true);
    } finally {
      await member.stop();
    }
  });

  it("fences itself at once when the registry says its lease is lost, and waits while its id is in use", async () => {
    const registry = new TestRegistry();
    const member = membership(registry);
    const fenced: string[] = [];
    member.on("fenced", (reason) => fenced.push(reason));
    try {
      await member.start();
      registry.refuse = "lease-lost";
      await waitFor(() => fenced.length === 1, "the refusal to fence it");
      assert.match(fenced[0]!, /lease-lost/);
      // Registering again is refused while the old epoch's calls are ended: it keeps asking.
      registry.refuse = "host-id-in-use";
      const asked = registry.requests.length;
      await waitFor(() => registry.requests.length >= asked + 3, "it to keep asking");
      assert.equal(member.serving, false);
      registry.refuse = undefined;
      await waitFor(() => member.serving, "the next epoch");
      assert.equal(member.epoch, 2);
      assert.equal(fenced.length, 1, "fenced once");
    } finally {
      await member.stop();
    }
  });

  it("a slow renewal does not hold up the next one, and an answer that comes late changes nothing", async () => {
    const registry = new TestRegistry();
    const member = membership(registry);
    const fenced: string[] = [];
    member.on("fenced", (reason) => fenced.push(reason));
    try {
      await member.start();
      // Each answer takes 100 ms, longer than the renewal interval: they overlap and still keep the lease.
      registry.delayInMs = 100;
      const asked = registry.requests.length;
      await waitFor(() => registry.requests.length >= asked + 6, "overlapping renewals");
      assert.deepEqual(fenced, []);
      assert.equal(member.serving, true);
    } finally {
      await member.stop();
    }
  });

  it("hears a drain and an undrain from the registry, and drains itself with its deadline in every renewal", async () => {
    const registry = new TestRegistry();
    const member = membership(registry);
    const drains: (Date | null)[] = [];
    member.on("drain", (deadline) => drains.push(deadline));
    try {
      await member.start();
      registry.drainDeadline = "2030-01-01T00:00:00.000Z";
      await waitFor(() => drains.length === 1, "the drain");
      assert.equal(drains[0]?.toISOString(), "2030-01-01T00:00:00.000Z");
      registry.drainDeadline = null;
      await waitFor(() => drains.length === 2, "the undrain");
      assert.equal(drains[1], null);
      const deadline = new Date("2031-01-01T00:00:00Z");
      await member.drainSelf(deadline);
      assert.equal(registry.requests.at(-1)?.draining?.deadline, deadline.toISOString());
      await member.leave();
      assert.deepEqual(registry.released, [1]);
      assert.equal(member.serving, false);
    } finally {
      await member.stop();
    }
  });
});
