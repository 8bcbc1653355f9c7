import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sessionLayout } from "../../../media-host/calls/sessionLayout.js";
import { offerTowardsRtpengine } from "../../../media-host/meeting/plainSideOffer.js";
import { parseSdp } from "../../../media-host/rtpengine/sdp.js";

const BRIDGE = { address: "127.0.0.1", audioPort: 40000, videoPort: 40002 };
const answer = (media: string[]) => `v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n${media.join("\r\n")}\r\n`;

describe("the session's m-lines kept in place in our offers (RFC 3264 §8)", () => {
  it("reads a Poly session: audio, main video, a declined UDP BFCP line and our TCP one", () => {
    const layout = sessionLayout(
      answer([
        "m=audio 30000 RTP/AVP 0",
        "m=video 30002 RTP/AVP 109",
        "m=application 0 UDP/BFCP *",
        "m=application 5070 TCP/BFCP *\r\na=floorctrl:s-only",
      ]),
    );
    assert.deepEqual(layout, ["audio", "video", { disabled: "m=application 0 UDP/BFCP *" }, { disabled: "m=application 0 TCP/BFCP *" }]);
  });

  it("tells the slides line from main video wherever it is, and keeps a second audio as a line of its own", () => {
    const layout = sessionLayout(
      answer(["m=video 30004 RTP/AVP 109\r\na=content:slides", "m=audio 30000 RTP/AVP 0", "m=video 30002 RTP/AVP 109", "m=audio 30006 RTP/AVP 8"]),
    );
    assert.deepEqual(layout, ["slides", "audio", "video", { disabled: "m=audio 0 RTP/AVP 8" }]);
  });

  it("the bridge's offer follows the layout: its lines in their places, the others disabled, a new slides line last", () => {
    const sdp = offerTowardsRtpengine(BRIDGE, 2, {
      content: { port: 40004, label: "12" },
      layout: ["audio", "video", { disabled: "m=application 0 UDP/BFCP *" }, { disabled: "m=application 0 TCP/BFCP *" }],
    });
    const media = parseSdp(sdp).media;
    assert.deepEqual(
      media.map((m) => `${m.media} ${m.port} ${m.protocol}`),
      ["audio 40000 RTP/AVP", "video 40002 RTP/AVP", "application 0 UDP/BFCP", "application 0 TCP/BFCP", "video 40004 RTP/AVP"],
    );
    assert.ok(media[4]?.lines.some((l) => l.value === "content:slides") && media[4]?.lines.some((l) => l.value === "label:12"));
  });

  it("a slides line already in the session keeps its place; without content it is offered disabled", () => {
    const layout = ["audio", "video", "slides"] as const;
    const withContent = parseSdp(offerTowardsRtpengine(BRIDGE, 3, { content: { port: 40004, label: "3" }, layout: [...layout] })).media;
    assert.deepEqual(
      withContent.map((m) => m.port),
      [40000, 40002, 40004],
    );
    const without = parseSdp(offerTowardsRtpengine(BRIDGE, 4, { layout: [...layout] })).media;
    assert.deepEqual(
      without.map((m) => `${m.media} ${m.port}`),
      ["audio 40000", "video 40002", "video 0"],
    );
  });

  it("without a layout the offer is audio and video, as a delayed offer's", () => {
    assert.deepEqual(
      parseSdp(offerTowardsRtpengine(BRIDGE, 1)).media.map((m) => m.media),
      ["audio", "video"],
    );
  });
});
