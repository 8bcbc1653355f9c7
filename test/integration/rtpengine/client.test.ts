import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import { describe, it, mock } from "node:test";
import { parseSdp } from "../../../media-host/rtpengine/sdp.js";
import {
  RtpengineClient,
  RtpengineError,
  RtpengineTimeoutError,
  RtpengineTransportError,
  type UnsolicitedMessage,
} from "../../../media-host/rtpengine/rtpengineClient.js";
import { newCallId, plainAudioSdp, useRtpengine } from "./support/harness.js";

const rtpengine = useRtpengine();

/** A UDP socket that plays an ng server: `reply` decides what (if anything) to send back and when. */
async function fakeNgServer(reply: (cookie: string, socket: Socket, to: { port: number; address: string }) => void): Promise<Socket> {
  const socket = createSocket("udp4");
  socket.on("message", (datagram, from) => reply(datagram.subarray(0, datagram.indexOf(0x20)).toString(), socket, from));
  socket.bind(0, "127.0.0.1");
  await once(socket, "listening");
  return socket;
}

describe("RtpengineClient against rtpengine", () => {
  it("ping answers pong", async () => {
    assert.deepEqual(await rtpengine().client.ping(), { result: "pong" });
  });

  it("offer, answer, query, list and delete one call by its call id", async () => {
    const callId = newCallId();
    const offer = await rtpengine().client.offer({
      "call-id": callId,
      "from-tag": "caller-tag",
      sdp: plainAudioSdp({ address: "127.0.0.1", port: 41000, user: "caller" }),
      flags: ["trust-address"],
      replace: ["origin", "session-connection"],
    });
    assert.equal(offer.result, "ok");
    const offered = parseSdp(offer.sdp);
    assert.equal(offered.media[0]?.protocol, "RTP/AVP");
    assert.notEqual(offered.media[0]?.port, 41000, "rtpengine's own port replaces the caller's");

    const answer = await rtpengine().client.answer({
      "call-id": callId,
      "from-tag": "caller-tag",
      "to-tag": "callee-tag",
      sdp: plainAudioSdp({ address: "127.0.0.1", port: 42000, user: "callee" }),
    });
    const answered = parseSdp(answer.sdp);
    assert.notEqual(answered.media[0]?.port, offered.media[0]?.port, "each side has its own rtpengine port");

    const query = await rtpengine().client.query({ "call-id": callId });
    assert.deepEqual(Object.keys(query.tags).sort(), ["callee-tag", "caller-tag"]);
    assert.deepEqual(query.tags["caller-tag"]?.subscribers, [{ tag: "callee-tag", type: "offer/answer" }]);
    const callerRtp = query.tags["caller-tag"]?.medias[0]?.streams[0];
    assert.equal(callerRtp?.endpoint.port, 41000, "rtpengine sends to the caller's advertised port");
    assert.equal(callerRtp?.["local port"], answered.media[0]?.port, "and receives the caller's media on the port in the answer");
    assert.deepEqual(query.totals.RTP, { packets: 0, bytes: 0, errors: 0 });

    const list = await rtpengine().client.list({ limit: 100 });
    assert.ok(list.calls.includes(callId));

    const deleted = await rtpengine().client.delete({ "call-id": callId, "from-tag": "caller-tag" });
    assert.equal(deleted.result, "ok");
    assert.ok(deleted.totals && deleted.tags?.["callee-tag"], "a delete with a from-tag reports the call's final statistics");
    await assert.rejects(
      rtpengine().client.query({ "call-id": callId }),
      (e: unknown) => e instanceof RtpengineError && e.reason === "Unknown call-id",
    );
  });

  it("rejects rtpengine's errors with RtpengineError and its error-reason", async () => {
    await assert.rejects(
      rtpengine().client.answer({
        "call-id": newCallId("unknown"),
        "from-tag": "a",
        "to-tag": "b",
        sdp: plainAudioSdp({ address: "127.0.0.1", port: 43000 }),
      }),
      (e: unknown) => {
        assert.ok(e instanceof RtpengineError);
        assert.equal(e.command, "answer");
        assert.equal(e.reason, "Unknown call-id");
        assert.equal(e.response.result, "error");
        return true;
      },
    );
    await assert.rejects(
      rtpengine().client.offer({ "call-id": newCallId(), "from-tag": "a", sdp: "this is no SDP" }),
      (e: unknown) => e instanceof RtpengineError && /SDP/i.test(e.reason),
    );
  });

  it("deleting an unknown call is only a warning, unless the flag fatal is given", async () => {
    const lenient = await rtpengine().client.delete({ "call-id": newCallId("gone") });
    assert.equal(lenient.result, "ok");
    assert.match(lenient.warning ?? "", /Call-ID not found|Unknown call/i);
    await assert.rejects(rtpengine().client.delete({ "call-id": newCallId("gone"), flags: ["fatal"] }), RtpengineError);
  });

  it("refuses values bencode cannot carry instead of letting the library mangle them", async () => {
    await assert.rejects(
      rtpengine().client.offer({ "call-id": newCallId(), "from-tag": "a", sdp: plainAudioSdp({ address: "127.0.0.1", port: 44000 }), ptime: 20.5 }),
      (e: unknown) => e instanceof RtpengineTransportError && /ptime: the number 20.5/.test(e.message),
    );
  });
});

