import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { describe, it } from "node:test";
import { decodeMessage, encodeMessage } from "../../../../media-host/bfcp/codec.js";
import { Primitive } from "../../../../media-host/bfcp/constants.js";
import type { BfcpTransactionFailedError } from "../../../../media-host/bfcp/errors.js";
import type { BfcpMessage } from "../../../../media-host/bfcp/message.js";
import { BfcpTcpFramer } from "../../../../media-host/bfcp/tcpFramer.js";
import { BfcpUdpTransport } from "../../../../media-host/bfcp/udpTransport.js";
import { ManualClock } from "../../../support/manualClock.js";
import { waitFor } from "../../../support/waiting.js";

/** A bare UDP socket standing for the device: it records datagrams and acks nothing unless told. */
async function rawPeer(): Promise<{ socket: Socket; port: number; datagrams: Buffer[]; send(bytes: Buffer, port: number): Promise<void> }> {
  const socket = createSocket("udp4");
  const datagrams: Buffer[] = [];
  socket.on("message", (data) => datagrams.push(data));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return {
    socket,
    port: socket.address().port,
    datagrams,
    send: (bytes, port) => new Promise<void>((resolve, reject) => socket.send(bytes, port, "127.0.0.1", (e) => (e ? reject(e) : resolve()))),
  };
}

function request(primitive: number, transactionId: number, attributes: BfcpMessage["attributes"] = []): BfcpMessage {
  return { version: 2, responder: false, primitive, conferenceId: 7, transactionId, userId: 3, attributes };
}

const floorStatus: Omit<BfcpMessage, "transactionId"> = {
  version: 2,
  responder: false,
  primitive: Primitive.FloorStatus,
  conferenceId: 7,
  userId: 3,
  attributes: [{ kind: "floorId", id: 1 }],
};

