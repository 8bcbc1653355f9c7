import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { seedDemo } from "../../../local/demo.js";
import { startLocalStack } from "../../../local/stack.js";
import { RoomSystem } from "../../support/peers/roomSystem.js";
import { waitFor } from "../../support/waiting.js";

// A media host that stops with calls still up (a device gone without a BYE keeps its call
// until something ends it) frees their BFCP lines too: a bound socket left behind would keep
// the process alive after stop and hold the port.

const udpPortFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createSocket("udp4");
    socket.once("error", () => resolve(false));
    socket.bind(port, "127.0.0.1", () => socket.close(() => resolve(true)));
  });

const tcpPortFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });

describe("the media host stopping with content calls up", () => {
  it("closes the BFCP line of each call still up (UDP and TCP), the ports free again", async () => {
    const stack = await startLocalStack({ logLevel: "none", mediaHost: {}, meetingMedia: {} });
    const rooms: RoomSystem[] = [];
    try {
      const demo = await seedDemo(stack);
      for (const transport of ["udp", "tcp"] as const) {
        const displayName = `Boardroom ${transport} gone`;
        const { room, response } = await RoomSystem.dial({
          gatewayPort: stack.mediaHost!.ports.sipUdp,
          dial: `${demo.tenantKey.split("@")[0]}.${demo.vtcId}`,
          displayName,
          bfcp: { transport, versions: transport === "udp" ? [2] : [1] },
        });
        rooms.push(room);
        assert.equal(response.status, 200, `${response.status} ${response.reason}`);
        await waitFor(
          () => stack.graph.calls().some((c) => c.identity.displayName === displayName && c.state === "established"),
          "the room's bot",
          20_000,
        );
      }
      const [udpRoom, tcpRoom] = rooms as [RoomSystem, RoomSystem];
      const udpPort = udpRoom.bfcp.options.server.port;
      const tcpPort = tcpRoom.bfcp.options.server.port;
      // Both rooms vanish (no BYE, no Goodbye): their calls stay up on the host.
      await udpRoom.vanish();
      await tcpRoom.vanish();
      assert.equal(await udpPortFree(udpPort), false, "the UDP BFCP line is bound while the call is up");
      await stack.stop();
      assert.equal(await udpPortFree(udpPort), true, "the UDP BFCP port is free after the host stopped");
      assert.equal(await tcpPortFree(tcpPort), true, "the TCP BFCP port is free after the host stopped");
    } finally {
      for (const room of rooms) await room.close().catch(() => {});
      await stack.stop().catch(() => {});
    }
  });
});
