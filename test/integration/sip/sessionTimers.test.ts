import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Dialogs } from "../../../media-host/sip/dialogs.js";
import type { SipResponse } from "../../../media-host/sip/message.js";
import type { ServerDialog } from "../../../media-host/sip/serverDialog.js";
import { SipStack } from "../../../media-host/sip/sipStack.js";
import { UdpTransport } from "../../../media-host/sip/transport/udpTransport.js";
import { ManualClock } from "../../support/manualClock.js";
import { type Call, EdgePeer, SDP } from "../../support/sip/edgePeer.js";
import { waitFor } from "../../support/waiting.js";

/*
 * RFC 4028 session timers over hours of a call, on a manual clock (the dialogs' timers; SIP transactions run on
 * real, short timers): the shortest interval we accept (Session-Expires 90, Min-SE 90) refreshed every 45 s for
 * three hours — by the device (refresher=uac: UPDATEs and re-INVITEs we answer) and by us (refresher=uas: UPDATEs
 * we send) — and what ends such a call: a device that stops refreshing, or stops answering our refreshes.
 * The existing tests cover one refresh each way (test/integration/sip/dialogs.test.ts with SIPp, edgeDialogs).
 */

const timers = { t1InMs: 50, t2InMs: 200, t4InMs: 250 };
const INTERVAL_S = 90;
const HOURS = 3;
const REFRESHES = (HOURS * 3600) / (INTERVAL_S / 2);

const transport = new UdpTransport();
const clock = new ManualClock();
let peer: EdgePeer;
const dialogsByCallId = new Map<string, ServerDialog>();

before(async () => {
  const port = await transport.listen("127.0.0.1", 0);
  const stack = new SipStack({ transports: [transport], serverName: "OpenCVI", timers });
  const dialogs = new Dialogs(stack, {
    contact: `sip:gateway@127.0.0.1:${port}`,
    timers,
    scheduler: clock,
    answerOffer: async () => Buffer.from(SDP),
  });
  dialogs.onCall((invite) => {
    const dialog = dialogs.accept(invite);
    dialogsByCallId.set(dialog.callId, dialog);
  });
  peer = await EdgePeer.open(port);
});
after(async () => {
  peer.close();
  await transport.close();
});

/** A device's call with session timers, answered: the 200 and the gateway's dialog. */
async function answeredCall(refresher: "uac" | "uas"): Promise<{ call: Call; dialog: ServerDialog; ok: SipResponse }> {
  const call = peer.newCall();
  peer.invite(call, [
    "Contact: <sip:room@127.0.0.1:5062>",
    "Supported: timer",
    `Session-Expires: ${INTERVAL_S};refresher=${refresher}`,
    `Min-SE: ${INTERVAL_S}`,
  ]);
  const dialog = await waitFor(() => dialogsByCallId.get(call.callId), "the INVITE to reach the gateway");
  dialog.answer(Buffer.from(SDP));
  const ok = await waitFor(() => peer.responses(call, 200)[0], "the 200");
  call.toTag = ok.headers.to().tag;
  await waitFor(() => dialog.state === "confirmed", "the ACK to reach the gateway");
  return { call, dialog, ok };
}

function ended(dialog: ServerDialog): Promise<string> {
  return new Promise((resolve) => dialog.once("ended", (_by: string, reason: string) => resolve(reason)));
}

