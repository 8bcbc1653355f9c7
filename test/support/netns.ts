import { execFileSync, spawn } from "node:child_process";

/** A test host of our own: a network namespace joined to this machine by a veth pair, with addresses of its own. */
export interface TestHost {
  readonly namespace: string;
  /** This machine's end of the link: what the test host reaches us at (bind servers it must reach here). */
  readonly localAddress: string;
  /** The test host's own address. */
  readonly address: string;
  /** Runs a program inside the namespace and resolves with its exit code and output (killed after `timeoutInMs`). */
  run(command: string, args: readonly string[], timeoutInMs: number): Promise<{ code: number | null; stdout: string; stderr: string }>;
  remove(): void;
}

let created = 0;

/**
 * Makes a test host with `ip netns` and a veth pair (root only, as these machines run the
 * tests): traffic between it and this machine crosses a real link between two addresses,
 * neither of them loopback, and goes nowhere else: the namespace's only route leads to this
 * machine, which does not forward it.
 */
export function createTestHost(): TestHost {
  const n = created++;
  const tag = `${process.pid % 10_000}${n}`;
  const namespace = `cvi-t${tag}`;
  const outside = `cvi${tag}o`;
  const inside = `cvi${tag}i`;
  // A /30 of 10.223.0.0/16 per test host, unlikely to meet another run's.
  const block = ((process.pid * 7 + n) % 16_000) * 4;
  const net = `10.223.${Math.floor(block / 256)}`;
  const localAddress = `${net}.${(block % 256) + 1}`;
  const address = `${net}.${(block % 256) + 2}`;
  const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });
  try {
    ip("netns", "add", namespace);
    ip("link", "add", outside, "type", "veth", "peer", "name", inside);
    ip("link", "set", inside, "netns", namespace);
    ip("addr", "add", `${localAddress}/30`, "dev", outside);
    ip("link", "set", outside, "up");
    ip("netns", "exec", namespace, "ip", "addr", "add", `${address}/30`, "dev", inside);
    ip("netns", "exec", namespace, "ip", "link", "set", inside, "up");
    ip("netns", "exec", namespace, "ip", "link", "set", "lo", "up");
    // Everything else it sends goes to this machine (its other local addresses answer; nothing is forwarded beyond).
    ip("netns", "exec", namespace, "ip", "route", "add", "default", "via", localAddress);
  } catch (e) {
    remove();
    throw new Error(`could not make a test host (ip netns needs root): ${(e as Error).message}`);
  }
  function remove(): void {
    for (const args of [
      ["link", "del", outside],
      ["netns", "del", namespace],
    ]) {
      try {
        ip(...args);
      } catch {
        // gone already
      }
    }
  }
  return {
    namespace,
    localAddress,
    address,
    remove,
    run: (command, args, timeoutInMs) =>
      new Promise((resolve) => {
        const child = spawn("ip", ["netns", "exec", namespace, command, ...args], { stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk: Buffer) => {
          stdout += chunk.toString();
        });
        child.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutInMs);
        child.once("exit", (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      }),
  };
}
