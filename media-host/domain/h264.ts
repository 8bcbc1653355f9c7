/**
 * H.264 offer/answer (RFC 6184 §8.2) for video passed through between a device and the
 * meeting: which of the device's H.264 formats to take, and what to answer so that it
 * sends and receives up to what both sides can (1080p30 here) — the level in
 * profile-level-id, extended by max-fs/max-mbps as room systems commonly signal it.
 * No I/O: the meeting leg feeds it fmtp lines.
 */

export interface H264Format {
  readonly payloadType: number;
  /** fmtp parameters, names lower-cased. */
  readonly parameters: ReadonlyMap<string, string>;
}

/** What one side can decode (or is allowed to be sent): macroblocks per frame and per second. */
export interface H264Limits {
  readonly maxFs: number;
  readonly maxMbps: number;
}

export interface H264Answer {
  readonly payloadType: number;
  readonly packetizationMode: 0 | 1;
  /** The answer's fmtp value, e.g. "profile-level-id=42e028;packetization-mode=1". */
  readonly fmtp: string;
  /** What the device may be sent (the meeting must not exceed it). */
  readonly deviceReceives: H264Limits;
  /** What the device may send us. */
  readonly deviceSends: H264Limits;
}

/** Table A-1 of H.264: MaxFS (macroblocks) and MaxMBPS per level_idc. Level 1b (profile-iop bit) is treated as 1.1. */
const LEVELS: ReadonlyMap<number, H264Limits> = new Map([
  [10, { maxFs: 99, maxMbps: 1485 }],
  [9, { maxFs: 99, maxMbps: 1485 }],
  [11, { maxFs: 396, maxMbps: 3000 }],
  [12, { maxFs: 396, maxMbps: 6000 }],
  [13, { maxFs: 396, maxMbps: 11880 }],
  [20, { maxFs: 396, maxMbps: 11880 }],
  [21, { maxFs: 792, maxMbps: 19800 }],
  [22, { maxFs: 1620, maxMbps: 20250 }],
  [30, { maxFs: 1620, maxMbps: 40500 }],
  [31, { maxFs: 3600, maxMbps: 108000 }],
  [32, { maxFs: 5120, maxMbps: 216000 }],
  [40, { maxFs: 8192, maxMbps: 245760 }],
  [41, { maxFs: 8192, maxMbps: 245760 }],
  [42, { maxFs: 8704, maxMbps: 522240 }],
  [50, { maxFs: 22080, maxMbps: 589824 }],
  [51, { maxFs: 36864, maxMbps: 983040 }],
  [52, { maxFs: 36864, maxMbps: 2073600 }],
]);

/** Level 4.0 (1080p30: 120 × 68 macroblocks, 30 times a second, fits): the gateway's ceiling both ways. */
export const GATEWAY_H264_LIMITS: H264Limits = { maxFs: 8192, maxMbps: 245760 };
/** Level 4.0 is the lowest level that holds 1080p30. */
export const GATEWAY_H264_LEVEL = 40;
/** Without profile-level-id, RFC 6184 means Constrained Baseline... strictly Baseline level 1.0; 42e01f is what everyone sends. */
const DEFAULT_PROFILE_LEVEL_ID = "42001f";

export function parseFmtp(value: string): Map<string, string> {
  const parameters = new Map<string, string>();
  for (const part of value.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    if (name) parameters.set(name, part.slice(eq + 1).trim());
  }
  return parameters;
}

export function levelLimits(levelIdc: number): H264Limits {
  const exact = LEVELS.get(levelIdc);
  if (exact) return exact;
  // An unknown level: the highest known one below it.
  let best: H264Limits = LEVELS.get(10)!;
  for (const [level, limits] of LEVELS) if (level <= levelIdc) best = limits;
  return best;
}

/** profile-level-id as (profile_idc, profile-iop, level_idc); malformed values count as the RFC's default. */
export function parseProfileLevelId(value: string | undefined): { profile: number; iop: number; level: number } {
  const hex = value && /^[0-9a-f]{6}$/i.test(value) ? value : DEFAULT_PROFILE_LEVEL_ID;
  return { profile: Number.parseInt(hex.slice(0, 2), 16), iop: Number.parseInt(hex.slice(2, 4), 16), level: Number.parseInt(hex.slice(4, 6), 16) };
}

