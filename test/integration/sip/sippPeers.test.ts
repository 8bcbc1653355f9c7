import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { SipStack } from "../../../media-host/sip/sipStack.js";
import { StreamTransport } from "../../../media-host/sip/transport/streamTransport.js";
import { UdpTransport } from "../../../media-host/sip/transport/udpTransport.js";
import { describeResult, runSipp, type SippTransport } from "../../support/peers/sipp.js";

// The SIP core against SIPp, a real peer: OPTIONS and CANCEL over UDP, TCP and TLS, and
// a burst of OPTIONS with 10% packet loss. The call flows come with the call logic.
const tlsDirectory = fileURLToPath(new URL("../../../../.local/tls/", import.meta.url));
const ports: Record<SippTransport, number> = { u1: 0, t1: 0, tn: 0, l1: 0 };
const transports = [
  new UdpTransport(),
  new StreamTransport({ protocol: "tcp" }),
  new StreamTransport({
    protocol: "tls",
    tls: { cert: readFileSync(`${tlsDirectory}server.pem`), key: readFileSync(`${tlsDirectory}server-key.pem`) },
  }),
];

before(async () => {
  ports.u1 = await transports[0]!.listen("127.0.0.1", 0);
  ports.t1 = await transports[1]!.listen("127.0.0.1", 0);
  ports.tn = ports.t1;
  ports.l1 = await transports[2]!.listen("127.0.0.1", 0);
  const stack = new SipStack({ transports, serverName: "OpenCVI" });
  // Rings, and waits for the caller: what a dial-in does while the bot joins.
  stack.handle("INVITE", (request) => {
    request.respond(180, "Ringing", { toTag: "ringing" });
  });
  for (const method of ["BYE", "INFO", "UPDATE"]) {
    stack.handle(method, (request) => {
      request.respond(200, "OK");
    });
  }
});
after(async () => {
  for (const t of transports) await t.close();
});

describe("the SIP core with SIPp", () => {
  for (const transport of ["u1", "t1", "l1"] as const) {
    it(`answers OPTIONS and handles CANCEL before the answer over ${transport === "u1" ? "UDP" : transport === "t1" ? "TCP" : "TLS"}`, async () => {
      const target = `127.0.0.1:${ports[transport]}`;
      const options = await runSipp({ scenario: "options", target, service: "123456789", transport, calls: 3, rate: 10, timeoutInMs: 20_000 });
      assert.equal(options.successful, 3, describeResult(options));
      assert.equal(options.failed, 0, describeResult(options));
      const cancel = await runSipp({
        scenario: "cancel",
        target,
        service: "123456789.1234567890",
        transport,
        calls: 2,
        rate: 5,
        timeoutInMs: 20_000,
      });
      assert.equal(cancel.successful, 2, describeResult(cancel));
      assert.equal(cancel.failed, 0, describeResult(cancel));
    });
  }

  it("with 10% of packets lost, retransmissions still complete at least 99% of 100 OPTIONS", async () => {
    const result = await runSipp({
      scenario: "options",
      target: `127.0.0.1:${ports.u1}`,
      service: "123456789",
      transport: "u1",
      calls: 100,
      rate: 50,
      lost: 10,
      timeoutInMs: 60_000,
    });
    assert.ok(result.successful >= 99, describeResult(result));
  });
});
