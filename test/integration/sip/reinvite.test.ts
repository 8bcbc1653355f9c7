import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { Dialogs } from "../../../media-host/sip/dialogs.js";
import { ReinviteFailedError } from "../../../media-host/sip/errors.js";
import { glareRetryDelayInMs, type ServerDialog } from "../../../media-host/sip/serverDialog.js";
import { SipStack } from "../../../media-host/sip/sipStack.js";
import { UdpTransport } from "../../../media-host/sip/transport/udpTransport.js";
import { OfferAnswerDevice } from "../../support/peers/offerAnswerDevice.js";
import { waitFor } from "../../support/waiting.js";

// Offers the gateway makes inside a dialog, against a device on UDP: a re-INVITE without an
// offer (our offer in the 2xx, the answer in the ACK) and re-INVITEs the gateway sends,
// glare included (RFC 3261 §14: 491 both ways, then the retry after a short injected interval).
const udp = new UdpTransport();
let port: number;
let dialogs: Dialogs;
let dialog: ServerDialog | undefined;
let version = 1;
/** What the gateway side last sent and received as SDP: its view of the session. */
const gateway = { sent: "", received: "", ackAnswers: [] as (string | undefined)[] };

const gatewayOffer = () =>
  Buffer.from(
    `v=0\r\no=gateway 7 ${++version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\nm=video 40002 RTP/AVP 109\r\na=rtpmap:109 H264/90000\r\na=sendrecv\r\n`,
  );

before(async () => {
  port = await udp.listen("127.0.0.1", 0);
  const timers = { t1InMs: 50, t2InMs: 200, t4InMs: 250 };
  const stack = new SipStack({ transports: [udp], serverName: "OpenCVI", timers });
  dialogs = new Dialogs(stack, {
    contact: `sip:gateway@127.0.0.1:${port}`,
    timers,
    // The retry after a 491, short here (0–2 s in the product); the device, owner of the Call-ID, waits longer.
    glareRetryDelayInMs: () => 30,
    answerOffer: async (offer) => {
      gateway.received = offer.toString();
      const answer = gatewayOffer();
      gateway.sent = answer.toString();
      return answer;
    },
    offerSession: {
      offer: async () => {
        const offer = gatewayOffer();
        gateway.sent = offer.toString();
        return offer;
      },
      answered: (answer) => {
        gateway.ackAnswers.push(answer?.toString());
        if (answer) gateway.received = answer.toString();
      },
    },
  });
  dialogs.onCall((invite) => {
    dialog = dialogs.accept(invite);
    if (invite.request.body.length > 0) gateway.received = invite.request.body.toString();
    const sdp = gatewayOffer();
    gateway.sent = sdp.toString();
    dialog.answer(sdp);
  });
});
after(() => udp.close());
beforeEach(() => {
  dialog = undefined;
  gateway.ackAnswers.length = 0;
});

async function connected(): Promise<{ device: OfferAnswerDevice; dialog: ServerDialog }> {
  const device = await OfferAnswerDevice.open({ gatewayPort: port, dial: "123456789.1234567890" });
  const ok = await device.invite({ offer: true });
  assert.equal(ok.status, 200);
  const up = await waitFor(() => dialog?.state === "confirmed" && dialog, "the dialog to be confirmed");
  return { device, dialog: up };
}

