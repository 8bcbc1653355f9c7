import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { after, before, describe, it } from "node:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { generatePrompts } from "../../../media-host/prompts/generatePrompts.js";
import { processBus } from "../../../functions/adapters/bus/processBus.js";
import { CallController } from "../../../media-host/calls/callController.js";
import { MeetingLegServer } from "../../../media-host/meeting/meetingLegServer.js";
import { loadMediaHostConfig } from "../../../media-host/config.js";
import { ControlPlaneClient, mediaHostCredential } from "../../../media-host/controlPlane/controlPlaneClient.js";
import { FailedAttemptLimiter } from "../../../media-host/domain/failedAttemptLimiter.js";
import { Dialogs } from "../../../media-host/sip/dialogs.js";
import { PoolMembership } from "../../../media-host/pool/poolMembership.js";
import { parseMessage } from "../../../media-host/sip/parser.js";
import { SipStack } from "../../../media-host/sip/sipStack.js";
import { UdpTransport } from "../../../media-host/sip/transport/udpTransport.js";
import { type LocalStack, startLocalStack } from "../../../local/stack.js";
import { type RtpengineHarness, startRtpengine } from "../rtpengine/support/harness.js";
import { describeResult, runSipp } from "../../support/peers/sipp.js";
import { adminApi, enabledMeeting } from "../../support/onboarding.js";
import { RawSipDevice } from "../../support/peers/rawSipDevice.js";
import { LYNC_INVITES, MULTIPART_GOLDEN_DIR, lyncInvite } from "../../support/multipartInvites.js";
import { normaliseSdp } from "../rtpengine/support/sdpNormaliser.js";

// A room system dials <tenant key>.<VTC ID> into a media host wired to the real control
// plane (emulated Entra ID and Graph), rtpengine and SIPp: the full direct-dial path.
let stack: LocalStack;
let rtpengine: RtpengineHarness;
let udp: UdpTransport;
let sipPort: number;
let controller: CallController;
let meetingLegs: MeetingLegServer;
let membership: PoolMembership;
let meeting: { tenantKey: string; tenantId: string; vtcId: string; meetingId: string };
/** What the media host logged (its calls' and its meeting legs' lines), oldest first. */
const mediaHostLog: Record<string, unknown>[] = [];
const hostLogger = pino({ level: "debug" }, { write: (line: string) => void mediaHostLog.push(JSON.parse(line)) });

before(async () => {
  stack = await startLocalStack({ logLevel: "none" });
  rtpengine = await startRtpengine();
  const created = await enabledMeeting(stack, { subject: "Board" });
  meeting = { tenantKey: created.tenant.tenantKey, tenantId: created.tenant.tenantId, vtcId: created.vtcId, meetingId: created.meetingId };

  const config = loadMediaHostConfig({
    MEDIA_HOST_ID: "mh-direct",
    CONTROL_PLANE_URL: stack.adminApiUrl,
    AZURE_TENANT_ID: stack.mediaHostIdentity.tenantId,
    AZURE_CLIENT_ID: stack.mediaHostIdentity.clientId,
    AZURE_CLIENT_SECRET: stack.mediaHostIdentity.clientSecret,
    AZURE_AUTHORITY_HOST: stack.entra.origin,
  });
  udp = new UdpTransport();
  sipPort = await udp.listen("127.0.0.1", 0);
  const sip = new SipStack({ transports: [udp], serverName: "OpenCVI" });
  const dialogs = new Dialogs(sip, { contact: `sip:gateway@127.0.0.1:${sipPort}` });
  meetingLegs = new MeetingLegServer({
    mediaHostId: config.MEDIA_HOST_ID,
    host: "127.0.0.1",
    port: 0,
    ice: { bindAddress: "127.0.0.1", advertisedAddress: "127.0.0.1" },
    logger: hostLogger,
  });
  await meetingLegs.listen();
  const promptsDirectory = mkdtempSync(join(tmpdir(), "prompts-"));
  await generatePrompts({ directory: promptsDirectory });
  const controlPlane = new ControlPlaneClient(config, mediaHostCredential(config));
  // The host's lease in the pool: joins carry its epoch.
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
    logger: hostLogger,
  });
});
after(async () => {
  await membership.stop();
  await controller.close();
  await meetingLegs.close();
  await udp.close();
  await rtpengine.stop();
  await stack.stop();
});

const dial = () => `${meeting.tenantKey.split("@")[0]}.${meeting.vtcId}`;

