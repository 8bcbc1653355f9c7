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

  it("content (issue 12): main video is the m-line that is not slides, wherever it is listed; slides answered on the content port with its content and label, when the bridge takes content", () => {
    // A Cisco-shaped offer as rtpengine passes it on (a=content and a=label kept), slides listed before main.
    const offer = [
      "v=0",
      "o=room-system 1 1 IN IP4 127.0.0.1",
      "s=Room system",
      "c=IN IP4 127.0.0.1",
      "t=0 0",
      "m=audio 35824 RTP/AVP 96 101",
      "a=rtpmap:96 opus/48000/2",
      "a=rtpmap:101 telephone-event/8000",
      "a=sendrecv",
      "a=rtcp-mux",
      "m=video 35884 RTP/AVP 97 98",
      "a=content:slides",
      "a=label:12",
      "a=rtpmap:97 H264/90000",
      "a=fmtp:97 profile-level-id=42e028;packetization-mode=1;max-fs=8160;max-fps=3000",
      "a=rtpmap:98 H264/90000",
      "a=fmtp:98 profile-level-id=42e028;packetization-mode=0",
      "a=rtcp-fb:* ccm fir",
      "a=sendrecv",
      "a=rtcp-mux",
      "m=video 35854 RTP/AVP 97",
      "a=content:main",
      "a=label:11",
      "a=rtpmap:97 H264/90000",
      "a=fmtp:97 profile-level-id=42e01f;packetization-mode=1",
      "a=rtcp-fb:97 nack pli",
      "a=sendrecv",
      "a=rtcp-mux",
      "m=application 0 UDP/BFCP *",
      "",
    ].join("\r\n");
    const taken = answerTowardsRtpengine(parseSdp(offer), { ...at, contentPort: 40004 });
    assert.deepEqual([taken.audioIndex, taken.videoIndex, taken.contentIndex], [0, 2, 1]);
    assert.equal(taken.choice.content?.payloadType, 97, "mode 1 over mode 0 for content too");
    assert.equal(taken.choice.deviceKeyframes, "pli", "main video's own feedback");
    const media = parseSdp(taken.sdp).media;
    assert.equal(media[1]?.port, 40004);
    assert.deepEqual(
      media[1]?.lines.map((l) => l.value),
      ["content:slides", "label:12", "rtpmap:97 H264/90000", `fmtp:97 ${taken.choice.content?.fmtp}`, "rtcp-fb:97 ccm fir", "sendrecv", "rtcp-mux"],
    );
    assert.equal(media[2]?.port, 40002);
    assert.equal(media[3]?.port, 0, "BFCP never reaches the bridge");

    const declined = answerTowardsRtpengine(parseSdp(offer), at);
    assert.equal(declined.contentIndex, -1);
    assert.equal(declined.videoIndex, 2, "main video still found past the slides line");
    assert.equal(parseSdp(declined.sdp).media[1]?.port, 0);
  });
});