/** Lets datagrams already on their way over loopback arrive. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setTimeout(resolve, 30));
}

describe("BFCP over UDP (fake clock, loopback sockets)", () => {
  it("sends server-first to the SDP address, retransmits at 0, 0.5, 1.5, 3.5 s and fails the transaction at 7.5 s", async () => {
    const clock = new ManualClock();
    const device = await rawPeer();
    const transport = await BfcpUdpTransport.create({ address: "127.0.0.1", remote: { address: "127.0.0.1", port: device.port }, clock });
    const failures: BfcpTransactionFailedError[] = [];
    transport.on("transactionFailed", (e) => failures.push(e));
    try {
      const transactionId = transport.send(floorStatus);
      assert.notEqual(transactionId, 0, "a server-initiated transaction over UDP has a non-zero id");
      const expectedSendsAt: [number, number][] = [
        [0, 1],
        [499, 1],
        [500, 2],
        [1499, 2],
        [1500, 3],
        [3500, 4],
        [7499, 4],
      ];
      for (const [at, sends] of expectedSendsAt) {
        clock.advance(at - clock.now);
        await waitFor(() => device.datagrams.length >= sends, `${sends} sends by ${at} ms`);
        await settle();
        assert.equal(device.datagrams.length, sends, `sends by ${at} ms`);
      }
      assert.equal(failures.length, 0);
      clock.advance(1);
      assert.equal(failures.length, 1, "failed at 7.5 s");
      assert.equal(failures[0]!.transactionId, transactionId);
      assert.equal(failures[0]!.sends, 4);
      assert.ok(
        device.datagrams.every((d) => d.equals(device.datagrams[0]!)),
        "retransmissions are the same bytes",
      );
      const sent = decodeMessage(device.datagrams[0]!);
      assert.ok(sent.ok && sent.message.transactionId === transactionId && sent.message.primitive === Primitive.FloorStatus);
      clock.advance(60_000);
      await settle();
      assert.equal(device.datagrams.length, 4, "nothing after the failure");
    } finally {
      await transport.close();
      device.socket.close();
    }
  });

  it("stops retransmitting on the ack: FloorStatusAck, and a Cisco-style header-only R=1 ack (primitive 0x5d)", async () => {
    const clock = new ManualClock();
    const device = await rawPeer();
    const transport = await BfcpUdpTransport.create({ address: "127.0.0.1", remote: { address: "127.0.0.1", port: device.port }, clock });
    const messages: BfcpMessage[] = [];
    transport.on("message", (m) => messages.push(m));
    try {
      for (const [primitive, responder] of [
        [Primitive.FloorStatusAck, false],
        [0x5d, true],
      ] as const) {
        const before = device.datagrams.length;
        const transactionId = transport.send(floorStatus);
        await waitFor(() => device.datagrams.length > before, "the FloorStatus");
        await device.send(encodeMessage({ ...request(primitive, transactionId), responder, version: 1 }), transport.localPort);
        await waitFor(() => transport.outstandingTransactions === 0, "the ack to complete the transaction");
        clock.advance(10_000);
        await settle();
        assert.equal(device.datagrams.length, before + 1, "no retransmission after the ack");
      }
      assert.deepEqual(messages, [], "acks are consumed by the transport");
    } finally {
      await transport.close();
      device.socket.close();
    }
  });

  it("takes primitive 16 naming one of our FloorStatus as the draft-numbered FloorStatusAck (Yealink), and any other 16 as Goodbye", async () => {
    const clock = new ManualClock();
    const device = await rawPeer();
    const transport = await BfcpUdpTransport.create({ address: "127.0.0.1", remote: { address: "127.0.0.1", port: device.port }, clock });
    const messages: BfcpMessage[] = [];
    transport.on("message", (m) => {
      messages.push(m);
      if (m.primitive === Primitive.FloorQuery) transport.reply(m, { ...m, responder: true, primitive: Primitive.FloorStatus });
    });
    try {
      const transactionId = transport.send(floorStatus);
      await waitFor(() => device.datagrams.length === 1, "the FloorStatus");
      // As the Yealink sends it: v1, R=0, primitive 16, FLOOR-ID.
      await device.send(encodeMessage({ ...request(16, transactionId, [{ kind: "floorId", id: 1 }]), version: 1 }), transport.localPort);
      await waitFor(() => transport.outstandingTransactions === 0, "the draft ack to complete the transaction");
      await device.send(encodeMessage(request(Primitive.FloorQuery, 500, [{ kind: "floorId", id: 1 }])), transport.localPort);
      await waitFor(() => device.datagrams.length === 2, "the FloorStatus reply");
      await device.send(encodeMessage({ ...request(16, 500), version: 1 }), transport.localPort);
      await device.send(encodeMessage(request(Primitive.Goodbye, 501)), transport.localPort);
      await waitFor(() => messages.length === 2, "the Goodbye");
      assert.deepEqual(
        messages.map((m) => [m.primitive, m.transactionId]),
        [
          [Primitive.FloorQuery, 500],
          [Primitive.Goodbye, 501],
        ],
        "the acks of the notification and of the reply were consumed; the real Goodbye came through",
      );
    } finally {
      await transport.close();
      device.socket.close();
    }
  });

  it("answers a duplicated request from the reply cache with the same bytes, for 10 s, without handing it on again", async () => {
    const clock = new ManualClock();
    const device = await rawPeer();
    const transport = await BfcpUdpTransport.create({ address: "127.0.0.1", clock });
    let handled = 0;
    transport.on("message", (m) => {
      handled++;
      transport.reply(m, { ...m, responder: true, primitive: Primitive.HelloAck, attributes: [{ kind: "statusInfo", text: `answer ${handled}` }] });
    });
    try {
      const hello = encodeMessage(request(Primitive.Hello, 42));
      await device.send(hello, transport.localPort);
      await waitFor(() => device.datagrams.length === 1, "the HelloAck");
      await device.send(hello, transport.localPort);
      await waitFor(() => device.datagrams.length === 2, "the cached HelloAck");
      assert.equal(handled, 1, "the duplicate was not processed again");
      assert.ok(device.datagrams[1]!.equals(device.datagrams[0]!), "byte-identical reply");
      clock.advance(9_999);
      await device.send(hello, transport.localPort);
      await waitFor(() => device.datagrams.length === 3, "the cached HelloAck at 9.999 s");
      assert.equal(handled, 1);
      clock.advance(1);
      await device.send(hello, transport.localPort);
      await waitFor(() => device.datagrams.length === 4, "a fresh HelloAck after the cache expired");
      assert.equal(handled, 2, "after 10 s the same transaction id is a new request");
      assert.ok(!device.datagrams[3]!.equals(device.datagrams[0]!));
    } finally {
      await transport.close();
      device.socket.close();
    }
  });

  it("keeps at most replyCacheMaxEntries replies, dropping the oldest", async () => {
    const clock = new ManualClock();
    const device = await rawPeer();
    const transport = await BfcpUdpTransport.create({ address: "127.0.0.1", clock, replyCacheMaxEntries: 2 });
    let handled = 0;
    transport.on("message", (m) => {
      handled++;
      transport.reply(m, { ...m, responder: true, primitive: Primitive.HelloAck, attributes: [] });
    });
    try {
      for (const [transactionId, handledAfter] of [
        [1, 1],
        [2, 2],
        [3, 3],
        [3, 3],
        [2, 3],
        [1, 4],
      ] as const) {
        const before = device.datagrams.length;
        await device.send(encodeMessage(request(Primitive.Hello, transactionId)), transport.localPort);
        await waitFor(() => device.datagrams.length === before + 1, `the answer to transaction ${transactionId}`);
        assert.equal(handled, handledAfter, `after transaction ${transactionId}`);
      }
    } finally {
      await transport.close();
      device.socket.close();
    }
  });

  it("latches the client's address from its first BFCP datagram and ignores datagrams from anywhere else", async () => {
    const clock = new ManualClock();
    const sdpAddress = await rawPeer();
    const device = await rawPeer();
    const intruder = await rawPeer();
    const transport = await BfcpUdpTransport.create({ address: "127.0.0.1", remote: { address: "127.0.0.1", port: sdpAddress.port }, clock });
    const messages: BfcpMessage[] = [];
    transport.on("message", (m) => messages.push(m));
    try {
      await intruder.send(Buffer.from("not BFCP at all"), transport.localPort);
      await device.send(encodeMessage(request(Primitive.Hello, 1)), transport.localPort);
      await waitFor(() => messages.length === 1, "the device's Hello");
      assert.deepEqual(transport.remote, { address: "127.0.0.1", port: device.port });
      await intruder.send(encodeMessage(request(Primitive.FloorRequest, 2, [{ kind: "floorId", id: 1 }])), transport.localPort);
      await device.send(encodeMessage(request(Primitive.Hello, 3)), transport.localPort);
      await waitFor(() => messages.length === 2, "the device's second Hello");
      assert.deepEqual(
        messages.map((m) => m.transactionId),
        [1, 3],
        "the intruder's FloorRequest never arrived",
      );
      transport.send(floorStatus);
      await waitFor(() => device.datagrams.length === 1, "the notification at the latched address");
      await settle();
      assert.equal(sdpAddress.datagrams.length, 0);
      assert.equal(intruder.datagrams.length, 0);
    } finally {
      await transport.close();
      for (const peer of [sdpAddress, device, intruder]) peer.socket.close();
    }
  });
});

describe("BFCP TCP framing", () => {
  const messages = [
    encodeMessage(request(Primitive.Hello, 1)),
    encodeMessage(
      request(Primitive.FloorRequest, 2, [
        { kind: "floorId", id: 1 },
        { kind: "participantProvidedInfo", text: "slides from the laptop" },
      ]),
    ),
    encodeMessage(request(Primitive.FloorRelease, 3, [{ kind: "floorRequestId", id: 1 }])),
  ];
  const stream = Buffer.concat(messages);

  it("cuts coalesced messages and reassembles messages split at every byte", () => {
    const coalesced = new BfcpTcpFramer().push(stream);
    assert.deepEqual(
      coalesced.map((m) => m.toString("hex")),
      messages.map((m) => m.toString("hex")),
    );
    for (let cut = 1; cut < stream.length; cut++) {
      const framer = new BfcpTcpFramer();
      const out = [...framer.push(stream.subarray(0, cut)), ...framer.push(stream.subarray(cut))];
      assert.deepEqual(
        out.map((m) => m.toString("hex")),
        messages.map((m) => m.toString("hex")),
        `cut at ${cut}`,
      );
      assert.equal(framer.bufferedBytes, 0);
    }
    const byteByByte = new BfcpTcpFramer();
    const out: Buffer[] = [];
    for (const byte of stream) out.push(...byteByByte.push(Buffer.from([byte])));
    assert.equal(out.length, 3);
  });
});
