import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Primitive, RequestStatus } from "../../../media-host/bfcp/constants.js";
import type { BfcpReceived } from "../../support/peers/bfcpClient.js";
import { seedDemo, type SeededDemo } from "../../../local/demo.js";
import { type LocalStack, startLocalStack } from "../../../local/stack.js";
import { RoomSystem, type RoomSystemOptions, readFloorRequest } from "../../support/peers/roomSystem.js";
import { waitFor } from "../../support/waiting.js";

// BFCP over UDP through 10% loss both ways, against the media host's real path: a test room
// system dials the demo meeting (SIP, the slides line, BFCP over UDP v2) and its BFCP client
// loses exactly every 10th datagram each way (from a random offset, so every run sees the
// same rate and none is flaky). The client retransmits its requests as RFC 8855 §6.2 says; the
// gateway retransmits its notifications and answers a retransmitted request from its reply
// cache. No Chromium: the meeting side is the meeting-media emulator and Graph's emulator.

const CYCLES = 40;

let stack: LocalStack;
let demo: SeededDemo;
const rooms: RoomSystem[] = [];

async function dial(displayName: string, bfcp: RoomSystemOptions["bfcp"]): Promise<{ room: RoomSystem; botParticipantId: string }> {
  const { room, response } = await RoomSystem.dial({
    gatewayPort: stack.mediaHost!.ports.sipUdp,
    dial: `${demo.tenantKey.split("@")[0]}.${demo.vtcId}`,
    displayName,
    bfcp,
  });
  rooms.push(room);
  assert.equal(response.status, 200, `${response.status} ${response.reason}`);
  const bot = await waitFor(
    () => stack.graph.calls().find((c) => c.identity.displayName === displayName && c.state === "established"),
    "the room's bot in the meeting",
    20_000,
  );
  return { room, botParticipantId: bot.myParticipantId };
}

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** The answers the client received (the gateway's responses, not its notifications), by transaction id. */
function answersByTransaction(received: readonly BfcpReceived[]): Map<number, Buffer[]> {
  const byId = new Map<number, Buffer[]>();
  for (const r of received.filter((r) => r.message.responder))
    byId.set(r.message.transactionId, [...(byId.get(r.message.transactionId) ?? []), r.bytes]);
  return byId;
}

before(async () => {
  stack = await startLocalStack({ logLevel: "none", mediaHost: {}, meetingMedia: {} });
  demo = await seedDemo(stack);
});

after(async () => {
  for (const room of rooms) await room.close().catch(() => {});
  await stack?.stop();
});

describe("BFCP over UDP through the media host with 10% datagram loss both ways", () => {
  it(`${CYCLES} floor request/release cycles: every request granted, every answer its own transaction's, retransmitted answers the same bytes`, async () => {
    const { room, botParticipantId } = await dial("Boardroom lossy", { transport: "udp", versions: [2], loss: { everyNth: 10 } });
    try {
      const client = room.bfcp;
      const grantsInMs: number[] = [];
      const grantRetransmissions: number[] = [];
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const startedAt = performance.now();
        const retransmittedBefore = client.retransmissions;
        const granted = await client.floorRequest(room.floorId);
        grantsInMs.push(performance.now() - startedAt);
        grantRetransmissions.push(client.retransmissions - retransmittedBefore);
        assert.equal(granted.message.transactionId, client.requestTransactionIds.at(-1), `cycle ${cycle}: the FloorRequest's answer`);
        assert.equal(granted.message.primitive, Primitive.FloorRequestStatus, `cycle ${cycle}`);
        const grant = readFloorRequest(granted.message.attributes);
        assert.equal(grant.status, RequestStatus.Granted, `cycle ${cycle}: granted`);
        const released = await client.floorRelease(grant.floorRequestId!);
        assert.equal(released.message.transactionId, client.requestTransactionIds.at(-1), `cycle ${cycle}: the FloorRelease's answer`);
        assert.equal(released.message.primitive, Primitive.FloorRequestStatus, `cycle ${cycle}`);
        const release = readFloorRequest(released.message.attributes);
        assert.equal(release.status, RequestStatus.Released, `cycle ${cycle}: released`);
        assert.equal(release.floorRequestId, grant.floorRequestId, `cycle ${cycle}: the request granted is the one released`);
      }

      const lost = client.lost;
      assert.ok(lost.outgoing > 0 && lost.incoming > 0, `datagrams lost both ways: ${JSON.stringify(lost)}`);
      assert.ok(client.retransmissions > 0, "the client retransmitted");
      // Every answer names one of our transactions; an answer that came twice (the first lost
      // request's answer, or a retransmitted request's cached one) is byte for byte the same.
      const answers = answersByTransaction(client.received);
      assert.equal(answers.size, client.requestTransactionIds.length, "one answer per request (Hello and every cycle's two)");
      for (const [transactionId, copies] of answers) {
        assert.ok(client.requestTransactionIds.includes(transactionId), `an answer to a transaction we sent: ${transactionId}`);
        for (const copy of copies) assert.deepEqual(copy, copies[0], `the answers to transaction ${transactionId} are one answer`);
      }
      assert.ok(
        !client.received.some((r) => r.message.primitive === Primitive.Error),
        "no Error: a retransmitted FloorRelease is answered from the cache, not refused as a second release",
      );
      assert.deepEqual(client.undecodable, []);
      // The floor drove the meeting each time and ended free.
      await waitFor(() => stack.graph.screenSharer(demo.meetingId) === null, "Graph: nobody shares after the last release", 10_000);

      const sorted = [...grantsInMs].sort((a, b) => a - b);
      console.log(
        JSON.stringify({
          figure: "BFCP/UDP floor request to Granted through 10% loss each way (media host path)",
          cycles: CYCLES,
          p50Ms: Math.round(percentile(sorted, 50)),
          p99Ms: Math.round(percentile(sorted, 99)),
          maxMs: Math.round(sorted.at(-1)!),
          retransmittedGrants: grantsInMs
            .map((ms, cycle) => ({ cycle, ms: Math.round(ms), retransmissions: grantRetransmissions[cycle] }))
            .filter((g) => g.retransmissions! > 0),
          clientRetransmissions: client.retransmissions,
          lostOutgoing: lost.outgoing,
          lostIncoming: lost.incoming,
          sentOutgoing: lost.outgoing + lost.passedOutgoing,
          receivedIncoming: lost.incoming + lost.passedIncoming,
          botParticipantId,
        }),
      );
    } finally {
      await room.hangUp();
    }
  });

  it("a retransmitted request already answered gets the same bytes and changes nothing: FloorRequest and FloorRelease sent twice, an old FloorRequest after the release", async () => {
    const { room, botParticipantId } = await dial("Boardroom retransmits", { transport: "udp", versions: [2] });
    try {
      const client = room.bfcp;
      const answerTo = (bytes: Buffer, from: number) =>
        client.waitForMessage((r) => r.message.responder && r.message.transactionId === bytes.readUInt16BE(8), "the answer", from);
      const answersTo = (bytes: Buffer) => client.received.filter((r) => r.message.responder && r.message.transactionId === bytes.readUInt16BE(8));

      const request = client.encodeRequest(Primitive.FloorRequest, [{ kind: "floorId", id: room.floorId }]);
      await client.sendRaw(request);
      const granted = await answerTo(request, 0);
      const grant = readFloorRequest(granted.message.attributes);
      assert.equal(grant.status, RequestStatus.Granted);
      await waitFor(() => stack.graph.screenSharer(demo.meetingId) === botParticipantId, "the bot shares in the meeting", 10_000);

      // The same FloorRequest again (its answer lost, as far as the gateway knows): the same bytes, no second floor request.
      await client.sendRaw(request);
      await waitFor(() => answersTo(request).length === 2, "the retransmitted FloorRequest answered");
      assert.deepEqual(answersTo(request)[1]!.bytes, granted.bytes);

      const release = client.encodeRequest(Primitive.FloorRelease, [{ kind: "floorRequestId", id: grant.floorRequestId! }]);
      await client.sendRaw(release);
      const released = await answerTo(release, 0);
      assert.equal(readFloorRequest(released.message.attributes).status, RequestStatus.Released);
      await client.sendRaw(release);
      await waitFor(() => answersTo(release).length === 2, "the retransmitted FloorRelease answered");
      assert.deepEqual(answersTo(release)[1]!.bytes, released.bytes, "the same Released, not an Error for an unknown floor request");

      // The first FloorRequest once more, after the release: its cached answer, and the floor stays free.
      await client.sendRaw(request);
      await waitFor(() => answersTo(request).length === 3, "the old FloorRequest answered again");
      assert.deepEqual(answersTo(request)[2]!.bytes, granted.bytes);
      // Requests are handled in order: a fresh FloorQuery after the replay sees the floor as it is.
      const status = await client.floorQuery(room.floorId);
      assert.equal(status.message.primitive, Primitive.FloorStatus);
      assert.equal(readFloorRequest(status.message.attributes).status, undefined, "nobody holds the floor");
      assert.equal(stack.graph.screenSharer(demo.meetingId), null, "the meeting was not given the bot's share again");
      assert.ok(!client.received.some((r) => r.message.primitive === Primitive.Error), "no Error answered");
    } finally {
      await room.hangUp();
    }
  });
});