/** What a format says its sender can decode: the level's limits, raised by max-fs/max-mbps (which may only raise them). */
export function formatLimits(format: H264Format): H264Limits {
  const { level } = parseProfileLevelId(format.parameters.get("profile-level-id"));
  const base = levelLimits(level);
  const maxFs = Number(format.parameters.get("max-fs"));
  const maxMbps = Number(format.parameters.get("max-mbps"));
  return {
    maxFs: Number.isFinite(maxFs) && maxFs > base.maxFs ? maxFs : base.maxFs,
    maxMbps: Number.isFinite(maxMbps) && maxMbps > base.maxMbps ? maxMbps : base.maxMbps,
  };
}

const min = (a: H264Limits, b: H264Limits): H264Limits => ({ maxFs: Math.min(a.maxFs, b.maxFs), maxMbps: Math.min(a.maxMbps, b.maxMbps) });

/** The highest level whose limits fit within `limits` (so the level alone never promises more than both sides can). */
function levelWithin(limits: H264Limits): number {
  let chosen = 10;
  for (const [level, l] of LEVELS) if (level !== 9 && l.maxFs <= limits.maxFs && l.maxMbps <= limits.maxMbps && level > chosen) chosen = level;
  return chosen;
}

/**
 * Picks the device's H.264 format and builds our answer. Packetization mode 1 is
 * preferred: the meeting's browsers send fragmented (FU-A) NAL units, which a mode-0
 * receiver cannot take. Returns undefined when the device offers no H.264.
 */
export function answerH264(offered: readonly H264Format[], gateway: H264Limits = GATEWAY_H264_LIMITS): H264Answer | undefined {
  if (offered.length === 0) return undefined;
  const mode = (f: H264Format) => (f.parameters.get("packetization-mode") === "1" ? 1 : 0);
  const chosen = [...offered].sort((a, b) => mode(b) - mode(a) || formatLimits(b).maxFs - formatLimits(a).maxFs)[0]!;
  const packetizationMode = mode(chosen);
  const device = formatLimits(chosen);
  const { profile, iop, level: offeredLevel } = parseProfileLevelId(chosen.parameters.get("profile-level-id"));
  // Without level-asymmetry-allowed both directions use one level: the lower of the two (RFC 6184 §8.2.2).
  const both = min(device, gateway);
  const level = Math.min(offeredLevel, levelWithin(both), GATEWAY_H264_LEVEL);
  const parts = [`profile-level-id=${hex(profile)}${hex(iop)}${hex(level)}`, `packetization-mode=${packetizationMode}`];
  const atLevel = levelLimits(level);
  // max-fs/max-mbps raise the level's limits to what both sides really can (a device at level 3.1 doing 1080p says so this way).
  if (both.maxFs > atLevel.maxFs) parts.push(`max-fs=${both.maxFs}`);
  if (both.maxMbps > atLevel.maxMbps) parts.push(`max-mbps=${both.maxMbps}`);
  if (chosen.parameters.has("level-asymmetry-allowed")) parts.push("level-asymmetry-allowed=1");
  return {
    payloadType: chosen.payloadType,
    packetizationMode,
    fmtp: parts.join(";"),
    deviceReceives: both,
    deviceSends: both,
  };
}

/** The fmtp the meeting side is offered for the device's video: the same limits, so senders in the meeting stay within them. */
export function meetingSideFmtp(limits: H264Limits): string {
  const level = Math.min(levelWithin(limits), GATEWAY_H264_LEVEL);
  const atLevel = levelLimits(level);
  const parts = [`level-asymmetry-allowed=1`, `packetization-mode=1`, `profile-level-id=42e0${hex(level)}`];
  if (limits.maxFs > atLevel.maxFs) parts.push(`max-fs=${limits.maxFs}`);
  if (limits.maxMbps > atLevel.maxMbps) parts.push(`max-mbps=${limits.maxMbps}`);
  return parts.join(";");
}

/** The largest 16:9 picture (width, height) a limit allows at `fps`. */
export function largestPicture(limits: H264Limits, fps = 30): { width: number; height: number } {
  const fs = Math.min(limits.maxFs, Math.floor(limits.maxMbps / fps));
  for (const [width, height] of [
    [1920, 1080],
    [1280, 720],
    [960, 540],
    [640, 360],
    [480, 270],
    [320, 180],
  ] as const) {
    if (Math.ceil(width / 16) * Math.ceil(height / 16) <= fs) return { width, height };
  }
  return { width: 176, height: 144 };
}

const hex = (n: number) => n.toString(16).padStart(2, "0");
