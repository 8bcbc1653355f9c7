import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { describe, it } from "node:test";
import { pino } from "pino";
import { CallContent } from "../../../media-host/calls/callContent.js";
import { setAsideBfcp } from "../../../media-host/calls/contentSdp.js";
import { PortAllocator } from "../../../media-host/meeting/portAllocator.js";

// A call's BFCP line takes its port from BFCP_PORT_MIN..MAX (what the NSG opens), one window
// per call, and gives it back when the call ends.

const offer = (proto: "UDP/BFCP" | "TCP/BFCP") =>
  `${[
    "v=0",
    "o=room 1 1 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "m=audio 41000 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
    `m=application 41010 ${proto} *`,
    "a=floorctrl:c-s",
    "a=confid:7",
    "a=userid:2",
    "a=floorid:1 mstrm:12",
    ...(proto === "TCP/BFCP" ? ["a=setup:active", "a=connection:new"] : []),
  ].join("\r\n")}\r\n`;

const open = (proto: "UDP/BFCP" | "TCP/BFCP", ports: PortAllocator) =>
  CallContent.open({
    offer: setAsideBfcp(offer(proto)),
    deviceOffer: offer(proto),
    bindAddress: "127.0.0.1",
    advertisedAddress: "192.0.2.10",
    ports,
    leg: { presentContent: () => {}, contentPacketsFromDevice: 0 },
    setSharingRole: async () => {},
    log: pino({ level: "silent" }),
  });

describe("a call's BFCP port (BFCP_PORT_MIN..MAX)", () => {
  it("binds in the range, names the advertised address, and gives the port back when closed", async () => {
    const ports = new PortAllocator(47100, 47103, 2);
    const udp = await open("UDP/BFCP", ports);
    const tcp = await open("TCP/BFCP", ports);
    try {
      assert.ok(udp && tcp);
      const portOf = (c: CallContent) => Number(/^m=application (\d+) /.exec(c.answerLines[0] ?? "")?.[1]);
      assert.ok(portOf(udp) >= 47100 && portOf(udp) <= 47103, udp.answerLines[0]);
      assert.ok(portOf(tcp) >= 47100 && portOf(tcp) <= 47103 && portOf(tcp) !== portOf(udp), tcp.answerLines[0]);
      assert.equal(udp.answerLines[1], "c=IN IP4 192.0.2.10");
      assert.equal(ports.inUse, 2);
    } finally {
      await udp?.close();
      await tcp?.close();
    }
    assert.equal(ports.inUse, 0, "both windows given back");
  });

  it("a port someone else holds: the window's next one; no window left: a clear error (the call goes on without content)", async () => {
    const squatter = createSocket("udp4");
    await new Promise<void>((resolve) => squatter.bind(47110, "127.0.0.1", resolve));
    const ports = new PortAllocator(47110, 47111, 2);
    const first = await open("UDP/BFCP", ports);
    try {
      assert.match(first?.answerLines[0] ?? "", /^m=application 47111 UDP\/BFCP/);
      await assert.rejects(open("UDP/BFCP", ports), /no free BFCP port/);
    } finally {
      await first?.close();
      squatter.close();
    }
  });
});