describe(`RFC 4028 session timers over ${HOURS} hours of a call (manual clock)`, () => {
  it(`refresher=uac: the device refreshes every ${INTERVAL_S / 2} s for ${HOURS} h (UPDATEs, every tenth a re-INVITE), each answered with the interval; when it stops, the BYE comes ${INTERVAL_S - 30} s after its last refresh`, async () => {
    peer.respond = () => 200;
    const { call, dialog, ok } = await answeredCall("uac");
    assert.equal(ok.headers.get("Session-Expires"), `${INTERVAL_S};refresher=uac`);
    const endedWith = ended(dialog);
    for (let i = 1; i <= REFRESHES; i++) {
      clock.advance((INTERVAL_S / 2) * 1000);
      const method = i % 10 === 0 ? "INVITE" : "UPDATE";
      const answered = peer.responses(call, 200, method).length;
      peer.inDialog(call, method, [`Session-Expires: ${INTERVAL_S};refresher=uac`], method === "INVITE" ? SDP : "");
      const response = await waitFor(() => peer.responses(call, 200, method)[answered], `the 200 to refresh ${i} (${method})`);
      assert.equal(response.headers.get("Session-Expires"), `${INTERVAL_S};refresher=uac`, `refresh ${i}`);
      assert.equal(dialog.state, "confirmed", `after refresh ${i}`);
    }
    assert.equal(peer.requests(call, "BYE").length, 0, "no BYE while the device refreshes");
    assert.equal(peer.requests(call, "UPDATE").length, 0, "the device refreshes, we do not");
    // The device goes quiet: RFC 4028 §10, BYE before the session expires (interval − min(32 s, interval/3)).
    clock.advance((INTERVAL_S - 30) * 1000 - 1);
    await peer.roundTrip();
    assert.equal(dialog.state, "confirmed", "not before the deadline");
    clock.advance(1);
    await waitFor(() => peer.requests(call, "BYE")[0], "the BYE at the deadline");
    assert.equal(await endedWith, "session timer expired");
  });

  it(`refresher=uas: we send an UPDATE every ${INTERVAL_S / 2} s for ${HOURS} h, each with the interval; when the device answers 481, the call ends with a BYE`, async () => {
    peer.respond = () => 200;
    const { call, dialog, ok } = await answeredCall("uas");
    assert.equal(ok.headers.get("Session-Expires"), `${INTERVAL_S};refresher=uas`);
    const endedWith = ended(dialog);
    for (let i = 1; i <= REFRESHES; i++) {
      clock.advance((INTERVAL_S / 2) * 1000 - 1);
      await peer.roundTrip();
      assert.equal(peer.requests(call, "UPDATE").length, i - 1, `refresh ${i} not early`);
      clock.advance(1);
      const update = await waitFor(() => peer.requests(call, "UPDATE")[i - 1], `our refresh ${i}`);
      assert.equal(update.headers.get("Session-Expires"), `${INTERVAL_S};refresher=uas`, `refresh ${i}`);
      // Our next refresh is armed once this one is answered: wait for the answer to reach the gateway.
      await peer.roundTrip();
      assert.equal(dialog.state, "confirmed", `after refresh ${i}`);
    }
    const cseqs = peer.requests(call, "UPDATE").map((u) => u.headers.cseq().seq);
    assert.ok(
      cseqs.every((seq, i) => i === 0 || seq > cseqs[i - 1]!),
      "each refresh a new CSeq",
    );
    peer.respond = (request) => (request.method === "UPDATE" ? 481 : 200);
    clock.advance((INTERVAL_S / 2) * 1000);
    await waitFor(() => peer.requests(call, "BYE")[0], "the BYE after the refused refresh");
    assert.equal(await endedWith, "session refresh failed");
  });

  it("refresher=uas: a device that stops answering our refresh (the UPDATE's transaction times out) gets a BYE", async () => {
    peer.respond = () => 200;
    const { call, dialog } = await answeredCall("uas");
    const endedWith = ended(dialog);
    clock.advance((INTERVAL_S / 2) * 1000);
    await waitFor(() => peer.requests(call, "UPDATE")[0], "the first refresh");
    await peer.roundTrip();
    peer.respond = (request) => (request.method === "UPDATE" ? undefined : 200);
    clock.advance((INTERVAL_S / 2) * 1000);
    // Timer F (64 × T1: 3.2 s with these test timers) ends the transaction; then the BYE.
    await waitFor(() => peer.requests(call, "BYE")[0], "the BYE after the unanswered refresh", 15_000);
    assert.equal(await endedWith, "session refresh failed");
    assert.ok(peer.requests(call, "UPDATE").length >= 2, "the UPDATE was retransmitted while unanswered");
  });
});
