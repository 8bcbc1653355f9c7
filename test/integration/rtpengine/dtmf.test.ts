import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { afterEach, describe, it } from "node:test";
import { DtmfEventListener, dtmfDigit, parseDtmfRecord } from "../../../media-host/rtpengine/dtmfEventListener.js";
import type { NgFlag } from "../../../media-host/rtpengine/ngProtocol.js";
import { mediaEndpoint, parseSdp } from "../../../media-host/rtpengine/sdp.js";
import { collectDtmf, newCallId, plainAudioSdp, RtpPeer, sleep, useRtpengine } from "./support/harness.js";

const rtpengine = useRtpengine();
const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUpCall(flags: readonly NgFlag[] = []) {
  const caller = await RtpPeer.open();
  const callee = await RtpPeer.open();
  const callId = newCallId("dtmf");
  cleanups.push(
    () => rtpengine().client.delete({ "call-id": callId }),
    () => caller.close(),
    () => callee.close(),
  );
  const offer = await rtpengine().client.offer({
    "call-id": callId,
    "from-tag": "device",
    sdp: plainAudioSdp({ address: caller.address, port: caller.port }),
    flags: ["trust-address", ...flags],
  });
  const answer = await rtpengine().client.answer({
    "call-id": callId,
    "from-tag": "device",
    "to-tag": "meeting",
    sdp: plainAudioSdp({ address: callee.address, port: callee.port }),
    flags: ["trust-address", ...flags],
  });
  return { callId, caller, callee, callerSendsTo: mediaEndpoint(parseSdp(answer.sdp)), calleeSendsTo: mediaEndpoint(parseSdp(offer.sdp)) };
}

const eventPackets = (peer: RtpPeer) => peer.received.filter((p) => p.payloadType === 101);

describe("DTMF through rtpengine", () => {
  it("reports RFC 4733 digits on the dtmf-log-dest listener, quick repeats as distinct events", async () => {
    const call = await setUpCall();
    const events = collectDtmf(rtpengine().dtmf, 3, (e) => e.callId === call.callId);
    await call.caller.sendAudio(call.callerSendsTo, 3);
    for (const digit of [1, 1, 11]) {
      await call.caller.sendDtmf(call.callerSendsTo, digit, { durationInMs: 100, volume: 10 });
      await call.caller.sendAudio(call.callerSendsTo, 2);
    }
    const [first, second, third] = await events;
    assert.ok(first && second && third);
    assert.deepEqual([first.digit, second.digit, third.digit], ["1", "1", "#"]);
    for (const e of [first, second, third]) {
      assert.equal(e.sourceTag, "device", "the tag of the participant who sent the digit");
      assert.deepEqual([...e.tags].sort(), ["device", "meeting"]);
      assert.equal(e.durationInMs, 100);
      assert.equal(e.volume, 10);
      assert.equal(e.sourceIp, "127.0.0.1");
      assert.ok(Math.abs(e.timestamp - Date.now() / 1000) < 5);
    }
    assert.equal(third.event, 11);
    // The same digit twice within a second gives byte-identical records; the ids still differ.
    assert.notEqual(first.eventId, second.eventId);
    if (first.timestamp === second.timestamp) assert.deepEqual([first.ordinal, second.ordinal], [0, 1]);
    // And the digits were relayed to the other side as RFC 4733 packets.
    await call.callee.waitFor(
      "the event packets at the callee",
      (r) => r.filter((p) => p.payloadType === 101 && (p.payload[1]! & 0x80) !== 0).length >= 9,
    );
  });

  it("block DTMF stops forwarding a participant's digits but still reports them; unblock restores", async () => {
    const call = await setUpCall();
    await call.caller.sendAudio(call.callerSendsTo, 3);
    await rtpengine().client.blockDtmf({ "call-id": call.callId, "from-tag": "device" });
    const blocked = collectDtmf(rtpengine().dtmf, 1, (e) => e.callId === call.callId);
    await call.caller.sendDtmf(call.callerSendsTo, 5);
    await call.caller.sendAudio(call.callerSendsTo, 3);
    assert.equal((await blocked)[0]?.digit, "5");
    await sleep(100);
    assert.equal(eventPackets(call.callee).length, 0, "no event packet reached the callee");

    await rtpengine().client.unblockDtmf({ "call-id": call.callId, "from-tag": "device" });
    await call.caller.sendDtmf(call.callerSendsTo, 6);
    await call.callee.waitFor("event packets after unblock", (r) => r.some((p) => p.payloadType === 101 && p.payload[0] === 6));
  });

  it("play DTMF injects a digit from one participant to the other when the call has inject-DTMF", async () => {
    const call = await setUpCall(["inject-DTMF"]);
    // Injection needs the sender's SSRC context: the device must have sent media first.
    const pump = call.caller.sendAudio(call.callerSendsTo, 40);
    await call.callee.waitFor("audio through the transcoder", (r) => r.length >= 5);
    await rtpengine().client.playDtmf({ "call-id": call.callId, "from-tag": "device", code: "7", duration: 200 });
    await call.callee.waitFor("an injected digit 7", (r) =>
      r.some((p) => p.payloadType === 101 && p.payload[0] === 7 && (p.payload[1]! & 0x80) !== 0),
    );
    await pump;
    const ends = eventPackets(call.callee).filter((p) => (p.payload[1]! & 0x80) !== 0);
    const duration = ends[0]?.payload.readUInt16BE(2) ?? 0;
    // 200 ms is 1600 samples at 8 kHz; rtpengine 10.5 ends the event one 20 ms packet later (1760).
    assert.ok(duration >= 1600 && duration <= 1760, `the event lasts about 200 ms (${duration} samples)`);
  });

  it("play DTMF without inject-DTMF answers ok and injects nothing (rtpengine 10.5)", async () => {
    const call = await setUpCall();
    const pump = call.caller.sendAudio(call.callerSendsTo, 30);
    await call.callee.waitFor("audio", (r) => r.length >= 5);
    await rtpengine().client.playDtmf({ "call-id": call.callId, "from-tag": "device", code: 7 });
    await pump;
    assert.equal(eventPackets(call.callee).length, 0);
  });
});

