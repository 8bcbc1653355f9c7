import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as werift from "werift";
import { AES_CM_128_HMAC_SHA1_80, deriveSessionKeys, protectRtp, unprotectRtp } from "./srtpReference.js";
import { type Werift, type WeriftCopies, weriftCopies } from "./weriftHarness.js";

/*
 * What hours-long calls do to werift 0.25.2 (patches/werift+0.25.2.patch, "long-calls"): SRTP's rollover
 * counter across sequence wraps with gaps and reordering, the RTCP report fields that wrap (extended highest
 * sequence number, octet count, timestamps in the jitter), and NACK's loss detection across the wrap. Each is
 * checked against werift as installed (patched) and, where the published build fails, that failure is shown
 * on a copy of it, so the test proves the fix and not only the code.
 */

const profile = AES_CM_128_HMAC_SHA1_80;
const master = { key: Buffer.alloc(16, 0x2b), salt: Buffer.alloc(14, 0x5c) };
const keys = deriveSessionKeys(master.key, master.salt).rtp;
const SSRC = 0x5eed1234;

function plainRtp(seq: number, timestamp = 0): Buffer {
  const packet = Buffer.alloc(12 + 40, 0x33);
  packet[0] = 0x80;
  packet[1] = 96;
  packet.writeUInt16BE(seq & 0xffff, 2);
  packet.writeUInt32BE(timestamp >>> 0, 4);
  packet.writeUInt32BE(SSRC, 8);
  packet.writeUInt32BE(seq, 12); // the packet's own index, to tell them apart
  return packet;
}

/**
 * Packet indexes (ROC × 2^16 + SEQ) in the order they arrive: from 64,000 on, across three wraps, with a burst
 * of `gap` packets lost straddling each wrap and, after it, one packet from before the burst arriving late. Away
 * from the wraps only every 1,000th packet is simulated (only the wraps matter; the gaps stay far below 2^15).
 */
function indexesWithLoss(gap: number): number[] {
  const out: number[] = [];
  let index = 64_000;
  for (let wrap = 1; wrap <= 3; wrap++) {
    const at = wrap * 65_536;
    const late = at - gap / 2 - 2;
    while (index < at - gap / 2) {
      if (index !== late) out.push(index);
      index++;
    }
    index += gap; // lost
    out.push(index++, index++, index++, late);
    while (index < at + 200) out.push(index++);
    for (; index < at + 65_536 - 1000; index += 1000) out.push(index);
    index = at + 65_536 - 300;
  }
  return out;
}

/** werift's receive statistics (exported by the bundle, not by its type declarations). */
interface StreamStatistics {
  add(packet: werift.RtpPacket, now?: number): void;
  readonly jitter: number;
}
/** The receiver's private parts these tests reach. */
type ReceiverInternals = {
  nack: { addPacket(packet: werift.RtpPacket): void; readonly lostSeqNumbers: number[]; close(): void };
  remoteStreams: Record<number, StreamStatistics>;
  codecs: Record<number, werift.RTCRtpCodecParameters>;
  handleRTP(packet: werift.RtpPacket, extensions: object, track: undefined): void;
};

/** A fresh StreamStatistics of the ESM bundle (the class is not exported: one comes from a receiver's first packet). */
function streamStatistics(w: Werift): StreamStatistics {
  const receiver = new w.RTCRtpReceiver({ debug: {} } as never, "video", 1) as unknown as ReceiverInternals & { stop(): void };
  receiver.codecs[96] = new w.RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90_000, payloadType: 96 });
  try {
    receiver.handleRTP(w.RtpPacket.deSerialize(plainRtp(1)), {}, undefined);
  } catch {
    // Past the statistics it wants a track: only the statistics matter here.
  }
  receiver.stop();
  const Statistics = receiver.remoteStreams[SSRC]!.constructor as new (clockRate: number) => StreamStatistics;
  return new Statistics(90_000);
}

function sessions(w: Werift) {
  const k = { localMasterKey: master.key, localMasterSalt: master.salt, remoteMasterKey: master.key, remoteMasterSalt: master.salt };
  return { srtp: new w.SrtpSession({ keys: k, profile }), receiver: new w.SrtpSession({ keys: k, profile }) };
}

