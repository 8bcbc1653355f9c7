import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PortAllocator } from "../../../media-host/meeting/portAllocator.js";

describe("the meeting legs' ICE port allocator", () => {
  it("hands out windows round-robin, never starting at a port a live leg holds, and never a single port (werift refuses those)", () => {
    const ports = new PortAllocator(40000, 40003, 2);
    assert.deepEqual(ports.allocate(), [40000, 40001]);
    assert.deepEqual(ports.allocate(), [40001, 40002]);
    assert.deepEqual(ports.allocate(), [40002, 40003], "the last window ends at the range's end, two ports wide");
    ports.release(40000);
    assert.deepEqual(ports.allocate(), [40000, 40001], "round again: the released port");
    assert.equal(ports.allocate(), undefined, "every start held");
    assert.equal(ports.inUse, 3);
    for (let i = 0; i < 10; i++) {
      ports.release(40001);
      const window = ports.allocate();
      assert.ok(window && window[1] > window[0], JSON.stringify(window));
    }
  });

  it("refuses a nonsense range", () => {
    assert.throws(() => new PortAllocator(50000, 40000), RangeError);
    assert.throws(() => new PortAllocator(0, 10), RangeError);
    assert.throws(() => new PortAllocator(40000, 40000), RangeError, "one port cannot make a werift range");
  });
});
