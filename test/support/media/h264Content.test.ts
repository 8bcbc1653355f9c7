import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { accessUnits, depacketize, h264Content, nalType, packetize, spsPictureSize } from "./h264Content.js";

describe("H.264 content for the test room system (Debian's x264 from a test pattern)", () => {
  it("1080p slides at 5 fps: a keyframe (SPS, PPS, IDR) every 5 pictures, an SPS that says 1920x1080", async () => {
    const units = await h264Content({ width: 1920, height: 1080, fps: 5, frames: 10, keyframeInterval: 5 });
    assert.equal(units.length, 10);
    assert.deepEqual(
      units.map((u) => u.keyframe),
      [true, false, false, false, false, true, false, false, false, false],
    );
    const first = units[0]?.nalUnits ?? [];
    assert.deepEqual(first.slice(0, 2).map(nalType), [7, 8], "SPS and PPS lead the keyframe");
    assert.ok(first.some((n) => nalType(n) === 5));
    const size = spsPictureSize(first[0] as Uint8Array);
    assert.deepEqual([size.width, size.height, size.profileIdc], [1920, 1080, 66]);
    assert.ok(size.levelIdc >= 40, `level ${size.levelIdc}`);
  });

  it("other sizes: the SPS's cropping gives the size encoded", async () => {
    for (const [width, height] of [
      [640, 360],
      [1280, 720],
    ] as const) {
      const units = await h264Content({ width, height, fps: 15, frames: 2 });
      const sps = units[0]?.nalUnits.find((n) => nalType(n) === 7) as Uint8Array;
      const size = spsPictureSize(sps);
      assert.deepEqual([size.width, size.height], [width, height]);
    }
  });

  it("packetizes per RFC 6184 mode 1 within the payload size, and a receiver reassembles the same NAL units", async () => {
    const units = await h264Content({ width: 1920, height: 1080, fps: 5, frames: 10, keyframeInterval: 5 });
    for (const unit of units) {
      const payloads = packetize(unit, 1200);
      assert.ok(payloads.every((p) => p.length <= 1200));
      assert.deepEqual(depacketize(payloads).map(Buffer.from), unit.nalUnits.map(Buffer.from));
    }
    const keyframePayloads = packetize(units[0] as (typeof units)[0], 1200);
    assert.ok(
      keyframePayloads.some((p) => nalType(p) === 28),
      "a 1080p IDR slice needs FU-A fragments",
    );
    assert.equal(
      depacketize(keyframePayloads.filter((_, i) => i !== 3)).length,
      (units[0]?.nalUnits.length ?? 0) - 1,
      "a fragment lost: that NAL unit is dropped",
    );
  });

  it("splits an Annex B stream on access unit delimiters, 3- and 4-byte start codes alike", () => {
    const stream = Uint8Array.of(0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x65, 3, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x41, 4);
    const units = accessUnits(stream);
    assert.deepEqual(
      units.map((u) => u.nalUnits.map((n) => [...n])),
      [
        [
          [0x67, 1, 2],
          [0x65, 3],
        ],
        [[0x41, 4]],
      ],
    );
    assert.deepEqual(
      units.map((u) => u.keyframe),
      [true, false],
    );
  });
});
