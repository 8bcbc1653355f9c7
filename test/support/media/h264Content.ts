import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

// H.264 content as a room system sends it when a laptop is plugged in: slides at up to
// 1080p and a few frames a second, packetized per RFC 6184 (mode 1). Made by Debian's x264
// from a test pattern (a YUV4MPEG2 file written here), so tests send real pictures that a
// browser decodes. Also reads what arrives: access units back out of RTP, and an SPS's size.

const run = promisify(execFile);

export interface H264ContentOptions {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly frames: number;
  /** A keyframe every this many frames (content encoders send few). */
  readonly keyframeInterval?: number;
  /**
   * Lines of text-like glyphs over the picture (the same on every frame), as slides have: a
   * keyframe then costs what a slide's does (tens of kB at 1080p), not a gradient's few.
   */
  readonly text?: boolean;
}

/** One picture: its NAL units (no start codes, no access unit delimiters). */
export interface AccessUnit {
  readonly nalUnits: readonly Uint8Array[];
  readonly keyframe: boolean;
}

/** Encodes the pattern once per shape (cached in the temp directory) and returns its access units. */
export async function h264Content(options: H264ContentOptions): Promise<AccessUnit[]> {
  const keyint = options.keyframeInterval ?? options.fps * 2;
  const name = `opencvi-content-${options.width}x${options.height}-${options.fps}fps-${options.frames}-k${keyint}-1slice${options.text ? "-text" : ""}`;
  const dir = join(tmpdir(), "opencvi-h264");
  mkdirSync(dir, { recursive: true });
  const output = join(dir, `${name}.264`);
  if (!existsSync(output)) {
    const input = join(dir, `${name}.y4m`);
    writeFileSync(input, testPattern(options));
    const partial = `${output}.${process.pid}`;
    // Constrained baseline (no B-frames, CAVLC): what room systems send and every browser decodes; level 4 holds 1080p30.
    // One thread, so one slice per picture (zerolatency's sliced threads would cut each into several), as room systems send.
    await run("x264", [
      ...["--profile", "baseline", "--level", "4", "--preset", "ultrafast", "--tune", "zerolatency"],
      ...["--keyint", String(keyint), "--min-keyint", String(keyint), "--no-scenecut", "--threads", "1"],
      ...["--fps", String(options.fps), "--aud", "--quiet"],
      ...["-o", partial, input],
    ]);
    renameSync(partial, output);
  }
  return accessUnits(readFileSync(output));
}

