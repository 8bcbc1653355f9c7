import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { readdirSync } from "node:fs";
import { describe, it } from "node:test";
import { decodeMessage } from "../../../media-host/bfcp/codec.js";
import { DRAFT_FLOOR_STATUS_ACK, Primitive, primitiveName, RequestStatus, SERVER_TO_CLIENT_PRIMITIVES } from "../../../media-host/bfcp/constants.js";
import { type FloorDecision, isRefusal } from "../../../media-host/bfcp/floorPolicy.js";
import { LastRequesterWinsFloorPolicy } from "../../../media-host/bfcp/lastRequesterWinsFloorPolicy.js";
import type { BfcpMessage } from "../../../media-host/bfcp/message.js";
import { BfcpServerSession } from "../../../media-host/bfcp/serverSession.js";
import { BfcpUdpTransport } from "../../../media-host/bfcp/udpTransport.js";
import { readCapture } from "../../support/peers/pcap.js";
import { waitFor } from "../../support/waiting.js";

const CAPTURES_DIR = new URL("../../../../../shared/captures/bfcp/", import.meta.url);

/** The floor control server's port in each capture (SOURCES.md); the other side is the device. */
const SERVER_PORTS = new Set([5070, 57020]);

/** The devices release the floor request ids the captured server gave them, which ours never issued: release those too. */
class ReplayPolicy extends LastRequesterWinsFloorPolicy {
  override release(request: { readonly userId: number; readonly floorRequestId: number }): FloorDecision {
    const decision = super.release(request);
    return isRefusal(decision) ? { floorRequestId: request.floorRequestId, floorIds: [1], status: RequestStatus.Released } : decision;
  }
}

/**
 * Real devices' side of each capture, replayed datagram by datagram to our
 * server: every request they sent must get an answer that is not an Error.
 */
describe("BFCP server session against the devices' datagrams of real captures", () => {
  const files = readdirSync(CAPTURES_DIR).filter((f) => /\.pcap(ng)?$/.test(f));
  for (const file of files) {
    it(`answers every request of the devices in ${file}`, async () => {
      const records = readCapture(new URL(file, CAPTURES_DIR).pathname).records.filter((r) => SERVER_PORTS.has(r.udp.dstPort));
      // One device (source address and port) at a time: each is a BFCP association of its own.
      const devices = new Map<string, Buffer[]>();
      for (const r of records) devices.set(`${r.ip.src}:${r.udp.srcPort}`, [...(devices.get(`${r.ip.src}:${r.udp.srcPort}`) ?? []), r.payload]);
      for (const [device, datagrams] of devices) {
        const first = decodeMessage(datagrams[0]!);
        assert.ok(first.ok);
        const transport = await BfcpUdpTransport.create({ address: "127.0.0.1" });
        const session = new BfcpServerSession(transport, {
          conferenceId: first.message.conferenceId,
          userId: first.message.userId,
          floorIds: [1, 2],
          policy: new ReplayPolicy(),
        });
        const gone: string[] = [];
        session.on("clientGone", (reason) => gone.push(reason));
        const socket = createSocket("udp4");
        const answers: BfcpMessage[] = [];
        socket.on("message", (data) => {
          const result = decodeMessage(data);
          if (result.ok) answers.push(result.message);
        });
        await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
        try {
          let requests = 0;
          for (const datagram of datagrams) {
            const sent = decodeMessage(datagram);
            assert.ok(sent.ok);
            // Acks (RFC numbering, Cisco's R=1 ones, and the draft-numbered FloorStatusAck 16) and answers to server Hellos ask nothing.
            const primitive = sent.message.primitive;
            const isRequest =
              !sent.message.responder &&
              primitive !== Primitive.FloorRequestStatusAck &&
              primitive !== Primitive.FloorStatusAck &&
              primitive !== DRAFT_FLOOR_STATUS_ACK &&
              !SERVER_TO_CLIENT_PRIMITIVES.has(primitive);
            const before = answers.length;
            await new Promise<void>((resolve, reject) => socket.send(datagram, transport.localPort, "127.0.0.1", (e) => (e ? reject(e) : resolve())));
            if (!isRequest) continue;
            requests++;
            const answer = await waitFor(
              () => answers.slice(before).find((a) => a.transactionId === sent.message.transactionId),
              `${device}: the answer to ${primitiveName(sent.message.primitive)}`,
            );
            assert.notEqual(answer.primitive, Primitive.Error, `${device}: ${primitiveName(sent.message.primitive)} refused`);
          }
          assert.ok(requests > 0);
          assert.deepEqual(gone, [], `${device}: no datagram of these sessions ends the association (16 acking a FloorStatus is no Goodbye)`);
        } finally {
          socket.close();
          await transport.close();
        }
      }
    });
  }
});
