import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Dialogs } from "../../../media-host/sip/dialogs.js";
import { parseMessage } from "../../../media-host/sip/parser.js";
import type { ServerDialog } from "../../../media-host/sip/serverDialog.js";
import { SipStack } from "../../../media-host/sip/sipStack.js";
import { StreamTransport } from "../../../media-host/sip/transport/streamTransport.js";
import { UdpTransport } from "../../../media-host/sip/transport/udpTransport.js";
import { describeResult, runSipp, type SippTransport } from "../../support/peers/sipp.js";

const tlsDirectory = fileURLToPath(new URL("../../../../.local/tls/", import.meta.url));
const sdp = Buffer.from(
  "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n",
);
const transports = [
  new UdpTransport(),
  new StreamTransport({ protocol: "tcp" }),
  new StreamTransport({
    protocol: "tls",
    tls: { cert: readFileSync(`${tlsDirectory}server.pem`), key: readFileSync(`${tlsDirectory}server-key.pem`) },
  }),
];
const ports: Record<SippTransport, number> = { u1: 0, t1: 0, tn: 0, l1: 0 };
let stack: SipStack;
let dialogs: Dialogs;
const ended: { callId: string; by: string }[] = [];
let onInvite: (dialog: ServerDialog) => void;
const digits: { digit: string; eventId: string }[] = [];

function mirrorDirection(offer: Buffer): Buffer {
  const text = offer.toString();
  const direction = /a=(sendonly|recvonly|inactive|sendrecv)/.exec(text)?.[1] ?? "sendrecv";
  const mirrored = { sendonly: "recvonly", recvonly: "sendonly", inactive: "inactive", sendrecv: "sendrecv" }[direction];
  return Buffer.from(sdp.toString().replace("a=sendrecv", `a=${mirrored}`));
}

const answerAfterRinging = (dialog: ServerDialog) => {
  dialog.ring();
  setTimeout(() => dialog.answer(sdp), 30);
};

before(async () => {
  ports.u1 = await transports[0]!.listen("127.0.0.1", 0);
  ports.t1 = await transports[1]!.listen("127.0.0.1", 0);
  ports.tn = ports.t1;
  ports.l1 = await transports[2]!.listen("127.0.0.1", 0);
  const timers = { t1InMs: 50, t2InMs: 200, t4InMs: 250 };
  stack = new SipStack({ transports, serverName: "OpenCVI", timers });
  // Hold and resume are answered with the mirrored direction (sendonly → recvonly), never a cached sendrecv.
  // Ringing repeats its 180 every 100 ms here (2 s by default), so a device that rings a while hears several.
  dialogs = new Dialogs(stack, {
    contact: "sip:gateway@127.0.0.1",
    timers,
    provisionalRefreshInMs: 100,
    answerOffer: async (offer: Buffer) => mirrorDirection(offer),
  });
  dialogs.onCall((invite) => {
    const dialog = dialogs.accept(invite);
    dialog.on("ended", (by) => ended.push({ callId: dialog.callId, by }));
    dialog.on("dtmf", (digit, eventId) => digits.push({ digit, eventId }));
    onInvite(dialog);
  });
});
after(async () => {
  for (const t of transports) await t.close();
});