describe("offers the gateway makes in a dialog", () => {
  it("waits 0–2 s after a 491 by default: the device chose the Call-ID (RFC 3261 §14.1)", () => {
    const delays = Array.from({ length: 1000 }, glareRetryDelayInMs);
    assert.ok(
      delays.every((d) => d >= 0 && d < 2000),
      "within 0–2 s",
    );
    assert.ok(new Set(delays).size > 900, "random");
  });

  it("a re-INVITE without an offer gets a 200 carrying ours (o= version up); the answer in the device's ACK reaches the call", async () => {
    const { device } = await connected();
    const before = Number(/^o=gateway 7 (\d+)/m.exec(gateway.sent)?.[1]);
    const ok = await device.reinvite({ offer: false });
    assert.equal(ok.status, 200);
    const offer = ok.body.toString();
    assert.match(offer, /^m=audio 40000 RTP\/AVP 0 101/m, "our offer of the session");
    assert.equal(Number(/^o=gateway 7 (\d+)/m.exec(offer)?.[1]), before + 1, "the version went up");
    await waitFor(() => gateway.ackAnswers.length === 1, "the ACK's answer at the call");
    assert.match(gateway.ackAnswers[0] ?? "", /^m=audio \d+ RTP\/AVP 0 101/m, "the device's answer, from its ACK");
    assert.equal(gateway.received, device.localSdp, "the gateway holds the device's answer");
    assert.equal(gateway.sent, device.remoteSdp, "the device holds the gateway's offer");
    await device.hangUp();
    await device.close();
  });

  it("the gateway's re-INVITE: the device's answer comes back, the 2xx is ACKed, and the session is the same on both sides", async () => {
    const { device, dialog } = await connected();
    const offer = gatewayOffer();
    const answer = await dialog.reinvite(offer);
    gateway.sent = offer.toString();
    gateway.received = answer.toString();
    assert.match(answer.toString(), /^m=video \d+ RTP\/AVP 109/m);
    await waitFor(() => device.acksReceived === 1, "our ACK of the 2xx at the device");
    assert.equal(device.remoteSdp, gateway.sent);
    assert.equal(device.localSdp, gateway.received);
    await device.hangUp();
    await device.close();
  });

  it("glare: the gateway's re-INVITE crosses the device's; each gets 491, the gateway retries after its interval, the device after its longer one, and both end with the same session", async () => {
    const { device, dialog } = await connected();
    let devicesOwn: Promise<Awaited<ReturnType<OfferAnswerDevice["reinvite"]>>> | undefined;
    let first = true;
    device.replyToReinvite = () => {
      if (!first) return "answer";
      first = false;
      // The device's own re-INVITE is already on its way when ours arrives: it refuses ours.
      devicesOwn = device.reinvite({ offer: true });
      return { status: 491, reason: "Request Pending" };
    };
    const ours = dialog.reinvite(() => gatewayOffer());
    const crossed = await waitFor(() => devicesOwn, "the device's crossing re-INVITE");
    assert.equal((await crossed).status, 491, "the gateway refused the device's re-INVITE while its own was pending");
    const answer = await ours;
    gateway.received = answer.toString();
    gateway.sent = device.remoteSdp ?? "";
    assert.equal(device.gatewayReinvites.length, 2, "the gateway sent its re-INVITE again after the 491");
    assert.ok(device.gatewayReinvites[1]?.includes(`o=gateway 7 ${version}`), "the retry carries an offer made anew (version up)");
    // The device (the Call-ID's owner) retries later (2.1–4 s in RFC 3261; at once here, after ours completed).
    const retried = await device.reinvite({ offer: true });
    assert.equal(retried.status, 200);
    await waitFor(() => gateway.received === device.localSdp && gateway.sent === retried.body.toString(), "the device's offer at the gateway");
    assert.equal(device.remoteSdp, gateway.sent, "the device holds what the gateway sent last");
    assert.equal(device.localSdp, gateway.received, "the gateway holds what the device sent last");
    await device.hangUp();
    await device.close();
  });

  it("an UPDATE with an offer while our re-INVITE is in progress gets 491 (RFC 3311); after it, one is answered", async () => {
    const { device, dialog } = await connected();
    let update: ReturnType<OfferAnswerDevice["update"]> | undefined;
    device.replyToReinvite = () => {
      update = device.update();
      return "answer";
    };
    await dialog.reinvite(gatewayOffer());
    const crossed = await waitFor(() => update, "the device's UPDATE");
    assert.equal((await crossed).status, 491);
    assert.equal((await device.update()).status, 200);
    await device.hangUp();
    await device.close();
  });

  it("a refused re-INVITE fails with the device's status; 491 on every attempt fails as glare; silence as a 408 timeout", async () => {
    const { device, dialog } = await connected();
    device.replyToReinvite = () => ({ status: 488, reason: "Not Acceptable Here" });
    await assert.rejects(
      dialog.reinvite(gatewayOffer()),
      (e: unknown) => e instanceof ReinviteFailedError && e.failure === "rejected" && e.sipStatus === 488,
    );
    device.replyToReinvite = () => ({ status: 491, reason: "Request Pending" });
    const before = device.gatewayReinvites.length;
    await assert.rejects(
      dialog.reinvite(gatewayOffer(), { maxAttempts: 3 }),
      (e: unknown) => e instanceof ReinviteFailedError && e.failure === "glare" && e.sipStatus === 491,
    );
    assert.equal(device.gatewayReinvites.length - before, 3, "three attempts");
    // Given up between attempts: the abort ends the wait after the 491, and no third attempt goes out.
    const aborting = new AbortController();
    const counted = device.gatewayReinvites.length;
    device.replyToReinvite = () => {
      aborting.abort();
      return { status: 491, reason: "Request Pending" };
    };
    await assert.rejects(dialog.reinvite(gatewayOffer(), { abortSignal: aborting.signal }), (e: unknown) => (e as Error).name === "AbortError");
    assert.equal(device.gatewayReinvites.length - counted, 1, "no attempt after the abort");
    device.replyToReinvite = () => "silence";
    await assert.rejects(
      dialog.reinvite(gatewayOffer()),
      (e: unknown) => e instanceof ReinviteFailedError && e.failure === "timeout" && e.sipStatus === 408,
    );
    assert.equal(dialog.state, "confirmed", "a failed re-INVITE leaves the dialog up");
    await device.hangUp();
    await assert.rejects(dialog.reinvite(gatewayOffer()), (e: unknown) => e instanceof ReinviteFailedError && e.sipStatus === 481);
    await device.close();
  });
});
