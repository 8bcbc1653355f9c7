import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type DialInStack, startDialInStack } from "../../support/dialInStack.js";
import { describeResult, runSipp } from "../../support/peers/sipp.js";

// Load and loss on the full path: SIPp → media host (SIP, rtpengine) → control plane
// (Functions, Cosmos DB) → Graph emulator → call notifications → bus → media host.
let load: DialInStack;

before(async () => {
  load = await startDialInStack({ meetings: 100 });
});
after(() => load.stack.stop());

const injection = () => ({ order: "SEQUENTIAL" as const, rows: load.dialStrings.map((d) => [d]) });

describe("load and loss on the full path", () => {
  it("1,000 direct-dial calls at 50 calls/s, every one answered and hung up", async (t) => {
    const calls = Number(process.env.LOAD_CALLS ?? 1000);
    const result = await runSipp({
      scenario: "load-direct-dial-csv",
      target: `127.0.0.1:${load.sip.udp}`,
      service: "per-call",
      csv: injection(),
      transport: "u1",
      calls,
      rate: Number(process.env.LOAD_RATE ?? 50),
      timeoutInMs: 120_000,
    });
    t.diagnostic(describeResult(result));
    assert.equal(result.successful, calls, describeResult(result));
    assert.equal(result.failed, 0);
  });
});