describe("RtpengineClient timeouts, aborts and unsolicited datagrams", () => {
  it("times out per request with RtpengineTimeoutError, and a late answer becomes an uncorrelated message", async () => {
    const server = await fakeNgServer((cookie, socket, to) => {
      setTimeout(() => socket.send(`${cookie} d6:result4:ponge`, to.port, to.address), 150);
    });
    const client = await RtpengineClient.open({ host: "127.0.0.1", port: server.address().port, localAddress: "127.0.0.1" });
    try {
      const late = once(client, "unsolicited") as Promise<[UnsolicitedMessage]>;
      const started = Date.now();
      await assert.rejects(client.ping({ timeoutInMs: 50 }), (e: unknown) => e instanceof RtpengineTimeoutError && e.timeoutInMs === 50);
      assert.ok(Date.now() - started < 140, "the request's own timeout, not the default");
      const [message] = await late;
      assert.equal(message.kind, "uncorrelated");
      assert.deepEqual(message.kind === "uncorrelated" ? message.data : undefined, { result: "pong" });
      // The client still works, with the default timeout.
      assert.deepEqual(await client.ping(), { result: "pong" });
    } finally {
      await client.close();
      server.close();
    }
  });

  it("rejects with the abort reason when the signal aborts, and at once if it already has", async () => {
    const server = await fakeNgServer(() => {});
    const client = await RtpengineClient.open({ host: "127.0.0.1", port: server.address().port, localAddress: "127.0.0.1" });
    try {
      const controller = new AbortController();
      const pending = client.ping({ signal: controller.signal });
      controller.abort(new Error("caller went away"));
      await assert.rejects(pending, /caller went away/);
      await assert.rejects(client.ping({ signal: AbortSignal.abort() }), (e: unknown) => (e as Error).name === "AbortError");
    } finally {
      await client.close();
      server.close();
    }
  });

  it("survives malformed and uncorrelated datagrams without crashing or logging", async () => {
    const log = mock.method(console, "log");
    const client = await RtpengineClient.open({ host: rtpengine().process.ngHost, port: rtpengine().process.ngPort, localAddress: "127.0.0.1" });
    const stray = createSocket("udp4");
    try {
      const seen: UnsolicitedMessage[] = [];
      client.on("unsolicited", (m) => seen.push(m));
      const { port } = client.localAddress();
      stray.send("garbage without a cookie", port, "127.0.0.1");
      stray.send(`${"x".repeat(36)} d6:result2:oke`, port, "127.0.0.1");
      stray.send(`${"y".repeat(36)} not bencode`, port, "127.0.0.1");
      for (let i = 0; i < 50 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(
        seen.map((m) => m.kind),
        ["malformed", "uncorrelated", "malformed"],
      );
      assert.deepEqual(await client.ping(), { result: "pong" }, "the client still answers");
      assert.equal(log.mock.callCount(), 0, "rtpengine-client's console.log calls are bypassed");
    } finally {
      log.mock.restore();
      stray.close();
      await client.close();
    }
  });

  it("close() rejects requests in flight and later requests", async () => {
    const server = await fakeNgServer(() => {});
    const client = await RtpengineClient.open({ host: "127.0.0.1", port: server.address().port });
    const pending = client.ping();
    await client.close();
    await assert.rejects(pending, (e: unknown) => e instanceof RtpengineTransportError && /client closed/.test(e.message));
    await assert.rejects(client.ping(), RtpengineTransportError);
    server.close();
  });
});
