import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { ErrorCode, Primitive, RequestStatus } from "../../../media-host/bfcp/constants.js";
import { type BfcpMessage, findAttribute } from "../../../media-host/bfcp/message.js";
import { BfcpServerSession } from "../../../media-host/bfcp/serverSession.js";
import { BfcpTcpTransport } from "../../../media-host/bfcp/tcpTransport.js";
import type { BfcpTransport } from "../../../media-host/bfcp/transport.js";
import { BfcpUdpTransport } from "../../../media-host/bfcp/udpTransport.js";
import { ContentSession, type ContentSessionPorts } from "../../../media-host/calls/contentSession.js";
import { BfcpTestClient } from "../../support/peers/bfcpClient.js";
import { waitFor } from "../../support/waiting.js";

// A call's content sharing as the device's BFCP client meets it: the floor control server
// (real sockets, the BFCP room's session) asking the call's content session, which drives
// the meeting leg's content direction and the bot's sharing role (recorded here).
const CONFERENCE_ID = 77;
const DEVICE_USER_ID = 2;
const GATEWAY_USER_ID = 65534;
const FLOOR_ID = 1;

class RecordingPorts implements ContentSessionPorts {
  readonly presented: ("device" | "meeting" | undefined)[] = [];
  readonly roles: string[] = [];
  presentContent(presenter: "device" | "meeting" | undefined): void {
    this.presented.push(presenter);
  }
  async setSharingRole(role: "sharer" | "viewer"): Promise<void> {
    this.roles.push(role);
  }
}

async function call(transport: "udp" | "tcp") {
  let nowMs = 1_000;
  const server: BfcpTransport =
    transport === "udp" ? await BfcpUdpTransport.create({ address: "127.0.0.1" }) : await BfcpTcpTransport.listen({ address: "127.0.0.1" });
  const ports = new RecordingPorts();
  const content = new ContentSession(ports, { floorId: FLOOR_ID, gatewayUserId: GATEWAY_USER_ID, log: pino({ level: "silent" }), now: () => nowMs });
  const session = new BfcpServerSession(server, { conferenceId: CONFERENCE_ID, userId: DEVICE_USER_ID, floorIds: [FLOOR_ID], policy: content });
  content.attach(session);
  const client = await BfcpTestClient.connect({
    transport,
    server: { address: "127.0.0.1", port: server.localPort },
    version: transport === "udp" ? 2 : 1,
    conferenceId: CONFERENCE_ID,
    userId: DEVICE_USER_ID,
  });
  return {
    content,
    ports,
    client,
    advance: (ms: number) => {
      nowMs += ms;
    },
    async close() {
      await client.close();
      await server.close();
    },
  };
}

function requestInformation(message: BfcpMessage): { floorRequestId: number; status: number | undefined; beneficiary: number | undefined } {
  const info = findAttribute(message.attributes, "floorRequestInformation");
  assert.ok(info, "FLOOR-REQUEST-INFORMATION");
  const overall = findAttribute(info.attributes, "overallRequestStatus");
  return {
    floorRequestId: info.id,
    status: overall ? findAttribute(overall.attributes, "requestStatus")?.status : undefined,
    beneficiary: findAttribute(info.attributes, "beneficiaryInformation")?.id,
  };
}

