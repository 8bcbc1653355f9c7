import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PortAllocator } from "../../../media-host/meeting/portAllocator.js";

describe("the meeting legs' ICE port allocator", () => {
  it("hands out windows round-robin, never a port a live leg holds, and reuses released ports last", () => {
    const ports = new PortAllocator(40000, 40003, 2);
    assert.deepEqual(ports.allocate(), [40000, 40001]);
    assert.deepEqual(ports.allocate(), [40001, 40002]);
    assert.deepEqual(ports.allocate(), [40002, 40003]);
    ports.release(40000);
    assert.deepEqual(ports.allocate(), [40003, 40003], "the window stops at the range's end");
    assert.deepEqual(ports.allocate(), [40000, 40001], "the released port comes round again");
    assert.equal(ports.allocate(), undefined, "all four held");
    assert.equal(ports.inUse, 4);
  });

  it("refuses a nonsense range", () => {
    assert.throws(() => new PortAllocator(50000, 40000), RangeError);
    assert.throws(() => new PortAllocator(0, 10), RangeError);
  });
});
