import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ContentSwitch } from "../../../media-host/domain/contentSwitch.js";
import { startsH264Keyframe } from "../../../media-host/domain/h264Keyframe.js";

// NAL unit payloads as RFC 6184 packs them (packetization mode 1).
const SPS = Uint8Array.of(0x67, 0x42, 0xe0, 0x1f);
const IDR = Uint8Array.of(0x65, 0x88, 0x84);
const P_SLICE = Uint8Array.of(0x41, 0x9a, 0x02);
const FU_A_IDR_START = Uint8Array.of(0x7c, 0x85, 0x88);
const FU_A_IDR_MIDDLE = Uint8Array.of(0x7c, 0x05, 0x11);
const STAP_A_SPS_PPS = Uint8Array.of(0x78, 0x00, 0x04, 0x67, 0x42, 0xe0, 0x1f, 0x00, 0x02, 0x68, 0xce);
const STAP_A_TRUNCATED = Uint8Array.of(0x78, 0x00);

describe("H.264 keyframe starts", () => {
  it("are an SPS, an IDR slice, a STAP-A holding either, or the first FU-A fragment of an IDR", () => {
    for (const payload of [SPS, IDR, FU_A_IDR_START, STAP_A_SPS_PPS]) assert.equal(startsH264Keyframe(payload), true, payload.toString());
    for (const payload of [P_SLICE, FU_A_IDR_MIDDLE, STAP_A_TRUNCATED, new Uint8Array()])
      assert.equal(startsH264Keyframe(payload), false, payload.toString());
  });
});

describe("the content switch: one outgoing stream, whoever presents", () => {
  const packet = (source: string, sequenceNumber: number, timestamp: number, payload: Uint8Array, arrivalMs: number) => ({
    source,
    sequenceNumber,
    timestamp,
    payload,
    arrivalMs,
  });

  it("forwards nothing until a source is selected, and nothing of other sources", () => {
    const sw = new ContentSwitch();
    assert.equal(sw.forward(packet("device", 1, 1000, IDR, 0)), undefined);
    sw.select("device");
    assert.equal(sw.forward(packet("meeting:a", 1, 1000, IDR, 0)), undefined);
  });

  it("starts a source at its first keyframe, counting what it dropped before, then keeps its numbering", () => {
    const sw = new ContentSwitch();
    sw.select("device");
    assert.equal(sw.awaitingKeyframe, true);
    assert.equal(sw.forward(packet("device", 100, 9000, P_SLICE, 0)), undefined);
    assert.equal(sw.forward(packet("device", 101, 9000, P_SLICE, 1)), undefined);
    assert.equal(sw.droppedWhileWaiting, 2);
    assert.deepEqual(sw.forward(packet("device", 102, 12000, FU_A_IDR_START, 33)), { sequenceNumber: 102, timestamp: 12000 });
    assert.equal(sw.awaitingKeyframe, false);
    assert.deepEqual(sw.forward(packet("device", 103, 12000, FU_A_IDR_MIDDLE, 33)), { sequenceNumber: 103, timestamp: 12000 });
    assert.deepEqual(sw.forward(packet("device", 104, 15000, P_SLICE, 66)), { sequenceNumber: 104, timestamp: 15000 });
  });

  it("a new source continues the outgoing numbering one past the last packet and the clock by the time between", () => {
    const sw = new ContentSwitch();
    sw.select("device");
    sw.forward(packet("device", 65534, 4294967000, IDR, 1000));
    assert.deepEqual(sw.forward(packet("device", 65535, 4294967000, P_SLICE, 1000)), { sequenceNumber: 65535, timestamp: 4294967000 });
    sw.select("meeting:alice");
    assert.equal(sw.forward(packet("device", 0, 4294970000, P_SLICE, 1033)), undefined, "the old source is cut off at once");
    assert.equal(sw.forward(packet("meeting:alice", 500, 77, P_SLICE, 1100)), undefined, "the new one waits for its keyframe");
    // 500 ms after the last packet out: 45,000 ticks of the 90 kHz clock later, across the 32-bit wrap.
    assert.deepEqual(sw.forward(packet("meeting:alice", 501, 3000, SPS, 1500)), { sequenceNumber: 0, timestamp: (4294967000 + 45000) >>> 0 });
    assert.deepEqual(sw.forward(packet("meeting:alice", 502, 3000, IDR, 1500)), { sequenceNumber: 1, timestamp: (4294967000 + 45000) >>> 0 });
    assert.deepEqual(sw.forward(packet("meeting:alice", 503, 6000, P_SLICE, 1533)), { sequenceNumber: 2, timestamp: (4294967000 + 48000) >>> 0 });
  });

  it("drops a late packet from before the keyframe it started at, forwards a reordered one after it", () => {
    const sw = new ContentSwitch();
    sw.select("device");
    sw.forward(packet("device", 10, 100, IDR, 0));
    assert.equal(sw.forward(packet("device", 9, 100, P_SLICE, 1)), undefined);
    sw.forward(packet("device", 12, 400, P_SLICE, 2));
    assert.deepEqual(sw.forward(packet("device", 11, 100, FU_A_IDR_MIDDLE, 3)), { sequenceNumber: 11, timestamp: 100 });
  });

  it("selecting nobody stops forwarding; selecting the same source again changes nothing", () => {
    const sw = new ContentSwitch();
    sw.select("device");
    sw.forward(packet("device", 1, 100, IDR, 0));
    sw.select("device");
    assert.deepEqual(sw.forward(packet("device", 2, 100, P_SLICE, 1)), { sequenceNumber: 2, timestamp: 100 }, "no new keyframe needed");
    sw.select(undefined);
    assert.equal(sw.forward(packet("device", 3, 200, IDR, 2)), undefined);
  });

  it("over random hand-overs and sequence wraps the outgoing numbering never jumps and its clock never goes back", () => {
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const sources = ["device", "meeting:a", "meeting:b"];
    const next = new Map(sources.map((s) => [s, { sequenceNumber: random(65536), timestamp: random(2 ** 31) * 2 }]));
    const sw = new ContentSwitch();
    let previous: { sequenceNumber: number; timestamp: number } | undefined;
    let forwarded = 0;
    for (let step = 0, nowMs = 0; step < 20_000; step++, nowMs += 5) {
      if (random(400) === 0) sw.select(sources[random(3)]);
      const source = sources[random(3)] as string;
      const state = next.get(source) as { sequenceNumber: number; timestamp: number };
      const payload = random(30) === 0 ? IDR : P_SLICE;
      state.sequenceNumber = (state.sequenceNumber + 1) & 0xffff;
      state.timestamp = (state.timestamp + 450) >>> 0;
      const out = sw.forward(packet(source, state.sequenceNumber, state.timestamp, payload, nowMs));
      if (!out) continue;
      forwarded++;
      if (previous) {
        assert.equal(out.sequenceNumber, (previous.sequenceNumber + 1) & 0xffff, `step ${step}`);
        const advance = (out.timestamp - previous.timestamp) >>> 0;
        assert.ok(advance > 0 && advance < 2 ** 31, `step ${step}: the clock moved by ${advance}`);
      }
      previous = out;
    }
    assert.ok(forwarded > 1000, `${forwarded} forwarded`);
  });
});
