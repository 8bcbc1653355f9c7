/**
 * What the benches read about processes from /proc: CPU time (all threads), RSS, open
 * descriptors, the kernel's UDP receive-buffer drops per socket, and rtpengine's own
 * complaints in its log.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

const CLK_TCK = 100;
const PAGE_BYTES = 4096;

export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

export function rssBytes(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]) * PAGE_BYTES;
}

/** All cores' busy time (user, nice, system, irq, softirq, steal), in seconds. */
export function machineBusySeconds(): number {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / CLK_TCK;
}

export type UdpDrops = Record<string, Map<string, number>>;

/** Datagrams the kernel dropped because a socket's receive buffer was full, by process and socket (inode). */
export function udpReceiveDrops(pids: Readonly<Record<string, number>>): UdpDrops {
  const byInode = new Map<string, number>();
  for (const line of readFileSync("/proc/net/udp", "utf8").split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length > 12) byInode.set(fields[9]!, Number(fields[12]));
  }
  const drops: UdpDrops = {};
  for (const [name, pid] of Object.entries(pids)) {
    const sockets = new Map<string, number>();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
        if (inode && byInode.has(inode)) sockets.set(inode, byInode.get(inode)!);
      } catch {}
    }
    drops[name] = sockets;
  }
  return drops;
}

/** Drops between two snapshots, per process (sockets opened meanwhile count from 0; closed ones are left out). */
export function dropsBetween(before: UdpDrops, after: UdpDrops): Record<string, number> {
  return Object.fromEntries(
    Object.entries(after).map(([name, sockets]) => {
      let sum = 0;
      for (const [inode, drops] of sockets) sum += drops - (before[name]?.get(inode) ?? 0);
      return [name, sum];
    }),
  );
}

/** rtpengine's own complaints since `from` (its log at "warning"): full receive queues, and ports it stopped reading. */
export function rtpengineWarnings(logLines: readonly string[], from: number): { queueOver50: number; portsGivenUp: number; other: number } {
  const lines = logLines.slice(from);
  const queueOver50 = lines.filter((l) => l.includes("Too many packets in UDP receive queue")).length;
  const portsGivenUp = lines.filter((l) => l.includes("UDP receive queue exceeded")).length;
  return { queueOver50, portsGivenUp, other: lines.length - queueOver50 - portsGivenUp };
}

export function driverCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** How many descriptors the process has open (sockets, files, pipes, epoll, timers…). */
export function openDescriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
