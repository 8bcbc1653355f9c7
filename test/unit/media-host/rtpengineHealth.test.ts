import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DeafStreamJudge, type StreamReading } from "../../../media-host/domain/deafStreams.js";
import { ProbeStalls } from "../../../media-host/domain/probeStalls.js";
import { parseProcNetUdp, UdpSocketTable } from "../../../media-host/rtpengine/udpSocketTable.js";
import { parseRtpengineComplaint } from "../../../media-host/rtpengine/rtpengineComplaints.js";

// What tells rtpengine's stalls and deaf ports apart from quiet senders: the kernel's socket
// table, the judge of a call's ports, the probe's stall episodes, rtpengine's own complaints.

const PROC_NET_UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  210: 0100007F:7530 00000000:0000 07 00000000:00029D80 00:00000000 00000000     0        0 645410 2 000000002850fccc 8820
  211: 0400000A:7532 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 645411 2 000000002850fccd 0
  212: 00000000:1F90 00000000:0000 07 00000000:00000100 00:00000000 00000000     0        0 645412 2 000000002850fcce 3
  not a socket line
`;
const PROC_NET_UDP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
   40: 00000000000000000000000001000000:7534 00000000000000000000000000000000:0000 07 00000000:00000200 00:00000000 00000000     0        0 700 2 0000000000000000 7
   41: 0000000000000000FFFF00000100007F:7536 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 701 2 0000000000000000 0
   42: B80D0120000000000000000001000000:7538 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 702 2 0000000000000000 0
`;

describe("the kernel's UDP socket table (/proc/net/udp, udp6)", () => {
  it("reads address, port, receive queue and drops; IPv6 and IPv4-mapped addresses too; skips what is not a socket", () => {
    assert.deepEqual(parseProcNetUdp(PROC_NET_UDP), [
      { address: "127.0.0.1", port: 30000, receiveQueueBytes: 0x29d80, drops: 8820 },
      { address: "10.0.0.4", port: 30002, receiveQueueBytes: 0, drops: 0 },
      { address: "0.0.0.0", port: 8080, receiveQueueBytes: 256, drops: 3 },
    ]);
    assert.deepEqual(
      parseProcNetUdp(PROC_NET_UDP6).map((s) => `${s.address} ${s.port} ${s.receiveQueueBytes} ${s.drops}`),
      ["::1 30004 512 7", "127.0.0.1 30006 0 0", "2001:db8::1 30008 0 0"],
    );
  });

  it("finds a port's socket by its address, else the wildcard one, else the only one on the port", () => {
    const table = new UdpSocketTable([...parseProcNetUdp(PROC_NET_UDP), ...parseProcNetUdp(PROC_NET_UDP6)]);
    assert.equal(table.find("127.0.0.1", 30000)?.drops, 8820);
    assert.equal(table.find("203.0.113.9", 30002)?.address, "10.0.0.4", "rtpengine may name its advertised address");
    assert.equal(table.find("127.0.0.1", 8080)?.address, "0.0.0.0");
    assert.equal(table.find("127.0.0.1", 40000), undefined);
  });
});

const reading = (over: Partial<StreamReading>): StreamReading => ({
  party: "device",
  kind: "audio",
  mediaIndex: 0,
  component: "rtp",
  address: "127.0.0.1",
  port: 30000,
  packets: 0,
  queuedBytes: 0,
  drops: 0,
  ...over,
});

