import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  answerBfcpOffer,
  type BfcpOffer,
  chooseBfcpOffer,
  declineBfcpSection,
  isBfcpSection,
  readBfcpOffer,
} from "../../../media-host/bfcp/sdpAnswer.js";

// The shapes real room systems send (../shared/reference/research/content-bfcp.md §1.5), as
// m-sections: what the call cuts out of the offer before rtpengine sees it.
const cisco = [
  "m=application 5904 UDP/BFCP *",
  "a=floorctrl:c-s",
  "a=confid:3",
  "a=floorid:2 mstrm:12",
  "a=userid:3",
  "a=setup:actpass",
  "a=connection:new",
  "a=bfcpver:2 1",
];
const polyDisabledUdp = ["m=application 0 UDP/BFCP *", "a=floorctrl:c-s", "a=confid:1", "a=userid:2", "a=floorid:1 mstrm:3"];
const polyTcp = [
  "m=application 17214 TCP/BFCP *",
  "a=floorctrl:c-s",
  "a=confid:1",
  "a=userid:2",
  "a=floorid:1 mstrm:3",
  "a=setup:actpass",
  "a=connection:new",
];
const lifesize = ["m=application 60032 TCP/BFCP *", "a=floorctrl:c-only", "a=setup:active", "a=connection:new"];

const ids = { fallbackConfId: 4242, fallbackUserId: 17 };

function choose(...sections: string[][]): BfcpOffer | undefined {
  return chooseBfcpOffer(sections.map((s, i) => readBfcpOffer(s, i)).filter((o): o is BfcpOffer => o !== undefined));
}

describe("BFCP in SDP: the gateway answers as floor control server", () => {
  it("Cisco (UDP/BFCP, c-s, ids, floor 2 for label 12, versions 2 and 1): s-only with the device's ids, version 2 over UDP", () => {
    const offer = choose(cisco);
    assert.ok(offer);
    const answer = answerBfcpOffer(offer, { port: 31000, contentLabel: "12", ...ids });
    assert.deepEqual(answer.lines, [
      "m=application 31000 UDP/BFCP *",
      "a=floorctrl:s-only",
      "a=confid:3",
      "a=userid:3",
      "a=floorid:2 mstrm:12",
      "a=bfcpver:2 1",
    ]);
    assert.deepEqual([answer.transport, answer.version, answer.confId, answer.userId, answer.floorId], ["udp", 2, 3, 3, 2]);
  });

  it("Poly (a disabled UDP line and a TCP line, floor 1 for a label with no m-line yet): the TCP one, passive, version 1", () => {
    const offer = choose(polyDisabledUdp, polyTcp);
    assert.ok(offer);
    assert.equal(offer.index, 1);
    const answer = answerBfcpOffer(offer, { port: 31002, contentLabel: "3", ...ids });
    assert.deepEqual(answer.lines, [
      "m=application 31002 TCP/BFCP *",
      "a=floorctrl:s-only",
      "a=confid:1",
      "a=userid:2",
      "a=floorid:1 mstrm:3",
      "a=setup:passive",
      "a=connection:new",
      "a=bfcpver:1",
    ]);
    assert.equal(answer.version, 1);
    assert.deepEqual(declineBfcpSection(polyDisabledUdp), ["m=application 0 UDP/BFCP *"]);
  });

  it("Lifesize (TCP c-only, no ids, no floor id): our ids, floor 1, passive", () => {
    const offer = choose(lifesize);
    assert.ok(offer);
    const answer = answerBfcpOffer(offer, { port: 31004, contentLabel: "3", ...ids });
    assert.deepEqual(answer.lines, [
      "m=application 31004 TCP/BFCP *",
      "a=floorctrl:s-only",
      "a=confid:4242",
      "a=userid:17",
      "a=floorid:1 mstrm:3",
      "a=setup:passive",
      "a=connection:new",
      "a=bfcpver:1",
    ]);
  });

  it("prefers UDP when both are offered and live", () => {
    const udp = ["m=application 5000 UDP/BFCP *", "a=floorctrl:c-s"];
    assert.equal(choose(polyTcp, udp)?.transport, "udp");
  });

  it("takes none of TLS, DTLS, a disabled line or a device that will only be the server; declines them with port 0", () => {
    const tls = ["m=application 5061 TCP/TLS/BFCP *", "a=floorctrl:c-s"];
    const dtls = ["m=application 5062 UDP/TLS/BFCP *", "a=floorctrl:c-only"];
    const serverOnly = ["m=application 5063 TCP/BFCP *", "a=floorctrl:s-only"];
    assert.equal(choose(tls, dtls, serverOnly, polyDisabledUdp), undefined);
    assert.deepEqual(declineBfcpSection(tls), ["m=application 0 TCP/TLS/BFCP *"]);
    assert.throws(() => answerBfcpOffer(readBfcpOffer(tls, 0) as BfcpOffer, { port: 1, ...ids }), /only UDP\/BFCP and TCP\/BFCP/);
  });

  it("reads RFC 4583's m-stream spelling, Renater's colon-less mstrm, several labels, and skips what it cannot read", () => {
    const offer = readBfcpOffer(
      [
        "m=application 9 TCP/BFCP *",
        "a=floorid:2 m-stream:12 13",
        "a=floorid:3 mstrm 14",
        "a=floorid:x mstrm:1",
        "a=confid:99999999999",
        "a=userid:70000",
        "a=bfcpver:7",
        "garbage",
      ],
      0,
    );
    assert.deepEqual(offer?.floors, [
      { floorId: 2, labels: ["12", "13"] },
      { floorId: 3, labels: ["14"] },
    ]);
    assert.equal(offer?.confId, undefined);
    assert.equal(offer?.userId, undefined);
    assert.deepEqual(offer?.versions, [1], "no version it could read: the transport's default");
  });

  it("an absent floorctrl makes the offerer the client (RFC 8856): answered", () => {
    assert.equal(choose(["m=application 5000 UDP/BFCP *"])?.versions[0], 2);
  });

  it("tells BFCP m-lines from others", () => {
    assert.equal(isBfcpSection(["m=application 5000 UDP/BFCP *"]), true);
    assert.equal(isBfcpSection(["m=application 5000 TCP/WSS/BFCP *"]), true);
    assert.equal(isBfcpSection(["m=application 5000 RTP/AVP 100"]), false, "H.224 far-end camera control");
    assert.equal(isBfcpSection(["m=video 5000 UDP/BFCP *"]), false);
    assert.equal(readBfcpOffer(["m=audio 5000 RTP/AVP 0"], 0), undefined);
  });
});
