import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { type LocalStack, startLocalStack } from "../../../local/stack.js";
import { generatePrompts } from "../../../media-host/prompts/generatePrompts.js";
import { createTestHost, type TestHost } from "../../support/netns.js";
import { tlsFor } from "../../support/tls.js";
import { adminApi, enabledMeeting } from "../../support/onboarding.js";
import { describeResult, runSipp } from "../../support/peers/sipp.js";
import { metricValue, scrape } from "../../support/prometheus.js";
import { RFC4475_DIR, rfc4475Files } from "../../unit/sip/support.js";

// Scanners, floods and malformed requests stop at the SIP edge. The attackers are test hosts
// of our own (network namespaces joined by veth pairs), each with an address of its own, as
// a scanner on the internet has: the edge listens on this machine's end of their links.

const TORTURE = fileURLToPath(RFC4475_DIR);
/** The edge bans a source after this many failed out-of-dialog requests in a minute. */
const FAILURES_BAN = 30;

let stack: LocalStack;
let tortureHost: TestHost;
let scanner: TestHost;
let edgeAddress: string;
let tlsDirectory: string | undefined;

before(async () => {
  tortureHost = createTestHost();
  scanner = createTestHost();
  // The stack (its edge and host) listens on one address both test hosts can reach: the scanner's
  // link's end here, and the torture host reaches it through this machine (both are local addresses here).
  edgeAddress = scanner.localAddress;
  tlsDirectory = tlsFor(edgeAddress);
  const promptsDirectory = mkdtempSync(join(tmpdir(), "prompts-"));
  await generatePrompts({ directory: promptsDirectory });
  stack = await startLocalStack({
    logLevel: "none",
    address: edgeAddress,
    tlsDirectory,
    pool: {
      edge: { failuresBeforeBan: FAILURES_BAN },
      hosts: [{ id: "screened", promptsDirectory, rtpPorts: [12000, 12999], webRtcPorts: [13000, 13999] }],
    },
  });
});

after(async () => {
  await stack?.stop();
  tortureHost?.remove();
  scanner?.remove();
  if (tlsDirectory) rmSync(tlsDirectory, { recursive: true, force: true });
});

const hostMetric = async (name: string, labels: Readonly<Record<string, string>> = {}) => {
  const host = stack.poolHosts.get("screened");
  assert.ok(host);
  return metricValue(await scrape(`http://${stack.address}:${host.ports.health}/metrics`), name, { media_host: "screened", ...labels });
};
const edgeMetric = async (name: string, labels: Readonly<Record<string, string>> = {}) =>
  metricValue(await scrape(stack.edge!.endpoints.metricsUrl), name, labels);

/** A real call through the edge from this machine: the edge and its host still work. */
async function callThroughTheEdge(): Promise<void> {
  const meeting = await enabledMeeting(stack, { subject: "After the storm" });
  const result = await runSipp({
    scenario: "pool-call",
    target: `${edgeAddress}:${stack.edge!.endpoints.sipPort}`,
    localIp: scanner.localAddress,
    service: "pool",
    csv: { rows: [[`${meeting.tenant.tenantKey.split("@")[0]}.${meeting.vtcId}`]] },
    timeoutInMs: 30_000,
  });
  assert.equal(result.successful, 1, describeResult(result));
}

describe("the SIP edge screens what reaches the media hosts", () => {
  it("survives every RFC 4475 torture message; nothing malformed reaches a host", async () => {
    const files = rfc4475Files();
    assert.ok(files.length >= 49);
    // Sent from the torture host, one datagram per message, as a hostile peer would.
    const sent = await tortureHost.run(
      process.execPath,
      [
        "-e",
        `const d=require("node:dgram"),fs=require("node:fs"),p=require("node:path");const s=d.createSocket("udp4");let answers=0;s.on("message",()=>answers++);
         const files=fs.readdirSync(${JSON.stringify(TORTURE)}).filter(f=>f.endsWith(".dat"));
         (async()=>{for(const f of files){await new Promise(r=>s.send(fs.readFileSync(p.join(${JSON.stringify(TORTURE)},f)),${stack.edge!.endpoints.sipPort},${JSON.stringify(edgeAddress)},r));await new Promise(r=>setTimeout(r,20));}
         await new Promise(r=>setTimeout(r,1500));console.log(JSON.stringify({sent:files.length,answers}));s.close();})();`,
      ],
      30_000,
    );
    assert.equal(sent.code, 0, sent.stderr);
    const { sent: count, answers } = JSON.parse(sent.stdout) as { sent: number; answers: number };
    assert.equal(count, files.length);
    assert.ok(answers > 0, "the edge answered what it could");
    // Kamailio's parser threw out what it could not read; the edge's checks answered the rest (400 and the like).
    assert.ok((await edgeMetric("cvi_edge_core_bad_msg_hdr")) > 0, "the edge's parser dropped unreadable messages");
    assert.ok((await edgeMetric("cvi_edge_malformed_total")) > 0, "the edge refused malformed requests itself");
    assert.equal(await hostMetric("cvi_invites_total", { outcome: "rejected-malformed" }), 0, "no malformed message reached the host");
    await callThroughTheEdge();
  });

  it("a sipvicious scan (svmap, then svwar guessing dial strings) is banned after a few failures and finds no dial string", async () => {
    const reachedBefore = await hostMetric("cvi_new_invites_total");
    const port = String(stack.edge!.endpoints.sipPort);
    // Both bounded: a scanner that gets no more answers waits for them until its timeout.
    const map = await scanner.run("svmap", [edgeAddress, "-p", port], 60_000);
    assert.match(map.stdout, /OpenCVI edge/, `svmap sees a SIP device: ${map.stdout}${map.stderr}`);
    const war = await scanner.run("svwar", ["-e", "100-400", "-m", "INVITE", "-p", port, edgeAddress], 90_000);
    // svwar lists as "noauth"/"reqauth" an extension that rang or asked for credentials; "weird" (any other answer
    // than its first probe's, e.g. the host's failed-attempt limiter slowing it down) is not a find.
    assert.doesNotMatch(war.stdout, /\|\s*\d+\s*\|\s*(noauth|reqauth)\s*\|/, `svwar found an extension: ${war.stdout}`);
    assert.ok((await edgeMetric("cvi_edge_rate_limited_total", { reason: "banned" })) > 0, "the scanner was banned");
    // Of the ~300 INVITEs svwar tried, the host saw those before the ban, and the few in flight when it fell.
    const reached = (await hostMetric("cvi_new_invites_total")) - reachedBefore;
    assert.ok(reached <= FAILURES_BAN + 10, `${reached} of the scanner's INVITEs reached the host`);
    assert.equal(await hostMetric("cvi_invites_total", { outcome: "rejected-malformed" }), 0);
    // The edge still serves everyone else.
    const kamailio = await fetch(stack.edge!.endpoints.rpcUrl, { method: "POST", body: '{"jsonrpc":"2.0","method":"core.version","id":1}' });
    assert.equal(kamailio.status, 200);
    await callThroughTheEdge();
    // And the scan is visible to the operator.
    assert.equal((await adminApi(stack, "GET", "/v1/pool/hosts/screened")).json.status, "active");
  });
});
