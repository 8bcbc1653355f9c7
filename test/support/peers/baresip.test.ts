import assert from "node:assert/strict";
import { createSocket, type RemoteInfo } from "node:dgram";
import { after, describe, it } from "node:test";
import { readWav, rms, toneRatio, ulawToLinear } from "./audio.js";
import { CLOSED_BY_PEER, CLOSED_BY_US, startBaresip } from "./baresip.js";
import { decodeRtp, decodeTelephoneEvent, pcmuTone, encodeRtp } from "./pcap.js";
import { describeResult, runSipp, startSippUas } from "./sipp.js";

/** A UDP socket standing in for the far end's RTP port: records what arrives, can talk back (symmetric RTP). */
async function rtpPeer() {
  const socket = createSocket("udp4");
  const packets: { data: Buffer; from: RemoteInfo }[] = [];
  socket.on("message", (data, from) => packets.push({ data, from }));
  await new Promise<void>((res) => socket.bind(0, "127.0.0.1", () => res()));
  return {
    port: socket.address().port,
    packets,
    /** Sends a 1 kHz PCMU tone to wherever the first packet came from. */
    async talkBack(durationMs: number): Promise<void> {
      const first = packets[0];
      if (!first) throw new Error("no RTP received to answer");
      for (const p of pcmuTone(durationMs, { frequencyHz: 1000 })) {
        socket.send(encodeRtp(p), first.from.port, first.from.address);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () => new Promise<void>((res) => socket.close(() => res())),
  };
}

describe("baresip harness (headless baresip 1.0 on loopback)", { concurrency: true }, () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    await Promise.all(cleanups.map((c) => c().catch(() => undefined)));
  });

  it("dials a SIPp UAS, sends RFC 4733 digits and 600 Hz audio from 127.0.0.1, records the far end's audio, and hangs up", async () => {
    const rtp = await rtpPeer();
    cleanups.push(rtp.close);
    const uas = await startSippUas({ scenario: "direct-dial", rtpPort: rtp.port, calls: 1, timewaitMs: 0, timeoutInMs: 20_000 });
    cleanups.push(() => uas.stop());
    const baresip = await startBaresip({ timeoutInMs: 30_000 });
    cleanups.push(() => baresip.quit());

    await baresip.dialTo("813878896.123456789", uas.target);
    const established = await baresip.waitForEstablished();
    assert.equal(established.direction, "outgoing");
    assert.ok(!baresip.events.some((e) => e.type.startsWith("REGISTER")), "no registration");

    await new Promise((r) => setTimeout(r, 300));
    await rtp.talkBack(600);
    await baresip.sendDtmf("12#");
    await new Promise((r) => setTimeout(r, 900));
    await baresip.hangup();
    const closed = await baresip.waitForClosed();
    assert.equal(closed.param, CLOSED_BY_US);

    const result = await uas.done;
    assert.equal(result.exitCode, 0, describeResult(result));
    assert.equal(result.successful, 1);

    // Media came from loopback, as PCMU plus telephone-events.
    assert.ok(rtp.packets.length > 20, `RTP packets: ${rtp.packets.length}`);
    assert.ok(rtp.packets.every((p) => p.from.address === "127.0.0.1"));
    const rtpPackets = rtp.packets.map((p) => decodeRtp(p.data));
    const audio = Buffer.concat(rtpPackets.filter((p) => p.payloadType === 0).map((p) => p.payload));
    assert.ok(toneRatio(Array.from(audio, ulawToLinear), 600) > 0.8, "600 Hz from the WAV source");
    const events = rtpPackets
      .filter((p) => p.payloadType === 101)
      .map((p) => ({ ts: p.timestamp, marker: p.marker, ...decodeTelephoneEvent(p.payload) }));
    const digits = [...new Map(events.map((e) => [e.ts, e.event])).values()];
    assert.deepEqual(digits, [1, 2, 11], "digits 1, 2, # in order");
    assert.equal(events.filter((e) => e.end).length, 9, "three end packets per digit");

    // What the far end said was recorded by sndfile.
    const recordings = baresip.recordings("dec");
    assert.equal(recordings.length, 1);
    const wav = readWav(recordings[0]!);
    assert.equal(wav.sampleRate, 8000);
    assert.equal(wav.channels, 1);
    assert.ok(wav.samples.length > 8000 * 0.3, `recorded ${wav.samples.length} samples`);
    assert.ok(toneRatio(wav.samples, 1000) > 0.5, "the 1 kHz tone we sent is in the recording");
  });

  it("reports the far end's BYE as CALL_CLOSED 'Connection reset by peer'", async () => {
    const uas = await startSippUas({ scenario: "server-hangup", calls: 1, timeoutInMs: 20_000 });
    cleanups.push(() => uas.stop());
    const baresip = await startBaresip({ recordAudio: false, timeoutInMs: 30_000 });
    cleanups.push(() => baresip.quit());
    await baresip.dialTo("813878896", uas.target);
    await baresip.waitForEstablished();
    const closed = await baresip.waitForClosed(6000);
    assert.equal(closed.param, CLOSED_BY_PEER);
    const result = await uas.done;
    assert.equal(result.exitCode, 0, describeResult(result));
  });

  it("answers a SIPp direct-dial call (auto answer) and records the pcap's 1 kHz tone", async () => {
    const baresip = await startBaresip({ answerMode: "auto", timeoutInMs: 30_000 });
    cleanups.push(() => baresip.quit());
    const result = await runSipp({
      scenario: "direct-dial",
      target: `127.0.0.1:${baresip.sipPort}`,
      service: "opencvi-test",
      mediaMs: 2500,
      timeoutInMs: 15_000,
    });
    assert.equal(result.exitCode, 0, describeResult(result));
    assert.equal(result.successful, 1);
    const closed = await baresip.waitForClosed();
    assert.equal(closed.param, CLOSED_BY_PEER);
    // With answermode=auto baresip 1.0 emits no CALL_INCOMING: the call goes straight to established.
    assert.equal(baresip.events.find((e) => e.type === "CALL_ESTABLISHED")?.direction, "incoming");
    const wav = readWav(baresip.recordings("dec")[0]!);
    assert.ok(rms(wav.samples) > 500, "audio was received");
    assert.ok(toneRatio(wav.samples, 1000) > 0.8, "it is the pcap's 1 kHz tone");
  });
});
