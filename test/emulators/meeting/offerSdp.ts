/**
 * Just enough reading of an offer to check its layout and pick the codecs a forwarding
 * SFU can use. werift's `writeRtp` labels every packet with the first negotiated codec,
 * so each peer connection is configured with exactly one audio codec (Opus) and one
 * video format (H.264, packetization-mode 1) taken from the offer itself: werift only
 * matches H.264 formats whose profile-level-id is identical.
 */

export interface MediaSection {
  readonly kind: string;
  readonly port: number;
  readonly direction: string;
  readonly lines: readonly string[];
}

export interface ChosenCodec {
  readonly payloadType: number;
  /** The fmtp parameters to configure (H.264: packetization-mode and profile-level-id as offered). */
  readonly parameters: string | undefined;
}

export function mediaSections(sdp: string): MediaSection[] {
  const sections: { kind: string; port: number; lines: string[] }[] = [];
  for (const line of sdp.split(/\r?\n/)) {
    const m = /^m=(\S+) (\d+)/.exec(line);
    if (m) sections.push({ kind: m[1]!, port: Number(m[2]), lines: [] });
    else if (sections.length > 0 && line) sections[sections.length - 1]!.lines.push(line);
  }
  return sections.map((s) => ({
    ...s,
    direction: s.lines.find((l) => /^a=(sendrecv|sendonly|recvonly|inactive)$/.test(l))?.slice(2) ?? "sendrecv",
  }));
}

function rtpmaps(section: MediaSection): { payloadType: number; encoding: string; clockRate: number }[] {
  return section.lines.flatMap((line) => {
    const m = /^a=rtpmap:(\d+) ([^/\s]+)\/(\d+)/.exec(line);
    return m ? [{ payloadType: Number(m[1]), encoding: m[2]!.toLowerCase(), clockRate: Number(m[3]) }] : [];
  });
}

function fmtp(section: MediaSection, payloadType: number): Map<string, string> {
  const line = section.lines.find((l) => l.startsWith(`a=fmtp:${payloadType} `));
  const parameters = new Map<string, string>();
  for (const part of (line?.slice(`a=fmtp:${payloadType} `.length) ?? "").split(";")) {
    const [key, value] = part.split("=");
    if (key?.trim()) parameters.set(key.trim().toLowerCase(), (value ?? "").trim());
  }
  return parameters;
}

export function chooseOpus(section: MediaSection): ChosenCodec | undefined {
  const opus = rtpmaps(section).find((r) => r.encoding === "opus" && r.clockRate === 48000);
  return opus && { payloadType: opus.payloadType, parameters: undefined };
}

/** H.264 in packetization mode 1; Constrained Baseline 3.1 (42e01f, what browsers encode) when offered, else the first. */
export function chooseH264(section: MediaSection): ChosenCodec | undefined {
  const candidates = rtpmaps(section)
    .filter((r) => r.encoding === "h264" && r.clockRate === 90000)
    .map((r) => ({ payloadType: r.payloadType, parameters: fmtp(section, r.payloadType) }))
    .filter((c) => c.parameters.get("packetization-mode") === "1");
  const chosen = candidates.find((c) => c.parameters.get("profile-level-id")?.toLowerCase() === "42e01f") ?? candidates[0];
  if (!chosen) return undefined;
  const profile = chosen.parameters.get("profile-level-id");
  const parameters = ["level-asymmetry-allowed=1", "packetization-mode=1", ...(profile ? [`profile-level-id=${profile}`] : [])].join(";");
  return { payloadType: chosen.payloadType, parameters };
}

export function hasSsrc(section: MediaSection): boolean {
  return section.lines.some((l) => l.startsWith("a=ssrc:"));
}
