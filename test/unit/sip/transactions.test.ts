import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClientInviteTransaction } from "../../../media-host/sip/transactions/clientInviteTransaction.js";
import { ClientNonInviteTransaction } from "../../../media-host/sip/transactions/clientNonInviteTransaction.js";
import { ServerInviteTransaction } from "../../../media-host/sip/transactions/serverInviteTransaction.js";
import { ServerNonInviteTransaction } from "../../../media-host/sip/transactions/serverNonInviteTransaction.js";
import { ManualClock } from "../../support/manualClock.js";

/** Records the times (ms) at which a transaction asked to send. */
function sendTimes<T>(clock: ManualClock, transaction: { on(event: "send", listener: (m: T) => void): unknown }): number[] {
  const times: number[] = [];
  transaction.on("send", () => times.push(clock.now));
  return times;
}

describe("INVITE server transaction (RFC 3261 §17.2.1, RFC 6026)", () => {
  it("retransmits a failure response on UDP at T1, 2T1, … capped at T2 until ACK, then lingers for T4", () => {
    const clock = new ManualClock();
    const ist = new ServerInviteTransaction<string>({ reliable: false, scheduler: clock });
    const sent = sendTimes(clock, ist);
    let terminated = false;
    ist.on("terminated", () => {
      terminated = true;
    });
    ist.respond("100", 100);
    ist.respond("486", 486);
    clock.advance(16_000);
    assert.deepEqual(sent, [0, 0, 500, 1500, 3500, 7500, 11_500, 15_500]);
    ist.receiveAck();
    assert.equal(ist.state, "confirmed");
    clock.advance(4_999);
    assert.equal(terminated, false);
    clock.advance(1);
    assert.equal(ist.state, "terminated");
    assert.equal(sent.length, 8, "no retransmission after the ACK");
  });

  it("gives up after Timer H (64*T1) without an ACK", () => {
    const clock = new ManualClock();
    const ist = new ServerInviteTransaction<string>({ reliable: false, scheduler: clock });
    let timedOut = false;
    ist.on("timeout", () => {
      timedOut = true;
    });
    ist.respond("480", 480);
    clock.advance(31_999);
    assert.equal(timedOut, false);
    clock.advance(1);
    assert.equal(timedOut, true);
    assert.equal(ist.state, "terminated");
  });

  it("answers retransmitted INVITEs with the last response; after a 2xx absorbs them (Accepted) until Timer L", () => {
    const clock = new ManualClock();
    const ist = new ServerInviteTransaction<string>({ reliable: false, scheduler: clock });
    const sent: string[] = [];
    ist.on("send", (r) => sent.push(r));
    ist.respond("180", 180);
    ist.receiveRequest();
    assert.deepEqual(sent, ["180", "180"]);
    ist.respond("200", 200);
    assert.equal(ist.state, "accepted");
    ist.receiveRequest();
    assert.deepEqual(sent, ["180", "180", "200"], "the core, not the transaction, retransmits 2xx");
    clock.advance(32_000);
    assert.equal(ist.state, "terminated");
  });

  it("on reliable transports does not retransmit and ends at once after the ACK", () => {
    const clock = new ManualClock();
    const ist = new ServerInviteTransaction<string>({ reliable: true, scheduler: clock });
    const sent = sendTimes(clock, ist);
    ist.respond("404", 404);
    clock.advance(10_000);
    assert.deepEqual(sent, [0]);
    ist.receiveAck();
    clock.advance(0);
    assert.equal(ist.state, "terminated");
  });
});

describe("non-INVITE server transaction (§17.2.2)", () => {
  it("repeats its last response to retransmissions and lingers for Timer J", () => {
    const clock = new ManualClock();
    const nist = new ServerNonInviteTransaction<string>({ reliable: false, scheduler: clock });
    const sent: string[] = [];
    nist.on("send", (r) => sent.push(r));
    nist.receiveRequest();
    assert.deepEqual(sent, [], "nothing to repeat before the TU answered");
    nist.respond("200", 200);
    nist.receiveRequest();
    nist.receiveRequest();
    assert.deepEqual(sent, ["200", "200", "200"]);
    clock.advance(31_999);
    assert.equal(nist.state, "completed");
    clock.advance(1);
    assert.equal(nist.state, "terminated");
  });
});

