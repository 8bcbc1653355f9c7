import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { processBus } from "../../../functions/adapters/bus/processBus.js";
import { type SeededDemo, seedDemo } from "../../../local/demo.js";
import { type LocalStack, startLocalStack } from "../../../local/stack.js";
import { CallController } from "../../../media-host/calls/callController.js";
import { loadMediaHostConfig } from "../../../media-host/config.js";
import { ControlPlaneClient, mediaHostCredential } from "../../../media-host/controlPlane/controlPlaneClient.js";
import { FailedAttemptLimiter } from "../../../media-host/domain/failedAttemptLimiter.js";
import { MeetingLegServer } from "../../../media-host/meeting/meetingLegServer.js";
import { PoolMembership } from "../../../media-host/pool/poolMembership.js";
import { generatePrompts } from "../../../media-host/prompts/generatePrompts.js";
import { PROBE_CALL_ID_PREFIX } from "../../../media-host/rtpengine/rtpengineProbe.js";
import { Dialogs } from "../../../media-host/sip/dialogs.js";
import { SipStack } from "../../../media-host/sip/sipStack.js";
import { UdpTransport } from "../../../media-host/sip/transport/udpTransport.js";
import { enabledMeeting } from "../../support/onboarding.js";
import { OfferAnswerDevice } from "../../support/peers/offerAnswerDevice.js";
import { waitFor } from "../../support/waiting.js";
import { type RtpengineHarness, startRtpengine } from "../rtpengine/support/harness.js";

// Offers from the gateway through the whole call path: devices that dial the demo meeting without
// SDP (delayed offer, direct and through the IVR), ask for a fresh offer mid-call (a re-INVITE
// without SDP), get a re-INVITE of ours that crosses their own (glare), or answer with nothing.
// Real rtpengine, the control plane with its emulators, the meeting emulator's SFU: media is
// counted at the devices, one device's media reaching the other through the meeting.
let stack: LocalStack;
let demo: SeededDemo;
let rtpengine: RtpengineHarness;
let udp: UdpTransport;
let sipPort: number;
let controller: CallController;
let meetingLegs: MeetingLegServer;
let membership: PoolMembership;
const devices: OfferAnswerDevice[] = [];

before(async () => {
  stack = await startLocalStack({ logLevel: "none", meetingMedia: {} });
  demo = await seedDemo(stack);
  rtpengine = await startRtpengine();
  const config = loadMediaHostConfig({
    MEDIA_HOST_ID: "mh-offers",
    CONTROL_PLANE_URL: stack.adminApiUrl,
    AZURE_TENANT_ID: stack.mediaHostIdentity.tenantId,
    AZURE_CLIENT_ID: stack.mediaHostIdentity.clientId,
    AZURE_CLIENT_SECRET: stack.mediaHostIdentity.clientSecret,
    AZURE_AUTHORITY_HOST: stack.entra.origin,
  });
  udp = new UdpTransport();
  sipPort = await udp.listen("127.0.0.1", 0);
  const sip = new SipStack({ transports: [udp], serverName: "OpenCVI" });
  // After a 491 the gateway retries at once here (0–2 s in the product); the devices wait longer, as RFC 3261 §14.1 has it.
  const dialogs = new Dialogs(sip, { contact: `sip:gateway@127.0.0.1:${sipPort}`, glareRetryDelayInMs: () => 20 });
  const logger = process.env.OFFERS_LOG ? pino({ level: "debug" }, pino.destination(process.env.OFFERS_LOG)) : pino({ level: "silent" });
  meetingLegs = new MeetingLegServer({
    mediaHostId: config.MEDIA_HOST_ID,
    host: "127.0.0.1",
    port: 0,
    ice: { bindAddress: "127.0.0.1", advertisedAddress: "127.0.0.1" },
    logger,
  });
  await meetingLegs.listen();
  const promptsDirectory = mkdtempSync(join(tmpdir(), "prompts-"));
  await generatePrompts({ directory: promptsDirectory });
  const controlPlane = new ControlPlaneClient(config, mediaHostCredential(config));
  membership = new PoolMembership({
    registry: controlPlane,
    report: { sipUri: `sip:127.0.0.1:${sipPort};transport=udp`, capacity: 100, version: "test", activeCalls: () => 0, load: () => 0 },
  });
  await membership.start();
  controller = new CallController(dialogs, processBus, {
    promptsDirectory,
    dtmf: rtpengine.dtmf,
    mediaHostId: config.MEDIA_HOST_ID,
    pool: membership,
    dialPlan: { serviceDomain: "cvi.localhost", ownHosts: ["127.0.0.1"] },
    controlPlane,
    rtpengine: rtpengine.client,
    meetingLegs,
    limiter: new FailedAttemptLimiter(),
    logger,
  });
});
after(async () => {
  for (const device of devices) await device.close().catch(() => {});
  await membership.stop();
  await controller.close();
  await meetingLegs.close();
  await udp.close();
  await rtpengine.stop();
  await stack.stop();
});

