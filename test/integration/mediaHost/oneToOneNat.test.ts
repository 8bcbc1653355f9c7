import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { anchorMedia } from "../../../media-host/calls/anchorMedia.js";
import { MeetingLegServer } from "../../../media-host/meeting/meetingLegServer.js";
import type { WebRtcMeetingLeg } from "../../../media-host/meeting/webRtcMeetingLeg.js";
import { mediaHostInterfaces } from "../../../media-host/rtpengine/interfaces.js";
import { mediaEndpoint, parseSdp } from "../../../media-host/rtpengine/sdp.js";
import { MeetingPeer } from "../../support/media/meetingPeer.js";
import { DEVICE_VIDEO_PT, PlainRtpDevice, rtpPacket } from "../../support/media/plainRtpDevice.js";
import { createTestHost, type TestHost } from "../../support/netns.js";
import { oneToOneNat } from "../../support/netfilter.js";
import { waitFor } from "../../support/waiting.js";
import { type RtpengineHarness, startRtpengine } from "../rtpengine/support/harness.js";

// A media host on a VM behind Azure's 1:1 NAT: its NIC has a private address, devices and the
// meeting's media server reach its public one. rtpengine binds the private address and writes
// the public one into the device's SDP; the meeting leg's ICE binds the private address and
// offers only the public one; between them the bridge stays on loopback. Both addresses are
// this machine's (the ends of two test hosts' links), the NAT an nftables table of the test's own.

let privateSide: TestHost;
let publicSide: TestHost;
let nat: { remove(): void };
let rtpengine: RtpengineHarness;
let legs: MeetingLegServer;
let privateAddress: string;
let publicAddress: string;

/** Every UDP socket listening on this machine, as "address:port". */
function udpListeners(): Set<string> {
  const out = execFileSync("ss", ["-Hnuln"], { encoding: "utf8" });
  return new Set(out.split("\n").flatMap((line) => line.trim().split(/\s+/)[3] ?? []));
}

before(async () => {
  privateSide = createTestHost();
  publicSide = createTestHost();
  privateAddress = privateSide.localAddress;
  publicAddress = publicSide.localAddress;
  nat = oneToOneNat(publicAddress, privateAddress);
  rtpengine = await startRtpengine({ interfaces: mediaHostInterfaces(privateAddress, publicAddress) });
  legs = new MeetingLegServer({
    mediaHostId: "mh-nat",
    host: privateAddress,
    advertisedHost: publicAddress,
    port: 0,
    ice: { bindAddress: privateAddress, advertisedAddress: publicAddress, portRange: [29400, 29599] },
    logger: pino({ level: "silent" }),
  });
  await legs.listen();
});
after(async () => {
  await legs?.close();
  await rtpengine?.stop();
  nat?.remove();
  privateSide?.remove();
  publicSide?.remove();
});

let calls = 0;
async function connectCall() {
  const callId = `nat-test-${++calls}`;
  const device = await PlainRtpDevice.open();
  const leg = (await legs.create(callId)) as WebRtcMeetingLeg;
  const answer = await anchorMedia(rtpengine.client, leg, device.offer(), { callId, deviceTag: "device-tag", gatewayTag: "gateway-tag" });
  device.answered(answer);
  return { callId, device, leg, answer };
}

describe("a media host behind 1:1 NAT (bound to its private address, advertising its public one)", () => {
  it("rtpengine writes the public address into the device's SDP and binds the private one; the bridge's side stays on loopback", async () => {
    const { callId, device, leg, answer } = await connectCall();
    try {
      const sdp = parseSdp(answer);
      const listening = udpListeners();
      for (const index of [0, 1]) {
        const { address, port } = mediaEndpoint(sdp, index);
        assert.equal(address, publicAddress, `m-line ${index} names the public address`);
        assert.ok(listening.has(`${privateAddress}:${port}`), `rtpengine listens on ${privateAddress}:${port}`);
        assert.ok(!listening.has(`${publicAddress}:${port}`), `and not on the public address`);
      }
      assert.doesNotMatch(answer, new RegExp(privateAddress.replaceAll(".", "\\."), "g"), "the private address is nowhere in the SDP");
      // The other side of the call (towards the meeting leg's bridge): rtpengine's bridge interface, on loopback.
      const query = await rtpengine.client.query({ "call-id": callId });
      const bridgeSide = query.tags["gateway-tag"]?.medias.flatMap((m) => m.streams) ?? [];
      assert.ok(bridgeSide.length > 0);
      for (const stream of bridgeSide) assert.equal(stream["local address"], "127.0.0.1");
      // The meeting leg: its ICE offers only the public address, on a port bound on the private one.
      const blob = JSON.parse(await leg.mediaBlob()) as { session: string; offer: string };
      assert.equal(new URL(blob.session).hostname, publicAddress, "the media server is told the public address of the session endpoint");
      const candidates = blob.offer.match(/^a=candidate:.*$/gm) ?? [];
      assert.ok(candidates.length > 0);
      for (const candidate of candidates) {
        const [, , , , address, port] = candidate.split(" ");
        assert.equal(address, publicAddress, candidate);
        assert.ok(udpListeners().has(`${privateAddress}:${port}`), `the meeting leg's ICE listens on ${privateAddress}:${port}`);
      }
    } finally {
      await leg.close();
      await device.close();
    }
  });

  it("media crosses the NAT both ways: the device and the meeting's media server reach the public address and hear back from it", async () => {
    const { device, leg } = await connectCall();
    // The media server POSTs its answer to the public address and connects ICE to it: the NAT takes both to the private one.
    const peer = await MeetingPeer.answer(await leg.mediaBlob());
    try {
      await peer.connected();
      for (let i = 0; i < 25; i++) {
        device.sendAudio(rtpPacket(0, i, i * 160, 0x1111, Buffer.alloc(160, 0x7f)));
        device.sendVideo(rtpPacket(DEVICE_VIDEO_PT, i, i * 3000, 0x2222, Buffer.from([0x41, 0x9a, i & 0xff, 1, 2, 3]), true));
        await new Promise((r) => setTimeout(r, 20));
      }
      await waitFor(() => peer.received.audio > 5 && peer.received.video > 5, "the device's media in the meeting", 5000);
      for (let i = 0; i < 25; i++) {
        peer.audioOut.writeRtp(rtpPacket(111, i, i * 960, 0x3333, Buffer.from([0xf8, 0xff, 0xfe])));
        peer.videoOut.writeRtp(rtpPacket(102, i, i * 3000, 0x4444, Buffer.from([0x41, 0x9a, 9, 9]), true));
        await new Promise((r) => setTimeout(r, 20));
      }
      await waitFor(() => device.received.audio > 5 && device.received.video > 5, "the meeting's media at the device", 5000);
      const sources = [...device.receivedFrom].map((from) => from.split(":")[0]);
      assert.deepEqual([...new Set(sources)], [publicAddress], "the device hears from the public address it sent to (symmetric through the NAT)");
    } finally {
      await peer.close();
      await leg.close();
      await device.close();
    }
  });
});
