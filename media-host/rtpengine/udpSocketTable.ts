import { readFile } from "node:fs/promises";

/** What the kernel says about one bound UDP socket (a line of /proc/net/udp or udp6). */
export interface UdpSocketState {
  readonly address: string;
  readonly port: number;
  /** Bytes waiting in the receive queue: datagrams that arrived and nobody has read yet. */
  readonly receiveQueueBytes: number;
  /** Datagrams the kernel dropped because the receive queue was full (since the socket was opened). */
  readonly drops: number;
}

/**
 * The kernel's view of this network namespace's UDP sockets, by local port. rtpengine's
 * ports are in it like any others: whether datagrams wait unread on a port, and how many
 * were dropped, tells a stream whose sender went quiet from one rtpengine stopped reading.
 */
export class UdpSocketTable {
  readonly #byPort: ReadonlyMap<number, readonly UdpSocketState[]>;

  constructor(sockets: readonly UdpSocketState[]) {
    const byPort = new Map<number, UdpSocketState[]>();
    for (const socket of sockets) {
      const list = byPort.get(socket.port);
      if (list) list.push(socket);
      else byPort.set(socket.port, [socket]);
    }
    this.#byPort = byPort;
  }

  /** Reads /proc/net/udp and /proc/net/udp6 (a missing file, e.g. IPv6 disabled, counts as empty). */
  static async read(procDirectory = "/proc/net"): Promise<UdpSocketTable> {
    const texts = await Promise.all(["udp", "udp6"].map((name) => readFile(`${procDirectory}/${name}`, "utf8").catch(() => "")));
    return new UdpSocketTable(texts.flatMap((text) => parseProcNetUdp(text)));
  }

  /**
   * The socket bound to `port` on `address`, else on the wildcard address, else the only one
   * on that port (rtpengine may name its advertised address rather than the bound one).
   */
  find(address: string, port: number): UdpSocketState | undefined {
    const sockets = this.#byPort.get(port);
    if (!sockets) return undefined;
    return (
      sockets.find((s) => s.address === address) ??
      sockets.find((s) => s.address === "0.0.0.0" || s.address === "::") ??
      (sockets.length === 1 ? sockets[0] : undefined)
    );
  }
}

/** The sockets of one /proc/net/udp or udp6 text; lines it cannot read are skipped. */
export function parseProcNetUdp(text: string): UdpSocketState[] {
  const sockets: UdpSocketState[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops
    if (fields.length < 13 || !/^\d+:$/.test(fields[0] ?? "")) continue;
    const [addressHex = "", portHex = ""] = (fields[1] ?? "").split(":");
    const rxQueueHex = (fields[4] ?? "").split(":")[1] ?? "";
    const address = decodeAddress(addressHex);
    const port = Number.parseInt(portHex, 16);
    const receiveQueueBytes = Number.parseInt(rxQueueHex, 16);
    const drops = Number(fields[12]);
    if (address === undefined || !Number.isInteger(port) || !Number.isFinite(receiveQueueBytes) || !Number.isFinite(drops)) continue;
    sockets.push({ address, port, receiveQueueBytes, drops });
  }
  return sockets;
}

/** The kernel prints addresses as 32-bit words in host (little-endian) byte order. */
function decodeAddress(hex: string): string | undefined {
  if (!/^[0-9A-Fa-f]+$/.test(hex)) return undefined;
  const words: number[] = [];
  for (let i = 0; i < hex.length; i += 8) words.push(Number.parseInt(hex.slice(i, i + 8), 16));
  const bytes = Buffer.alloc(words.length * 4);
  for (const [i, word] of words.entries()) bytes.writeUInt32LE(word >>> 0, i * 4);
  if (bytes.length === 4) return [...bytes].join(".");
  if (bytes.length !== 16) return undefined;
  // An IPv4 socket on a dual-stack IPv6 one shows as ::ffff:a.b.c.d.
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return [...bytes.subarray(12)].join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return compressIpv6(groups);
}

/** RFC 5952 text: the longest run of two or more zero groups becomes "::". */
function compressIpv6(groups: readonly string[]): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === "0") j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(":");
  return `${groups.slice(0, bestStart).join(":")}::${groups.slice(bestStart + bestLength).join(":")}`;
}
