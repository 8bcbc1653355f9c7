import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { pino } from "pino";
import { HealthServer, type HealthState } from "../../../media-host/observability/healthServer.js";
import { callLogger } from "../../../media-host/observability/logger.js";
import { MediaHostMetrics } from "../../../media-host/observability/metrics.js";

describe("media host health and metrics", () => {
  it("serves /healthz (503 while draining or broken) and Prometheus /metrics", async () => {
    const metrics = new MediaHostMetrics({ mediaHostId: "mh-1" });
    let state: HealthState = { draining: false, activeCalls: 0, problems: [] };
    const server = new HealthServer({ host: "127.0.0.1", port: 0, metrics, health: () => state });
    const port = await server.listen();
    try {
      const healthy = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(healthy.status, 200);
      assert.equal(((await healthy.json()) as { status: string }).status, "ok");
      state = { draining: true, activeCalls: 3, problems: [] };
      const draining = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(draining.status, 503);
      assert.deepEqual(await draining.json(), { status: "draining", draining: true, activeCalls: 3, problems: [] });
      state = { draining: false, activeCalls: 0, problems: ["rtpengine not ready"] };
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 503);

      metrics.activeCalls.set(2);
      metrics.countInvite("answered");
      metrics.countInvite("refused");
      metrics.countInvite("answered");
      metrics.setupSeconds.observe(0.8);
      metrics.rtpengineSeconds.observe({ command: "offer" }, 0.002);
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(text, /cvi_active_calls\{media_host="mh-1"\} 2/);
      assert.match(text, /cvi_invites_total\{outcome="answered",media_host="mh-1"\} 2/);
      assert.match(text, /cvi_call_setup_seconds_bucket\{le="1",media_host="mh-1"\} 1/);
      assert.match(text, /cvi_rtpengine_request_seconds_count\{media_host="mh-1",command="offer"\} 1/);
      assert.match(text, /cvi_media_host_process_cpu_user_seconds_total/);
      assert.equal((await fetch(`http://127.0.0.1:${port}/nothing`)).status, 404);
    } finally {
      await server.close();
    }
  });

  it("gives each call a child logger carrying its ids, and never logs credentials", () => {
    const lines: string[] = [];
    const root = pino(
      { base: {}, redact: { paths: ["*.authorization", "*.token"], censor: "[redacted]" } },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    callLogger(root, { callId: "abc@10.0.0.1", tenantKey: "123456789@t.cvi.localhost" }).info(
      { request: { authorization: "Bearer secret" } },
      "joined",
    );
    const line = JSON.parse(lines[0] ?? "{}");
    assert.equal(line.callId, "abc@10.0.0.1");
    assert.equal(line.tenantKey, "123456789@t.cvi.localhost");
    assert.equal(line.request.authorization, "[redacted]");
  });
});
