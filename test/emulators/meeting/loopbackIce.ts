import type { PeerConfig, RTCPeerConnection } from "werift";

/**
 * werift settings that keep ICE on 127.0.0.1: with `iceServers: []` werift falls back
 * to Google's STUN server, so it gets an unreachable loopback one and a short gather;
 * it still gathers the machine's other addresses, which `onlyLoopbackCandidates` drops.
 */
export const LOOPBACK_ICE: Partial<PeerConfig> = {
  iceUseIpv4: false,
  iceUseIpv6: false,
  iceAdditionalHostAddresses: ["127.0.0.1"],
  iceInterfaceAddresses: { udp4: "127.0.0.1" },
  iceServers: [{ urls: "stun:127.0.0.1:9" }],
  iceStunGatherTimeout: 0.05,
  bundlePolicy: "max-bundle",
};

export const LOOPBACK_ADDRESS = "127.0.0.1";

/** The SDP without candidates other than UDP ones on 127.0.0.1 (ours, and a browser's, which offers every interface). */
export function onlyLoopbackCandidates(sdp: string): string {
  const lines = sdp.split(/\r?\n/);
  const kept = lines.filter((line) => {
    if (!line.startsWith("a=candidate:")) return true;
    const [, , transport, , address] = line.split(" ");
    return transport?.toLowerCase() === "udp" && address === LOOPBACK_ADDRESS;
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