describe("a call's content session behind the BFCP floor control server", () => {
  for (const transport of ["udp", "tcp"] as const) {
    it(`${transport.toUpperCase()}: the device presents, someone in the meeting takes over (Revoked, FloorStatus held by the gateway), the device takes it back, releases`, async () => {
      const t = await call(transport);
      try {
        await t.client.hello();
        const granted = requestInformation((await t.client.floorRequest(FLOOR_ID)).message);
        assert.equal(granted.status, RequestStatus.Granted);
        assert.deepEqual(t.ports.presented, ["device"]);
        assert.deepEqual(t.ports.roles, ["sharer"]);

        const seen = t.client.received.length;
        t.content.meetingShareStarted("alice-screen");
        const revoked = await t.client.waitForMessage((r) => r.message.primitive === Primitive.FloorRequestStatus, "Revoked", seen);
        assert.deepEqual(requestInformation(revoked.message), {
          floorRequestId: granted.floorRequestId,
          status: RequestStatus.Revoked,
          beneficiary: undefined,
        });
        const status = await t.client.waitForMessage((r) => r.message.primitive === Primitive.FloorStatus, "FloorStatus", seen);
        const held = requestInformation(status.message);
        assert.equal(held.status, RequestStatus.Granted);
        assert.equal(held.beneficiary, GATEWAY_USER_ID, "held by the gateway's user: someone in the meeting presents");
        assert.deepEqual(t.ports.presented, ["device", "meeting"]);
        assert.deepEqual(t.ports.roles, ["sharer"], "Teams made someone else the sharer: nothing to change");

        const again = requestInformation((await t.client.floorRequest(FLOOR_ID)).message);
        assert.equal(again.status, RequestStatus.Granted);
        assert.notEqual(again.floorRequestId, granted.floorRequestId, "the server gives each request its own id");
        assert.deepEqual(t.ports.presented, ["device", "meeting", "device"]);
        assert.deepEqual(t.ports.roles, ["sharer", "sharer"]);

        const released = requestInformation((await t.client.floorRelease(again.floorRequestId)).message);
        assert.equal(released.status, RequestStatus.Released);
        assert.deepEqual(t.ports.presented, ["device", "meeting", "device", undefined]);
        assert.deepEqual(t.ports.roles, ["sharer", "sharer", "viewer"]);

        const unknown = (await t.client.floorRelease(again.floorRequestId)).message;
        assert.equal(unknown.primitive, Primitive.Error);
        assert.equal(findAttribute(unknown.attributes, "errorCode")?.code, ErrorCode.FloorRequestIdDoesNotExist);
        assert.equal(t.ports.presented.length, 4, "a stale release changes nothing");
      } finally {
        await t.close();
      }
    });
  }

  it("a presenting device whose content stops loses the floor within 10 s of its last packet, and is told (Revoked)", async () => {
    const t = await call("udp");
    try {
      await t.client.hello();
      const granted = requestInformation((await t.client.floorRequest(FLOOR_ID)).message);
      let packets = 0;
      for (let second = 0; second < 6; second += 2) {
        packets += 20;
        t.content.checkLiveness(packets);
        t.advance(2_000);
      }
      assert.equal(t.content.holder.kind, "device", "presenting while content flows");
      const seen = t.client.received.length;
      let silentFor = 0;
      while (t.content.holder.kind === "device" && silentFor <= 20_000) {
        t.content.checkLiveness(packets);
        t.advance(2_000);
        silentFor += 2_000;
      }
      assert.equal(t.content.holder.kind, "none");
      assert.ok(silentFor <= 10_000, `lost the floor after ${silentFor} ms of silence`);
      const revoked = await t.client.waitForMessage((r) => r.message.primitive === Primitive.FloorRequestStatus, "Revoked", seen);
      assert.deepEqual(
        [requestInformation(revoked.message).floorRequestId, requestInformation(revoked.message).status],
        [granted.floorRequestId, RequestStatus.Revoked],
      );
      assert.deepEqual(t.ports.presented, ["device", undefined]);
      assert.deepEqual(t.ports.roles, ["sharer", "viewer"]);
    } finally {
      await t.close();
    }
  });

  it("TCP: a device whose BFCP connection closes while presenting loses the floor at once", async () => {
    const t = await call("tcp");
    try {
      await t.client.hello();
      await t.client.floorRequest(FLOOR_ID);
      await t.client.close();
      await waitFor(() => t.content.holder.kind === "none", "the floor released on close", 3000);
      assert.deepEqual(t.ports.presented, ["device", undefined]);
      assert.deepEqual(t.ports.roles, ["sharer", "viewer"]);
    } finally {
      await t.close();
    }
  });
});
