import assert from "node:assert/strict";
import { copyFileSync, mkdirSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { Primitive, primitiveName, RequestStatus } from "../../../media-host/bfcp/constants.js";
import { seedDemo, type SeededDemo } from "../../../local/demo.js";
import { type LocalStack, startLocalStack } from "../../../local/stack.js";
import { RoomSystem, readFloorRequest } from "../../support/peers/roomSystem.js";
import { captureOnLoopback, type LoopbackCapture, tshark } from "../../support/peers/tshark.js";
import { waitFor } from "../../support/waiting.js";

// A whole content session between a room system and the media host, captured on loopback and
// dissected by tshark, an independent BFCP implementation: Debian's tshark 4.0 decodes BFCP
// version 1 (not 2), so the room speaks version 1 over TCP, as most devices do. The meeting's
// side is Graph's emulator: a person in the meeting starts and stops sharing their screen and
// the control plane tells the media host, which tells the room with FloorStatus.

/**
 * Wireshark 4.0 names primitives 15 to 18 as the pre-RFC draft numbered them (15 ErrorAck,
 * 16 FloorStatusAck, 17 Goodbye, 18 GoodbyeAck; packet-bfcp.c), RFC 8855 as 15 FloorStatusAck,
 * 16 Goodbye, 17 GoodbyeAck: the name tshark shows for each of ours.
 */
const tsharkName = (primitive: number) =>
  (({ 15: "ErrorAck", 16: "FloorStatusAck", 17: "Goodbye" }) as Record<number, string>)[primitive] ?? primitiveName(primitive);

/** Where the capture is kept for people to open (git-ignored). */
const KEPT_CAPTURE = "test-results/bfcp-content-session-tcp-v1.pcapng";

let stack: LocalStack;
let demo: SeededDemo;
let capture: LoopbackCapture | undefined;
const rooms: RoomSystem[] = [];

interface DissectedMessage {
  readonly fromRoom: boolean;
  readonly primitive: number;
  readonly name: string;
}

/** The BFCP messages tshark finds in the capture, in frame order (a TCP segment may carry several). */
async function dissect(file: string, port: number): Promise<DissectedMessage[]> {
  const pdml = await tshark(file, ["-d", `tcp.port==${port},bfcp`, "-Y", "bfcp", "-T", "pdml"]);
  const messages: DissectedMessage[] = [];
  for (const packet of pdml.split("<packet>").slice(1)) {
    const sourcePort = Number(/name="tcp\.srcport"[^>]*show="(\d+)"/.exec(packet)?.[1]);
    for (const match of packet.matchAll(/name="bfcp\.primitive"[^>]*showname="Primitive: (\w+) \((\d+)\)"/g)) {
      messages.push({ fromRoom: sourcePort !== port, name: match[1]!, primitive: Number(match[2]) });
    }
  }
  return messages;
}

before(async () => {
  stack = await startLocalStack({ logLevel: "none", mediaHost: {}, meetingMedia: {} });
  demo = await seedDemo(stack);
});

after(async () => {
  for (const room of rooms) await room.close().catch(() => {});
  capture?.dispose();
  await stack?.stop();
});

describe("a content session over BFCP v1/TCP with the media host, captured and dissected by tshark", () => {
  it("Hello, a floor granted and revoked when a person shares, FloorStatus both ways, a floor granted and released, Goodbye: every message decoded as BFCP in order, none malformed", async () => {
    let bfcpPort = 0;
    const displayName = "Boardroom captured";
    const { room, response } = await RoomSystem.dial({
      gatewayPort: stack.mediaHost!.ports.sipUdp,
      dial: `${demo.tenantKey.split("@")[0]}.${demo.vtcId}`,
      displayName,
      bfcp: { transport: "tcp", versions: [1] },
      beforeBfcp: async (line) => {
        bfcpPort = line.port;
        capture = await captureOnLoopback(`tcp port ${line.port}`);
      },
    });
    rooms.push(room);
    assert.equal(response.status, 200, `${response.status} ${response.reason}`);
    assert.ok(capture && bfcpPort > 0, "the gateway took the room's TCP BFCP line");
    const bot = await waitFor(
      () => stack.graph.calls().find((c) => c.identity.displayName === displayName && c.state === "established"),
      "the room's bot in the meeting",
      20_000,
    );
    const client = room.bfcp;
    const statuses = () => room.floorStatuses();

    // The room presents; a person in the meeting takes over (the last sharer wins): Revoked, and a FloorStatus naming the gateway.
    const first = await room.requestFloor();
    assert.equal(first.status, RequestStatus.Granted);
    await waitFor(() => stack.graph.screenSharer(demo.meetingId) === bot.myParticipantId, "the bot shares in the meeting", 10_000);
    const person = stack.graph.addHumanParticipant(demo.meetingId, "Megan Bowen");
    stack.graph.startScreenSharing(demo.meetingId, person);
    await waitFor(
      () =>
        client.received.some(
          (r) => r.message.primitive === Primitive.FloorRequestStatus && readFloorRequest(r.message.attributes).status === RequestStatus.Revoked,
        ),
      "the room's floor request revoked",
      10_000,
    );
    const held = await waitFor(
      () => statuses().find((s) => s.status === RequestStatus.Granted),
      "a FloorStatus: the floor held for the meeting",
      10_000,
    );
    assert.notEqual(held.beneficiaryId, client.options.userId, "held for the meeting, not the room");
    // The person stops: a FloorStatus with nobody holding the floor.
    const heard = statuses().length;
    stack.graph.stopScreenSharing(demo.meetingId, person);
    await waitFor(() => statuses().length > heard && statuses().at(-1)?.status === undefined, "a FloorStatus: the floor free", 10_000);

    // The room presents again and stops: Granted, Released; then it says Goodbye.
    const second = await room.requestFloor();
    assert.equal(second.status, RequestStatus.Granted);
    const released = await client.floorRelease(second.floorRequestId!);
    assert.equal(readFloorRequest(released.message.attributes).status, RequestStatus.Released);
    const goodbye = await client.goodbye();
    assert.equal(goodbye.message.primitive, Primitive.GoodbyeAck);
    // Let the last segments reach the packet socket before dumpcap stops.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const file = await capture.stop();
    mkdirSync("test-results", { recursive: true });
    copyFileSync(file, KEPT_CAPTURE);

    const dissected = await dissect(file, bfcpPort);
    const fromRoom = dissected.filter((m) => m.fromRoom);
    const toRoom = dissected.filter((m) => !m.fromRoom);
    // Everything the room sent and received is in the capture, decoded as BFCP, in the room's order.
    assert.deepEqual(
      fromRoom.map((m) => m.primitive),
      client.log.filter((l) => l.direction === "sent").map((l) => l.primitive),
      "the room's messages",
    );
    assert.deepEqual(
      toRoom.map((m) => m.primitive),
      client.log.filter((l) => l.direction === "received").map((l) => l.primitive),
      "the gateway's messages",
    );
    // tshark's names for them: the RFC's up to 14, its draft-numbered ones above (Goodbye is 16 in RFC 8855).
    for (const m of dissected) assert.equal(m.name, tsharkName(m.primitive));
    assert.deepEqual(
      fromRoom.map((m) => m.primitive),
      [Primitive.Hello, Primitive.FloorRequest, Primitive.FloorRequest, Primitive.FloorRelease, Primitive.Goodbye],
    );
    const gateway = toRoom.map((m) => m.primitive);
    const names = toRoom.map((m) => primitiveName(m.primitive)).join(", ");
    assert.deepEqual(gateway.slice(0, 2), [Primitive.HelloAck, Primitive.FloorRequestStatus], `HelloAck, then Granted: ${names}`);
    assert.deepEqual(
      gateway.slice(-3),
      [Primitive.FloorRequestStatus, Primitive.FloorRequestStatus, Primitive.GoodbyeAck],
      `Granted, Released, GoodbyeAck: ${names}`,
    );
    assert.ok(gateway.filter((p) => p === Primitive.FloorStatus).length >= 2, `FloorStatus when the person shares and stops: ${names}`);
    // tshark reads the statuses the room read: Granted, Revoked (the person took over), Granted, Released.
    const requestStatuses = await tshark(file, [
      "-d",
      `tcp.port==${bfcpPort},bfcp`,
      "-Y",
      "bfcp.primitive == 4",
      "-T",
      "fields",
      "-e",
      "bfcp.request_status",
    ]);
    assert.deepEqual(requestStatuses.trim().split(/[\n,]/).map(Number), [
      RequestStatus.Granted,
      RequestStatus.Revoked,
      RequestStatus.Granted,
      RequestStatus.Released,
    ]);
    // Version 1 throughout, and no frame with a malformed mark or an expert error.
    const versions = await tshark(file, ["-d", `tcp.port==${bfcpPort},bfcp`, "-Y", "bfcp", "-T", "fields", "-e", "bfcp.ver"]);
    assert.deepEqual([...new Set(versions.trim().split(/[\n,]/))], ["1"]);
    const flagged = await tshark(file, ["-d", `tcp.port==${bfcpPort},bfcp`, "-Y", "_ws.malformed || _ws.expert.severity >= error"]);
    assert.equal(flagged.trim(), "", "no malformed or error-marked frame");
    assert.doesNotMatch(await tshark(file, ["-d", `tcp.port==${bfcpPort},bfcp`]), /Malformed/);
    console.log(
      JSON.stringify({
        figure: "BFCP v1/TCP content session with the media host, dissected by tshark 4.0",
        capture: KEPT_CAPTURE,
        messages: dissected.length,
        sequence: dissected.map((m) => `${m.fromRoom ? ">" : "<"}${primitiveName(m.primitive)}`).join(" "),
      }),
    );
    await room.hangUp();
  });
});