/** Protects every index with werift and unprotects the reference's packets with werift: how many fail each way. */
function run(w: Werift, indexes: readonly number[]) {
  const { srtp, receiver } = sessions(w);
  let protectMismatches = 0;
  let unprotectFailures = 0;
  for (const index of indexes) {
    const roc = Math.floor(index / 65_536);
    const plain = plainRtp(index);
    const packet = w.RtpPacket.deSerialize(plain);
    const reference = protectRtp(profile, keys, plain, roc);
    if (!srtp.encrypt(packet.payload, packet.header).equals(reference)) protectMismatches++;
    try {
      assert.deepEqual(receiver.decrypt(reference), plain);
    } catch {
      unprotectFailures++;
    }
  }
  return { protectMismatches, unprotectFailures };
}

describe("werift over long calls (patches/werift+0.25.2.patch, long-calls)", () => {
  let copies: WeriftCopies;
  let published: Werift;
  before(async () => {
    copies = await weriftCopies();
    published = await copies.load(copies.pristine);
  });
  after(() => copies?.cleanup());

  it("SRTP: across three wraps with a burst of 300 lost packets at each and a late packet from before it, protect equals RFC 3711 and unprotect takes every packet", () => {
    const indexes = indexesWithLoss(300);
    assert.deepEqual(run(werift, indexes), { protectMismatches: 0, unprotectFailures: 0 });
    // A burst of 60 across the wrap the published build still followed; one of 300 put its ROC one behind for good.
    assert.deepEqual(run(published, indexesWithLoss(60)), { protectMismatches: 0, unprotectFailures: 0 });
    const before = run(published, indexes);
    // From the first burst on, both ways (every later packet, until the run ends).
    const afterFirstBurst = indexes.filter((i) => i >= 65_536 + 150).length;
    assert.ok(
      before.protectMismatches >= afterFirstBurst - 3 && before.unprotectFailures >= afterFirstBurst - 3,
      JSON.stringify({ ...before, afterFirstBurst }),
    );
  });

  it("SRTP: a late packet from before the wrap is decrypted with the ROC it was sent with and moves nothing", () => {
    const { receiver } = sessions(werift);
    const send = (index: number) => receiver.decrypt(protectRtp(profile, keys, plainRtp(index), Math.floor(index / 65_536)));
    for (const index of [65_530, 65_535, 65_536, 65_537, 65_534, 65_538, 65_533, 65_539])
      assert.deepEqual(send(index), plainRtp(index), `index ${index}`);
    // The reference agrees that the unprotected bytes authenticate with that ROC.
    assert.ok(unprotectRtp(profile, keys, protectRtp(profile, keys, plainRtp(65_534), 0), 0));
  });

  it("RTCP RR: the extended highest sequence number counts the wraps (RFC 3550 6.4.1)", async () => {
    const rr = await receiverReport(werift, [65_530, 65_533, 65_535, 0, 3, 65_534, 7]);
    assert.equal(rr.highestSequence, 65_536 + 7);
    assert.equal(rr.packetsLost, 65_536 + 7 - 65_530 + 1 - 7);
    const publishedRr = await receiverReport(published, [65_530, 65_533, 65_535, 0, 3, 65_534, 7]);
    assert.equal(publishedRr.highestSequence, 7, "the published build sent the 16-bit number: it fell back at the wrap");
  });

  it("RTCP RR: the interarrival jitter stays right across an RTP timestamp wrap", () => {
    // 30 frames/s, on time but for the first frame after the wrap, 2 ms (180 ticks) early: two transit differences of 180, each weighing 1/16.
    /** The jitter after each packet. */
    const jitterAcrossTheWrap = (w: Werift) => {
      const stats = streamStatistics(w);
      let timestamp = 0xffffffff - 4 * 3000;
      const seen: number[] = [];
      for (let i = 0; i < 10; i++) {
        stats.add(w.RtpPacket.deSerialize(plainRtp(100 + i, timestamp)), 1000 + i / 30 - (i === 5 ? 0.002 : 0));
        seen.push(stats.jitter);
        timestamp = (timestamp + 3000) >>> 0;
      }
      return seen;
    };
    const jitter = jitterAcrossTheWrap(werift);
    assert.ok(
      jitter.every((j) => j >= 0 && j <= (2 * 180) / 16 + 1),
      `jitter ${jitter}`,
    );
    // The published build took the timestamp step as -2^32: int32 truncation hid most of it, but the early packet
    // made the jitter negative, which an RR cannot even carry (writing it throws).
    assert.ok(Math.min(...jitterAcrossTheWrap(published)) < 0);
  });

  it("RTCP SR: the octet count wraps at 2^32 instead of stopping the sender reports", async () => {
    const sr = await senderReport(werift, 2 ** 32 + 1234);
    assert.equal(sr.octetCount, 1234);
    await assert.rejects(senderReport(published, 2 ** 32 + 1234), RangeError, "the published build cannot write one past 4 GiB");
  });

  it("NACK: packets lost across the sequence wrap are requested, and a late packet from before the wrap marks nothing", () => {
    const receiver = new werift.RTCRtpReceiver({ debug: {} } as never, "video", 1);
    const { nack } = receiver as unknown as ReceiverInternals;
    try {
      const add = (seq: number) => nack.addPacket(werift.RtpPacket.deSerialize(plainRtp(seq)));
      for (const seq of [65_530, 65_531, 65_532, 2, 3]) add(seq); // 65,533 to 1 lost
      assert.deepEqual(
        [...nack.lostSeqNumbers].sort((a, b) => a - b),
        [0, 1, 65_533, 65_534, 65_535],
      );
      add(65_534); // a retransmission arrives
      add(65_500); // late, from long before: nothing more is lost
      add(4);
      assert.deepEqual(
        [...nack.lostSeqNumbers].sort((a, b) => a - b),
        [0, 1, 65_533, 65_535],
      );
    } finally {
      nack.close();
      receiver.stop();
    }
  });
});

