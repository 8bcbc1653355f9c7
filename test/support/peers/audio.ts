import { readFileSync, writeFileSync } from "node:fs";

/**
 * Audio helpers for the real-peer tests: G.711 µ-law/A-law coding, test tones,
 * 16-bit PCM WAV files (what baresip's `aufile` reads and `sndfile` writes), and
 * a Goertzel detector to tell whether a recording carries the tone that was sent.
 */

const ULAW_BIAS = 0x84;
const ULAW_CLIP = 32635;

/** ITU-T G.711 µ-law encoding of one 16-bit linear sample. */
export function linearToUlaw(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.round(sample)));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  if (s > ULAW_CLIP) s = ULAW_CLIP;
  s += ULAW_BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** ITU-T G.711 µ-law decoding to a 16-bit linear sample. */
export function ulawToLinear(code: number): number {
  const u = ~code & 0xff;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
  return u & 0x80 ? -magnitude : magnitude;
}

/** ITU-T G.711 A-law encoding of one 16-bit linear sample. */
export function linearToAlaw(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.round(sample))) >> 3;
  let mask: number;
  if (s >= 0) mask = 0xd5;
  else {
    mask = 0x55;
    s = -s - 1;
  }
  const segmentEnds = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
  let segment = segmentEnds.findIndex((end) => s <= end);
  if (segment < 0) segment = 8;
  if (segment >= 8) return 0x7f ^ mask;
  const shifted = segment < 2 ? s >> 1 : s >> segment;
  return ((segment << 4) | (shifted & 0x0f)) ^ mask;
}

/** µ-law code of digital silence. */
export const ULAW_SILENCE = 0xff;
/** A-law code of digital silence. */
export const ALAW_SILENCE = 0xd5;

/** Samples of a sine tone as 16-bit linear values. */
export function sineSamples(options: { frequencyHz: number; durationMs: number; sampleRate?: number; amplitude?: number }): Int16Array {
  const rate = options.sampleRate ?? 8000;
  const amplitude = options.amplitude ?? 8000;
  const count = Math.round((rate * options.durationMs) / 1000);
  const out = new Int16Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * options.frequencyHz * i) / rate));
  return out;
}

export interface Wav {
  readonly sampleRate: number;
  readonly channels: number;
  readonly bitsPerSample: number;
  /** Interleaved samples (16-bit only). */
  readonly samples: Int16Array;
}

/** Writes a canonical 44-byte-header PCM WAV, S16LE. */
export function writeWav(path: string, samples: Int16Array, sampleRate = 8000, channels = 1): void {
  const data = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) data.writeInt16LE(samples[i]!, i * 2);
  const header = Buffer.alloc(44);
  header.write("RIFF", 0, "ascii");
  header.writeUInt32LE(36 + data.length, 4);
  header.write("WAVE", 8, "ascii");
  header.write("fmt ", 12, "ascii");
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * channels * 2, 28);
  header.writeUInt16LE(channels * 2, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36, "ascii");
  header.writeUInt32LE(data.length, 40);
  writeFileSync(path, Buffer.concat([header, data]));
}

/**
 * Reads a 16-bit PCM WAV file, walking the chunks (libsndfile may write extra
 * chunks, and a file still being written may have a zero/oversized data length).
 */
export function readWav(path: string): Wav {
  const buf = readFileSync(path);
  if (buf.toString("ascii", 0, 4) !== "RIFF" || buf.toString("ascii", 8, 12) !== "WAVE") throw new Error(`${path}: not a RIFF/WAVE file`);
  let offset = 12;
  let sampleRate = 0;
  let channels = 0;
  let bitsPerSample = 0;
  let samples: Int16Array | undefined;
  while (offset + 8 <= buf.length) {
    const id = buf.toString("ascii", offset, offset + 4);
    let size = buf.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === "fmt ") {
      const format = buf.readUInt16LE(body);
      if (format !== 1 && format !== 0xfffe) throw new Error(`${path}: WAV format ${format} is not PCM`);
      channels = buf.readUInt16LE(body + 2);
      sampleRate = buf.readUInt32LE(body + 4);
      bitsPerSample = buf.readUInt16LE(body + 14);
    } else if (id === "data") {
      if (bitsPerSample !== 16) throw new Error(`${path}: only 16-bit PCM is supported (got ${bitsPerSample})`);
      if (size === 0 || body + size > buf.length) size = buf.length - body;
      const count = Math.floor(size / 2);
      samples = new Int16Array(count);
      for (let i = 0; i < count; i++) samples[i] = buf.readInt16LE(body + i * 2);
      break;
    }
    offset = body + size + (size % 2);
  }
  if (!samples) throw new Error(`${path}: no data chunk`);
  return { sampleRate, channels, bitsPerSample, samples };
}

/** Relative power of one frequency in a block of samples (Goertzel), normalised to 0…1 of the block's energy. */
export function toneRatio(samples: ArrayLike<number>, frequencyHz: number, sampleRate = 8000): number {
  const n = samples.length;
  if (n === 0) return 0;
  const k = Math.round((n * frequencyHz) / sampleRate);
  const w = (2 * Math.PI * k) / n;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (let i = 0; i < n; i++) {
    const x = samples[i]!;
    energy += x * x;
    const s0 = x + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  if (energy === 0) return 0;
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return (2 * power) / (n * energy);
}

/** Root-mean-square level of a block of samples. */
export function rms(samples: ArrayLike<number>): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  return Math.sqrt(sum / samples.length);
}

/** The strongest frequency between `fromHz` and `toHz` (in `stepHz` steps), by Goertzel power. */
export function dominantFrequency(samples: ArrayLike<number>, sampleRate: number, fromHz = 100, toHz = 2000, stepHz = 10): number {
  let best = fromHz;
  let bestRatio = -1;
  for (let f = fromHz; f <= toHz; f += stepHz) {
    const ratio = toneRatio(samples, f, sampleRate);
    if (ratio > bestRatio) {
      bestRatio = ratio;
      best = f;
    }
  }
  return best;
}
