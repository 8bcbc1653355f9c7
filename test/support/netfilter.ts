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
