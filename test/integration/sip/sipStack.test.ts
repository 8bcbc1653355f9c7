import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { parseMessage } from "../../../media-host/sip/parser.js";
import type { SipRequest, SipResponse } from "../../../media-host/sip/message.js";
import { SipStack } from "../../../media-host/sip/sipStack.js";
import { StreamTransport } from "../../../media-host/sip/transport/streamTransport.js";
import { UdpTransport } from "../../../media-host/sip/transport/udpTransport.js";
import type { IncomingRequest } from "../../../media-host/sip/incomingRequest.js";
import { EXAMPLE_VALUES, lyncInvite } from "../../support/multipartInvites.js";

let stack: SipStack;
let udp: UdpTransport;
let tcp: StreamTransport;
let udpPort: number;
let tcpPort: number;
let client: Socket;
const received: SipResponse[] = [];
const raw: string[] = [];
const infos: IncomingRequest[] = [];
let nextInvite: (request: IncomingRequest) => void = () => {};

before(async () => {
  udp = new UdpTransport();
  tcp = new StreamTransport({ protocol: "tcp" });
  udpPort = await udp.listen("127.0.0.1", 0);
  tcpPort = await tcp.listen("127.0.0.1", 0);
  // Short T1 so retransmission behaviour shows within a test.
  stack = new SipStack({ transports: [udp, tcp], serverName: "OpenCVI test", timers: { t1InMs: 40, t2InMs: 160, t4InMs: 200 } });
  stack.handle("INFO", (request) => {
    infos.push(request);
    request.respond(200, "OK");
  });
  stack.handle("INVITE", (request) => nextInvite(request));
  stack.handle("BYE", () => {
    throw new Error("handler bug");
  });
  client = createSocket("udp4");
  await new Promise<void>((resolve) => client.bind(0, "127.0.0.1", resolve));
  client.on("message", (data) => {
    raw.push(data.toString());
    try {
      const message = parseMessage(data);
      if (message.kind === "response") received.push(message);
    } catch {
      // not ours to judge here
    }
  });
});
after(async () => {
  client.close();
  await udp.close();
  await tcp.close();
});

