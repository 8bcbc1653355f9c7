/**
 * A call's media quality, per leg and per stream, as the media host measured it (the
 * device leg from rtpengine's RTCP-based figures, the meeting leg from the WebRTC
 * stack's): kept in the call record when the call ends, and reportable to Graph in
 * the shape of `logTeleconferenceDeviceQuality`.
 */
export interface MediaStreamQuality {
  readonly kind: "audio" | "video";
  readonly packetsSent: number;
  readonly packetsReceived: number;
  readonly packetsLost: number;
  /** Interarrival jitter of what we received, ms. */
  readonly jitterMs: number | null;
  readonly roundTripMs: number | null;
}

export interface CallQuality {
  readonly deviceLeg: readonly MediaStreamQuality[];
  readonly meetingLeg: readonly MediaStreamQuality[];
}

const MAX_STREAMS = 8;
const count = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= 2 ** 53;
const msOrNull = (v: unknown) => v === null || (typeof v === "number" && Number.isFinite(v) && v >= 0 && v < 3_600_000);

/** Checks a report from a media host; returns what is wrong, or an empty list. */
export function callQualityProblems(value: unknown): string[] {
  const problems: string[] = [];
  if (typeof value !== "object" || value === null) return ["quality must be an object with deviceLeg and meetingLeg"];
  for (const leg of ["deviceLeg", "meetingLeg"] as const) {
    const streams = (value as Record<string, unknown>)[leg];
    if (!Array.isArray(streams) || streams.length > MAX_STREAMS) {
      problems.push(`quality.${leg} must be a list of at most ${MAX_STREAMS} streams`);
      continue;
    }
    for (const [i, item] of (streams as unknown[]).entries()) {
      const at = `quality.${leg}[${i}]`;
      if (typeof item !== "object" || item === null) {
        problems.push(`${at} must be an object`);
        continue;
      }
      const s = item as Record<string, unknown>;
      if (s.kind !== "audio" && s.kind !== "video") problems.push(`${at}.kind must be "audio" or "video"`);
      for (const f of ["packetsSent", "packetsReceived", "packetsLost"]) if (!count(s[f])) problems.push(`${at}.${f} must be a count`);
      for (const f of ["jitterMs", "roundTripMs"]) if (!msOrNull(s[f])) problems.push(`${at}.${f} must be milliseconds or null`);
    }
  }
  return problems;
}

/** Only the known fields, so a report never smuggles anything else into the record. */
export function normalizeCallQuality(q: CallQuality): CallQuality {
  const stream = (s: MediaStreamQuality): MediaStreamQuality => ({
    kind: s.kind,
    packetsSent: s.packetsSent,
    packetsReceived: s.packetsReceived,
    packetsLost: s.packetsLost,
    jitterMs: s.jitterMs,
    roundTripMs: s.roundTripMs,
  });
  return { deviceLeg: q.deviceLeg.map(stream), meetingLeg: q.meetingLeg.map(stream) };
}

const iso8601Duration = (ms: number | null) => (ms === null ? null : `PT${(ms / 1000).toFixed(3)}S`);

/**
 * The body of Graph's `POST /communications/calls/logTeleconferenceDeviceQuality`
 * (teleconferenceDeviceQuality): the device's side of the call as a CVI partner
 * reports it. `media` is the device leg (what the device sent and received).
 */
export function teleconferenceDeviceQuality(input: {
  readonly callChainId: string;
  readonly participantId: string;
  readonly deviceName: string;
  readonly mediaLegId: string;
  readonly quality: CallQuality;
}): Record<string, unknown> {
  const media = input.quality.deviceLeg.map((s) => {
    const expected = s.packetsReceived + s.packetsLost;
    const lossPercent = expected > 0 ? (100 * s.packetsLost) / expected : 0;
    return {
      "@odata.type": s.kind === "audio" ? "#microsoft.graph.teleconferenceDeviceAudioQuality" : "#microsoft.graph.teleconferenceDeviceVideoQuality",
      channelIndex: 0,
      mediaDuration: null,
      networkLinkSpeedInBytes: null,
      localIPAddress: null,
      localPort: null,
      remoteIPAddress: null,
      remotePort: null,
      inboundPackets: s.packetsReceived,
      outboundPackets: s.packetsSent,
      averageInboundPacketLossRateInPercentage: lossPercent,
      maximumInboundPacketLossRateInPercentage: lossPercent,
      averageInboundJitter: iso8601Duration(s.jitterMs),
      maximumInboundJitter: iso8601Duration(s.jitterMs),
      averageInboundRoundTripDelay: iso8601Duration(s.roundTripMs),
      maximumInboundRoundTripDelay: iso8601Duration(s.roundTripMs),
      averageOutboundPacketLossRateInPercentage: null,
      maximumOutboundPacketLossRateInPercentage: null,
      averageOutboundJitter: null,
      maximumOutboundJitter: null,
      averageOutboundRoundTripDelay: null,
      maximumOutboundRoundTripDelay: null,
    };
  });
  return {
    quality: {
      callChainId: input.callChainId,
      participantId: input.participantId,
      mediaLegId: input.mediaLegId,
      deviceName: input.deviceName,
      deviceDescription: "Video teleconferencing device (SIP) through OpenCVI",
      cloudServiceName: "OpenCVI",
      cloudServiceDeploymentEnvironment: null,
      cloudServiceDeploymentId: null,
      cloudServiceInstanceName: null,
      mediaQualityList: media,
    },
  };
}
