import assert from "node:assert/strict";
import { connect } from "node:net";
import { describe, it } from "node:test";
import { decodeMessage, encodeMessage } from "../../../media-host/bfcp/codec.js";
import { type BfcpVersion, ErrorCode, Primitive, RequestStatus } from "../../../media-host/bfcp/constants.js";
import type { FloorPolicy } from "../../../media-host/bfcp/floorPolicy.js";
import { LastRequesterWinsFloorPolicy } from "../../../media-host/bfcp/lastRequesterWinsFloorPolicy.js";
import { type BfcpMessage, findAttribute } from "../../../media-host/bfcp/message.js";
import { BfcpServerSession, SUPPORTED_PRIMITIVES } from "../../../media-host/bfcp/serverSession.js";
import { BfcpTcpTransport } from "../../../media-host/bfcp/tcpTransport.js";
import type { BfcpTransport } from "../../../media-host/bfcp/transport.js";
import { BfcpUdpTransport } from "../../../media-host/bfcp/udpTransport.js";
import { ManualClock } from "../../support/manualClock.js";
import { BfcpTestClient } from "../../support/peers/bfcpClient.js";
import { waitFor } from "../../support/waiting.js";

const CONFERENCE_ID = 0x1234abcd;
const DEVICE_USER_ID = 2;
const FLOOR_ID = 1;

/** Counts what the floor logic is asked, so a duplicate that reached it would show. */
class CountingPolicy extends LastRequesterWinsFloorPolicy {
  requests = 0;
  override request(request: Parameters<FloorPolicy["request"]>[0]) {
    this.requests++;
    return super.request(request);
  }
}

async function serverAndClient(transport: "udp" | "tcp", version: BfcpVersion, clock?: ManualClock) {
  const server: BfcpTransport =
    transport === "udp"
      ? await BfcpUdpTransport.create({ address: "127.0.0.1", ...(clock ? { clock } : {}) })
      : await BfcpTcpTransport.listen({ address: "127.0.0.1" });
  const policy = new CountingPolicy();
  const session = new BfcpServerSession(server, { conferenceId: CONFERENCE_ID, userId: DEVICE_USER_ID, floorIds: [FLOOR_ID], policy });
  const client = await BfcpTestClient.connect({
    transport,
    server: { address: "127.0.0.1", port: server.localPort },
    version,
    conferenceId: CONFERENCE_ID,
    userId: DEVICE_USER_ID,
  });
  const gone: string[] = [];
  session.on("clientGone", (reason) => gone.push(reason));
  return {
    server,
    session,
    policy,
    client,
    gone,
    async close() {
      await client.close();
      await server.close();
    },
  };
}

function overallStatus(message: BfcpMessage): { floorRequestId: number; status: number } {
  const info = findAttribute(message.attributes, "floorRequestInformation");
  assert.ok(info, "FLOOR-REQUEST-INFORMATION");
  const overall = findAttribute(info.attributes, "overallRequestStatus");
  assert.ok(overall, "OVERALL-REQUEST-STATUS");
  const status = findAttribute(overall.attributes, "requestStatus");
  assert.ok(status, "REQUEST-STATUS");
  assert.equal(findAttribute(info.attributes, "floorRequestStatus")?.id, FLOOR_ID, "FLOOR-REQUEST-STATUS names the floor");
  return { floorRequestId: info.id, status: status.status };
}

function errorCodeOf(message: BfcpMessage): number | undefined {
  assert.equal(message.primitive, Primitive.Error);
  return findAttribute(message.attributes, "errorCode")?.code;
}

const COMBINATIONS: ["udp" | "tcp", BfcpVersion][] = [
  ["udp", 2],
  ["udp", 1],
  ["tcp", 1],
  ["tcp", 2],
];

