import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { IncomingRequest } from "../../../media-host/sip/incomingRequest.js";
import { Dialogs } from "../../../media-host/sip/dialogs.js";
import type { SipResponse } from "../../../media-host/sip/message.js";
import { serializeMessage } from "../../../media-host/sip/serializer.js";
import { ServerDialog } from "../../../media-host/sip/serverDialog.js";
import { SipStack } from "../../../media-host/sip/sipStack.js";
import { UdpTransport } from "../../../media-host/sip/transport/udpTransport.js";
import { ManualClock } from "../../support/manualClock.js";
import { type Call, EdgePeer, SDP } from "../../support/sip/edgePeer.js";
import { waitFor } from "../../support/waiting.js";

/*
 * A media host behind a record-routing SIP edge (Kamailio's record_route(), loose routing,
 * two Record-Route values when the edge changes transport). The peer here is a raw UDP
 * socket in the edge's place: what it sends is what the edge forwards from a device, and
 * whatever the gateway sends in the dialog must reach it, whatever the Request-URI says.
 * The dialogs run on a manual clock, so ringing and session refreshes are driven by hand.
 */

/** The device behind the edge: never reached directly (TEST-NET-1), so requests to it must travel over the INVITE's flow. */
const DEVICE_CONTACT = "sip:room@192.0.2.10:5062;transport=tcp";
/** Kamailio's record_route() with enable_double_rr: the side facing us first (TCP here), then the device's side. */
const EDGE_TOWARDS_US = "<sip:10.0.0.5;transport=tcp;r2=on;lr;ftag=room-tag;did=c1a.b71>";
const EDGE_TOWARDS_DEVICE = "<sip:203.0.113.5;r2=on;lr;ftag=room-tag;did=c1a.b71>";
const timers = { t1InMs: 50, t2InMs: 200, t4InMs: 250 };

const transport = new UdpTransport();
const clock = new ManualClock();
let stack: SipStack;
let peer: EdgePeer;
let gatewayContact: string;
const dialogsByCallId = new Map<string, ServerDialog>();
/** How a new call becomes a dialog (the Dialogs registry unless a test wants other options). */
let accept: (invite: IncomingRequest) => ServerDialog;
let acceptIntoDialogs: (invite: IncomingRequest) => ServerDialog;

before(async () => {
  const port = await transport.listen("127.0.0.1", 0);
  gatewayContact = `sip:gateway@127.0.0.1:${port}`;
  stack = new SipStack({ transports: [transport], serverName: "OpenCVI", timers });
  // Fax (m=image) is an offer the gateway refuses: a target refresh that fails moves nothing.
  const answerOffer = async (offer: Buffer) => {
    if (offer.toString().includes("m=image")) throw new Error("no fax");
    return Buffer.from(SDP);
  };
  const dialogs = new Dialogs(stack, { contact: gatewayContact, timers, scheduler: clock, answerOffer });
  dialogs.onCall((invite) => {
    const dialog = accept(invite);
    dialogsByCallId.set(dialog.callId, dialog);
  });
  acceptIntoDialogs = (invite) => dialogs.accept(invite);
  accept = acceptIntoDialogs;
  peer = await EdgePeer.open(port);
});
after(async () => {
  peer.close();
  await transport.close();
});

/** The edge forwards a device's INVITE with its Record-Route values; resolves with the gateway's dialog for it. */
async function placeCall(recordRoutes: readonly string[], headers: readonly string[] = []): Promise<{ call: Call; dialog: ServerDialog }> {
  const call = peer.newCall();
  peer.invite(call, [...recordRoutes.map((value) => `Record-Route: ${value}`), `Contact: <${DEVICE_CONTACT}>`, ...headers]);
  const dialog = await waitFor(() => dialogsByCallId.get(call.callId), "the INVITE to reach the gateway");
  return { call, dialog };
}

/** Answers and waits for the ACK; the peer learns our tag. */
async function answered(call: Call, dialog: ServerDialog): Promise<SipResponse> {
  dialog.answer(Buffer.from(SDP));
  const ok = await waitFor(() => peer.responses(call, 200)[0], "the 200");
  call.toTag = ok.headers.to().tag;
  await waitFor(() => dialog.state === "confirmed", "the ACK to reach the gateway");
  return ok;
}