describe("INVITE client transaction (§17.1.1, RFC 6026)", () => {
  const ackFor = (response: string) => `ACK for ${response}`;

  it("retransmits the INVITE on UDP (Timer A doubling) until Timer B, then times out", () => {
    const clock = new ManualClock();
    const ict = new ClientInviteTransaction<string, string>("INVITE", { reliable: false, scheduler: clock, ackFor });
    const sent = sendTimes(clock, ict);
    let timedOut = false;
    ict.on("timeout", () => {
      timedOut = true;
    });
    ict.start();
    clock.advance(32_000);
    assert.deepEqual(sent, [0, 500, 1500, 3500, 7500, 15_500, 31_500]);
    assert.equal(timedOut, true);
    assert.equal(ict.state, "terminated");
  });

  it("stops retransmitting on a provisional; ACKs a failure itself and re-ACKs its retransmissions", () => {
    const clock = new ManualClock();
    const ict = new ClientInviteTransaction<string, string>("INVITE", { reliable: false, scheduler: clock, ackFor });
    const sent: string[] = [];
    const toTu: number[] = [];
    ict.on("send", (m) => sent.push(m));
    ict.on("response", (_r, status) => toTu.push(status));
    ict.start();
    ict.receiveResponse("180", 180);
    clock.advance(10_000);
    assert.deepEqual(sent, ["INVITE"]);
    ict.receiveResponse("486", 486);
    ict.receiveResponse("486", 486);
    assert.deepEqual(sent, ["INVITE", "ACK for 486", "ACK for 486"]);
    assert.deepEqual(toTu, [180, 486], "the retransmitted failure is not the TU's business");
    clock.advance(32_000);
    assert.equal(ict.state, "terminated");
  });

  it("passes every 2xx to the TU while Accepted (Timer M), which ACKs them itself", () => {
    const clock = new ManualClock();
    const ict = new ClientInviteTransaction<string, string>("INVITE", { reliable: true, scheduler: clock, ackFor });
    const toTu: number[] = [];
    ict.on("response", (_r, status) => toTu.push(status));
    ict.start();
    ict.receiveResponse("200", 200);
    ict.receiveResponse("200", 200);
    assert.deepEqual(toTu, [200, 200]);
    assert.equal(ict.state, "accepted");
    clock.advance(32_000);
    assert.equal(ict.state, "terminated");
  });
});

describe("non-INVITE client transaction (§17.1.2)", () => {
  it("retransmits at T1 doubling to T2 while Trying, every T2 once Proceeding, until a final response", () => {
    const clock = new ManualClock();
    const nict = new ClientNonInviteTransaction<string, string>("BYE", { reliable: false, scheduler: clock });
    const sent = sendTimes(clock, nict);
    nict.start();
    clock.advance(7_500);
    assert.deepEqual(sent, [0, 500, 1500, 3500, 7500]);
    nict.receiveResponse("100", 100);
    clock.advance(8_000);
    assert.deepEqual(sent, [0, 500, 1500, 3500, 7500, 11_500, 15_500]);
    const finals: number[] = [];
    nict.on("response", (_r, status) => finals.push(status));
    nict.receiveResponse("200", 200);
    nict.receiveResponse("200", 200);
    assert.deepEqual(finals, [200], "retransmitted finals are absorbed");
    clock.advance(5_000);
    assert.equal(nict.state, "terminated");
  });

  it("times out after Timer F with no answer", () => {
    const clock = new ManualClock();
    const nict = new ClientNonInviteTransaction<string, string>("INFO", { reliable: true, scheduler: clock });
    const sent = sendTimes(clock, nict);
    let timedOut = false;
    nict.on("timeout", () => {
      timedOut = true;
    });
    nict.start();
    clock.advance(32_000);
    assert.deepEqual(sent, [0], "reliable: no retransmissions");
    assert.equal(timedOut, true);
  });
});
