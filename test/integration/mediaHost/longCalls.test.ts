import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import type { BridgeStats } from "../../../bench/support/bridgeHost.js";
import { BridgeProcess } from "../../../bench/support/bridgeProcess.js";
import { LongCall } from "../../support/media/longCall.js";
import { waitFor } from "../../support/waiting.js";
import { type RtpengineHarness, startRtpengine } from "../rtpengine/support/harness.js";

/*
 * A long call in accelerated time through the real media path: an SDES-SRTP room system (AES_CM_128_HMAC_SHA1_80)
 * → rtpengine → the bridge and werift (in a process of their own, as on a media host) → DTLS-SRTP → a werift peer in
 * the meeting's place, and back. A video stream each way — each crosses both legs, so all four SRTP contexts (the
 * device's, rtpengine's, the gateway's werift, the meeting's) protect or unprotect it — starts a few hundred packets
 * short of its sequence wrap and runs until it has wrapped twice (65,536 packets between the two), with SRTCP both
 * ways on both legs meanwhile. Done when every receiver has seen two wraps; nothing is timed. (Audio, the same code,
 * runs in bench/soak.ts: four streams at these rates are more than one test process keeps up with.)
 */

/** Fast enough to finish within a minute; slow enough for a test process (device and meeting side) on a shared machine. */
const RATE = 2000;
const WRAPS = 2;

let rtpengine: RtpengineHarness;
let bridge: BridgeProcess;
let call: LongCall;
let callId: string;
let stopPacing: () => void = () => {};

before(async () => {
  const portMin = 31000 + randomInt(0, 40) * 100;
  rtpengine = await startRtpengine({ portMin, portMax: portMin + 99 });
  bridge = new BridgeProcess(rtpengine.process.ngHost, rtpengine.process.ngPort);
  await bridge.ready;
  callId = `long-call-${randomInt(1e9)}`;
  call = await LongCall.open({
    index: 0,
    rate: RATE,
    audioBytes: 160,
    videoBytes: 400,
    kinds: ["video"],
    create: (deviceOffer) => bridge.request<{ deviceAnswer: string; blob: string }>({ op: "create", callId, deviceOffer }),
  });
  const streams = call.flows.map((f) => f.sender);
  const now = performance.now();
  for (const s of streams) s.start(now);
  const timer = setInterval(() => {
    const t = performance.now();
    for (const s of streams) s.pace(t);
  }, 4);
  stopPacing = () => clearInterval(timer);
});

after(async () => {
  stopPacing();
  await call?.close();
  await bridge?.stop();
  await rtpengine?.stop();
});

describe("a long call: SRTP, SRTCP and RTCP across sequence number wraps on both legs", () => {
  it(`every stream wraps ${WRAPS} times with media counted at both ends and no SRTP/SRTCP authentication failure anywhere`, async () => {
    const progress = () =>
      call.flows.map((f) => `${f.name}: ${f.receiver.wraps} wraps, ${f.receiver.received}/${f.sender.sent}`).join("; ") +
      `; rtpengine warnings: ${rtpengine.logLines.slice(-3).join(" | ")}`;
    await waitFor(() => call.flows.every((f) => f.receiver.wraps >= WRAPS), `${WRAPS} wraps on every stream (${progress()})`, 150_000).catch(
      (e: Error) => {
        throw new Error(`${e.message}; now ${progress()}`);
      },
    );
    stopPacing();
    await new Promise((r) => setTimeout(r, 1500)); // the last RTCP reports cross
    call.stopRtcp();

    for (const f of call.flows) {
      // The first wrap comes within a few hundred packets, each later one after a whole cycle (less what a busy machine lost).
      assert.ok(f.receiver.received > (WRAPS - 1) * 60_000, `${f.name}: ${f.receiver.received} packets counted at the receiving end`);
      assert.ok(f.receiver.received <= f.sender.sent, f.name);
    }
    const bridgeStats = await bridge.request<BridgeStats>({ op: "stats" });
    const query = (await rtpengine.client.query({ "call-id": callId })) as { totals?: Record<string, { packets?: number; errors?: number }> };
    const rtpengineErrors = Object.values(query.totals ?? {}).reduce((n, t) => n + (t.errors ?? 0), 0);
    assert.deepEqual(
      {
        rtpengineErrors,
        rtpengineLog: rtpengine.logLines.filter((l) => /Discarded (invalid )?SRTC?P packet/.test(l)),
        gateway: bridgeStats.authenticationFailures,
        meetingPeer: call.meetingPeerAuthenticationFailures,
        device: call.deviceAuthenticationFailures,
      },
      { rtpengineErrors: 0, rtpengineLog: [], gateway: { srtp: 0, srtcp: 0 }, meetingPeer: { srtp: 0, srtcp: 0 }, device: { srtp: 0, srtcp: 0 } },
    );
    // rtpengine unprotected the device's SRTCP (an SR with a report block every 500 ms, across the wraps) and it reached the bridge …
    assert.ok(bridgeStats.rtcpFromDevice >= 10, `the device's RTCP reached the bridge: ${bridgeStats.rtcpFromDevice}`);
    // … and the gateway's RTCP reached the device as SRTCP: the meeting's keyframe requests as PLIs, and sender reports.
    assert.ok(
      (call.deviceRtcp["206"] ?? 0) > 0 && (call.deviceRtcp["200"] ?? 0) > 0,
      `the device got SRTCP from the gateway: ${JSON.stringify(call.deviceRtcp)}`,
    );
  });

  it("the device gets a sender report for what it receives, made from the meeting's: its packet count never falls back nor lags what arrived, its octet count agrees", () => {
    const srs = call.deviceSrs;
    assert.ok(srs.srs >= 10, JSON.stringify(srs));
    assert.equal(srs.countFellBack, 0, JSON.stringify(srs));
    assert.equal(srs.octetsDisagree, 0, JSON.stringify(srs));
    // At most a read loop of rtpengine's (50 datagrams) passed in another order; a count that forgot packets would lag by thousands.
    assert.ok(srs.mostPacketsBeyondCount <= 50, JSON.stringify(srs));
  });

  it("RTCP on the meeting leg stays right across the wraps: the RRs' extended highest sequence numbers never fall back and count the wraps; SR packet counts never fall back", () => {
    const rtcp = call.meetingRtcp;
    assert.ok(rtcp.rrBlocks > 0 && rtcp.srs > 0, JSON.stringify(rtcp));
    assert.equal(rtcp.highestFellBack, 0, JSON.stringify(rtcp));
    assert.equal(rtcp.srCountFellBack, 0, JSON.stringify(rtcp));
    // The meeting peer's streams wrapped twice: the gateway's reports about them say so (cycles in the high 16 bits).
    assert.ok(rtcp.maxExtendedHighest >= WRAPS * 65_536, JSON.stringify(rtcp));
  });
});
