import { execFileSync } from "node:child_process";

let tables = 0;

/**
 * Drops every UDP packet to `ports` on this machine (loopback included) until `restore()`:
 * a peer that listens there is cut off as if its host had vanished — it neither hears nor
 * answers, and nothing tells anyone. An nftables table of the test's own (root, as the tests run).
 */
export function dropUdpTo(ports: readonly number[]): { restore(): void } {
  const table = `cvi_test_${process.pid}_${tables++}`;
  const nft = (...args: string[]) => execFileSync("nft", args, { stdio: "pipe" });
  nft("add", "table", "inet", table);
  nft("add", "chain", "inet", table, "input", "{ type filter hook input priority -10 ; policy accept ; }");
  nft("add", "rule", "inet", table, "input", "udp", "dport", `{ ${ports.join(", ")} }`, "drop");
  return {
    restore: () => {
      try {
        nft("delete", "table", "inet", table);
      } catch {
        // gone already
      }
    },
  };
}

/**
 * Azure's 1:1 NAT in front of a VM, on this machine: whatever is sent to `publicAddress` goes to
 * `privateAddress` (DNAT), and whatever `privateAddress` starts sends appears to come from
 * `publicAddress` (SNAT), answers both ways following connection tracking. Both must be
 * addresses of this machine (a test host's end of its link, say), so that nothing leaves it
 * even without the table. Covers this machine's own traffic (output/input hooks) and test
 * hosts' (prerouting/postrouting). An nftables table of the test's own, gone at `remove()`.
 */
export function oneToOneNat(publicAddress: string, privateAddress: string): { remove(): void } {
  const table = `cvi_nat_${process.pid}_${tables++}`;
  execFileSync("nft", ["-f", "-"], {
    stdio: ["pipe", "pipe", "pipe"],
    input: [
      `table ip ${table} {`,
      `  chain prerouting { type nat hook prerouting priority -100; policy accept; ip daddr ${publicAddress} dnat to ${privateAddress}; }`,
      `  chain output { type nat hook output priority -100; policy accept; ip daddr ${publicAddress} dnat to ${privateAddress}; }`,
      `  chain input { type nat hook input priority 100; policy accept; ip saddr ${privateAddress} snat to ${publicAddress}; }`,
      `  chain postrouting { type nat hook postrouting priority 100; policy accept; ip saddr ${privateAddress} snat to ${publicAddress}; }`,
      "}",
      "",
    ].join("\n"),
  });
  return {
    remove: () => {
      try {
        execFileSync("nft", ["delete", "table", "ip", table], { stdio: "pipe" });
      } catch {
        // gone already
      }
    },
  };
}