/** One RR from an RTCRtpReceiver whose stream saw `sequences` (on a transport that only records). */
async function receiverReport(w: Werift, sequences: readonly number[]) {
  const receiver = new w.RTCRtpReceiver({ debug: {} } as never, "video", 1);
  const stats = streamStatistics(w);
  for (const seq of sequences) stats.add(w.RtpPacket.deSerialize(plainRtp(seq)));
  (receiver as unknown as ReceiverInternals).remoteStreams[SSRC] = stats;
  try {
    const packets = await new Promise<werift.RtcpPacket[]>((resolve) => {
      receiver.setDtlsTransport({ sendRtcp: async (p: werift.RtcpPacket[]) => resolve(p) } as never);
      void receiver.runRtcp();
    });
    // Serialized and read back, as it goes on the wire (a field out of range throws there).
    const [rr] = w.RtcpPacketConverter.deSerialize(Buffer.concat(packets.map((p) => p.serialize()))) as werift.RtcpRrPacket[];
    return rr!.reports[0]!;
  } finally {
    receiver.stop();
  }
}

/** The first SR an RTCRtpSender that has sent `octets` sends, serialized and read back; rejects with the error serializing it threw. */
async function senderReport(w: Werift, octets: number) {
  const sender = new w.RTCRtpSender("video");
  Object.assign(sender, { octetCount: octets, packetCount: 5, ntpTimestamp: 1n << 32n, rtpTimestamp: 90_000 });
  try {
    const wire = await new Promise<Buffer>((resolve, reject) => {
      sender.setDtlsTransport({
        onStateChange: { subscribe: () => ({ unSubscribe: () => {} }) },
        // What RTCDtlsTransport.sendRtcp does first: serialize (it throws for a field out of range; the sender
        // only logs that and tries again next time, with the same count).
        sendRtcp: async (packets: werift.RtcpPacket[]) => {
          try {
            resolve(Buffer.concat(packets.map((p) => p.serialize())));
          } catch (error) {
            reject(error);
          }
        },
      } as never);
      void sender.runRtcp();
    });
    const [sr] = w.RtcpPacketConverter.deSerialize(wire) as werift.RtcpSrPacket[];
    return sr!.senderInfo;
  } finally {
    sender.stop();
  }
}