describe("direct dial through the whole path", () => {
  it("the media host is told who shares their screen in the meeting, and when nobody does (what content sharing will follow)", async () => {
    const before = stack.graph.calls().length;
    const call = runSipp({
      scenario: "direct-dial",
      target: `127.0.0.1:${sipPort}`,
      service: dial(),
      transport: "u1",
      calls: 1,
      mediaMs: 4000,
      timeoutInMs: 30_000,
    });
    const until = Date.now() + 10_000;
    while (stack.graph.calls().slice(before)[0]?.state !== "established" && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    const [bot] = stack.graph.calls().slice(before);
    assert.equal(bot?.state, "established");
    const person = stack.graph.addHumanParticipant(meeting.meetingId, "Presenter");
    stack.graph.startScreenSharing(meeting.meetingId, person);
    const shared = async (msg: string) => {
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        const line = mediaHostLog.find((l) => l.graphCallId === bot?.id && l.msg === msg);
        if (line) return line;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`no "${msg}" line for the call`);
    };
    const started = await shared("someone in the meeting shares their screen");
    assert.equal(started.participantId, person);
    assert.ok(typeof started.sourceId === "string" && started.sourceId.length > 0);
    stack.graph.stopScreenSharing(meeting.meetingId, person);
    await shared("nobody in the meeting shares their screen");
    const result = await call;
    assert.equal(result.successful, 1, describeResult(result));
  });

  it("a device dials <tenant key>.<VTC ID>: rings, is answered once the bot is in, shows in the roster, hangs up and the bot leaves", async () => {
    const before = stack.graph.calls().length;
    const result = await runSipp({
      scenario: "direct-dial",
      target: `127.0.0.1:${sipPort}`,
      service: dial(),
      transport: "u1",
      calls: 1,
      mediaMs: 500,
      timeoutInMs: 30_000,
    });
    assert.equal(result.successful, 1, describeResult(result));
    // The bot leaves once the media host has told the control plane (after SIPp's BYE got its 200).
    const until = Date.now() + 5000;
    while (stack.graph.calls().slice(before)[0]?.state !== "terminated" && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    for (let i = 0; i < 3; i++) await stack.graph.idle();
    const [bot] = stack.graph.calls().slice(before);
    assert.ok(bot, "the control plane joined a bot for the device");
    assert.equal(bot.identity.displayName, "OpenCVI test", "the roster shows the device's SIP display name");
    assert.equal(bot.meetingId, meeting.meetingId);
    assert.equal(bot.state, "terminated", "the device's BYE made the bot leave");
    const record = await adminApi(stack, "GET", `/v1/calls/${bot.id}`);
    assert.equal(record.json.endedBy, "device");
    assert.ok(record.json.establishedAt);
    assert.equal(record.json.dialForm, "direct", "how the device dialled, for the operator's call lists");
    assert.equal(record.json.deviceAddress, "127.0.0.1", "where the device's requests came from");
    assert.equal(controller.activeCalls, 0);

    // From the join's answer on, every line the media host logs about the call names it by its SIP Call-ID, Graph's
    // call id and its callChainId (Microsoft's id of the call), so one search finds the call's lines everywhere.
    const callChainId = bot.callChainId;
    assert.match(callChainId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(record.json.callChainId, callChainId);
    const lines = mediaHostLog.filter((l) => l.callId === record.json.deviceCallId);
    const joined = lines.findIndex((l) => l.msg === "joining the meeting");
    assert.ok(joined >= 0, `the join is logged: ${JSON.stringify(lines)}`);
    assert.ok(
      lines.slice(0, joined).every((l) => l.callChainId === undefined),
      "before the join's answer nobody knows it",
    );
    const later = lines.slice(joined);
    assert.ok(
      later.some((l) => l.msg === "call ended"),
      "the end of the call is among them",
    );
    for (const line of later) {
      assert.equal(line.callChainId, callChainId, `"${line.msg}" carries the callChainId`);
      assert.equal(line.graphCallId, bot.id, `"${line.msg}" carries Graph's call id`);
    }
  });

  it("IVR: a device dials the tenant key, keys the conference ID in with SIP INFO and joins the meeting", async () => {
    const before = stack.graph.calls().length;
    const result = await runSipp({
      scenario: "ivr-info",
      target: `127.0.0.1:${sipPort}`,
      service: meeting.tenantKey.split("@")[0] ?? "",
      transport: "u1",
      csv: { rows: [[`${meeting.vtcId}#`]] },
      timeoutInMs: 40_000,
    });
    assert.equal(result.successful, 1, describeResult(result));
    const until = Date.now() + 5000;
    while (stack.graph.calls().slice(before)[0]?.state !== "terminated" && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    const [bot] = stack.graph.calls().slice(before);
    assert.equal(bot?.meetingId, meeting.meetingId, "the keyed-in ID led to the meeting");
    assert.equal(bot?.state, "terminated", "the device's BYE made the bot leave");
  });

  it("IVR: a device keys the conference ID in with RFC 4733 telephone-events (through rtpengine's DTMF log) and joins", async () => {
    const before = stack.graph.calls().length;
    const result = await runSipp({
      scenario: "ivr-rfc4733",
      target: `127.0.0.1:${sipPort}`,
      service: meeting.tenantKey.split("@")[0] ?? "",
      transport: "u1",
      dtmfDigits: `${meeting.vtcId}#`,
      timeoutInMs: 40_000,
    });
    assert.equal(result.successful, 1, describeResult(result));
    const until = Date.now() + 5000;
    while (stack.graph.calls().slice(before)[0]?.state !== "terminated" && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    const [bot] = stack.graph.calls().slice(before);
    assert.equal(bot?.meetingId, meeting.meetingId, "the RFC 4733 digits led to the meeting");
    assert.equal(bot?.state, "terminated", "the device's BYE made the bot leave");
  });

  it("IVR: a wrong ID three times ends with a goodbye and our BYE", async () => {
    const result = await runSipp({
      scenario: "wrong-id-three-times",
      target: `127.0.0.1:${sipPort}`,
      service: meeting.tenantKey.split("@")[0] ?? "",
      transport: "u1",
      csv: { rows: [["9999999999#"]] },
      timeoutInMs: 60_000,
    });
    assert.equal(result.successful, 1, describeResult(result));
    assert.equal(controller.activeCalls, 0);
  });

  it("CANCEL while ringing: 487 to the device, and the bot that was joining leaves the meeting", async () => {
    const before = stack.graph.calls().length;
    // Graph's "established" held back: the device keeps ringing until it gives up.
    stack.graph.holdNotifications = true;
    let result: Awaited<ReturnType<typeof runSipp>>;
    try {
      result = await runSipp({ scenario: "cancel", target: `127.0.0.1:${sipPort}`, service: dial(), transport: "u1", timeoutInMs: 20_000 });
    } finally {
      stack.graph.holdNotifications = false;
    }
    assert.equal(result.successful, 1, describeResult(result));
    const until = Date.now() + 5000;
    while (stack.graph.calls().slice(before)[0]?.state !== "terminated" && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    assert.equal(stack.graph.calls().slice(before)[0]?.state, "terminated", "the cancelled device's bot left");
    assert.equal(controller.activeCalls, 0);
  });

  it("hold and resume on a live call: each re-INVITE goes through rtpengine, answered with the direction mirrored", async () => {
    const result = await runSipp({ scenario: "hold-resume", target: `127.0.0.1:${sipPort}`, service: dial(), transport: "u1", timeoutInMs: 30_000 });
    assert.equal(result.successful, 1, describeResult(result));
  });

  it("the meeting ends: the device gets a BYE with the reason", async () => {
    const device = createSocket("udp4");
    await new Promise<void>((resolve) => device.bind(0, "127.0.0.1", resolve));
    const port = device.address().port;
    const seen: string[] = [];
    const sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    const uri = `sip:${dial()}@127.0.0.1:${sipPort}`;
    device.on("message", (data) => {
      const message = parseMessage(data);
      const lines = data.toString().split("\r\n");
      const pick = (name: string) => lines.find((l) => l.startsWith(`${name}:`)) ?? "";
      if (message.kind === "response") {
        seen.push(String(message.status));
        if (message.status === 200 && message.headers.cseq().method === "INVITE") {
          const ack = [
            `ACK ${uri} SIP/2.0`,
            `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-ack-end;rport`,
            "Max-Forwards: 70",
            pick("From"),
            pick("To"),
            pick("Call-ID"),
            "CSeq: 1 ACK",
            "Content-Length: 0",
            "",
            "",
          ];
          device.send(ack.join("\r\n"), sipPort, "127.0.0.1");
          // In the meeting: now the meeting ends.
          setTimeout(() => stack.graph.endMeeting(meeting.meetingId), 100);
        }
      } else if (message.method === "BYE") {
        seen.push(`BYE ${message.headers.get("Reason") ?? ""}`);
        device.send(
          ["SIP/2.0 200 OK", pick("Via"), pick("From"), pick("To"), pick("Call-ID"), pick("CSeq"), "Content-Length: 0", "", ""].join("\r\n"),
          sipPort,
          "127.0.0.1",
        );
      }
    });
    const invite = [
      `INVITE ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-meeting-ends;rport`,
      "Max-Forwards: 70",
      '"Boardroom" <sip:boardroom@example.com>;tag=br'.replace(/^/, "From: "),
      `To: <${uri}>`,
      "Call-ID: meeting-ends@example.com",
      "CSeq: 1 INVITE",
      `Contact: <sip:boardroom@127.0.0.1:${port}>`,
      "Content-Type: application/sdp",
      `Content-Length: ${sdp.length}`,
      "",
      sdp,
    ].join("\r\n");
    device.send(invite, sipPort, "127.0.0.1");
    const until = Date.now() + 10_000;
    while (!seen.some((s) => s.startsWith("BYE")) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, 200));
    device.close();
    assert.ok(seen.includes("180"), `rang first: ${seen.join(" ")}`);
    assert.ok(seen.includes("200"), `answered: ${seen.join(" ")}`);
    const bye = seen.find((s) => s.startsWith("BYE"));
    assert.ok(bye, `the device was sent a BYE: ${seen.join(" ")}`);
    assert.match(bye, /Reason: |SIP;cause=200;text=/);
    assert.equal(controller.activeCalls, 0);
  });

  it("the lobby: the device is answered and hears the waiting prompt until admitted, then the prompt stops", async () => {
    const lobby = await enabledMeeting(stack, { subject: "Lobby" });
    stack.graph.setLobbyScope(lobby.meetingId, "organizer");
    const before = stack.graph.calls().length;
    const device = await RawSipDevice.open({ gatewayPort: sipPort, dial: `${lobby.tenant.tenantKey.split("@")[0]}.${lobby.vtcId}` });
    try {
      device.invite();
      await device.until(() => device.responses.some((r) => r.status === 200), "the 200 while in the lobby");
      const bot = stack.graph.calls().slice(before)[0];
      assert.ok(bot?.inLobby, "the bot waits in the lobby while the device is answered");
      // Nothing on the meeting side sends media: what the device hears is the prompt.
      await device.until(() => device.rtpReceived > 25, "the waiting prompt's audio");
      stack.graph.admitFromLobby(bot.id);
      await device.until(() => stack.graph.calls().find((c) => c.id === bot.id)?.state === "established", "established");
      // Once admitted the prompt stops: the audio dries up (a few packets may still be on their way).
      let previous = -1;
      for (let i = 0; i < 50 && device.rtpReceived !== previous; i++) {
        previous = device.rtpReceived;
        await new Promise((r) => setTimeout(r, 200));
      }
      const quiet = device.rtpReceived;
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(device.rtpReceived, quiet, "no prompt audio once admitted");
      device.hangUp();
      await device.until(() => stack.graph.calls().find((c) => c.id === bot.id)?.state === "terminated", "the bot to leave");
    } finally {
      device.close();
    }
  });

  it("the lobby: not let in, the device hears why and gets a BYE with the reason", async () => {
    const lobby = await enabledMeeting(stack, { subject: "Denied" });
    stack.graph.setLobbyScope(lobby.meetingId, "organizer");
    const before = stack.graph.calls().length;
    const device = await RawSipDevice.open({ gatewayPort: sipPort, dial: `${lobby.tenant.tenantKey.split("@")[0]}.${lobby.vtcId}` });
    try {
      device.invite();
      await device.until(() => device.rtpReceived > 10, "the waiting prompt");
      const bot = stack.graph.calls().slice(before)[0];
      assert.ok(bot?.inLobby);
      const heardBefore = device.rtpReceived;
      stack.graph.removeParticipant(bot.id);
      await device.until(() => device.byeReason !== undefined, "the BYE", 15_000);
      assert.match(device.byeReason ?? "", /removed/);
      // The goodbye was spoken between the removal and the BYE (about 2 s of audio).
      assert.ok(device.rtpReceived - heardBefore > 50, `heard the reason: ${device.rtpReceived - heardBefore} packets`);
      await device.until(() => controller.activeCalls === 0, "the call to be gone");
    } finally {
      device.close();
    }
  });

  it("an operator hangs up through the admin API: the device gets a BYE with the reason, the bot leaves, the record says operator", async () => {
    const device = await RawSipDevice.open({ gatewayPort: sipPort, dial: dial(), displayName: "Boardroom HangUp" });
    try {
      device.invite();
      await device.until(() => device.responses.some((r) => r.status === 200 && r.method === "INVITE"), "the 200");
      const live = await adminApi(stack, "GET", `/v1/calls?state=live&tenant=${meeting.tenantId}`);
      assert.equal(live.status, 200, live.text);
      const call = live.json.value.find((c: { displayName: string }) => c.displayName === "Boardroom HangUp");
      assert.ok(call, `the call is live: ${live.text}`);
      assert.equal(call.mediaHostId, "mh-direct");
      assert.equal(call.meetingSubject, "Board");
      assert.equal(call.state, "established");

      const hungUp = await adminApi(stack, "POST", `/v1/calls/${call.callId}/hangup`);
      assert.equal(hungUp.status, 200, hungUp.text);
      await device.until(() => device.byeReason !== undefined, "the BYE");
      assert.equal(device.byeReason, 'SIP;cause=200;text="an operator hung up the call"');
      await device.until(() => controller.activeCalls === 0, "the call to be gone on the media host");
      assert.equal(stack.graph.calls().find((c) => c.id === call.callId)?.state, "terminated", "the bot left the meeting");
      const record = (await adminApi(stack, "GET", `/v1/calls/${call.callId}`)).json;
      assert.equal(record.endedBy, "operator");
      assert.equal(record.endReason, "an operator hung up the call");
    } finally {
      device.close();
    }
  });

  // Golden: the INVITE shapes in golden/multipart (see its README for their sources) and the answers they get.
  for (const name of LYNC_INVITES) {
    it(`a Lync / Skype for Business INVITE (${name}, multipart): 200 with a plain SDP answering its RFC 5245 ICE alternative, then ACK and BYE`, async () => {
      const before = stack.graph.calls().length;
      const bind = async () => {
        const socket = createSocket("udp4");
        await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
        return socket;
      };
      const [device, rtp, rtcp] = [await bind(), await bind(), await bind()];
      const port = device.address().port;
      const uri = `sip:${dial()}@127.0.0.1:${sipPort}`;
      const callId = `${name}-${Date.now()}@contoso.example`;
      const responses: { status: number; method: string; message: ReturnType<typeof parseMessage> }[] = [];
      device.on("message", (data) => {
        const message = parseMessage(data);
        if (message.kind === "response") responses.push({ status: message.status, method: message.headers.cseq().method, message });
      });
      const sendLines = (lines: string[]) => device.send([...lines, "Content-Length: 0", "", ""].join("\r\n"), sipPort, "127.0.0.1");
      const until = async (what: string, probe: () => boolean, timeoutInMs = 15_000) => {
        const deadline = Date.now() + timeoutInMs;
        while (!probe()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${responses.map((r) => `${r.status} ${r.method}`).join(", ")}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      try {
        const invite = lyncInvite(name, {
          requestUri: uri,
          deviceIp: "127.0.0.1",
          sipPort: port,
          branch: `z9hG4bK-${name}-invite`,
          callId,
          audioPort: rtp.address().port,
          audioRtcpPort: rtcp.address().port,
        });
        assert.match(invite.toString(), /Content-Type: multipart\/(alternative|mixed);boundary=/);
        device.send(invite, sipPort, "127.0.0.1");
        await until("the 200", () => responses.some((r) => r.method === "INVITE" && r.status >= 200));
        const statuses = responses.filter((r) => r.method === "INVITE").map((r) => r.status);
        assert.deepEqual([...new Set(statuses)], [100, 180, 200], "Trying, ringing while the bot joins, answered");
        const ok = responses.find((r) => r.status === 200)!.message;
        assert.equal(ok.headers.get("Content-Type"), "application/sdp", "our answer is a plain SDP");
        const answer = ok.body.toString();
        assert.ok(answer.endsWith("\r\n") && !/[^\r]\n/.test(answer), "CRLF line endings");
        const audio = answer.split("\r\n").find((line) => line.startsWith("m=audio "));
        const profile = name === "lync-alternative" ? "RTP/SAVP" : "RTP/AVP";
        assert.match(
          audio ?? "",
          new RegExp(`^m=audio [1-9]\\d* ${profile.replace("/", "\\/")} 9 101$`),
          "the offer's transport; G.722, its first codec rtpengine can encode, and its telephone-event",
        );
        assert.match(answer, /\r\na=rtpmap:9 G722\/8000\r\n/);
        assert.match(answer, /\r\na=rtpmap:101 telephone-event\/8000\r\n/);
        assert.match(answer, /\r\na=sendrecv\r\n/);
        assert.match(answer, /\r\na=crypto:\d+ AES_CM_128_HMAC_SHA1_80 inline:/, "SRTP keys of our own (SDES)");
        assert.match(answer, /\r\na=ice-ufrag:/, "ICE answered: the RFC 5245 alternative was the one anchored");
        assert.doesNotMatch(answer, /0\.830|x-msrta|SILK|cryptoscale/);
        const expectedFile = join(MULTIPART_GOLDEN_DIR, `${name}.answer.expected.sdp`);
        if (process.env.UPDATE_GOLDEN === "1") writeFileSync(expectedFile, normaliseSdp(answer));
        assert.equal(normaliseSdp(answer), readFileSync(expectedFile, "utf8"), `differs from ${expectedFile}`);

        const toHeader = `To: ${ok.headers.get("To")}`;
        const from = `From: "Alex Wilber" <sip:alexw@contoso.example>;tag=${/;tag=([^;]+)/.exec(invite.toString())?.[1] ?? ""}`;
        sendLines([
          `ACK ${uri} SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-${name}-ack;rport`,
          "Max-Forwards: 70",
          from,
          toHeader,
          `Call-ID: ${callId}`,
          "CSeq: 1 ACK",
        ]);
        await until("the bot in the meeting", () => stack.graph.calls().slice(before)[0]?.state === "established");
        // The 2xx is no longer retransmitted once ACKed.
        const oks = () => responses.filter((r) => r.status === 200 && r.method === "INVITE").length;
        const seen = oks();
        await new Promise((r) => setTimeout(r, 1200));
        assert.equal(oks(), seen, "the ACK stopped the 200's retransmissions");
        assert.equal(controller.activeCalls, 1);

        sendLines([
          `BYE ${uri} SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-${name}-bye;rport`,
          "Max-Forwards: 70",
          from,
          toHeader,
          `Call-ID: ${callId}`,
          "CSeq: 2 BYE",
        ]);
        await until("the BYE's 200", () => responses.some((r) => r.method === "BYE" && r.status === 200));
        await until("the bot to leave", () => stack.graph.calls().slice(before)[0]?.state === "terminated");
        await until("the call to end", () => controller.activeCalls === 0);
      } finally {
        for (const socket of [device, rtp, rtcp]) socket.close();
      }
    });
  }

  it("an unknown conference ID gets 404 with a Reason; an unknown host 404 too", async () => {
    const device = createSocket("udp4");
    await new Promise<void>((resolve) => device.bind(0, "127.0.0.1", resolve));
    const answers: string[] = [];
    device.on("message", (data) => answers.push(data.toString()));
    const sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    const invite = (uri: string, callId: string) =>
      [
        `INVITE ${uri} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${device.address().port};branch=z9hG4bK-${callId};rport`,
        "Max-Forwards: 70",
        'From: "Lobby screen" <sip:lobby@example.com>;tag=x',
        `To: <${uri}>`,
        `Call-ID: ${callId}`,
        "CSeq: 1 INVITE",
        `Contact: <sip:lobby@127.0.0.1:${device.address().port}>`,
        "Content-Type: application/sdp",
        `Content-Length: ${sdp.length}`,
        "",
        sdp,
      ].join("\r\n");
    device.send(invite(`sip:${meeting.tenantKey.split("@")[0]}.9999999999@127.0.0.1:${sipPort}`, "unknown-id"), sipPort, "127.0.0.1");
    device.send(invite(`sip:${dial()}@elsewhere.example.com`, "wrong-host"), sipPort, "127.0.0.1");
    const until = Date.now() + 8000;
    const final = (callId: string) =>
      answers.map((a) => parseMessage(Buffer.from(a))).find((m) => m.kind === "response" && m.status >= 300 && m.headers.callId() === callId);
    while ((!final("unknown-id") || !final("wrong-host")) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    device.close();
    const unknown = final("unknown-id");
    const host = final("wrong-host");
    assert.equal(unknown?.kind === "response" ? unknown.status : 0, 404);
    assert.match(unknown?.headers.get("Reason") ?? "", /no meeting with this conference ID/);
    assert.equal(host?.kind === "response" ? host.status : 0, 404);
    assert.match(host?.headers.get("Reason") ?? "", /not a domain of this service/);
  });
});
