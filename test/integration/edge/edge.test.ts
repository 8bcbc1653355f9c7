import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { WantedHost } from "../../../edge/agent/dispatcherPlan.js";
import { DispatcherSync, type PoolSource } from "../../../edge/agent/dispatcherSync.js";
import { KamailioProcess } from "../../../edge/agent/kamailioProcess.js";
import { KamailioRpc } from "../../../edge/agent/kamailioRpc.js";
import { metricValue, scrape } from "../../support/prometheus.js";
import { describeResult, freePort, runSipp, type SippUas, startSippUas } from "../../support/peers/sipp.js";
import { waitFor } from "../../support/waiting.js";

// The SIP edge (Debian's Kamailio running edge/kamailio.cfg) in front of SIPp playing
// media hosts: placement by fewest calls, failover, the host set following the pool at
// run time. The full pool (real media hosts, leases, the reaper) is test/integration/pool/.

/** The pool as this test says it is: the dispatcher sync reads it like the registry. */
class TestPool implements PoolSource {
  hosts: WantedHost[] = [];
  async wantedHosts(): Promise<readonly WantedHost[]> {
    return this.hosts;
  }
}

let edge: KamailioProcess;
let rpc: KamailioRpc;
let sync: DispatcherSync;
const pool = new TestPool();
const started: SippUas[] = [];
const host = (hostId: string, uas: { port: number }, draining = false): WantedHost => ({
  hostId,
  sipUri: `sip:127.0.0.1:${uas.port}`,
  capacity: 100,
  draining,
});

async function startHost(scenario = "pool-host"): Promise<SippUas> {
  const uas = await startSippUas({ scenario, timewaitMs: 0, timeoutInMs: 170_000 });
  started.push(uas);
  return uas;
}

/** Calls through the edge that stay up `holdMs`; resolves with SIPp's result. */
function call(calls: number, rate: number, holdMs: number, extra: { maxConcurrentCalls?: number; transport?: "u1" | "t1" | "l1" } = {}) {
  return runSipp({
    scenario: "pool-call",
    target: `127.0.0.1:${extra.transport === "l1" ? edge.endpoints.tlsPort : edge.endpoints.sipPort}`,
    service: "pool",
    csv: { rows: [["123456789.1234567890"]] },
    calls,
    rate,
    timeoutInMs: 60_000,
    extraArgs: ["-d", String(holdMs)],
    ...extra,
  });
}

const routed = async (hostId: string) => metricValue(await scrape(edge.endpoints.metricsUrl), "cvi_edge_invites_routed_total", { host: hostId });

async function settled(expected: Record<string, string>): Promise<void> {
  await waitFor(
    async () => {
      const list = await rpc.dispatcherList(1);
      const states = Object.fromEntries(list.map((d) => [d.hostId, d.state]));
      return Object.entries(expected).every(([id, state]) => states[id] === state) && list.length === Object.keys(expected).length;
    },
    `the dispatcher to list ${JSON.stringify(expected)}`,
  );
}

before(async () => {
  edge = new KamailioProcess({
    sipAddress: "127.0.0.1",
    sipPort: 0,
    tls: { port: 0, certificateFile: ".local/tls/server.pem", privateKeyFile: ".local/tls/server-key.pem" },
    inviteTimeoutInMs: 3000,
  });
  await edge.start();
  rpc = new KamailioRpc({ url: edge.endpoints.rpcUrl });
  sync = new DispatcherSync({ rpc, pool, intervalInMs: 200 });
  sync.start();
});

after(async () => {
  await sync?.stop();
  await Promise.all(started.map((uas) => uas.stop(500).catch(() => {})));
  await edge?.stop();
});

