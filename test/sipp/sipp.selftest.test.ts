import assert from "node:assert/strict";
import { createSocket, type RemoteInfo } from "node:dgram";
import { describe, it, type TestContext } from "node:test";
import { toneRatio, ulawToLinear } from "../support/peers/audio.js";
import { decodeRtp, decodeTelephoneEvent } from "../support/peers/pcap.js";
import {
  describeResult,
  freeMediaPort,
  freePort,
  runSipp,
  type SippResult,
  type SippRunOptions,
  type SippTransport,
  startSippUas,
} from "../support/peers/sipp.js";

/**
 * Each caller scenario of test/sipp/scenarios runs against its counterpart in
 * test/sipp/uas (SIPp playing the media host's part) on loopback, so that the
 * scenarios are known to be well-formed and to follow the intended flows before
 * they meet the real SIP server. Both sides must pass.
 */

// SIPp replays pcaps through a raw socket, so these tests need root (as CI and the dev machines run).

interface PairOptions extends Partial<Omit<SippRunOptions, "scenario" | "target">> {
  readonly uas?: string;
  readonly rtpPort?: number;
  readonly uasTimewaitMs?: number;
}

/** Runs caller scenario `name` against UAS `uas ?? name`; returns both results. */
async function pair(name: string, options: PairOptions = {}): Promise<{ caller: SippResult; server: SippResult }> {
  const transport: SippTransport = options.transport ?? "u1";
  const calls = options.calls ?? 1;
  const uas = await startSippUas({
    scenario: options.uas ?? name,
    transport,
    calls,
    timewaitMs: options.uasTimewaitMs ?? (transport === "u1" ? 500 : 0),
    ...(options.rtpPort !== undefined ? { rtpPort: options.rtpPort } : {}),
    timeoutInMs: 45_000,
  });
  let caller: SippResult;
  try {
    caller = await runSipp({ service: "813878896.123456789", timeoutInMs: 30_000, ...options, scenario: name, target: uas.target, transport, calls });
  } catch (err) {
    await uas.stop(500);
    throw err;
  }
  const server = caller.successful === calls ? await uas.done : await uas.stop(1000);
  return { caller, server };
}

function assertPassed(r: SippResult, calls: number, who: string): void {
  assert.equal(r.exitCode, 0, `${who}: ${describeResult(r)}`);
  assert.equal(r.successful, calls, `${who}: ${describeResult(r)}`);
  assert.equal(r.failed, 0, `${who}: ${describeResult(r)}`);
}

/** Over TCP the caller closing its connection right after the last call can fail the UAS's last call (FailedTcpClosed): not the scenario's fault. */
function assertServerPassedOverTcp(r: SippResult, calls: number): void {
  const closed = r.failures.FailedTcpClosed ?? 0;
  assert.ok(closed <= 1 && r.failed === closed && r.successful + closed === calls, `UAS: ${describeResult(r)}`);
}

async function rtpSink() {
  const socket = createSocket("udp4");
  const packets: { data: Buffer; from: RemoteInfo }[] = [];
  socket.on("message", (data, from) => packets.push({ data, from }));
  await new Promise<void>((res) => socket.bind(0, "127.0.0.1", () => res()));
  return { port: socket.address().port, packets, close: () => new Promise<void>((res) => socket.close(() => res())) };
}

function report(t: TestContext, name: string, r: SippResult): void {
  const rt = Object.entries(r.responseTimesMs)
    .map(([k, v]) => `${k} p50 ${v.p50} p99 ${v.p99} ms`)
    .join(", ");
  t.diagnostic(
    `${name}: ${r.successful}/${r.successful + r.failed} passed, ${r.retransmissions} retransmissions; ${rt}; call length ${r.averageCallLengthMs} ms`,
  );
}