describe("DtmfEventListener parsing", () => {
  it("reads rtpengine 10.5's unescaped records verbatim, even with quotes in the call id", () => {
    const text =
      '{"callid":"a"b\\c@host","source_tag":"t1","tags":["t1","t2"],"type":"DTMF","timestamp":1795494749,"source_ip":"127.0.0.1","event":10,"duration":100,"volume":10}';
    assert.deepEqual(parseDtmfRecord(text), {
      callid: 'a"b\\c@host',
      source_tag: "t1",
      tags: ["t1", "t2"],
      type: "DTMF",
      timestamp: 1795494749,
      source_ip: "127.0.0.1",
      event: 10,
      duration: 100,
      volume: 10,
    });
    assert.equal(dtmfDigit(10), "*");
    assert.equal(dtmfDigit(16), "");
  });

  it("falls back to JSON for other layouts and rejects what is not a record", () => {
    const record = parseDtmfRecord(JSON.stringify({ event: 3, callid: "c", source_tag: "s", timestamp: 5, duration: 40, volume: 0 }));
    assert.equal(record.event, 3);
    assert.deepEqual(record.tags, []);
    assert.throws(() => parseDtmfRecord("not json"));
    assert.throws(() => parseDtmfRecord('{"callid":"c"}'), /source_tag/);
  });

  it("emits malformed for foreign datagrams and keeps listening", async () => {
    const listener = await DtmfEventListener.open();
    const sender = createSocket("udp4");
    try {
      const malformed = once(listener, "malformed");
      sender.send("hello", listener.address.port, "127.0.0.1");
      const [info] = (await malformed) as [{ datagram: Buffer }];
      assert.equal(info.datagram.toString(), "hello");
      const dtmf = once(listener, "dtmf");
      const record =
        '{"callid":"c1","source_tag":"s","tags":["s"],"type":"DTMF","timestamp":100,"source_ip":"127.0.0.1","event":4,"duration":80,"volume":12}';
      sender.send(record, listener.address.port, "127.0.0.1");
      sender.send(record, listener.address.port, "127.0.0.1");
      const [first] = (await dtmf) as [{ digit: string; ordinal: number; eventId: string }];
      const [second] = (await once(listener, "dtmf")) as [{ ordinal: number; eventId: string }];
      assert.equal(first.digit, "4");
      assert.deepEqual([first.ordinal, second.ordinal], [0, 1]);
      assert.notEqual(first.eventId, second.eventId);
    } finally {
      sender.close();
      await listener.close();
    }
  });

  it("gives the same event ids to the same sequence of records (stable across consumers)", async () => {
    const ids = async () => {
      const listener = await DtmfEventListener.open();
      const sender = createSocket("udp4");
      const got: string[] = [];
      listener.on("dtmf", (e) => got.push(e.eventId));
      for (const event of [1, 1, 2]) {
        sender.send(
          `{"callid":"c2","source_tag":"s","tags":["s"],"type":"DTMF","timestamp":200,"source_ip":"127.0.0.1","event":${event},"duration":80,"volume":12}`,
          listener.address.port,
          "127.0.0.1",
        );
        await sleep(5);
      }
      for (let i = 0; i < 50 && got.length < 3; i++) await sleep(10);
      sender.close();
      await listener.close();
      return got;
    };
    const a = await ids();
    assert.equal(new Set(a).size, 3);
    assert.deepEqual(await ids(), a);
  });
});
