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

/**
 * A test host on a private network behind a NAT router, as a room system behind a customer's
 * firewall: its own `address` is private (it writes it into SDP and Contact), and what it sends
 * leaves the router from `publicAddress` (masquerade). Nothing reaches it from here but answers
 * to what it sent (connection tracking), and the ports `forwardTcp` opened.
 */
export interface NattedTestHost extends TestHost {
  /** The router's namespace (nftables masquerade, IP forwarding on). */
  readonly routerNamespace: string;
  /** The router's outside address: where this host's traffic appears to come from. */
  readonly publicAddress: string;
  /** Forwards a TCP port of the public address to the host (a controller the test talks to); returns host:port to connect to. */
  forwardTcp(port: number): string;
}

let created = 0;

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });

/** A /30 of `prefix`.0.0/16 per link (`n` the link's number in this process), unlikely to meet another run's: the block and its two addresses. */
function link(prefix: string, n: number): { network: string; first: string; second: string } {
  const block = ((process.pid * 7 + n) % 16_000) * 4;
  const net = `${prefix}.${Math.floor(block / 256)}`;
  return { network: `${net}.${block % 256}/30`, first: `${net}.${(block % 256) + 1}`, second: `${net}.${(block % 256) + 2}` };
}

/** Runs a command, ignoring failure (cleaning up what may be gone already). */
function quietly(action: () => unknown): void {
  try {
    action();
  } catch {
    // gone already
  }
}

function runIn(namespace: string): TestHost["run"] {
  return (command, args, timeoutInMs) =>
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
    });
}

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
  const { first: localAddress, second: address } = link("10.223", n);
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
    quietly(() => ip("link", "del", outside));
    quietly(() => ip("netns", "del", namespace));
  }
  return { namespace, localAddress, address, remove, run: runIn(namespace) };
}

/**
 * A test host behind a NAT router: two namespaces. The router is joined to this machine by a
 * veth pair (its outside address is the host's public one) and to the host by another (a
 * private /30 of 10.224.0.0/16); it forwards and masquerades what leaves through its outside
 * link (nftables), so the host's SIP and RTP reach us from the public address while it writes
 * its private one into SDP and Contact. This machine has no route to the private address
 * (a blackhole route of the test's own: whatever is sent there, say to the address an SDP
 * named, is dropped here and leaves nowhere), so only answers to what the host sent reach it.
 */
export function createHostBehindNat(): NattedTestHost {
  const n = created++;
  const tag = `${process.pid % 10_000}${n}`;
  const routerNamespace = `cvi-r${tag}`;
  const namespace = `cvi-n${tag}`;
  const outside = `cvi${tag}o`;
  const routerOutside = `cvi${tag}i`;
  const routerInside = `cvi${tag}p`;
  const inside = `cvi${tag}d`;
  const { first: localAddress, second: publicAddress } = link("10.223", n);
  const { network: privateNet, first: gateway, second: address } = link("10.224", n);
  const inRouter = (...args: string[]) => ip("netns", "exec", routerNamespace, ...args);
  const inHost = (...args: string[]) => ip("netns", "exec", namespace, ...args);
  try {
    ip("netns", "add", routerNamespace);
    ip("netns", "add", namespace);
    // The router's outside link, to this machine.
    ip("link", "add", outside, "type", "veth", "peer", "name", routerOutside);
    ip("link", "set", routerOutside, "netns", routerNamespace);
    ip("addr", "add", `${localAddress}/30`, "dev", outside);
    ip("link", "set", outside, "up");
    inRouter("ip", "addr", "add", `${publicAddress}/30`, "dev", routerOutside);
    inRouter("ip", "link", "set", routerOutside, "up");
    inRouter("ip", "link", "set", "lo", "up");
    inRouter("ip", "route", "add", "default", "via", localAddress);
    // The private link, between the router and the host.
    inRouter("ip", "link", "add", routerInside, "type", "veth", "peer", "name", inside);
    inRouter("ip", "link", "set", inside, "netns", namespace);
    inRouter("ip", "addr", "add", `${gateway}/30`, "dev", routerInside);
    inRouter("ip", "link", "set", routerInside, "up");
    inHost("ip", "addr", "add", `${address}/30`, "dev", inside);
    inHost("ip", "link", "set", inside, "up");
    inHost("ip", "link", "set", "lo", "up");
    inHost("ip", "route", "add", "default", "via", gateway);
    // The router forwards and masquerades (its own sysctl and nftables: both go with its namespace).
    inRouter("sysctl", "-qw", "net.ipv4.ip_forward=1");
    execFileSync("ip", ["netns", "exec", routerNamespace, "nft", "-f", "-"], {
      stdio: ["pipe", "pipe", "pipe"],
      input: [
        "table ip nat {",
        "  chain prerouting { type nat hook prerouting priority dstnat; policy accept; }",
        `  chain postrouting { type nat hook postrouting priority srcnat; policy accept; oifname "${routerOutside}" masquerade; }`,
        "}",
        "table ip filter {",
        // A firewall: from outside only answers to what the inside sent, and forwarded ports.
        `  chain forward { type filter hook forward priority filter; policy drop; iifname "${routerInside}" accept; ct state established,related accept; ct status dnat accept; }`,
        "}",
        "",
      ].join("\n"),
    });
    // Nothing this machine sends to the private address leaves it.
    ip("route", "add", "blackhole", privateNet);
  } catch (e) {
    remove();
    throw new Error(`could not make a test host behind NAT (ip netns and nft need root): ${(e as Error).message}`);
  }
  function remove(): void {
    quietly(() => ip("route", "del", "blackhole", privateNet));
    quietly(() => ip("link", "del", outside));
    quietly(() => ip("netns", "del", namespace));
    quietly(() => ip("netns", "del", routerNamespace));
  }
  return {
    namespace,
    routerNamespace,
    localAddress,
    address,
    publicAddress,
    remove,
    run: runIn(namespace),
    forwardTcp: (port) => {
      inRouter("nft", "add", "rule", "ip", "nat", "prerouting", "iifname", routerOutside, "tcp", "dport", String(port), "dnat", "to", address);
      return `${publicAddress}:${port}`;
    },
  };
}