/** Slides-like frames: a grey gradient, a bright block moving across, a dark bar growing with the frame number. */
function testPattern(options: H264ContentOptions): Buffer {
  const { width, height } = options;
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F${options.fps}:1 Ip A1:1 C420jpeg\n`);
  const lumaSize = width * height;
  const chroma = Buffer.alloc(2 * ((width + 1) >> 1) * ((height + 1) >> 1), 128);
  const parts: Buffer[] = [header];
  for (let frame = 0; frame < options.frames; frame++) {
    const luma = Buffer.alloc(lumaSize);
    for (let y = 0; y < height; y++) luma.fill(40 + Math.floor((160 * y) / height), y * width, (y + 1) * width);
    const block = Math.max(16, width >> 4);
    const bx = Math.floor(((width - block) * frame) / Math.max(1, options.frames - 1));
    for (let y = height >> 2; y < (height >> 2) + block && y < height; y++) luma.fill(235, y * width + bx, y * width + bx + block);
    const bar = Math.floor((width * (frame + 1)) / options.frames);
    for (let y = height - (height >> 4); y < height; y++) luma.fill(16, y * width, y * width + bar);
    if (options.text) drawText(luma, width, height);
    parts.push(Buffer.from("FRAME\n"), luma, chroma);
  }
  return Buffer.concat(parts);
}

/** Glyph-sized cells (8×16: a 3×5 grid of 2×2 dots, fixed pseudo-random), in lines with margins and gaps between words. */
function drawText(luma: Buffer, width: number, height: number): void {
  let seed = 0x2545f491;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const marginX = width >> 3;
  for (let top = height >> 3; top + 16 < height - (height >> 3); top += 48) {
    for (let left = marginX; left + 8 < width - marginX; left += 8) {
      if (random() < 0.2) continue; // a space
      for (let row = 0; row < 5; row++)
        for (let column = 0; column < 3; column++) {
          if (random() < 0.5) continue;
          for (let y = 0; y < 2; y++)
            luma.fill(20, (top + 3 + 2 * row + y) * width + left + 1 + 2 * column, (top + 3 + 2 * row + y) * width + left + 3 + 2 * column);
        }
    }
  }
}

const NAL_AUD = 9;

/** Splits an Annex B byte stream (x264 with --aud) into access units. */
export function accessUnits(stream: Uint8Array): AccessUnit[] {
  const units: AccessUnit[] = [];
  let current: Uint8Array[] = [];
  const flush = () => {
    if (current.length) units.push({ nalUnits: current, keyframe: current.some((n) => nalType(n) === 5) });
    current = [];
  };
  for (const nal of annexBNalUnits(stream)) {
    if (nalType(nal) === NAL_AUD) flush();
    else current.push(nal);
  }
  flush();
  return units;
}

function* annexBNalUnits(stream: Uint8Array): Generator<Uint8Array> {
  let start = -1;
  let i = 0;
  while (i + 2 < stream.length) {
    if (stream[i] === 0 && stream[i + 1] === 0 && stream[i + 2] === 1) {
      if (start >= 0) yield stream.subarray(start, trimZeros(stream, start, i));
      i += 3;
      start = i;
    } else i++;
  }
  if (start >= 0 && start < stream.length) yield stream.subarray(start);
}

/** The end of a NAL unit before the next start code (a 4-byte start code's leading zero is not its data). */
function trimZeros(stream: Uint8Array, start: number, end: number): number {
  while (end > start && stream[end - 1] === 0) end--;
  return end;
}

export const nalType = (nal: Uint8Array) => (nal[0] ?? 0) & 0x1f;

/** RTP payloads of one access unit (RFC 6184 mode 1): a NAL unit alone when it fits, else FU-A fragments. */
export function packetize(unit: AccessUnit, maxPayload = 1200): Uint8Array[] {
  const payloads: Uint8Array[] = [];
  for (const nal of unit.nalUnits) {
    if (nal.length <= maxPayload) {
      payloads.push(nal);
      continue;
    }
    const header = nal[0] as number;
    const indicator = (header & 0xe0) | 28;
    for (let offset = 1; offset < nal.length; offset += maxPayload - 2) {
      const end = Math.min(nal.length, offset + maxPayload - 2);
      const fu = new Uint8Array(2 + end - offset);
      fu[0] = indicator;
      fu[1] = (offset === 1 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | (header & 0x1f);
      fu.set(nal.subarray(offset, end), 2);
      payloads.push(fu);
    }
  }
  return payloads;
}

/**
 * Reassembles NAL units from the RTP payloads of one access unit (single NAL units, STAP-A,
 * FU-A), as a receiver does before decoding; a FU-A run with a fragment missing is dropped.
 */
export function depacketize(payloads: readonly Uint8Array[]): Uint8Array[] {
  const nals: Uint8Array[] = [];
  let fragments: Uint8Array[] | undefined;
  for (const payload of payloads) {
    const type = nalType(payload);
    if (type === 28) {
      const fuHeader = payload[1] ?? 0;
      if (fuHeader & 0x80) fragments = [Uint8Array.of(((payload[0] ?? 0) & 0xe0) | (fuHeader & 0x1f))];
      if (!fragments) continue;
      fragments.push(payload.subarray(2));
      if (fuHeader & 0x40) {
        nals.push(concat(fragments));
        fragments = undefined;
      }
    } else if (type === 24) {
      for (let offset = 1; offset + 2 <= payload.length; ) {
        const size = ((payload[offset] ?? 0) << 8) | (payload[offset + 1] ?? 0);
        nals.push(payload.subarray(offset + 2, offset + 2 + size));
        offset += 2 + size;
      }
    } else nals.push(payload);
  }
  return nals;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** The picture size an SPS declares (H.264 §7.3.2.1.1, cropping applied). */
export function spsPictureSize(sps: Uint8Array): { width: number; height: number; profileIdc: number; levelIdc: number } {
  const bits = new BitReader(removeEmulationPrevention(sps.subarray(1)));
  const profileIdc = bits.read(8);
  bits.read(8); // constraint flags
  const levelIdc = bits.read(8);
  bits.ue(); // seq_parameter_set_id
  let chromaFormatIdc = 1;
  let separateColourPlane = 0;
  if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profileIdc)) {
    chromaFormatIdc = bits.ue();
    if (chromaFormatIdc === 3) separateColourPlane = bits.read(1);
    bits.ue(); // bit_depth_luma_minus8
    bits.ue(); // bit_depth_chroma_minus8
    bits.read(1); // qpprime_y_zero_transform_bypass_flag
    if (bits.read(1)) {
      for (let i = 0; i < (chromaFormatIdc !== 3 ? 8 : 12); i++) if (bits.read(1)) skipScalingList(bits, i < 6 ? 16 : 64);
    }
  }
  bits.ue(); // log2_max_frame_num_minus4
  const pocType = bits.ue();
  if (pocType === 0) bits.ue();
  else if (pocType === 1) {
    bits.read(1);
    bits.se();
    bits.se();
    const cycle = bits.ue();
    for (let i = 0; i < cycle; i++) bits.se();
  }
  bits.ue(); // max_num_ref_frames
  bits.read(1); // gaps_in_frame_num_value_allowed_flag
  const widthInMbs = bits.ue() + 1;
  const heightInMapUnits = bits.ue() + 1;
  const frameMbsOnly = bits.read(1);
  if (!frameMbsOnly) bits.read(1);
  bits.read(1); // direct_8x8_inference_flag
  let crop = { left: 0, right: 0, top: 0, bottom: 0 };
  if (bits.read(1)) crop = { left: bits.ue(), right: bits.ue(), top: bits.ue(), bottom: bits.ue() };
  const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
  const cropUnitX = chromaArrayType === 0 ? 1 : chromaFormatIdc === 3 ? 1 : 2;
  const cropUnitY = (chromaArrayType === 0 ? 1 : chromaFormatIdc === 1 ? 2 : 1) * (2 - frameMbsOnly);
  return {
    width: widthInMbs * 16 - cropUnitX * (crop.left + crop.right),
    height: (2 - frameMbsOnly) * heightInMapUnits * 16 - cropUnitY * (crop.top + crop.bottom),
    profileIdc,
    levelIdc,
  };
}

function skipScalingList(bits: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + bits.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

/** Removes emulation prevention bytes (00 00 03 → 00 00). */
function removeEmulationPrevention(rbsp: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const byte of rbsp) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    out.push(byte);
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}

class BitReader {
  #bit = 0;
  constructor(private readonly bytes: Uint8Array) {}
  read(count: number): number {
    let value = 0;
    for (let i = 0; i < count; i++) {
      const byte = this.bytes[this.#bit >> 3];
      if (byte === undefined) throw new RangeError("SPS ends early");
      value = value * 2 + ((byte >> (7 - (this.#bit & 7))) & 1);
      this.#bit++;
    }
    return value;
  }
  ue(): number {
    let zeros = 0;
    while (this.read(1) === 0) if (++zeros > 31) throw new RangeError("bad Exp-Golomb code in SPS");
    return 2 ** zeros - 1 + this.read(zeros);
  }
  se(): number {
    const k = this.ue();
    return k % 2 ? (k + 1) / 2 : -(k / 2);
  }
}

/**
 * Packets in sequence-number order, as a receiver's jitter buffer puts them: rtpengine's threads
 * may swap a few on the way (16-bit numbers, taken relative to the first that came).
 */
export function inSequence<T extends { readonly sequenceNumber: number }>(packets: readonly T[]): T[] {
  const first = packets[0]?.sequenceNumber ?? 0;
  const offset = (n: number) => ((n - first + 0x8000) & 0xffff) - 0x8000;
  return [...packets].sort((a, b) => offset(a.sequenceNumber) - offset(b.sequenceNumber));
}

/** RTP payloads grouped into pictures by timestamp (in sequence order) and depacketized, as a receiver does. */
export function pictures(
  packets: readonly { readonly sequenceNumber: number; readonly timestamp: number; readonly payload: Uint8Array }[],
): Uint8Array[][] {
  const byTimestamp = new Map<number, Uint8Array[]>();
  for (const p of inSequence(packets)) byTimestamp.set(p.timestamp, [...(byTimestamp.get(p.timestamp) ?? []), p.payload]);
  return [...byTimestamp.values()].map((payloads) => depacketize(payloads));
}