describe("dialogs behind a record-routing SIP edge (RFC 3261 §12, §13.3.1, §16.12)", () => {
  for (const [name, values] of [
    ["one Record-Route", [EDGE_TOWARDS_DEVICE]],
    ["a double Record-Route", [EDGE_TOWARDS_US, EDGE_TOWARDS_DEVICE]],
  ] as const) {
    it(`the 180 and the 200 carry the INVITE's Record-Route values in order (${name}); other responses carry none`, async () => {
      const { call, dialog } = await placeCall(values);
      dialog.ring();
      const ringing = await waitFor(() => peer.responses(call, 180)[0], "the 180");
      assert.deepEqual(ringing.headers.getAll("Record-Route"), values);
      const ok = await answered(call, dialog);
      assert.deepEqual(ok.headers.getAll("Record-Route"), values);
      assert.deepEqual(peer.responses(call, 100)[0]?.headers.getAll("Record-Route"), [], "the 100 Trying establishes nothing");
      peer.inDialog(call, "BYE");
      const byeOk = await waitFor(() => peer.responses(call, 200, "BYE")[0], "the 200 to the device's BYE");
      assert.deepEqual(byeOk.headers.getAll("Record-Route"), [], "a response inside the dialog");
    });
  }

  it("BYE, INFO and UPDATE from the gateway: over the INVITE's flow, Request-URI the remote target, Route the route set (loose routing)", async () => {
    const { call, dialog } = await placeCall([EDGE_TOWARDS_US, EDGE_TOWARDS_DEVICE], ["Supported: timer", "Session-Expires: 90;refresher=uas"]);
    await answered(call, dialog);
    assert.equal(await dialog.requestPictureFastUpdate(), 200);
    clock.advance(45_000); // we refresh the session at half its interval (RFC 4028)
    await waitFor(() => peer.requests(call, "UPDATE")[0], "the session refresh");
    await dialog.bye("the meeting ended");
    for (const method of ["INFO", "UPDATE", "BYE"]) {
      const request = peer.requests(call, method)[0];
      assert.ok(request, `${method} reached the edge`);
      assert.equal(request.uri, DEVICE_CONTACT, `${method}'s Request-URI`);
      assert.deepEqual(request.headers.getAll("Route"), [EDGE_TOWARDS_US, EDGE_TOWARDS_DEVICE], `${method}'s Route`);
      assert.match(request.headers.get("From") ?? "", new RegExp(`tag=${dialog.localTag}`), `${method} is ours, in the dialog`);
    }
  });

  it("a strict router first in the route set: its URI is the Request-URI, the rest of the route set and the remote target the Route", async () => {
    const strict = "<sip:192.0.2.2;transport=udp>";
    const { call, dialog } = await placeCall([strict, EDGE_TOWARDS_DEVICE]);
    await answered(call, dialog);
    await dialog.bye("the meeting ended");
    const bye = peer.requests(call, "BYE")[0];
    assert.equal(bye?.uri, "sip:192.0.2.2;transport=udp");
    assert.deepEqual(bye?.headers.getAll("Route"), [EDGE_TOWARDS_DEVICE, `<${DEVICE_CONTACT}>`]);
  });

  it("a re-INVITE, then an UPDATE, with a new Contact move where our next requests go; a refused one does not; the route set stays", async () => {
    const { call, dialog } = await placeCall([EDGE_TOWARDS_DEVICE]);
    await answered(call, dialog);
    const moved = "sip:room@198.51.100.7:5080;transport=tcp";
    // A re-INVITE's Record-Route means nothing to the route set (§12.2: it is fixed once the dialog exists).
    peer.inDialog(call, "INVITE", [`Contact: <${moved}>`, "Record-Route: <sip:elsewhere.example.net;lr>"], SDP);
    await waitFor(() => peer.responses(call, 200).length === 2, "the 200 to the re-INVITE");
    assert.equal(await dialog.requestPictureFastUpdate(), 200);
    const movedAgain = "sip:room@198.51.100.8:5080;transport=tcp";
    peer.inDialog(call, "UPDATE", [`Contact: <${movedAgain}>`]);
    await waitFor(() => peer.responses(call, 200, "UPDATE")[0], "the 200 to the UPDATE");
    peer.inDialog(call, "INVITE", ["Contact: <sip:fax@198.51.100.9>"], `${SDP}m=image 40002 udptl t38\r\n`);
    await waitFor(() => peer.responses(call, 488)[0], "the refused re-INVITE");
    await dialog.bye("the meeting ended");
    const info = peer.requests(call, "INFO")[0];
    const bye = peer.requests(call, "BYE")[0];
    assert.equal(info?.uri, moved, "after the re-INVITE");
    assert.equal(bye?.uri, movedAgain, "after the UPDATE, not the refused re-INVITE");
    assert.deepEqual(info?.headers.getAll("Route"), [EDGE_TOWARDS_DEVICE]);
    assert.deepEqual(bye?.headers.getAll("Route"), [EDGE_TOWARDS_DEVICE]);
  });

  it("a ringing dialog repeats its 180 every provisionalRefreshInMs (2 s by default), the same 180 each time, until the 200", async () => {
    const { call, dialog } = await placeCall([EDGE_TOWARDS_DEVICE]);
    dialog.ring();
    await waitFor(() => peer.responses(call, 180).length === 1, "the first 180");
    clock.advance(1999);
    await peer.roundTrip();
    assert.equal(peer.responses(call, 180).length, 1, "not before the interval");
    clock.advance(1);
    await waitFor(() => peer.responses(call, 180).length === 2, "the second 180");
    clock.advance(2000);
    await waitFor(() => peer.responses(call, 180).length === 3, "the third 180");
    const [first, ...repeats] = peer.responses(call, 180).map((response) => serializeMessage(response).toString());
    for (const repeat of repeats) assert.equal(repeat, first);
    await answered(call, dialog);
    clock.advance(10_000);
    await peer.roundTrip();
    assert.equal(peer.responses(call, 180).length, 3, "none after the 200");
    await dialog.bye("done");
  });

  it("the repeated 180 stops at a CANCEL", async () => {
    const { call, dialog } = await placeCall([EDGE_TOWARDS_DEVICE]);
    dialog.ring();
    clock.advance(2000);
    await waitFor(() => peer.responses(call, 180).length === 2, "two 180s");
    peer.cancel(call);
    await waitFor(() => peer.responses(call, 487)[0], "the 487");
    assert.equal(dialog.state, "ended");
    clock.advance(10_000);
    await peer.roundTrip();
    assert.equal(peer.responses(call, 180).length, 2, "none after the CANCEL");
  });

  it("the repeated 180 stops when the dialog ends without an answer (a refusal)", async () => {
    const { call, dialog } = await placeCall([EDGE_TOWARDS_DEVICE]);
    dialog.ring();
    clock.advance(2000);
    await waitFor(() => peer.responses(call, 180).length === 2, "two 180s");
    dialog.reject(480, "Temporarily Unavailable");
    await waitFor(() => peer.responses(call, 480)[0], "the 480");
    clock.advance(10_000);
    await peer.roundTrip();
    assert.equal(peer.responses(call, 180).length, 2, "none after the refusal");
  });

  it("provisionalRefreshInMs 0: the 180 is sent once", async () => {
    accept = (invite) => new ServerDialog(stack, invite, { contact: gatewayContact, timers, scheduler: clock, provisionalRefreshInMs: 0 });
    try {
      const { call, dialog } = await placeCall([EDGE_TOWARDS_DEVICE]);
      dialog.ring();
      await waitFor(() => peer.responses(call, 180)[0], "the 180");
      clock.advance(10_000);
      await peer.roundTrip();
      assert.equal(peer.responses(call, 180).length, 1);
      dialog.reject(480, "Temporarily Unavailable");
    } finally {
      accept = acceptIntoDialogs;
    }
  });
});
