import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { answerH264, formatLimits, largestPicture, levelLimits, meetingSideFmtp, parseFmtp } from "../../../media-host/domain/h264.js";

const format = (payloadType: number, fmtp: string) => ({ payloadType, parameters: parseFmtp(fmtp) });

describe("H.264 offer/answer (RFC 6184)", () => {
  it("a level 4.0 device gets level 4.0 both ways: 1080p30", () => {
    const answer = answerH264([format(97, "profile-level-id=640028;packetization-mode=1")]);
    assert.equal(answer?.fmtp, "profile-level-id=640028;packetization-mode=1");
    assert.deepEqual(largestPicture(answer!.deviceReceives), { width: 1920, height: 1080 });
  });

  it("a level 3.1 device (720p30) gets 3.1: the answer never promises more than it offered", () => {
    const answer = answerH264([format(97, "profile-level-id=42e01f;packetization-mode=1")]);
    assert.equal(answer?.fmtp, "profile-level-id=42e01f;packetization-mode=1");
    assert.deepEqual(largestPicture(answer!.deviceSends), { width: 1280, height: 720 });
  });

  it("max-fs/max-mbps extending a lower level are honoured, capped at the gateway's 1080p30", () => {
    const answer = answerH264([format(97, "profile-level-id=42801f;packetization-mode=1;max-fs=8160;max-mbps=244800")]);
    assert.equal(answer?.fmtp, "profile-level-id=42801f;packetization-mode=1;max-fs=8160;max-mbps=244800");
    const beyond = answerH264([format(97, "profile-level-id=42e01f;packetization-mode=1;max-fs=36864;max-mbps=983040")]);
    assert.deepEqual(beyond?.deviceReceives, { maxFs: 8192, maxMbps: 245760 }, "4K capable devices are held to level 4.0");
    assert.match(beyond?.fmtp ?? "", /max-fs=8192;max-mbps=245760/);
  });

  it("a level above 4.0 is answered at 4.0", () => {
    assert.equal(answerH264([format(97, "profile-level-id=640033;packetization-mode=1")])?.fmtp, "profile-level-id=640028;packetization-mode=1");
  });

  it("prefers packetization mode 1; takes mode 0 when that is all; none without H.264", () => {
    assert.equal(answerH264([format(96, "profile-level-id=42e01f"), format(97, "profile-level-id=42e01f;packetization-mode=1")])?.payloadType, 97);
    assert.equal(answerH264([format(96, "profile-level-id=42e01f")])?.packetizationMode, 0);
    assert.equal(answerH264([]), undefined);
  });

  it("keeps level-asymmetry-allowed when offered; a malformed profile-level-id counts as the default", () => {
    assert.match(
      answerH264([format(97, "profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1")])?.fmtp ?? "",
      /level-asymmetry-allowed=1/,
    );
    assert.deepEqual(formatLimits(format(97, "profile-level-id=zz")), levelLimits(0x1f));
  });

  it("the meeting side is offered the device's receive limits", () => {
    assert.equal(meetingSideFmtp(levelLimits(0x1f)), "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f");
    assert.equal(
      meetingSideFmtp({ maxFs: 8160, maxMbps: 244800 }),
      "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e020;max-fs=8160;max-mbps=244800",
    );
  });
});