describe("SIPp scenarios against their UAS counterparts (loopback)", { concurrency: true }, () => {
  it("direct-dial over UDP: the call flows and the pcap's PCMU tone arrives from SIPp's media port", async (t) => {
    const sink = await rtpSink();
    try {
      const mediaPort = await freeMediaPort();
      const { caller, server } = await pair("direct-dial", { uas: "direct-dial", rtpPort: sink.port, mediaPort });
      assertPassed(caller, 1, "caller");
      assertPassed(server, 1, "UAS");
      assert.ok(caller.responseTimesMs.invite && caller.responseTimesMs.bye, "invite and bye response times measured");
      assert.ok(caller.averageCallLengthMs !== undefined && caller.averageCallLengthMs >= 3000, `call length ${caller.averageCallLengthMs}`);
      report(t, "direct-dial udp", caller);
      assert.ok(sink.packets.length >= 100, `RTP packets: ${sink.packets.length}`);
      assert.ok(sink.packets.every((p) => p.from.address === "127.0.0.1" && p.from.port === mediaPort));
      const rtp = sink.packets.map((p) => decodeRtp(p.data));
      assert.ok(rtp.every((p) => p.version === 2 && p.payloadType === 0 && p.payload.length === 160));
      const linear = Array.from(Buffer.concat(rtp.map((p) => p.payload)), ulawToLinear);
      assert.ok(toneRatio(linear, 1000) > 0.9, "1 kHz tone");
    } finally {
      await sink.close();
    }
  });

  for (const transport of ["t1", "l1"] as const) {
    it(`direct-dial over ${transport === "t1" ? "TCP" : "TLS (SIPp on TCP through the TLS bridge, .local/tls certificates)"}`, async (t) => {
      const { caller, server } = await pair("direct-dial", { transport, calls: 2, rate: 10 });
      assertPassed(caller, 2, "caller");
      assertServerPassedOverTcp(server, 2);
      report(t, `direct-dial ${transport}`, caller);
    });
  }

  it("direct-dial over UDP with 10% of SIP packets lost (-lost 10): retransmissions carry 40 calls", async (t) => {
    // Bounded at 20 s: now and then a BYE whose 200s are all lost while the UAS still remembers
    // the call retransmits until Timer F (32 s); the run is then cut and counted from the
    // once-a-second statistics dump.
    const { caller, server } = await pair("direct-dial", { calls: 40, rate: 20, lost: 10, uasTimewaitMs: 4000, mediaMs: 500, timeoutInMs: 20_000 });
    report(t, "direct-dial -lost 10", caller);
    t.diagnostic(`UAS: ${server.successful} passed, ${server.failed} failed`);
    // Measured 39-40 of 40 here; a call fails only when one transaction loses several sends in a row.
    assert.ok(caller.successful >= 37, describeResult(caller));
    assert.ok(caller.retransmissions > 0, "loss was simulated");
  });

  it("load-direct-dial: 100 calls at 50 calls/s", async (t) => {
    const { caller, server } = await pair("load-direct-dial", { uas: "direct-dial", calls: 100, rate: 50 });
    assertPassed(caller, 100, "caller");
    assertPassed(server, 100, "UAS");
    assert.equal(caller.responseTimesMs.invite?.count, 100);
    report(t, "load-direct-dial", caller);
  });

  it("ivr-rfc4733: telephone-events for 123456789# reach the UAS's RTP port, the re-INVITE is answered", async (t) => {
    const sink = await rtpSink();
    try {
      const { caller, server } = await pair("ivr-rfc4733", { service: "813878896", rtpPort: sink.port, dtmfDigits: "123456789#" });
      assertPassed(caller, 1, "caller");
      assertPassed(server, 1, "UAS");
      report(t, "ivr-rfc4733", caller);
      assert.ok(
        caller.logLines.some((l) => l.startsWith("re-INVITE offer: m=audio")),
        caller.logLines.join("\n"),
      );
      const events = sink.packets
        .map((p) => decodeRtp(p.data))
        .filter((p) => p.payloadType === 101)
        .map((p) => ({ timestamp: p.timestamp, ...decodeTelephoneEvent(p.payload) }));
      const digits = [...new Map(events.map((e) => [e.timestamp, e.event])).values()];
      assert.deepEqual(digits, [1, 2, 3, 4, 5, 6, 7, 8, 9, 11]);
      assert.equal(events.filter((e) => e.end).length, 30);
    } finally {
      await sink.close();
    }
  });

  it("ivr-info: one INFO application/dtmf-relay per digit, then connected without a re-INVITE", async (t) => {
    const { caller, server } = await pair("ivr-info", { service: "813878896", csv: { rows: [["123456789#"]] } });
    assertPassed(caller, 1, "caller");
    assertPassed(server, 1, "UAS");
    assert.equal(caller.responseTimesMs.info?.count, 10);
    assert.equal(server.logLines.filter((l) => l.startsWith("INFO")).length, 10);
    assert.match(server.logLines.at(-1) ?? "", /key # .*end=true/);
    report(t, "ivr-info", caller);
  });

  it("wrong-id-three-times: three wrong IDs, then the server's BYE is answered", async (t) => {
    const { caller, server } = await pair("wrong-id-three-times", { service: "813878896", csv: { rows: [["9999#"]] } });
    assertPassed(caller, 1, "caller");
    assertPassed(server, 1, "UAS");
    assert.equal(server.logLines.filter((l) => l.startsWith("INFO")).length, 15);
    report(t, "wrong-id-three-times", caller);
  });

  it("cancel: CANCEL while ringing -> 200 and 487, ACK on the INVITE's branch", async (t) => {
    const { caller, server } = await pair("cancel");
    assertPassed(caller, 1, "caller");
    assertPassed(server, 1, "UAS");
    assert.ok(caller.responseTimesMs.cancel, "cancel response time measured");
    report(t, "cancel", caller);
  });

  it("hold-resume: sendonly answered recvonly, sendrecv answered sendrecv", async (t) => {
    const { caller, server } = await pair("hold-resume");
    assertPassed(caller, 1, "caller");
    assertPassed(server, 1, "UAS");
    assert.ok(caller.logLines.includes("hold answered with a=recvonly"), caller.logLines.join("\n"));
    report(t, "hold-resume", caller);
  });

  it("session-timer: Session-Expires negotiated, UPDATE refresh answered", async (t) => {
    const { caller, server } = await pair("session-timer");
    assertPassed(caller, 1, "caller");
    assertPassed(server, 1, "UAS");
    report(t, "session-timer", caller);
  });

  it("late-offer: the offer in the 200, the answer in the ACK", async (t) => {
    const { caller, server } = await pair("late-offer");
    assertPassed(caller, 1, "caller");
    assertPassed(server, 1, "UAS");
    report(t, "late-offer", caller);
  });

  it("reinvite-without-offer: the re-INVITE has no body, its 200 the offer, its ACK the answer", async (t) => {
    const { caller, server } = await pair("reinvite-without-offer");
    assertPassed(caller, 1, "caller");
    assertPassed(server, 1, "UAS");
    report(t, "reinvite-without-offer", caller);
  });

  it("options: 200 with Allow and Accept", async (t) => {
    const { caller, server } = await pair("options", { service: "ping" });
    assertPassed(caller, 1, "caller");
    assertPassed(server, 1, "UAS");
    report(t, "options", caller);
  });

  it("a scenario's checks fail the call: session-timer against a UAS without session timers", async () => {
    // The missing Session-Expires marks the call failed but SIPp goes on with the scenario (as it
    // does): the UAS then ignores the UPDATE, so bound its retransmissions to keep this short.
    const { caller } = await pair("session-timer", { uas: "direct-dial", extraArgs: ["-max_non_invite_retrans", "1"], timeoutInMs: 15_000 });
    assert.equal(caller.exitCode, 1, describeResult(caller));
    assert.equal(caller.failed, 1, describeResult(caller));
    assert.match(caller.errorLogTail, /header Session-Expires: not found/);
  });

  it("runSipp bounds its run: nothing listening, 2 s budget", async () => {
    const port = await freePort();
    const started = Date.now();
    const r = await runSipp({ scenario: "options", target: `127.0.0.1:${port}`, service: "ping", timeoutInMs: 2000 });
    assert.ok(Date.now() - started < 6000, `took ${Date.now() - started} ms`);
    assert.notEqual(r.exitCode, 0);
    assert.equal(r.successful, 0);
  });

  it("runSipp tells what a scenario needs", async () => {
    await assert.rejects(runSipp({ scenario: "ivr-info", target: "127.0.0.1:5060", service: "1", timeoutInMs: 1000 }), /csv rows/);
    await assert.rejects(runSipp({ scenario: "ivr-rfc4733", target: "127.0.0.1:5060", service: "1", timeoutInMs: 1000 }), /dtmfDigits/);
    await assert.rejects(runSipp({ scenario: "no-such-scenario", target: "127.0.0.1:5060", service: "1", timeoutInMs: 1000 }), /no SIPp scenario/);
  });
});