describe("the SIP edge (Kamailio) in front of media hosts", () => {
  it("answers OPTIONS itself, and a call with no host in the pool gets 503 with Retry-After", async () => {
    const options = await runSipp({ scenario: "options", target: `127.0.0.1:${edge.endpoints.sipPort}`, service: "keepalive", timeoutInMs: 10_000 });
    assert.equal(options.successful, 1, describeResult(options));
    const refused = await call(1, 1, 100);
    assert.equal(refused.successful, 0, describeResult(refused));
    assert.match(refused.errorLogTail, /SIP\/2\.0 503 No media host available[\s\S]*Retry-After: 30/);
  });

  it("spreads calls by active calls: 150 calls over 3 hosts, each within 10% of the mean; BYEs follow the Record-Route", async () => {
    const hosts = [await startHost(), await startHost(), await startHost()];
    pool.hosts = hosts.map((uas, i) => host(`spread-${i}`, uas));
    await settled({ "spread-0": "active", "spread-1": "active", "spread-2": "active" });
    const result = await call(150, 30, 3000);
    assert.equal(result.successful, 150, describeResult(result));
    assert.equal(result.responseTimesMs.bye?.count, 150, "every BYE answered through the edge");
    const shares = await Promise.all(hosts.map((_, i) => routed(`spread-${i}`)));
    const mean = 150 / 3;
    for (const share of shares) assert.ok(Math.abs(share - mean) <= mean * 0.1, `shares ${shares.join("/")} (mean ${mean})`);
    // The BYEs decremented the counts: nothing is left counted.
    const loads = (await rpc.dispatcherList(1)).map((d) => d.load);
    assert.deepEqual(loads, [0, 0, 0]);
  });

  it("skips a host that answers 503 and one that is silent: every call succeeds, the device never sees them", async () => {
    const good = await startHost();
    const refusing = await startHost("pool-host-unavailable");
    const silent = { port: await freePort() }; // nothing listens there
    pool.hosts = [host("good", good), host("refusing", refusing), host("silent", silent)];
    await settled({ good: "active", refusing: "active", silent: "active" });
    // The silent host is taken out by its first timed-out INVITE (or by its probes), the refusing one by its 503.
    const result = await call(30, 10, 200);
    assert.equal(result.successful, 30, describeResult(result));
    const metrics = await scrape(edge.endpoints.metricsUrl);
    assert.ok(metricValue(metrics, "cvi_edge_failovers_total", { reason: "unavailable" }) >= 1, "the 503 was failed over");
    const list = await rpc.dispatcherList(1);
    assert.equal(list.find((d) => d.hostId === "silent")?.state, "inactive");
    assert.equal(await routed("good"), 30);
  });

  it("takes devices over TCP and TLS (its own certificate) as over UDP, and relays them to the hosts", async () => {
    const host1 = await startHost();
    pool.hosts = [host("tls-1", host1)];
    await settled({ "tls-1": "active" });
    for (const transport of ["t1", "l1"] as const) {
      const result = await call(4, 4, 200, { transport });
      assert.equal(result.successful, 4, `${transport}: ${describeResult(result)}`);
      assert.equal(result.responseTimesMs.bye?.count, 4, `${transport}: BYEs through the edge`);
    }
    assert.equal(await routed("tls-1"), 8);
  });

  it("follows the pool at run time: a new host joins, a draining one gets no new calls, call counts survive both", async () => {
    const a = await startHost();
    const b = await startHost();
    pool.hosts = [host("run-a", a)];
    await settled({ "run-a": "active" });
    const first = call(20, 20, 6000);
    await waitFor(async () => (await rpc.dispatcherList(1)).find((d) => d.hostId === "run-a")?.load === 20, "20 calls counted on run-a");
    pool.hosts = [host("run-a", a, true), host("run-b", b)];
    await settled({ "run-a": "disabled", "run-b": "active" });
    const loads = Object.fromEntries((await rpc.dispatcherList(1)).map((d) => [d.hostId, d.load]));
    assert.deepEqual(loads, { "run-a": 20, "run-b": 0 }, "adding a host and draining another kept the counts");
    const second = await call(10, 10, 200);
    assert.equal(second.successful, 10, describeResult(second));
    assert.equal(await routed("run-a"), 20, "the draining host got no new call");
    assert.equal(await routed("run-b"), 10);
    const done = await first;
    assert.equal(done.successful, 20, `the draining host's calls went on to their end: ${describeResult(done)}`);
    pool.hosts = [host("run-b", b)];
    await settled({ "run-b": "active" });
  });
});
