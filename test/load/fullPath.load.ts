import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type DialInStackProcess, startDialInStackProcess } from "../support/dialInStackProcess.js";
import { describeResult, runSipp } from "../support/peers/sipp.js";

// Load and loss on the full path, in the production topology: SIPp → the media host in its
// own process (SIP stack, rtpengine) → control plane (Functions, Cosmos DB) → Graph
// emulator → call notifications → Service Bus → media host. The stack runs in a process of
// its own, outside the test runner, and `npm test` runs this file alone, after the others
// (*.load.js): the 2-core machine also runs every Microsoft-side stand-in. `npm run bench`
// measures the highest sustained rate (docs/design.md, "Capacity").
let load: DialInStackProcess;

/** Calls per second the load run offers (LOAD_RATE overrides). */
const RATE = Number(process.env.LOAD_RATE ?? 40);

before(async () => {
  load = await startDialInStackProcess({ meetings: 100, mediaHostProcess: true });
});
after(() => load.stop());

/** SIPp dialing the meetings in turn (one dial string per call from the injection file). */
const dialMeetings = (options: { transport: "u1" | "tn"; calls: number; rate: number; lost?: number; timeoutInMs: number }) =>
  runSipp({
    scenario: "load-direct-dial-csv",
    target: `127.0.0.1:${options.transport === "u1" ? load.sip.udp : load.sip.tcp}`,
    service: "per-call",
    csv: { order: "SEQUENTIAL", rows: load.dialStrings.map((d) => [d]) },
    ...options,
  });

describe("load and loss on the full path", () => {
  it(`1,000 direct-dial calls at ${RATE} calls/s over UDP, every one answered and hung up`, async (t) => {
    // A gateway in service is warm: compiled code, connections and tokens, recent organizer decisions.
    const warmUp = await dialMeetings({ transport: "u1", calls: 200, rate: 20, timeoutInMs: 60_000 });
    assert.equal(warmUp.successful, 200, describeResult(warmUp));
    const calls = Number(process.env.LOAD_CALLS ?? 1000);
    const result = await dialMeetings({ transport: "u1", calls, rate: RATE, timeoutInMs: 150_000 });
    t.diagnostic(describeResult(result));
    assert.equal(result.successful, calls, describeResult(result));
    assert.equal(result.failed, 0);
  });

  it("10% of SIP packets lost (-lost 10): at least 99% of 200 calls complete, by retransmission", async (t) => {
    const result = await dialMeetings({ transport: "u1", calls: 200, rate: 20, lost: 10, timeoutInMs: 90_000 });
    t.diagnostic(describeResult(result));
    assert.ok(result.successful >= 198, describeResult(result));
    assert.ok(result.retransmissions > 0, "loss was simulated");
  });

  it("over TCP, one connection per device: 100 calls at 10 calls/s", async (t) => {
    const result = await dialMeetings({ transport: "tn", calls: 100, rate: 10, timeoutInMs: 60_000 });
    t.diagnostic(describeResult(result));
    assert.equal(result.successful, 100, describeResult(result));
  });
});
