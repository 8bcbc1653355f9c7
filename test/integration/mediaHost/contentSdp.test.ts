import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { answerBfcpOffer, chooseBfcpOffer } from "../../../media-host/bfcp/sdpAnswer.js";
import { anchorMedia } from "../../../media-host/calls/anchorMedia.js";
import { putBackBfcp, setAsideBfcp } from "../../../media-host/calls/contentSdp.js";
import { MeetingLegServer } from "../../../media-host/meeting/meetingLegServer.js";
import { parseSdp } from "../../../media-host/rtpengine/sdp.js";
import { type RtpengineHarness, startRtpengine } from "../rtpengine/support/harness.js";

// What a content-capable device is answered, through real rtpengine and the meeting leg:
// its BFCP m-lines never reach rtpengine (port 0 there), and come back at their index with
// the gateway's own BFCP answer; its slides line is taken by the bridge.
let rtpengine: RtpengineHarness;
let legs: MeetingLegServer;

before(async () => {
  rtpengine = await startRtpengine();
  legs = new MeetingLegServer({
    mediaHostId: "mh-content-sdp",
    host: "127.0.0.1",
    port: 0,
    ice: { bindAddress: "127.0.0.1", advertisedAddress: "127.0.0.1" },
    acceptContent: true,
    logger: pino({ level: "silent" }),
  });
  await legs.listen();
});
after(async () => {
  await legs.close();
  await rtpengine.stop();
});

const VIDEO = ["a=rtpmap:97 H264/90000", "a=fmtp:97 profile-level-id=42e028;packetization-mode=1", "a=rtcp-fb:97 nack pli", "a=sendrecv"];
const offer = (bfcp: string[][]) =>
  `${[
    "v=0",
    "o=room 1 1 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "m=audio 41000 RTP/AVP 0 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=sendrecv",
    "m=video 41002 RTP/AVP 97",
    "a=content:main",
    "a=label:11",
    ...VIDEO,
    "m=video 41004 RTP/AVP 97",
    "a=content:slides",
    "a=label:12",
    ...VIDEO,
    ...bfcp.flat(),
  ].join("\r\n")}\r\n`;

let calls = 0;
async function answerFor(deviceOffer: string) {
  const callId = `content-sdp-${++calls}`;
  const aside = setAsideBfcp(deviceOffer);
  const leg = await legs.create(callId);
  try {
    const answer = await anchorMedia(rtpengine.client, leg, aside.sdp, { callId, deviceTag: "room", gatewayTag: "gateway" });
    const chosen = chooseBfcpOffer(aside.offers);
    assert.ok(chosen, "a BFCP line to take");
    const bfcp = answerBfcpOffer(chosen, { port: 45000, contentLabel: "12", fallbackConfId: 9, fallbackUserId: 3 });
    return { aside, final: putBackBfcp(answer, chosen.index, bfcp.lines) };
  } finally {
    await leg.close();
    await rtpengine.client.delete({ "call-id": callId, "from-tag": "room" }).catch(() => {});
  }
}

describe("a content-capable device's answer (BFCP set aside from rtpengine, put back)", () => {
  it("Cisco (UDP/BFCP c-s): one m-line for each offered, audio and both videos anchored, our s-only UDP BFCP at its index", async () => {
    const { aside, final } = await answerFor(
      offer([["m=application 5904 UDP/BFCP *", "a=floorctrl:c-s", "a=confid:3", "a=floorid:2 mstrm:12", "a=userid:3", "a=bfcpver:2 1"]]),
    );
    assert.match(aside.sdp, /^m=application 0 UDP\/BFCP \*$/m, "rtpengine sees it disabled");
    const media = parseSdp(final).media;
    assert.deepEqual(
      media.map((m) => [m.media, m.port !== 0]),
      [
        ["audio", true],
        ["video", true],
        ["video", true],
        ["application", true],
      ],
    );
    assert.equal(media[3]?.protocol, "UDP/BFCP");
    assert.equal(media[3]?.port, 45000);
    const bfcp = media[3]?.lines.map((l) => l.value) ?? [];
    assert.ok(bfcp.includes("floorctrl:s-only") && bfcp.includes("floorid:2 mstrm:12") && bfcp.includes("confid:3"), bfcp.join(" "));
    assert.ok(
      media[2]?.lines.some((l) => l.value === "content:slides"),
      "the slides line keeps its content attribute",
    );
  });

  it("Poly (a disabled UDP line and a TCP line): the TCP one answered passive, the UDP one declined, in their places", async () => {
    const { final } = await answerFor(
      offer([
        ["m=application 0 UDP/BFCP *", "a=floorctrl:c-s", "a=confid:1", "a=userid:2", "a=floorid:1 mstrm:12"],
        [
          "m=application 17214 TCP/BFCP *",
          "a=floorctrl:c-s",
          "a=confid:1",
          "a=userid:2",
          "a=floorid:1 mstrm:12",
          "a=setup:actpass",
          "a=connection:new",
        ],
      ]),
    );
    const media = parseSdp(final).media;
    assert.equal(media.length, 5);
    assert.deepEqual([media[3]?.protocol, media[3]?.port], ["UDP/BFCP", 0]);
    assert.deepEqual([media[4]?.protocol, media[4]?.port], ["TCP/BFCP", 45000]);
    assert.ok(media[4]?.lines.some((l) => l.value === "setup:passive"));
  });

  it("an offer without BFCP goes to rtpengine untouched", () => {
    const plain = offer([]);
    assert.equal(setAsideBfcp(plain).sdp, plain);
    assert.deepEqual(setAsideBfcp(plain).offers, []);
  });

  it("refuses to put a BFCP answer where the answer has none", () => {
    assert.throws(() => putBackBfcp(offer([]), 1, ["m=application 1 UDP/BFCP *"]), /no BFCP m-line at index 1/);
  });
});
