import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseMessage } from "../../../media-host/sip/parser.js";
import type { SipRequest } from "../../../media-host/sip/message.js";
import { stampTopVia } from "../../../media-host/sip/transport/viaStamp.js";

const flow = { protocol: "udp" as const, remoteAddress: "203.0.113.7", remotePort: 40123, localPort: 5060, connectionId: null };

function request(via: string, second?: string): SipRequest {
  const text = [
    "OPTIONS sip:x@gateway.example.com SIP/2.0",
    `Via: ${via}`,
    ...(second ? [`Via: ${second}`] : []),
    "From: <sip:a@example.com>;tag=1",
    "To: <sip:x@gateway.example.com>",
    "Call-ID: c1",
    "CSeq: 1 OPTIONS",
    "Max-Forwards: 70",
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
  return parseMessage(Buffer.from(text)) as SipRequest;
}

describe("stamping the top Via (RFC 3261 §18.2.1, RFC 3581)", () => {
  it("fills in rport and received for a device behind NAT", () => {
    const r = request("SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK-1;rport");
    assert.equal(stampTopVia(r, flow), true);
    const top = r.headers.topVia();
    assert.equal(top?.rport, 40123);
    assert.equal(top?.received, "203.0.113.7");
    assert.equal(top?.branch, "z9hG4bK-1");
  });

  it("adds received when the sent-by host differs, even without rport; leaves other Vias alone", () => {
    const r = request(
      "SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK-2, SIP/2.0/UDP proxy.example.com;branch=z9hG4bK-p",
      "SIP/2.0/UDP edge.example.com;branch=z9hG4bK-e",
    );
    stampTopVia(r, flow);
    const vias = r.headers.vias();
    assert.equal(vias.length, 3);
    assert.equal(vias[0]?.received, "203.0.113.7");
    assert.equal(vias[0]?.rport, undefined);
    assert.equal(vias[1]?.host, "proxy.example.com");
    assert.equal(vias[2]?.host, "edge.example.com");
  });

  it("changes nothing when the device is where it says and asked for no rport", () => {
    const r = request("SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK-3");
    assert.equal(stampTopVia(r, flow), false);
    assert.equal(r.headers.topVia()?.received, undefined);
  });
});
