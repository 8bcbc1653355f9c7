import type { MediaStreamQuality } from "../../shared/domain/callQuality.js";
import type { QueryResponse } from "./ngProtocol.js";

/** rtpengine's per-SSRC RTCP figures (query output, "SSRC" section): loss in packets, jitter in ms, round-trip time in µs. */
interface SsrcFigures {
  readonly "average MOS"?: { readonly "packet loss"?: number; readonly jitter?: number; readonly "round-trip time"?: number };
  readonly "highest MOS"?: unknown;
}

/**
 * The device leg's quality from an rtpengine query of the call: packets per media
 * kind from the device's streams (received) and the other side's (sent to it), and
 * the RTCP-derived loss, jitter and round-trip time rtpengine keeps per SSRC of the
 * device, when the device sent RTCP.
 */
export function deviceLegQuality(query: QueryResponse, deviceTag: string): MediaStreamQuality[] {
  const tags = query.tags ?? {};
  const device = tags[deviceTag];
  if (!device) return [];
  const other = Object.entries(tags).find(([tag]) => tag !== deviceTag)?.[1];
  const ssrcs = ((query as unknown as { SSRC?: Record<string, SsrcFigures> }).SSRC ?? {}) as Record<string, SsrcFigures>;
  const out: MediaStreamQuality[] = [];
  for (const media of device.medias) {
    if (media.type !== "audio" && media.type !== "video") continue;
    const received = media.streams.reduce((n, s) => n + (s.flags.includes("RTCP") && !s.flags.includes("RTP") ? 0 : s.stats.packets), 0);
    const peer = other?.medias.find((m) => m.index === media.index);
    const sent = peer ? peer.streams.reduce((n, s) => n + (s.flags.includes("RTCP") && !s.flags.includes("RTP") ? 0 : s.stats.packets), 0) : 0;
    const ssrc = media.streams.find((s) => s.SSRC !== undefined)?.SSRC;
    const figures = ssrc !== undefined ? ssrcs[String(ssrc)]?.["average MOS"] : undefined;
    const finite = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : null);
    const rtt = finite(figures?.["round-trip time"]);
    out.push({
      kind: media.type,
      packetsReceived: received,
      packetsSent: sent,
      packetsLost: Math.round(finite(figures?.["packet loss"]) ?? 0),
      jitterMs: finite(figures?.jitter),
      roundTripMs: rtt === null ? null : Math.round(rtt / 100) / 10,
    });
  }
  return out;
}