describe("BFCP server session over loopback sockets", () => {
  for (const [transport, version] of COMBINATIONS) {
    it(`${transport.toUpperCase()} v${version}: Hello → HelloAck, FloorRequest → Granted, FloorRelease → Released, Goodbye → GoodbyeAck`, async () => {
      const t = await serverAndClient(transport, version);
      try {
        const helloAck = (await t.client.hello()).message;
        assert.equal(helloAck.primitive, Primitive.HelloAck);
        assert.equal(helloAck.version, version, "answered in the version of the request");
        assert.equal(helloAck.responder, transport === "udp", "R marks responses over UDP only");
        assert.equal(helloAck.conferenceId, CONFERENCE_ID);
        assert.equal(helloAck.userId, DEVICE_USER_ID);
        assert.deepEqual(findAttribute(helloAck.attributes, "supportedPrimitives")?.primitives, SUPPORTED_PRIMITIVES);
        assert.ok(findAttribute(helloAck.attributes, "supportedAttributes")?.types.includes(15), "lists FLOOR-REQUEST-INFORMATION");

        const granted = (await t.client.floorRequest(FLOOR_ID)).message;
        assert.equal(granted.primitive, Primitive.FloorRequestStatus);
        const grant = overallStatus(granted);
        assert.equal(grant.status, RequestStatus.Granted);

        const query = (await t.client.request(Primitive.FloorQuery, [{ kind: "floorId", id: FLOOR_ID }])).message;
        assert.equal(query.primitive, Primitive.FloorStatus);
        assert.equal(findAttribute(query.attributes, "floorId")?.id, FLOOR_ID);
        assert.equal(overallStatus(query).status, RequestStatus.Granted, "FloorStatus shows the holder");
        assert.deepEqual([...t.session.subscribedFloorIds], [FLOOR_ID]);

        const released = (await t.client.floorRelease(grant.floorRequestId)).message;
        assert.deepEqual(overallStatus(released), { floorRequestId: grant.floorRequestId, status: RequestStatus.Released });

        const goodbyeAck = (await t.client.goodbye()).message;
        assert.equal(goodbyeAck.primitive, Primitive.GoodbyeAck);
        assert.deepEqual(t.gone, ["Goodbye"]);
      } finally {
        await t.close();
      }
    });
  }

  it("ignores answers sent to it and refuses with the RFC's error codes: wrong conference (1), unknown user (2), unknown primitive (3), unknown mandatory attribute (4), no chair (5), unknown floor (6), unknown floor request (7)", async () => {
    const t = await serverAndClient("udp", 2);
    try {
      assert.equal(errorCodeOf((await t.client.request(Primitive.Hello, [], { conferenceId: 99 })).message), ErrorCode.ConferenceDoesNotExist);
      assert.equal(errorCodeOf((await t.client.request(Primitive.Hello, [], { userId: 77 })).message), ErrorCode.UserDoesNotExist);
      // An answer-only primitive asks nothing: no Error back (that would start a ping-pong), the next request is served.
      const ignored: BfcpMessage[] = [];
      t.session.on("ignored", (m) => ignored.push(m));
      const floorStatus = t.client.encodeRequest(Primitive.FloorStatus);
      await t.client.sendRaw(floorStatus);
      assert.equal((await t.client.hello()).message.primitive, Primitive.HelloAck);
      assert.deepEqual(
        ignored.map((m) => m.transactionId),
        [floorStatus.readUInt16BE(8)],
      );
      assert.equal(t.client.received.filter((r) => r.message.transactionId === floorStatus.readUInt16BE(8)).length, 0);
      assert.equal(errorCodeOf((await t.client.request(42)).message), ErrorCode.UnknownPrimitive);
      const unknownMandatory = await t.client.request(Primitive.FloorRequest, [
        { kind: "floorId", id: FLOOR_ID },
        { kind: "unknown", type: 100, mandatory: true, value: Uint8Array.from([1, 2]) },
      ]);
      assert.equal(errorCodeOf(unknownMandatory.message), ErrorCode.UnknownMandatoryAttribute);
      assert.deepEqual([...findAttribute(unknownMandatory.message.attributes, "errorCode")!.details], [100 << 1], "names the attribute");
      assert.equal(errorCodeOf((await t.client.request(Primitive.ChairAction)).message), ErrorCode.UnauthorizedOperation);
      assert.equal(errorCodeOf((await t.client.floorRequest(9)).message), ErrorCode.InvalidFloorId);
      assert.equal(errorCodeOf((await t.client.floorRelease(999)).message), ErrorCode.FloorRequestIdDoesNotExist);
      assert.equal(
        errorCodeOf(
          (
            await t.client.request(Primitive.FloorRequest, [
              { kind: "floorId", id: FLOOR_ID },
              { kind: "beneficiaryId", id: 5 },
            ])
          ).message,
        ),
        ErrorCode.UnauthorizedOperation,
        "third-party requests",
      );
      assert.equal(t.policy.requests, 0, "none of these reached the floor logic");
      // A fragmented message is refused, answered to its transaction.
      const fragmented = Buffer.from(t.client.encodeRequest(Primitive.Hello));
      fragmented[0] = fragmented[0]! | 0x08;
      const seen = t.client.received.length;
      await t.client.sendRaw(Buffer.concat([fragmented, Buffer.from([0, 0, 0, 0])]));
      const refused = await t.client.waitForMessage((r) => r.message.transactionId === fragmented.readUInt16BE(8), "the Error to the fragment", seen);
      assert.equal(errorCodeOf(refused.message), ErrorCode.GenericError);
      assert.match(findAttribute(refused.message.attributes, "errorInfo")?.text ?? "", /fragment/);
    } finally {
      await t.close();
    }
  });

  it("UDP: a duplicated FloorRequest gets the byte-identical reply and is granted once", async () => {
    const t = await serverAndClient("udp", 2);
    try {
      const bytes = t.client.encodeRequest(Primitive.FloorRequest, [{ kind: "floorId", id: FLOOR_ID }]);
      await t.client.sendRaw(bytes);
      await t.client.sendRaw(bytes);
      await t.client.sendRaw(bytes);
      await waitFor(() => t.client.received.length === 3, "three replies");
      const [first, second, third] = t.client.received;
      assert.ok(first!.bytes.equals(second!.bytes) && first!.bytes.equals(third!.bytes), "byte-identical");
      assert.equal(overallStatus(first!.message).status, RequestStatus.Granted);
      assert.equal(t.policy.requests, 1, "the floor logic saw one request");
    } finally {
      await t.close();
    }
  });

  it("UDP: a dropped FloorStatusAck makes the server retransmit the notification until the ack arrives", async () => {
    const clock = new ManualClock();
    const t = await serverAndClient("udp", 2, clock);
    try {
      await t.client.hello();
      t.client.dropAcks = 1;
      const transactionId = t.session.notifyFloorStatus(FLOOR_ID, [
        { floorRequestId: 100, floorIds: [FLOOR_ID], status: RequestStatus.Granted, beneficiary: { userId: 65534, displayName: "Teams meeting" } },
      ]);
      const isNotification = (r: { message: BfcpMessage }) =>
        r.message.primitive === Primitive.FloorStatus && r.message.transactionId === transactionId;
      await t.client.waitForMessage(isNotification, "the FloorStatus");
      assert.deepEqual(t.client.ackedTransactionIds, [], "the first ack was dropped");
      clock.advance(500);
      await waitFor(() => t.client.received.filter(isNotification).length === 2, "the retransmission after 500 ms");
      await waitFor(() => (t.server as BfcpUdpTransport).outstandingTransactions === 0, "the ack of the retransmission to land");
      assert.deepEqual(t.client.ackedTransactionIds, [transactionId]);
      const [sent, resent] = t.client.received.filter(isNotification);
      assert.ok(sent!.bytes.equals(resent!.bytes), "the same bytes");
      assert.equal(sent!.message.version, 2, "in the client's version");
      clock.advance(10_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(t.client.received.filter(isNotification).length, 2, "no more after the ack");
    } finally {
      await t.close();
    }
  });

  it("TCP: messages split across segments and coalesced into one are each answered; a closed connection is the client gone", async () => {
    const t = await serverAndClient("tcp", 1);
    try {
      const hello = t.client.encodeRequest(Primitive.Hello);
      const request = t.client.encodeRequest(Primitive.FloorRequest, [{ kind: "floorId", id: FLOOR_ID }]);
      const query = t.client.encodeRequest(Primitive.FloorQuery, [{ kind: "floorId", id: FLOOR_ID }]);
      // One message in three segments, with pauses so they leave as separate segments.
      for (const piece of [hello.subarray(0, 3), hello.subarray(3, 10), hello.subarray(10)]) {
        await t.client.sendRaw(piece);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await waitFor(() => t.client.received.length === 1, "the HelloAck");
      // Two messages and the head of a third in one segment, the rest after.
      await t.client.sendRaw(Buffer.concat([request, query.subarray(0, 5)]));
      await new Promise((resolve) => setTimeout(resolve, 20));
      await t.client.sendRaw(query.subarray(5));
      await waitFor(() => t.client.received.length === 3, "the FloorRequestStatus and the FloorStatus");
      assert.deepEqual(
        t.client.received.map((r) => r.message.primitive),
        [Primitive.HelloAck, Primitive.FloorRequestStatus, Primitive.FloorStatus],
      );
      assert.deepEqual(
        t.client.received.map((r) => r.message.transactionId),
        [hello, request, query].map((b) => b.readUInt16BE(8)),
      );
      const tid0 = t.session.notifyFloorRequestStatus({ floorRequestId: 1, floorIds: [FLOOR_ID], status: RequestStatus.Revoked });
      assert.equal(tid0, 0, "server-initiated messages over TCP carry transaction id 0");
      await t.client.waitForMessage(
        (r) => r.message.primitive === Primitive.FloorRequestStatus && r.message.transactionId === 0,
        "the Revoked notification",
      );
      await t.client.close();
      await waitFor(() => t.gone.length === 1, "clientGone");
      assert.deepEqual(t.gone, ["BFCP TCP connection closed"]);
    } finally {
      await t.server.close();
    }
  });

  it("TCP: a device reconnecting replaces its old connection without counting as gone", async () => {
    const t = await serverAndClient("tcp", 1);
    const second = await BfcpTestClient.connect({
      transport: "tcp",
      server: { address: "127.0.0.1", port: t.server.localPort },
      version: 1,
      conferenceId: CONFERENCE_ID,
      userId: DEVICE_USER_ID,
    });
    try {
      assert.equal((await second.hello()).message.primitive, Primitive.HelloAck);
      t.session.notifyFloorStatus(FLOOR_ID, []);
      await second.waitForMessage((r) => r.message.primitive === Primitive.FloorStatus, "the notification on the new connection");
      assert.equal(t.client.received.length, 0, "nothing on the replaced connection");
      assert.deepEqual(t.gone, []);
      await second.close();
      await waitFor(() => t.gone.length === 1, "clientGone when the current connection closes");
    } finally {
      await t.server.close();
    }
  });

  it("TCP: a garbage segment gets an Error (or nothing) and the session keeps serving", async () => {
    const server = await BfcpTcpTransport.listen({ address: "127.0.0.1" });
    new BfcpServerSession(server, { conferenceId: CONFERENCE_ID, floorIds: [FLOOR_ID], policy: new LastRequesterWinsFloorPolicy() });
    const socket = connect({ host: "127.0.0.1", port: server.localPort });
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    try {
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      // Version 7, then a valid v1 Hello: the first is refused with "unsupported version", the second answered.
      const bad = encodeMessage({
        version: 1,
        responder: false,
        primitive: 11,
        conferenceId: CONFERENCE_ID,
        transactionId: 5,
        userId: 9,
        attributes: [],
      });
      bad[0] = 7 << 5;
      const hello = encodeMessage({
        version: 1,
        responder: false,
        primitive: 11,
        conferenceId: CONFERENCE_ID,
        transactionId: 6,
        userId: 9,
        attributes: [],
      });
      socket.write(Buffer.concat([bad, hello]));
      await waitFor(() => Buffer.concat(chunks).length >= 24, "two answers");
      const all = Buffer.concat(chunks);
      const first = decodeMessage(all);
      assert.ok(first.ok);
      assert.equal(errorCodeOf(first.message), ErrorCode.UnsupportedVersion);
      const second = decodeMessage(all.subarray(12 + 4 * first.header.payloadLength));
      assert.ok(second.ok);
      assert.equal(second.message.primitive, Primitive.HelloAck, "a device without a=userid is accepted with its own user id");
    } finally {
      socket.destroy();
      await server.close();
    }
  });
});
