import { isIPv4 } from "node:net";
import type { PeerConfig, RTCPeerConnection } from "werift";

export const LOOPBACK_ADDRESS = "127.0.0.1";

/**
 * werift settings that keep ICE on one IPv4 address (bound there, and the only candidate
 * offered): with `iceServers: []` werift falls back to Google's STUN server, so it gets an
 * unreachable STUN server on that address (the discard port) and a short gather; it still
 * gathers the machine's other addresses, which `onlyCandidatesOn` drops.
 */
export function iceOn(address: string): Partial<PeerConfig> {
  return {
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: [address],
    iceInterfaceAddresses: { udp4: address },
    iceServers: [{ urls: `stun:${address}:9` }],
    iceStunGatherTimeout: 0.05,
    bundlePolicy: "max-bundle",
  };
}

/** ICE on 127.0.0.1 only: everything on this machine. */
export const LOOPBACK_ICE: Partial<PeerConfig> = iceOn(LOOPBACK_ADDRESS);

const isLoopback = (address: string) => isIPv4(address) && address.startsWith("127.");

/** The SDP without candidates other than UDP ones on `address` (ours: werift also gathers the machine's other addresses). */
export function onlyCandidatesOn(sdp: string, address: string): string {
  return keepCandidates(sdp, (candidateAddress) => candidateAddress === address);
}

/**
 * A peer's SDP without the candidates a server bound to `serverAddress` cannot reach: only UDP
 * ones on IPv4 addresses, loopback ones for a server on loopback (a browser offers them only with
 * --allow-loopback-in-peer-connection), the others for a server on a real address (mDNS names,
 * IPv6 and TCP are dropped).
 */
export function reachableCandidates(sdp: string, serverAddress: string): string {
  const loopback = isLoopback(serverAddress);
  return keepCandidates(sdp, (address) => isIPv4(address) && isLoopback(address) === loopback);
}

/** The SDP without candidates other than UDP ones on 127.0.0.1 (ours, and a browser's, which offers every interface). */
export function onlyLoopbackCandidates(sdp: string): string {
  return onlyCandidatesOn(sdp, LOOPBACK_ADDRESS);
}

function keepCandidates(sdp: string, keep: (address: string) => boolean): string {
  const lines = sdp.split(/\r?\n/);
  const kept = lines.filter((line) => {
    if (!line.startsWith("a=candidate:")) return true;
    const [, , transport, , address] = line.split(" ");
    return transport?.toLowerCase() === "udp" && address !== undefined && keep(address);
  });
  return kept.join("\r\n");
}

export function countCandidates(sdp: string): number {
  return sdp.split(/\r?\n/).filter((line) => line.startsWith("a=candidate:")).length;
}

/** Resolves once werift has gathered its candidates (the SDP then carries them: no trickle in this emulator). */
export function waitForIceGathering(pc: RTCPeerConnection, timeoutInMs = 5000): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unSubscribe();
      reject(new Error(`ICE gathering did not complete within ${timeoutInMs} ms`));
    }, timeoutInMs);
    const { unSubscribe } = pc.iceGatheringStateChange.subscribe((state) => {
      if (state !== "complete") return;
      clearTimeout(timer);
      unSubscribe();
      resolve();
    });
  });
}
