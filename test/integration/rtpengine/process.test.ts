import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { describe, it } from "node:test";
import { RtpengineClient } from "../../../media-host/rtpengine/rtpengineClient.js";
import {
  findFreeUdpPort,
  type RtpengineExitedEvent,
  RtpengineNotInstalledError,
  RtpengineProcess,
  type RtpengineProcessOptions,
  type RtpengineRestartedEvent,
  RtpengineStartError,
  renderConfig,
} from "../../../media-host/rtpengine/rtpengineProcess.js";
import { requireRtpengine, sleep } from "./support/harness.js";

const quiet: Partial<RtpengineProcessOptions> = { logLevel: "warning", portMin: 47000, portMax: 47199, startTimeoutInMs: 8000 };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function pingOnce(rtpengine: RtpengineProcess): Promise<unknown> {
  const client = await RtpengineClient.open({ host: rtpengine.ngHost, port: rtpengine.ngPort, requestTimeoutInMs: 1000 });
  try {
    return await client.ping();
  } finally {
    await client.close();
  }
}

describe("RtpengineProcess", () => {
  it("finds the rtpengine binary (scripts/setup.sh installs Debian's rtpengine-daemon)", async () => {
    assert.match(await requireRtpengine(), /\/rtpengine$/);
  });

  it("fails with RtpengineNotInstalledError, naming the fix, when the binary is missing", async () => {
    const rtpengine = new RtpengineProcess({ binaryPath: "/nonexistent/rtpengine" });
    await assert.rejects(rtpengine.start(), (e: unknown) => {
      assert.ok(e instanceof RtpengineNotInstalledError);
      assert.match(e.message, /rtpengine-daemon/);
      assert.match(e.message, /scripts\/setup\.sh/);
      return true;
    });
    assert.equal(rtpengine.state, "stopped");
  });

  it("renders its own config: userspace, foreground, stderr, loopback, ports and DTMF log", () => {
    const config = renderConfig(
      {
        portMin: 41000,
        portMax: 41999,
        dtmfLogDest: { host: "127.0.0.1", port: 5555 },
        logLevel: "info",
        deleteDelayInMs: 0,
        extraConfig: { "num-threads": 2 },
      },
      "127.0.0.1",
      2223,
    );
    assert.equal(
      config,
      [
        "# Written by OpenCVI's RtpengineProcess; rtpengine runs with --config-file=<this file>.",
        "[rtpengine]",
        "table = -1",
        "foreground = true",
        "log-stderr = true",
        "log-level = 6",
        "interface = 127.0.0.1",
        "listen-ng = 127.0.0.1:2223",
        "port-min = 41000",
        "port-max = 41999",
        "dtmf-log-dest = 127.0.0.1:5555",
        "delete-delay = 0",
        "num-threads = 2",
        "",
      ].join("\n"),
    );
    assert.match(
      renderConfig(
        {
          interfaces: [
            { name: "pub", address: "10.0.0.4", advertisedAddress: "203.0.113.7" },
            { name: "priv", address: "10.1.0.4" },
          ],
        },
        "::1",
        9,
      ),
      /^interface = pub\/10\.0\.0\.4!203\.0\.113\.7;priv\/10\.1\.0\.4$/m,
    );
    assert.throws(() => renderConfig({ extraConfig: { table: 0 } }, "127.0.0.1", 1), /table/);
    assert.throws(() => renderConfig({ extraConfig: { "recording-dir": "/tmp\nfoo = bar" } }, "127.0.0.1", 1), /invalid/);
    assert.throws(() => new RtpengineProcess({ portMin: 5000, portMax: 4000 }), RangeError);
  });

  it("starts rtpengine with only its own config file, answers ping, and stops it with SIGTERM", async () => {
    const rtpengine = new RtpengineProcess(quiet);
    const ready = once(rtpengine, "ready");
    const started = await rtpengine.start();
    assert.deepEqual((await ready)[0], started);
    assert.equal(started.restartCount, 0);
    assert.equal(rtpengine.state, "running");
    const pid = started.pid;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    assert.deepEqual(cmdline.slice(1), [`--config-file=${rtpengine.configPath}`], "/etc/rtpengine/rtpengine.conf is never read");
    assert.match(readFileSync(rtpengine.configPath!, "utf8"), /^table = -1$/m);
    assert.deepEqual(await pingOnce(rtpengine), { result: "pong" });

    const exited = once(rtpengine, "exited") as Promise<[RtpengineExitedEvent]>;
    await rtpengine.stop();
    const [exit] = await exited;
    assert.equal(exit.expected, true);
    assert.ok(exit.code === 0 || exit.signal === "SIGTERM", `clean exit (${exit.code}, ${exit.signal})`);
    assert.equal(rtpengine.state, "stopped");
    assert.equal(alive(pid), false);
    assert.equal(existsSync(rtpengine.configPath!), false, "the temporary config directory is removed");
    await rtpengine.stop(); // idempotent
  });

  it("restarts rtpengine with backoff after it is killed, on the same ng port", async () => {
    const rtpengine = new RtpengineProcess({ ...quiet, restart: { initialDelayInMs: 100 } });
    const first = await rtpengine.start();
    try {
      const exited = once(rtpengine, "exited") as Promise<[RtpengineExitedEvent]>;
      const restarted = once(rtpengine, "restarted") as Promise<[RtpengineRestartedEvent]>;
      process.kill(first.pid, "SIGKILL");
      const [exit] = await exited;
      assert.deepEqual(exit, { pid: first.pid, code: null, signal: "SIGKILL", expected: false });
      const [restart] = await restarted;
      assert.notEqual(restart.pid, first.pid);
      assert.equal(restart.attempt, 1);
      assert.ok(restart.downtimeInMs >= 100, "waited the backoff delay first");
      assert.equal(rtpengine.state, "running");
      assert.equal(rtpengine.pid, restart.pid);
      assert.deepEqual(await pingOnce(rtpengine), { result: "pong" }, "same ng address as before");

      // Killed again at once: the second attempt waits twice as long.
      const again = once(rtpengine, "restarted") as Promise<[RtpengineRestartedEvent]>;
      process.kill(restart.pid, "SIGKILL");
      const [second] = await again;
      assert.equal(second.attempt, 2);
      assert.ok(second.downtimeInMs >= 200);
    } finally {
      await rtpengine.stop();
    }
  });

  it("keeps retrying with growing delays while a restart fails", async () => {
    const rtpengine = new RtpengineProcess({ ...quiet, restart: { initialDelayInMs: 150 } });
    const { pid } = await rtpengine.start();
    const squatter = createSocket("udp4");
    try {
      const exited = once(rtpengine, "exited");
      process.kill(pid, "SIGKILL");
      await exited;
      // Take the ng port before the first restart (150 ms later): that restart fails.
      squatter.bind(rtpengine.ngPort, "127.0.0.1");
      await once(squatter, "listening");
      const [failure] = (await once(rtpengine, "restartFailed")) as [{ attempt: number; error: Error; nextDelayInMs: number }];
      assert.equal(failure.attempt, 1);
      assert.equal(failure.nextDelayInMs, 300);
      assert.ok(failure.error instanceof RtpengineStartError);
      assert.match(failure.error.message, /Address already in use/);
      squatter.close();
      const [restart] = (await once(rtpengine, "restarted")) as [RtpengineRestartedEvent];
      assert.equal(restart.attempt, 2);
      assert.ok(restart.downtimeInMs >= 450, `150 ms, a failed start, then 300 ms (${restart.downtimeInMs} ms)`);
      assert.deepEqual(await pingOnce(rtpengine), { result: "pong" });
    } finally {
      await rtpengine.stop();
    }
  });

  it("does not restart when restarts are disabled", async () => {
    const rtpengine = new RtpengineProcess({ ...quiet, restart: { enabled: false } });
    const { pid } = await rtpengine.start();
    const exited = once(rtpengine, "exited");
    process.kill(pid, "SIGKILL");
    await exited;
    await sleep(300);
    assert.equal(rtpengine.state, "stopped");
    assert.equal(rtpengine.pid, undefined);
    await rtpengine.stop();
  });

  it("does not outlive its supervisor: a supervising process killed with SIGKILL takes rtpengine with it", async () => {
    requireRtpengine();
    const script = [
      `const { RtpengineProcess } = await import(${JSON.stringify(new URL("../../../media-host/rtpengine/rtpengineProcess.js", import.meta.url).href)});`,
      "const rtpengine = new RtpengineProcess({ logLevel: 'warning', portMin: 47400, portMax: 47499, startTimeoutInMs: 8000 });",
      "await rtpengine.start();",
      "process.stdout.write(String(rtpengine.pid) + '\\n');",
      "setInterval(() => {}, 1000);",
    ].join("\n");
    const supervisor = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    const [line] = (await once(createInterface({ input: supervisor.stdout! }), "line")) as [string];
    const pid = Number(line);
    assert.ok(alive(pid), "rtpengine runs under its supervisor");
    supervisor.kill("SIGKILL");
    const deadline = Date.now() + 5000;
    while (alive(pid) && Date.now() < deadline) await sleep(20);
    assert.equal(alive(pid), false, "rtpengine ended with its supervisor");
  });

  it("kills rtpengine with SIGKILL when SIGTERM does not end it in time", async () => {
    const rtpengine = new RtpengineProcess(quiet);
    const { pid } = await rtpengine.start();
    process.kill(pid, "SIGSTOP"); // a stopped process does not act on SIGTERM
    const exited = once(rtpengine, "exited") as Promise<[RtpengineExitedEvent]>;
    const started = Date.now();
    await rtpengine.stop({ timeoutInMs: 300 });
    const [exit] = await exited;
    assert.equal(exit.signal, "SIGKILL");
    assert.equal(exit.expected, true);
    assert.ok(Date.now() - started >= 300);
    assert.equal(alive(pid), false);
  });

  it("reports a daemon that cannot start with RtpengineStartError and its last log lines", async () => {
    // Someone else holds the ng port: rtpengine cannot bind it and exits.
    const squatter = createSocket("udp4");
    squatter.bind(0, "127.0.0.1");
    await once(squatter, "listening");
    const rtpengine = new RtpengineProcess({ ...quiet, ngPort: squatter.address().port });
    try {
      await assert.rejects(rtpengine.start(), (e: unknown) => {
        assert.ok(e instanceof RtpengineStartError, String(e));
        assert.match(e.message, /exited while starting/);
        assert.ok(e.logLines.length > 0, "rtpengine's own explanation is attached");
        return true;
      });
      assert.equal(rtpengine.state, "stopped");
    } finally {
      squatter.close();
    }
  });

  it("findFreeUdpPort returns a bindable port", async () => {
    const port = await findFreeUdpPort();
    const socket = createSocket("udp4");
    socket.bind(port, "127.0.0.1");
    await once(socket, "listening");
    socket.close();
  });
});