const digits = () => demo.tenantKey.split("@")[0] ?? "";

async function device(dial: string, displayName: string): Promise<OfferAnswerDevice> {
  const opened = await OfferAnswerDevice.open({ gatewayPort: sipPort, dial, displayName });
  devices.push(opened);
  return opened;
}

/** rtpengine's calls, without a media host's own probe call. */
async function rtpengineCalls(): Promise<string[]> {
  const { calls } = await rtpengine.client.list();
  return calls.filter((id) => !id.startsWith(PROBE_CALL_ID_PREFIX));
}

/** Both devices send media; each must get the other's through the meeting (audio and H.264). */
async function mediaFlowsBetween(a: OfferAnswerDevice, b: OfferAnswerDevice): Promise<void> {
  const before = { a: { ...a.media.received }, b: { ...b.media.received } };
  let sending = true;
  const send = async (d: OfferAnswerDevice) => {
    while (sending) await d.sendMedia(10);
  };
  const senders = [send(a), send(b)];
  try {
    await waitFor(
      () =>
        a.media.received.audio - before.a.audio > 20 &&
        b.media.received.audio - before.b.audio > 20 &&
        a.media.received.video - before.a.video > 5 &&
        b.media.received.video - before.b.video > 5,
      "audio and video both ways",
      20_000,
    );
  } catch (e) {
    throw new Error(
      `${(e as Error).message}: a got ${JSON.stringify(a.media.received)}, b ${JSON.stringify(b.media.received)}, from ${JSON.stringify(before)}`,
    );
  } finally {
    sending = false;
    await Promise.all(senders);
  }
}

