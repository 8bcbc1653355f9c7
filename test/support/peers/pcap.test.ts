import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { linearToAlaw, linearToUlaw, toneRatio, ulawToLinear } from "./audio.js";
import {
  decodeRtp,
  decodeTelephoneEvent,
  dtmfEventCode,
  LINKTYPE_ETHERNET,
  pcmuSilence,
  pcmuTone,
  playTimeMs,
  readPcap,
  telephoneEvents,
  writeRtpPcap,
} from "./pcap.js";

const dir = mkdtempSync(join(tmpdir(), "opencvi-pcap-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("G.711 coding", () => {
  it("encodes the reference µ-law and A-law values", () => {
    assert.equal(linearToUlaw(0), 0xff);
    assert.equal(linearToUlaw(-1), 0x7f);
    assert.equal(linearToUlaw(32767), 0x80);
    assert.equal(linearToUlaw(-32768), 0x00);
    assert.equal(linearToAlaw(0), 0xd5);
    assert.equal(linearToAlaw(32767), 0xaa);
    assert.equal(linearToAlaw(-32768), 0x2a);
  });

  it("µ-law round-trips within its quantisation step", () => {
    for (const x of [0, 100, 1000, -1000, 8000, -8000, 30000]) {
      const y = ulawToLinear(linearToUlaw(x));
      assert.ok(Math.abs(x - y) <= Math.max(8, Math.abs(x) / 16), `${x} -> ${y}`);
    }
  });
});

describe("writeRtpPcap", () => {
  it("writes a classic Ethernet/IPv4/UDP pcap of PCMU silence that reads back", () => {
    const path = join(dir, "silence.pcap");
    const packets = pcmuSilence(1000, { ssrc: 0x1234abcd, firstSequence: 65530, firstTimestamp: 0xfffffe00 });
    writeRtpPcap(path, packets, { srcIp: "127.0.0.1", dstIp: "127.0.0.2", srcPort: 6000, dstPort: 7078 });
    const file = readPcap(path);
    assert.equal(file.versionMajor, 2);
    assert.equal(file.versionMinor, 4);
    assert.equal(file.snapLength, 65535);
    assert.equal(file.linkType, LINKTYPE_ETHERNET);
    assert.equal(file.records.length, 50);
    const first = file.records[0]!;
    assert.equal(first.etherType, 0x0800);
    assert.equal(first.ip.version, 4);
    assert.equal(first.ip.protocol, 17);
    assert.equal(first.ip.src, "127.0.0.1");
    assert.equal(first.ip.dst, "127.0.0.2");
    assert.equal(first.udp.srcPort, 6000);
    assert.equal(first.udp.dstPort, 7078);
    assert.equal(first.udp.length, 8 + 12 + 160);
    assert.equal(first.ip.totalLength, 20 + first.udp.length);
    assert.equal(first.capturedLength, first.originalLength);
    assert.equal(first.capturedLength, 14 + 20 + 8 + 12 + 160);
    for (const record of file.records) {
      assert.ok(record.ip.checksumOk, "IPv4 header checksum");
      assert.ok(record.udp.checksumOk, "UDP checksum");
    }
    const rtp = file.records.map((r) => decodeRtp(r.payload));
    assert.equal(rtp[0]!.version, 2);
    assert.equal(rtp[0]!.marker, true);
    assert.ok(rtp.slice(1).every((p) => !p.marker));
    assert.ok(rtp.every((p) => p.payloadType === 0 && p.ssrc === 0x1234abcd && p.payload.every((b) => b === 0xff)));
    // Sequence numbers and time stamps wrap.
    assert.deepEqual(
      rtp.slice(0, 8).map((p) => p.sequence),
      [65530, 65531, 65532, 65533, 65534, 65535, 0, 1],
    );
    assert.equal(rtp[1]!.timestamp, 0xfffffe00 + 160);
    assert.equal(rtp[4]!.timestamp, (0xfffffe00 + 640) >>> 0);
    // 20 ms apart in the capture's time stamps.
    const t = file.records.map((r) => r.timeSec * 1e6 + r.timeUsec);
    assert.equal(t[1]! - t[0]!, 20_000);
    assert.equal(t[49]! - t[0]!, 980_000);
  });

  it("carries a recognisable PCMU sine tone", () => {
    const path = join(dir, "tone.pcap");
    writeRtpPcap(path, pcmuTone(500, { frequencyHz: 1000 }));
    const payload = Buffer.concat(readPcap(path).records.map((r) => decodeRtp(r.payload).payload));
    const linear = Array.from(payload, (b) => ulawToLinear(b));
    assert.ok(toneRatio(linear, 1000) > 0.9, "1 kHz dominates");
    assert.ok(toneRatio(linear, 1600) < 0.01, "not 1.6 kHz");
  });
});

describe("telephoneEvents (RFC 4733)", () => {
  it("maps digits to event codes", () => {
    assert.deepEqual([..."0123456789*#ABCD"].map(dtmfEventCode), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    assert.throws(() => dtmfEventCode("x"));
  });

  it("writes start, continuation and three end packets per digit", () => {
    const path = join(dir, "dtmf.pcap");
    const packets = telephoneEvents("15#", {
      payloadType: 101,
      eventMs: 160,
      gapMs: 80,
      volume: 10,
      ssrc: 42,
      firstSequence: 100,
      firstTimestamp: 8000,
    });
    writeRtpPcap(path, packets);
    const file = readPcap(path);
    assert.equal(file.records.length, 3 * (8 + 3));
    const rtp = file.records.map((r) => decodeRtp(r.payload));
    assert.deepEqual(
      rtp.map((p) => p.sequence),
      Array.from({ length: 33 }, (_, i) => 100 + i),
    );
    assert.ok(rtp.every((p) => p.payloadType === 101 && p.ssrc === 42 && p.payload.length === 4));
    const digits = [1, 5, 11];
    let previousTimestamp = -1;
    digits.forEach((code, d) => {
      const group = rtp.slice(d * 11, d * 11 + 11);
      const events = group.map((p) => decodeTelephoneEvent(p.payload));
      assert.ok(
        events.every((e) => e.event === code && e.volume === 10),
        `digit ${d}`,
      );
      assert.equal(group[0]!.marker, true, "marker on the first packet of the event");
      assert.ok(group.slice(1).every((p) => !p.marker));
      const ts = group[0]!.timestamp;
      assert.ok(
        group.every((p) => p.timestamp === ts),
        "one time stamp per event",
      );
      assert.ok(ts > previousTimestamp);
      previousTimestamp = ts;
      assert.deepEqual(
        events.slice(0, 8).map((e) => [e.end, e.duration]),
        [1, 2, 3, 4, 5, 6, 7, 8].map((k) => [false, k * 160]),
      );
      assert.deepEqual(
        events.slice(8).map((e) => [e.end, e.duration]),
        [
          [true, 1280],
          [true, 1280],
          [true, 1280],
        ],
      );
    });
    // Digits start eventMs + 2 end-packet intervals + gap apart (160 + 40 + 80 = 280 ms);
    // the last end packet of the last digit goes out at 2 × 280 + 200 ms.
    assert.equal(rtp[11]!.timestamp - rtp[0]!.timestamp, 280 * 8);
    assert.equal(playTimeMs(packets), 2 * 280 + 200 + 20);
    const t = file.records.map((r) => r.timeSec * 1e6 + r.timeUsec);
    assert.equal(t[11]! - t[0]!, 280_000);
    assert.equal(t[10]! - t[8]!, 40_000, "end packets 20 ms apart");
  });
});
