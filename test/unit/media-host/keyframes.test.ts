import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KeyframeRequestLimiter } from "../../../media-host/domain/keyframeRequestLimiter.js";
import { findKeyframeRequest, isRtcp, writeFir, writePli } from "../../../media-host/meeting/rtcp.js";

describe("keyframe requests", () => {
  it("the limiter sends the first, defers one inside the interval and coalesces the rest", () => {
    const limiter = new KeyframeRequestLimiter(500);
    assert.deepEqual(limiter.request(1000), { action: "send" });
    assert.deepEqual(limiter.request(1100), { action: "later", retryInMs: 400 });
    assert.deepEqual(limiter.request(1200), { action: "coalesced" });
    assert.equal(limiter.due(1500), true);
    assert.equal(limiter.due(1500), false, "once");
    assert.deepEqual(limiter.request(2000), { action: "send" });
  });

  it("PLI and FIR are written per RFC 4585/5104 and found in a compound packet after a receiver report", () => {
    const pli = Buffer.alloc(12);
    assert.equal(writePli(pli, 1, 0xdeadbeef), 12);
    assert.equal(pli.toString("hex"), "81ce000200000001deadbeef");
    const fir = Buffer.alloc(20);
    assert.equal(writeFir(fir, 1, 0xdeadbeef, 7), 20);
    assert.equal(fir.toString("hex"), "84ce00040000000100000000deadbeef07000000");
    const rr = Buffer.from("81c90007000000010000000200000000000000000000000000000000000000", "hex");
    const receiverReport = Buffer.concat([Buffer.from("80c9000100000001", "hex")]);
    assert.equal(findKeyframeRequest(Buffer.concat([receiverReport, fir])), "fir");
    assert.equal(findKeyframeRequest(Buffer.concat([receiverReport, pli])), "pli");
    assert.equal(findKeyframeRequest(receiverReport), undefined);
    assert.equal(findKeyframeRequest(rr.subarray(0, 3)), undefined, "a truncated packet is no request");
    assert.equal(isRtcp(pli), true);
    assert.equal(isRtcp(Buffer.from("8060", "hex")), false, "RTP payload type 96");
  });
});
