import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { answerTowardsRtpengine } from "../../../media-host/meeting/plainSideAnswer.js";
import { parseSdp } from "../../../media-host/rtpengine/sdp.js";

const dir = join(process.cwd(), "test/unit/media-host/golden/plain-side-answer");
const at = { address: "127.0.0.1", audioPort: 40000, videoPort: 40002 };

describe("the meeting leg's answer to rtpengine (golden files)", () => {
  for (const input of readdirSync(dir).filter((f) => f.endsWith(".input.sdp"))) {
    const name = input.replace(/\.input\.sdp$/, "");
    it(name, () => {
      const answer = answerTowardsRtpengine(parseSdp(readFileSync(join(dir, input), "utf8")), at);
      const expectedPath = join(dir, `${name}.expected.sdp`);
      if (process.env.UPDATE_GOLDEN === "1") writeFileSync(expectedPath, answer.sdp);
      assert.equal(answer.sdp, readFileSync(expectedPath, "utf8"));
    });
  }

  it("chooses Opus, the mode-1 H.264 and RTCP keyframes when the device offered nack pli", () => {
    const answer = answerTowardsRtpengine(parseSdp(readFileSync(join(dir, "pcmu-h264-level31-maxfs-rtcpfb.input.sdp"), "utf8")), at);
    assert.equal(answer.choice.audioPayloadType, 96);
    assert.equal(answer.choice.video?.payloadType, 97);
    assert.equal(answer.choice.deviceKeyframes, "pli");
    assert.deepEqual(answer.choice.video?.deviceReceives, { maxFs: 8160, maxMbps: 244800 }, "1080p30, as the device's max-fs/max-mbps said");
  });

  it("takes packetization mode 1 over mode 0 and asks a device without rtcp-fb over SIP", () => {
    const answer = answerTowardsRtpengine(parseSdp(readFileSync(join(dir, "g722-h264-two-modes-no-feedback.input.sdp"), "utf8")), at);
    assert.equal(answer.choice.video?.payloadType, 97);
    assert.equal(answer.choice.deviceKeyframes, "sip-info");
  });

  it("a device on hold (sendonly) is answered recvonly and does not count as silent; content video is declined for now", () => {
    const answer = answerTowardsRtpengine(parseSdp(readFileSync(join(dir, "hold-sendonly-with-content-line.input.sdp"), "utf8")), at);
    const sdp = parseSdp(answer.sdp);
    assert.ok(sdp.media[0]?.lines.some((l) => l.value === "recvonly"));
    assert.equal(sdp.media[2]?.port, 0);
    assert.equal(answer.deviceSending, true);
  });
});
