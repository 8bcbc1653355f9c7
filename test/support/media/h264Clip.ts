import { execFileSync } from "node:child_process";

/** One coded picture: its NAL units (without start codes), the first picture with SPS and PPS before its IDR slice. */
export type AccessUnit = readonly Buffer[];

export interface H264ClipOptions {
  readonly width: number;
  readonly height: number;
  readonly frames: number;
  readonly fps: number;
}

/**
 * A short real H.264 clip (Constrained Baseline, one IDR then P-slices) from Debian's
 * x264 encoding a moving gradient, split into access units, for peers in tests that must
 * send video a browser decodes. Looping it from the first access unit is a clean restart
 * (SPS, PPS, IDR), which is how a sender answers a keyframe request.
 */
export function encodeH264Clip(options: H264ClipOptions): AccessUnit[] {
  const { width, height, frames, fps } = options;
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`);
  const chroma = Buffer.alloc((width * height) / 2, 128);
  const parts: Buffer[] = [header];
  for (let f = 0; f < frames; f++) {
    const luma = Buffer.alloc(width * height);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) luma[y * width + x] = (x + y + f * 8) & 0xff;
    parts.push(Buffer.from("FRAME\n"), luma, chroma);
  }
  const annexB = execFileSync(
    "x264",
    [
      ...["--demuxer", "y4m", "--muxer", "raw", "--preset", "ultrafast", "--tune", "zerolatency", "--profile", "baseline"],
      ...["--keyint", String(frames + 1), "--no-scenecut", "--threads", "1", "--bitrate", "600", "--quiet", "-o", "-", "-"],
    ],
    { input: Buffer.concat(parts), maxBuffer: 64 * 1024 * 1024, stdio: ["pipe", "pipe", "pipe"] },
  );
  return accessUnits(splitNalUnits(annexB));
}

/** The NAL units of an Annex B byte stream (3- or 4-byte start codes). */
export function splitNalUnits(stream: Buffer): Buffer[] {
  const starts: { at: number; length: number }[] = [];
  for (let i = 0; i + 3 <= stream.length; i++) {
    if (stream[i] === 0 && stream[i + 1] === 0 && stream[i + 2] === 1) {
      starts.push({ at: i + 3, length: i > 0 && stream[i - 1] === 0 ? 4 : 3 });
      i += 2;
    }
  }
  return starts.map((s, n) => {
    const next = starts[n + 1];
    return stream.subarray(s.at, next ? next.at - next.length : stream.length);
  });
}

/**
 * Groups NAL units into pictures: a new one starts at a slice (types 1 and 5) whose first_mb_in_slice is 0 (its
 * ue(v) is the single bit 1), or at an SPS/PPS/SEI after slices; a picture may have several slices.
 */
function accessUnits(nals: readonly Buffer[]): AccessUnit[] {
  const units: Buffer[][] = [];
  let current: Buffer[] = [];
  let hasSlice = false;
  for (const nal of nals) {
    const type = (nal[0] ?? 0) & 0x1f;
    const slice = type === 1 || type === 5;
    const startsPicture = slice ? ((nal[1] ?? 0) & 0x80) !== 0 : true;
    if (hasSlice && startsPicture) {
      units.push(current);
      current = [];
      hasSlice = false;
    }
    current.push(nal);
    hasSlice ||= slice;
  }
  if (hasSlice) units.push(current);
  return units;
}

/** RTP payloads for one NAL unit (RFC 6184 packetization mode 1): itself when it fits, else FU-A fragments. */
export function packetizeNalUnit(nal: Buffer, maxPayload = 1200): Buffer[] {
  if (nal.length <= maxPayload) return [nal];
  const indicator = (nal[0]! & 0xe0) | 28;
  const type = nal[0]! & 0x1f;
  const payloads: Buffer[] = [];
  for (let offset = 1; offset < nal.length; offset += maxPayload - 2) {
    const end = Math.min(offset + maxPayload - 2, nal.length);
    const header = (offset === 1 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | type;
    payloads.push(Buffer.concat([Buffer.from([indicator, header]), nal.subarray(offset, end)]));
  }
  return payloads;
}
