import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Primitive, RequestStatus } from "../../../media-host/bfcp/constants.js";
import { LastRequesterWinsFloorPolicy } from "../../../media-host/bfcp/lastRequesterWinsFloorPolicy.js";
import { findAttribute } from "../../../media-host/bfcp/message.js";
import { BfcpServerSession } from "../../../media-host/bfcp/serverSession.js";
import { BfcpTcpTransport } from "../../../media-host/bfcp/tcpTransport.js";
import { BfcpTestClient } from "../../support/peers/bfcpClient.js";
import { captureOnLoopback, tshark } from "../../support/peers/tshark.js";
import { waitFor } from "../../support/waiting.js";

/**
 * Our BFCP bytes against an independent dissector: Debian's tshark 4.0 decodes
 * version 1 (not 2), so the exchange is version 1 over TCP, captured on `lo`.
 */
describe("BFCP v1 over TCP, captured and dissected by tshark", () => {
  it("tshark lists every message of a floor session, none malformed", async () => {
    const server = await BfcpTcpTransport.listen({ address: "127.0.0.1" });
    const session = new BfcpServerSession(server, { conferenceId: 4711, userId: 2, floorIds: [1], policy: new LastRequesterWinsFloorPolicy() });
    const capture = await captureOnLoopback(`tcp port ${server.localPort}`);
    try {
      const client = await BfcpTestClient.connect({
        transport: "tcp",
        server: { address: "127.0.0.1", port: server.localPort },
        version: 1,
        conferenceId: 4711,
        userId: 2,
      });
      await client.hello();
      const granted = (await client.floorRequest(1)).message;
      const floorRequestId = findAttribute(granted.attributes, "floorRequestInformation")!.id;
      await client.floorQuery(1);
      await client.floorRelease(floorRequestId);
      // The meeting takes the floor: a server-initiated FloorStatus naming the gateway's user as beneficiary.
      session.notifyFloorStatus(1, [
        {
          floorRequestId: 100,
          floorIds: [1],
          status: RequestStatus.Granted,
          beneficiary: { userId: 65534, displayName: "Teams meeting", uri: "sip:gateway@example.net" },
        },
      ]);
      await client.waitForMessage((r) => r.message.transactionId === 0, "the FloorStatus notification");
      await client.request(Primitive.Hello, [], { conferenceId: 1 }); // answered with Error 1
      await client.goodbye();
      await client.close();
      // Let the last segments reach the packet socket before dumpcap stops.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const file = await capture.stop();

      const port = String(server.localPort);
      const decodeAs = ["-d", `tcp.port==${port},bfcp`];
      const fields = await tshark(file, [
        ...decodeAs,
        "-Y",
        "bfcp",
        "-T",
        "fields",
        "-e",
        "bfcp.primitive",
        "-e",
        "bfcp.request_status",
        "-e",
        "bfcp.ver",
      ]);
      const rows = fields
        .trim()
        .split("\n")
        .map((line) => line.split("\t"));
      assert.deepEqual(
        rows.map(([primitive]) => Number(primitive)),
        [
          Primitive.Hello,
          Primitive.HelloAck,
          Primitive.FloorRequest,
          Primitive.FloorRequestStatus,
          Primitive.FloorQuery,
          Primitive.FloorStatus,
          Primitive.FloorRelease,
          Primitive.FloorRequestStatus,
          Primitive.FloorStatus,
          Primitive.Hello,
          Primitive.Error,
          Primitive.Goodbye,
          Primitive.GoodbyeAck,
        ],
        fields,
      );
      assert.deepEqual(
        rows.filter(([primitive]) => Number(primitive) === Primitive.FloorRequestStatus).map(([, status]) => Number(status)),
        [RequestStatus.Granted, RequestStatus.Released],
      );
      assert.ok(
        rows.every(([, , version]) => version === "1"),
        "version 1 throughout",
      );
      const malformed = await tshark(file, [...decodeAs, "-Y", "_ws.malformed || _ws.expert.severity >= error"]);
      assert.equal(malformed.trim(), "", "no malformed or error-marked frame");
      const summary = await tshark(file, decodeAs);
      assert.doesNotMatch(summary, /Malformed/);
      await waitFor(() => !server.connected, "the server to see the close");
    } finally {
      capture.dispose();
      await server.close();
    }
  });
});