describe("offers from the gateway, through the whole call path", () => {
  let delayed: OfferAnswerDevice;
  let other: OfferAnswerDevice;

  it("a delayed-offer INVITE to the demo meeting (direct dial) rings, gets a 200 carrying our offer, and its ACK's answer carries media both ways", async () => {
    other = await device(`${digits()}.${demo.vtcId}`, "Room with an offer");
    assert.equal((await other.invite({ offer: true })).status, 200);
    delayed = await device(`${digits()}.${demo.vtcId}`, "Delayed offer room");
    const ok = await delayed.invite({ offer: false });
    assert.equal(ok.status, 200);
    assert.ok(
      delayed.responses.some((r) => r.status === 180),
      "it rang while its bot joined",
    );
    const offer = ok.body.toString();
    assert.equal(ok.headers.get("Content-Type"), "application/sdp");
    assert.match(offer, /^m=audio [1-9]\d* RTP\/AVP 111 9 0 8 (\d+ ?)+\r$/m, "Opus, then G.722, PCMU and PCMA that rtpengine transcodes");
    assert.match(offer, /^a=rtpmap:\d+ telephone-event\/8000\r$/m, "telephone-event for RFC 4733 digits");
    assert.match(offer, /^m=video [1-9]\d* RTP\/AVP 109\r$/m);
    assert.match(offer, /^a=fmtp:109 profile-level-id=42e028;packetization-mode=1\r$/m);
    const crypto = offer.match(/^a=crypto:\d+ (\S+) inline:/gm) ?? [];
    assert.deepEqual(
      [...new Set(crypto.map((line) => line.split(" ")[1]))].sort(),
      ["AES_CM_128_HMAC_SHA1_32", "AES_CM_128_HMAC_SHA1_80"],
      "opportunistic SRTP (RFC 8643): RTP/AVP with SDES keys of the two suites room systems know",
    );
    assert.doesNotMatch(offer, /a=fingerprint|a=ice-/);
    await mediaFlowsBetween(delayed, other);
  });

  it("a re-INVITE without SDP mid-call: 200 with a fresh offer of the session (same ports, o= version up), the ACK's answer applied, media flows on", async () => {
    const previous = delayed.remoteSdp ?? "";
    const ok = await delayed.reinvite({ offer: false });
    assert.equal(ok.status, 200);
    const offer = ok.body.toString();
    const ports = (sdp: string) => [...sdp.matchAll(/^m=\w+ (\d+)/gm)].map((m) => m[1]);
    assert.deepEqual(ports(offer), ports(previous), "the same ports");
    const origin = (sdp: string) => /^o=(\S+) (\S+) (\d+) (.*)$/m.exec(sdp)?.slice(1) ?? [];
    const [user, session, version, rest] = origin(offer);
    const [user0, session0, version0, rest0] = origin(previous);
    assert.deepEqual([user, session, rest], [user0, session0, rest0], "the same origin");
    assert.equal(BigInt(version ?? "0"), BigInt(version0 ?? "0") + 1n, "the version one up");
    await mediaFlowsBetween(delayed, other);
    // The same for a call that began with the device's own offer (an MCU asking after a transfer).
    const answeredBefore = other.remoteSdp ?? "";
    const reoffer = await other.reinvite({ offer: false });
    assert.equal(reoffer.status, 200);
    assert.deepEqual(ports(reoffer.body.toString()), ports(answeredBefore), "the ports of its answer");
    assert.equal(origin(reoffer.body.toString())[1], origin(answeredBefore)[1], "the session id of its answer");
    await mediaFlowsBetween(delayed, other);
  });

  it("a re-INVITE of the gateway's that crosses the device's own resolves through 491 both ways and the gateway's retry; both sides end with the same session and media flows on", async () => {
    let devicesOwn: ReturnType<OfferAnswerDevice["reinvite"]> | undefined;
    let first = true;
    delayed.replyToReinvite = () => {
      if (!first) return "answer";
      first = false;
      devicesOwn = delayed.reinvite({ offer: true });
      return { status: 491, reason: "Request Pending" };
    };
    const reinvitesBefore = delayed.gatewayReinvites.length;
    const ours = controller.offerSessionToDevice(delayed.callId);
    const crossed = await waitFor(() => devicesOwn, "the device's crossing re-INVITE");
    assert.equal((await crossed).status, 491, "the gateway refused the device's re-INVITE while its own was pending");
    await ours;
    assert.equal(delayed.gatewayReinvites.length - reinvitesBefore, 2, "ours, then its retry after the 491");
    await waitFor(() => delayed.acksReceived >= 2, "our ACKs of the device's 491 and 200");
    // The device, owner of the Call-ID, retries after its longer wait: answered like any offer.
    const retried = await delayed.reinvite({ offer: true });
    assert.equal(retried.status, 200);
    assert.equal(delayed.remoteSdp, retried.body.toString(), "the device holds the gateway's last answer");
    await mediaFlowsBetween(delayed, other);
    await delayed.hangUp();
    await other.hangUp();
    await waitFor(() => controller.activeCalls === 0, "both calls to end");
  });

  it("a delayed-offer INVITE through the IVR: 200 with our offer at once, the prompt heard over the ACK's answer, the ID keyed in by INFO, then media both ways in the meeting", async () => {
    other = await device(`${digits()}.${demo.vtcId}`, "Room with an offer");
    assert.equal((await other.invite({ offer: true })).status, 200);
    const ivr = await device(digits(), "Delayed offer via IVR");
    const ok = await ivr.invite({ offer: false });
    assert.equal(ok.status, 200);
    assert.match(ok.body.toString(), /^m=audio [1-9]\d* RTP\/AVP 111 9 0 8 /m, "our offer");
    await waitFor(() => ivr.media.received.audio > 25, "the IVR's prompt at the device");
    for (const digit of `${demo.vtcId}#`) assert.equal((await ivr.info(digit)).status, 200);
    const before = stack.graph.calls().length;
    await waitFor(
      () =>
        stack.graph
          .calls()
          .slice(before)
          .find((c) => c.identity.displayName === "Delayed offer via IVR"),
      "its bot in the meeting",
    );
    await mediaFlowsBetween(ivr, other);
    await ivr.hangUp();
    await other.hangUp();
    await waitFor(() => controller.activeCalls === 0, "both calls to end");
  });

  it("a delayed-offer INVITE through the IVR keys the ID in with RFC 4733 telephone-events, on the telephone-event of our offer", async () => {
    const ivr = await device(digits(), "Delayed offer via IVR, RFC 4733");
    assert.equal((await ivr.invite({ offer: false })).status, 200);
    await waitFor(() => ivr.media.received.audio > 25, "the IVR's prompt at the device");
    const before = stack.graph.calls().length;
    // A room system's audio runs before anyone keys anything; the events continue its stream.
    await ivr.sendMedia(10);
    for (const digit of `${demo.vtcId}#`) await ivr.rfc4733(digit);
    await waitFor(
      () =>
        stack.graph
          .calls()
          .slice(before)
          .find((c) => c.identity.displayName === "Delayed offer via IVR, RFC 4733"),
      "its bot in the meeting",
    );
    await ivr.hangUp();
    await waitFor(() => controller.activeCalls === 0, "the call to end");
  });

  it("a delayed-offer INVITE to a meeting with a lobby: answered with our offer while the bot waits, the waiting prompt heard over the ACK's answer, admitted", async () => {
    const lobby = await enabledMeeting(stack, { subject: "Lobby" });
    stack.graph.setLobbyScope(lobby.meetingId, "organizer");
    const before = stack.graph.calls().length;
    const waiting = await device(`${lobby.tenant.tenantKey.split("@")[0]}.${lobby.vtcId}`, "Delayed offer in the lobby");
    const ok = await waiting.invite({ offer: false });
    assert.equal(ok.status, 200);
    assert.match(ok.body.toString(), /^m=audio [1-9]\d* RTP\/AVP 111 9 0 8 /m, "our offer");
    const bot = stack.graph.calls().slice(before)[0];
    assert.ok(bot?.inLobby, "answered while its bot waits in the lobby");
    await waitFor(() => waiting.media.received.audio > 25, "the waiting prompt at the device");
    stack.graph.admitFromLobby(bot.id);
    await waitFor(() => stack.graph.calls().find((c) => c.id === bot.id)?.state === "established", "admitted");
    await waiting.hangUp();
    await waitFor(() => controller.activeCalls === 0, "the call to end");
  });

  it("an ACK without an answer to our offer ends the call: a BYE with a Reason, the bot gone from the meeting, nothing left in rtpengine", async () => {
    const broken = await device(`${digits()}.${demo.vtcId}`, "Answerless room");
    broken.answerInAck = false;
    const before = stack.graph.calls().length;
    assert.equal((await broken.invite({ offer: false })).status, 200);
    await waitFor(() => broken.byeReason !== undefined, "the BYE");
    assert.match(broken.byeReason ?? "", /^SIP;cause=488;text="no SDP answer in the ACK"$/);
    const bot = await waitFor(() => stack.graph.calls().slice(before)[0], "its bot");
    await waitFor(() => stack.graph.calls().find((c) => c.id === bot.id)?.state === "terminated", "the bot to leave");
    await waitFor(() => controller.activeCalls === 0, "the call to end");
    await waitFor(async () => !(await rtpengineCalls()).includes(broken.callId), "rtpengine to forget the call");
    assert.deepEqual(await rtpengineCalls(), [], "no call left in rtpengine");

    // The same when the ACK of a re-INVITE without SDP brings no answer to our fresh offer.
    const later = await device(`${digits()}.${demo.vtcId}`, "Room that forgets its answer");
    assert.equal((await later.invite({ offer: true })).status, 200);
    later.answerInAck = false;
    assert.equal((await later.reinvite({ offer: false })).status, 200);
    await waitFor(() => later.byeReason !== undefined, "the BYE");
    assert.match(later.byeReason ?? "", /^SIP;cause=488;text="no SDP answer in the ACK"$/);
    await waitFor(() => controller.activeCalls === 0, "the call to end");
    await waitFor(async () => (await rtpengineCalls()).length === 0, "rtpengine to forget the call");
  });
});