describe("dialogs: answer, ACK, BYE both ways", () => {
  for (const transport of ["u1", "t1", "l1"] as const) {
    it(`a device calls, is answered after ringing, and hangs up (SIPp, ${transport})`, async () => {
      onInvite = answerAfterRinging;
      const result = await runSipp({
        scenario: "direct-dial",
        target: `127.0.0.1:${ports[transport]}`,
        service: "123456789.1234567890",
        transport,
        calls: 2,
        rate: 5,
        mediaMs: 300,
        timeoutInMs: 30_000,
      });
      assert.equal(result.successful, 2, describeResult(result));
      assert.equal(result.failed, 0, describeResult(result));
      assert.equal(dialogs.size, 0, "both dialogs ended");
    });
  }

  it("a device that rings a while hears the 180 again and again, then is answered (SIPp)", async () => {
    onInvite = (dialog) => {
      dialog.ring();
      setTimeout(() => dialog.answer(sdp), 450);
    };
    const result = await runSipp({
      scenario: "direct-dial",
      target: `127.0.0.1:${ports.u1}`,
      service: "123456789.1234567890",
      transport: "u1",
      timeoutInMs: 30_000,
    });
    assert.equal(result.successful, 1, describeResult(result));
    // SIPp's screen: "180 <---  messages  retransmissions  timeouts  unexpected"; a repeated 180 counts as a retransmission.
    const ringing = /^\s*180 <-+\s+(\d+)\s+(\d+)\s+\d+\s+(\d+)/m.exec(result.screen);
    assert.ok(ringing, result.screen);
    assert.ok(Number(ringing[1]) + Number(ringing[2]) >= 2, `the 180 repeated: ${ringing[0]}`);
    assert.equal(Number(ringing[3]), 0, "no 180 unexpected");
  });

  it("hold then resume: each re-INVITE answered with the mirrored direction (SIPp)", async () => {
    onInvite = answerAfterRinging;
    const result = await runSipp({
      scenario: "hold-resume",
      target: `127.0.0.1:${ports.u1}`,
      service: "123456789.1234567890",
      transport: "u1",
      timeoutInMs: 30_000,
    });
    assert.equal(result.successful, 1, describeResult(result));
  });

  it("session timers: agreed in the 2xx, refreshed by the device with UPDATE (SIPp)", async () => {
    onInvite = answerAfterRinging;
    const result = await runSipp({
      scenario: "session-timer",
      target: `127.0.0.1:${ports.u1}`,
      service: "123456789.1234567890",
      transport: "u1",
      timeoutInMs: 30_000,
    });
    assert.equal(result.successful, 1, describeResult(result));
    assert.ok(
      result.logLines.some((l) => /^Session-Expires:\s*90/.test(l)),
      result.logLines.join("\n"),
    );
  });

  it("late offer: our offer in the 2xx, the device's answer in the ACK (SIPp)", async () => {
    let answered: Buffer | undefined;
    onInvite = (dialog) => {
      dialog.once("confirmed", (answer) => {
        answered = answer;
      });
      answerAfterRinging(dialog);
    };
    const result = await runSipp({
      scenario: "late-offer",
      target: `127.0.0.1:${ports.u1}`,
      service: "123456789.1234567890",
      transport: "u1",
      timeoutInMs: 30_000,
    });
    assert.equal(result.successful, 1, describeResult(result));
    assert.match(answered?.toString() ?? "", /m=audio/);
  });

  it("SIP INFO digits reach the call, each with its own event id (SIPp)", async () => {
    onInvite = answerAfterRinging;
    digits.length = 0;
    const result = await runSipp({
      scenario: "ivr-info",
      target: `127.0.0.1:${ports.u1}`,
      service: "813878896",
      transport: "u1",
      csv: { rows: [["1234567890#"]] },
      timeoutInMs: 40_000,
    });
    assert.equal(result.successful, 1, describeResult(result));
    assert.equal(digits.map((d) => d.digit).join(""), "1234567890#");
    assert.equal(new Set(digits.map((d) => d.eventId)).size, 11);
  });

  it("retransmits the 2xx until the ACK; without one, hangs up with a BYE", async () => {
    const device: Socket = createSocket("udp4");
    await new Promise<void>((resolve) => device.bind(0, "127.0.0.1", resolve));
    const seen: string[] = [];
    device.on("message", (data) => {
      const message = parseMessage(data);
      if (message.kind === "response") seen.push(String(message.status));
      else {
        seen.push(message.method);
        // Answer the BYE like a device would.
        const lines = data.toString().split("\r\n");
        const pick = (name: string) => lines.find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`)) ?? "";
        const ok = ["SIP/2.0 200 OK", pick("Via"), pick("From"), pick("To"), pick("Call-ID"), pick("CSeq"), "Content-Length: 0", "", ""].join("\r\n");
        device.send(ok, ports.u1, "127.0.0.1");
      }
    });
    onInvite = (dialog) => dialog.answer(sdp);
    const invite = [
      "INVITE sip:123456789.1234567890@127.0.0.1 SIP/2.0",
      `Via: SIP/2.0/UDP 127.0.0.1:${device.address().port};branch=z9hG4bK-noack;rport`,
      "Max-Forwards: 70",
      "From: <sip:room@example.com>;tag=room",
      "To: <sip:123456789.1234567890@127.0.0.1>",
      "Call-ID: no-ack@example.com",
      "CSeq: 1 INVITE",
      `Contact: <sip:room@127.0.0.1:${device.address().port}>`,
      "Content-Type: application/sdp",
      `Content-Length: ${sdp.length}`,
      "",
      sdp.toString(),
    ].join("\r\n");
    device.send(invite, ports.u1, "127.0.0.1");
    const until = Date.now() + 6000;
    while (!ended.some((e) => e.callId === "no-ack@example.com") && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    device.close();
    assert.ok(seen.filter((s) => s === "200").length >= 4, `2xx retransmitted: ${seen.join(" ")}`);
    assert.ok(seen.includes("BYE"), `a BYE ends the unacknowledged call: ${seen.join(" ")}`);
    assert.deepEqual(
      ended.filter((e) => e.callId === "no-ack@example.com").map((e) => e.by),
      ["timeout"],
    );
  });

  it("a keyframe request the SIP way: INFO application/media_control+xml picture_fast_update (RFC 5168) reaches the device in the dialog", async () => {
    const status: number[] = [];
    onInvite = (dialog) => {
      dialog.answer(sdp);
      dialog.once("confirmed", () => {
        void dialog.requestPictureFastUpdate().then((s) => status.push(s));
      });
    };
    const device: Socket = createSocket("udp4");
    await new Promise<void>((resolve) => device.bind(0, "127.0.0.1", resolve));
    const infos: { contentType: string; body: string; from: string }[] = [];
    const line = (data: Buffer, name: string) =>
      data
        .toString()
        .split("\r\n")
        .find((l) => l.startsWith(`${name}:`)) ?? "";
    device.on("message", (data) => {
      const message = parseMessage(data);
      if (message.kind === "response" && message.status === 200 && message.headers.cseq().method === "INVITE") {
        const ack = ["ACK sip:gateway@127.0.0.1 SIP/2.0", `Via: SIP/2.0/UDP 127.0.0.1:${device.address().port};branch=z9hG4bK-ack-pfu;rport`];
        ack.push("Max-Forwards: 70", "From: <sip:room@example.com>;tag=room3", line(data, "To"), "Call-ID: fast-update@example.com", "CSeq: 1 ACK");
        device.send([...ack, "Content-Length: 0", "", ""].join("\r\n"), ports.u1, "127.0.0.1");
      } else if (message.kind === "request" && message.method === "INFO") {
        infos.push({ contentType: message.headers.get("Content-Type") ?? "", body: message.body.toString(), from: line(data, "From") });
        const ok = ["SIP/2.0 200 OK", line(data, "Via"), line(data, "From"), line(data, "To"), line(data, "Call-ID"), line(data, "CSeq")];
        device.send([...ok, "Content-Length: 0", "", ""].join("\r\n"), ports.u1, "127.0.0.1");
      }
    });
    const invite = [
      "INVITE sip:123456789.1234567890@127.0.0.1 SIP/2.0",
      `Via: SIP/2.0/UDP 127.0.0.1:${device.address().port};branch=z9hG4bK-pfu;rport`,
    ];
    invite.push(
      "Max-Forwards: 70",
      "From: <sip:room@example.com>;tag=room3",
      "To: <sip:123456789.1234567890@127.0.0.1>",
      "Call-ID: fast-update@example.com",
    );
    invite.push("CSeq: 1 INVITE", `Contact: <sip:room@127.0.0.1:${device.address().port}>`);
    device.send([...invite, "Content-Length: 0", "", ""].join("\r\n"), ports.u1, "127.0.0.1");
    const until = Date.now() + 4000;
    while (status.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    device.close();
    assert.deepEqual(status, [200], "the device's answer to the INFO");
    assert.equal(infos.length, 1);
    assert.equal(infos[0]?.contentType, "application/media_control+xml");
    assert.match(infos[0]?.body ?? "", /<media_control>\s*<vc_primitive>\s*<to_encoder>\s*<picture_fast_update\/>/);
    assert.match(infos[0]?.from ?? "", /tag=/, "sent in the dialog: our tag in From");
  });

  it("our side hangs up: the device gets a BYE over its own flow", async () => {
    onInvite = (dialog) => {
      dialog.answer(sdp);
      dialog.once("confirmed", () => setTimeout(() => void dialog.bye("the meeting ended"), 100));
    };
    // A raw device: it ACKs our 2xx, then must receive our BYE (with its Reason) and answers it.
    const device: Socket = createSocket("udp4");
    await new Promise<void>((resolve) => device.bind(0, "127.0.0.1", resolve));
    const got: string[] = [];
    device.on("message", (data) => {
      const message = parseMessage(data);
      if (message.kind === "response" && message.status === 200 && message.headers.cseq().method === "INVITE") {
        const toLine =
          data
            .toString()
            .split("\r\n")
            .find((l) => l.startsWith("To:")) ?? "";
        device.send(
          [
            "ACK sip:gateway@127.0.0.1 SIP/2.0",
            `Via: SIP/2.0/UDP 127.0.0.1:${device.address().port};branch=z9hG4bK-ack1;rport`,
            "Max-Forwards: 70",
            "From: <sip:room@example.com>;tag=room2",
            toLine,
            "Call-ID: we-hang-up@example.com",
            "CSeq: 1 ACK",
            "Content-Length: 0",
            "",
            "",
          ].join("\r\n"),
          ports.u1,
          "127.0.0.1",
        );
      } else if (message.kind === "request" && message.method === "BYE") {
        got.push(`BYE ${message.headers.get("Reason") ?? ""}`);
        const lines = data.toString().split("\r\n");
        const pick = (name: string) => lines.find((l) => l.startsWith(`${name}:`)) ?? "";
        device.send(
          ["SIP/2.0 200 OK", pick("Via"), pick("From"), pick("To"), pick("Call-ID"), pick("CSeq"), "Content-Length: 0", "", ""].join("\r\n"),
          ports.u1,
          "127.0.0.1",
        );
      }
    });
    device.send(
      [
        "INVITE sip:123456789.1234567890@127.0.0.1 SIP/2.0",
        `Via: SIP/2.0/UDP 127.0.0.1:${device.address().port};branch=z9hG4bK-hang;rport`,
        "Max-Forwards: 70",
        "From: <sip:room@example.com>;tag=room2",
        "To: <sip:123456789.1234567890@127.0.0.1>",
        "Call-ID: we-hang-up@example.com",
        "CSeq: 1 INVITE",
        `Contact: <sip:room@127.0.0.1:${device.address().port}>`,
        "Content-Length: 0",
        "",
        "",
      ].join("\r\n"),
      ports.u1,
      "127.0.0.1",
    );
    const until = Date.now() + 4000;
    while (!ended.some((e) => e.callId === "we-hang-up@example.com") && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    device.close();
    assert.deepEqual(got, ['BYE SIP;cause=200;text="the meeting ended"']);
    assert.deepEqual(
      ended.filter((e) => e.callId === "we-hang-up@example.com").map((e) => e.by),
      ["local"],
    );
  });
});