describe("deaf streams: rtpengine reads nothing from a port the kernel holds datagrams for", () => {
  it("a port whose count stands still while the kernel drops for it is deaf, said once; reading again is a recovery", () => {
    const judge = new DeafStreamJudge();
    const meeting = (packets: number) => reading({ party: "meeting", port: 30010, packets });
    assert.deepEqual(judge.judge([reading({ packets: 100 }), meeting(100)]), [], "the first readings are a baseline");
    const deaf = judge.judge([reading({ packets: 150, queuedBytes: 171392, drops: 0 }), meeting(150)]);
    assert.deepEqual(deaf, [], "it read meanwhile: a full queue for a moment is a burst, not deafness");
    const verdicts = judge.judge([reading({ packets: 150, queuedBytes: 171392, drops: 2880 }), meeting(200)]);
    assert.deepEqual(verdicts, [
      {
        verdict: "deaf",
        stream: {
          party: "device",
          kind: "audio",
          mediaIndex: 0,
          component: "rtp",
          address: "127.0.0.1",
          port: 30000,
          queuedBytes: 171392,
          dropped: 2880,
          peerFlowing: true,
        },
      },
    ]);
    assert.deepEqual(judge.judge([reading({ packets: 150, queuedBytes: 171392, drops: 5000 }), meeting(250)]), [], "said once");
    assert.equal(judge.deafStreams.length, 1);
    const recovered = judge.judge([reading({ packets: 160, queuedBytes: 0, drops: 5000 }), meeting(300)]);
    assert.equal(recovered[0]?.verdict, "recovered");
    assert.equal(judge.deafStreams.length, 0);
  });

  it("datagrams held at two readings in a row without a read make a port deaf even before the kernel drops any", () => {
    const judge = new DeafStreamJudge();
    judge.judge([reading({ packets: 10, queuedBytes: 4096 })]);
    const [verdict] = judge.judge([reading({ packets: 10, queuedBytes: 8192 })]);
    assert.equal(verdict?.verdict, "deaf");
    assert.equal(verdict?.stream.peerFlowing, false, "no other party's stream flowed");
  });

  it("a sender that went quiet (no count, nothing queued, nothing dropped) is not deaf: silence is normal", () => {
    const judge = new DeafStreamJudge();
    for (let i = 0; i < 5; i++)
      assert.deepEqual(judge.judge([reading({ packets: 500 }), reading({ party: "meeting", port: 30010, packets: 500 + i * 50 })]), []);
  });

  it("a port the kernel does not know (another namespace) is never judged deaf; a port that went away is forgotten", () => {
    const judge = new DeafStreamJudge();
    judge.judge([reading({ packets: 1, queuedBytes: undefined, drops: undefined })]);
    assert.deepEqual(judge.judge([reading({ packets: 1, queuedBytes: undefined, drops: undefined })]), []);
    judge.judge([reading({ packets: 1, queuedBytes: 100, drops: 0 })]);
    judge.judge([reading({ port: 30002, packets: 1, queuedBytes: 100, drops: 0 })]);
    assert.deepEqual(judge.judge([reading({ port: 30002, packets: 1, queuedBytes: 100, drops: 0 })]).length, 1, "judged from its own baseline");
  });
});

describe("the probe's stalls", () => {
  it("probes on time are no stall; late ones start one, the next on time ends it with the longest delay and the counts", () => {
    const stalls = new ProbeStalls({ thresholdInMs: 50, lostAfterInMs: 1000 });
    stalls.sent(1, 0);
    assert.deepEqual(stalls.received(1, 0.4), { delayInMs: 0.4, ended: undefined });
    for (let s = 2; s <= 10; s++) stalls.sent(s, s * 20);
    // rtpengine stopped for 200 ms: the probes sent meanwhile all come out at 240 (the last one only 40 ms late).
    for (let s = 2; s <= 9; s++) assert.equal(stalls.received(s, 240)?.ended, undefined);
    assert.equal(stalls.stalled, true);
    const last = stalls.received(10, 240);
    assert.deepEqual(last?.ended, { startedAt: 40, endedAt: 240, longestDelayInMs: 200, lateProbes: 8, lostProbes: 0 });
    assert.equal(stalls.stalled, false);
  });

  it("this process's own block is taken off (it delays the receiving, not rtpengine)", () => {
    const stalls = new ProbeStalls();
    stalls.sent(1, 0);
    assert.deepEqual(stalls.received(1, 300, 299), { delayInMs: 1, ended: undefined });
  });

  it("a probe not back in time is lost and counts in the stall; a duplicate or a late echo of a lost one is ignored", () => {
    const stalls = new ProbeStalls({ thresholdInMs: 50, lostAfterInMs: 1000 });
    stalls.sent(1, 0);
    stalls.sent(2, 20);
    stalls.tick(1010);
    assert.equal(stalls.stalled, true);
    assert.equal(stalls.received(1, 1100), undefined, "counted lost already");
    const back = stalls.received(2, 1030);
    assert.deepEqual(back?.ended, undefined, "late too");
    stalls.sent(3, 1040);
    const ended = stalls.received(3, 1041)?.ended;
    assert.deepEqual(ended, { startedAt: 0, endedAt: 1041, longestDelayInMs: 1010, lateProbes: 1, lostProbes: 1 });
    assert.equal(stalls.received(3, 1042), undefined, "a duplicate");
    assert.equal(stalls.silentForInMs(1100), 59);
  });
});

describe("rtpengine's complaints about its receive queues (its log lines)", () => {
  it("a full queue and a port given up on, each with the call and the port", () => {
    assert.deepEqual(
      parseRtpengineComplaint(
        "[1796661231.304358] ERR: [deaf1 port 30050]: [core] Too many packets in UDP receive queue (more than 50), aborting loop. Dropped packets possible",
      ),
      { kind: "queue-full", callId: "deaf1", port: 30050 },
    );
    assert.deepEqual(parseRtpengineComplaint("[1796661231.4] ERR: [c@h port 30052]: [core] UDP receive queue exceeded 5 times: discarding packet"), {
      kind: "port-given-up",
      callId: "c@h",
      port: 30052,
    });
    assert.equal(parseRtpengineComplaint("[1796661231.4] WARNING: [core] Unknown flag encountered: 'x'"), undefined);
  });
});