let seq = 0;
function request(
  method: string,
  options: { branch?: string; callId?: string; extra?: string; cseqMethod?: string; body?: string; toTag?: string } = {},
): string {
  seq++;
  const branch = options.branch ?? `z9hG4bK-t${seq}`;
  const body = options.body ?? "";
  return [
    `${method} sip:123456789.1234567890@127.0.0.1 SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${client.address().port};branch=${branch};rport`,
    "Max-Forwards: 70",
    `From: "Room 1" <sip:room1@example.com>;tag=f${seq}`,
    `To: <sip:123456789.1234567890@127.0.0.1>${options.toTag ? `;tag=${options.toTag}` : ""}`,
    `Call-ID: ${options.callId ?? `call-${seq}@example.com`}`,
    `CSeq: 1 ${options.cseqMethod ?? method}`,
    ...(options.extra ? [options.extra] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    "",
    body,
  ].join("\r\n");
}

async function send(text: string | Buffer): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    client.send(typeof text === "string" ? Buffer.from(text) : text, udpPort, "127.0.0.1", (e) => (e ? reject(e) : resolve())),
  );
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutInMs = 2000): Promise<T> {
  const until = Date.now() + timeoutInMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A multipart body with boundary "b" from [header line, content] pairs. */
const multipartOf = (parts: readonly (readonly [string, string])[]) =>
  `${parts.map(([header, content]) => `--b\r\n${header}\r\n\r\n${content}\r\n`).join("")}--b--\r\n`;

const responsesFor = (callId: string) => received.filter((r) => r.headers.callId() === callId);

describe("SIP stack over real sockets", () => {
  it("answers OPTIONS with what it allows and supports (load-balancer probes, keep-alives)", async () => {
    await send(request("OPTIONS", { callId: "options-1" }));
    const ok = await waitFor("200", () => responsesFor("options-1")[0]);
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.headers.get("Allow")?.split(", ").sort(), ["ACK", "BYE", "CANCEL", "INFO", "INVITE", "OPTIONS"]);
    assert.match(ok.headers.get("Accept") ?? "", /application\/sdp.*application\/dtmf-relay.*multipart\/mixed, multipart\/alternative$/);
    assert.equal(ok.headers.get("Server"), "OpenCVI test");
    assert.equal(ok.headers.topVia()?.branch, `z9hG4bK-t${seq}`);
    // RFC 3581: the rport the client asked for is filled in with the source port, with received.
    assert.equal(ok.headers.topVia()?.rport, client.address().port);
    assert.equal(ok.headers.topVia()?.received, "127.0.0.1");
  });

  it("handles a retransmitted request once and repeats the same answer", async () => {
    const message = request("INFO", {
      callId: "info-1",
      branch: "z9hG4bK-info-1",
      extra: "Content-Type: application/dtmf-relay",
      body: "Signal=5\r\nDuration=160\r\n",
    });
    await send(message);
    await waitFor("first 200", () => responsesFor("info-1")[0]);
    await send(message);
    await send(message);
    await waitFor("repeated 200s", () => (responsesFor("info-1").length === 3 ? true : undefined));
    assert.equal(infos.filter((i) => i.request.headers.callId() === "info-1").length, 1, "the handler saw it once");
  });

  it("refuses what it cannot serve with the right status: 501 unknown method, 416 scheme, 420 extension, 500 handler failure", async () => {
    await send(request("FOO", { callId: "foo-1" }));
    const notImplemented = await waitFor("501", () => responsesFor("foo-1")[0]);
    assert.equal(notImplemented.status, 501);
    await send(request("INVITE", { callId: "req-1", extra: "Require: nonsense-extension" }));
    assert.equal((await waitFor("420", () => responsesFor("req-1").find((r) => r.status >= 200))).status, 420);
    await send(request("OPTIONS", { callId: "tel-1" }).replace("OPTIONS sip:123456789.1234567890@127.0.0.1", "OPTIONS tel:+15555550100"));
    assert.equal((await waitFor("416", () => responsesFor("tel-1")[0])).status, 416);
    await send(request("BYE", { callId: "bye-1" }));
    assert.equal((await waitFor("500", () => responsesFor("bye-1")[0])).status, 500);
  });

  it("answers a malformed request with 400 when it can, drops garbage, and keeps serving", async () => {
    await send(request("OPTIONS", { callId: "bad-1" }).replace("CSeq: 1 OPTIONS", "CSeq: abc OPTIONS"));
    // Our own parser would refuse that response too (it echoes the bad CSeq), so look at the raw text.
    const answer = await waitFor("400", () => raw.find((r) => r.includes("Call-ID: bad-1")));
    assert.match(answer, /^SIP\/2\.0 400 /);
    await send(Buffer.from([0x00, 0xff, 0x13, 0x37]));
    await send("INVITE\r\n\r\n");
    await send(request("OPTIONS", { callId: "after-garbage" }));
    assert.equal((await waitFor("200", () => responsesFor("after-garbage")[0])).status, 200);
  });

  it("sends 100 Trying at once, and retransmits a failure over UDP until the ACK", async () => {
    nextInvite = (req) => {
      req.respond(180, "Ringing", { toTag: "t1" });
      req.respond(486, "Busy Here", { toTag: "t1" });
    };
    const invite = request("INVITE", { callId: "inv-1", branch: "z9hG4bK-inv-1" });
    await send(invite);
    const statuses = () => responsesFor("inv-1").map((r) => r.status);
    await waitFor("486 retransmissions", () => (statuses().filter((s) => s === 486).length >= 3 ? true : undefined));
    assert.deepEqual(statuses().slice(0, 3), [100, 180, 486]);
    const ack = invite
      .replace(/^INVITE/, "ACK")
      .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
      .replace("To: <sip:123456789.1234567890@127.0.0.1>", "To: <sip:123456789.1234567890@127.0.0.1>;tag=t1");
    await send(ack);
    await new Promise((r) => setTimeout(r, 100));
    const count = statuses().length;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(statuses().length, count, "no retransmission after the ACK");
  });

  it("CANCEL before an answer: 200 for the CANCEL, 487 for the INVITE, and the handler is told", async () => {
    let cancelled = false;
    nextInvite = (req) => {
      req.respond(180, "Ringing", { toTag: "t2" });
      req.onCancel(() => {
        cancelled = true;
      });
    };
    const invite = request("INVITE", { callId: "inv-2", branch: "z9hG4bK-inv-2" });
    await send(invite);
    await waitFor("180", () => responsesFor("inv-2").find((r) => r.status === 180));
    await send(invite.replace(/^INVITE/, "CANCEL").replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL"));
    await waitFor("487", () => responsesFor("inv-2").find((r) => r.status === 487));
    assert.ok(responsesFor("inv-2").some((r) => r.status === 200 && r.headers.cseq().method === "CANCEL"));
    assert.equal(cancelled, true);
    await send(request("CANCEL", { callId: "no-such-invite" }));
    assert.equal((await waitFor("481", () => responsesFor("no-such-invite")[0])).status, 481);
  });

  it("multipart bodies (RFC 5621): the handler gets the SDP part as a plain application/sdp request, an ACK's dialog too; a required part it cannot take gets 415 with Accept, a broken body 400, a multipart INFO 415", async () => {
    const handed: IncomingRequest[] = [];
    const acks: SipRequest[] = [];
    const onAck = (ack: SipRequest) => acks.push(ack);
    stack.on("ack", onAck);
    nextInvite = (req) => {
      handed.push(req);
      req.respond(603, "Decline", { toTag: "mp" });
    };
    try {
      const values = { ...EXAMPLE_VALUES, requestUri: "sip:123456789.1234567890@127.0.0.1", deviceIp: "127.0.0.1", sipPort: client.address().port };
      await send(lyncInvite("lync-alternative", { ...values, callId: "mp-1", branch: "z9hG4bK-mp-1" }));
      const invite = await waitFor("the Lync INVITE at its handler", () => handed[0]);
      assert.equal(invite.request.headers.get("Content-Type"), "application/sdp");
      assert.match(invite.request.body.toString(), /^v=0\r\n[\s\S]*a=ice-ufrag:DHCA\r\n/);
      assert.equal(invite.request.headers.contentLength(), invite.request.body.length);
      assert.equal((await waitFor("603", () => responsesFor("mp-1").find((r) => r.status >= 200))).status, 603);

      const required = multipartOf([
        ["Content-Type: application/sdp", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"],
        ["Content-Type: application/pidf+xml", "<presence/>"],
      ]);
      await send(request("INVITE", { callId: "mp-2", extra: "Content-Type: multipart/mixed;boundary=b", body: required }));
      const unsupported = await waitFor("415", () => responsesFor("mp-2").find((r) => r.status >= 200));
      assert.equal(unsupported.status, 415);
      assert.match(unsupported.headers.get("Accept") ?? "", /^application\/sdp, .*multipart\/mixed, multipart\/alternative$/);
      assert.match(unsupported.headers.get("Reason") ?? "", /application\/pidf\+xml/);

      await send(request("INVITE", { callId: "mp-3", extra: "Content-Type: multipart/mixed;boundary=b", body: "--b\r\n\r\nno end" }));
      assert.equal((await waitFor("400", () => responsesFor("mp-3").find((r) => r.status >= 200))).status, 400);

      await send(request("INFO", { callId: "mp-4", extra: "Content-Type: multipart/mixed;boundary=b", body: required }));
      const info = await waitFor("415 for the INFO", () => responsesFor("mp-4")[0]);
      assert.equal(info.status, 415);
      assert.doesNotMatch(info.headers.get("Accept") ?? "", /multipart/);
      assert.equal(handed.length, 1, "no refused request reached a handler");

      // A late offer's answer in the ACK of a 2xx: the dialog gets its SDP part.
      const answer = multipartOf([["Content-Type: application/sdp", "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"]]);
      await send(request("ACK", { callId: "mp-5", toTag: "ours", extra: "Content-Type: multipart/alternative;boundary=b", body: answer }));
      const ack = await waitFor("the ACK", () => acks.find((a) => a.headers.callId() === "mp-5"));
      assert.equal(ack.headers.get("Content-Type"), "application/sdp");
      assert.match(ack.body.toString(), /^v=0\r\no=- 2 2/);
    } finally {
      stack.off("ack", onAck);
      nextInvite = () => {};
    }
  });

  it("while unavailable (draining) refuses new INVITEs with 503, Retry-After and the reason, and OPTIONS says so too; in-dialog INVITEs pass", async () => {
    stack.setAvailability(() => ({ retryAfterSeconds: 30, reason: "draining" }));
    const reinvites: string[] = [];
    nextInvite = (invite) => {
      reinvites.push(invite.request.headers.callId());
      invite.respond(488, "Not Acceptable Here");
    };
    try {
      await send(request("INVITE", { callId: "drain-1" }));
      const refused = await waitFor("503", () => responsesFor("drain-1").find((r) => r.status >= 200));
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get("Retry-After"), "30");
      assert.equal(refused.headers.get("Reason"), 'SIP;cause=503;text="draining"');
      await send(request("OPTIONS", { callId: "drain-2" }));
      assert.equal((await waitFor("503", () => responsesFor("drain-2")[0])).status, 503);
      // A re-INVITE (To has a tag) belongs to a call the host carries: it reaches the handler.
      await send(request("INVITE", { callId: "drain-3", toTag: "ours" }));
      await waitFor("the re-INVITE at the handler", () => reinvites.includes("drain-3") || undefined);
    } finally {
      stack.setAvailability(() => undefined);
      nextInvite = () => {};
    }
  });

  it("answering an INVITE whose TCP connection dropped sends nothing and throws nothing", async () => {
    let invite: IncomingRequest | undefined;
    nextInvite = (request) => {
      invite = request;
    };
    try {
      const socket = connect(tcpPort, "127.0.0.1");
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      socket.write(request("INVITE", { callId: "tcp-dropped" }).replace("SIP/2.0/UDP", "SIP/2.0/TCP"));
      const incoming = await waitFor("the INVITE at the handler", () => invite);
      socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 50));
      // The 180 fails on the closed connection and ends the transaction; what follows must not throw.
      assert.doesNotThrow(() => incoming.respond(180, "Ringing", { toTag: "gw" }));
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.doesNotThrow(() => incoming.respond(200, "OK", { toTag: "gw" }));
      await send(request("OPTIONS", { callId: "after-drop" }));
      assert.equal((await waitFor("200 after the drop", () => responsesFor("after-drop")[0])).status, 200);
    } finally {
      nextInvite = () => {};
    }
  });

  it("over TCP: answers requests on the connection, pongs a double-CRLF ping, closes on a framing error", async () => {
    const socket = connect(tcpPort, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    let data = "";
    socket.on("data", (chunk) => {
      data += chunk.toString();
    });
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.write(request("OPTIONS", { callId: "tcp-1" }).replace("SIP/2.0/UDP", "SIP/2.0/TCP"));
    await waitFor("TCP 200", () => (data.includes("SIP/2.0 200 OK") ? true : undefined));
    data = "";
    socket.write("\r\n\r\n");
    await waitFor("pong", () => (data === "\r\n" ? true : undefined));
    socket.write("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nContent-Length: nope\r\n\r\n");
    await closed;
  });
});
