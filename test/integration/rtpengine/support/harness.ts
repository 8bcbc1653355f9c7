import { randomInt, randomUUID } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import { DtmfEventListener, type DtmfEvent } from "../../../../media-host/rtpengine/dtmfEventListener.js";
import { mediaHostInterfaces } from "../../../../media-host/rtpengine/interfaces.js";
import { RtpengineClient } from "../../../../media-host/rtpengine/rtpengineClient.js";
import { RtpengineProcess, type RtpengineProcessOptions, resolveBinary } from "../../../../media-host/rtpengine/rtpengineProcess.js";

/**
 * Fails (never skips) when rtpengine is missing, with the fix in the message:
 * scripts/setup.sh installs Debian's rtpengine-daemon.
 */
export async function requireRtpengine(): Promise<string> {
  return await resolveBinary("rtpengine");
}

export interface RtpengineHarness {
  readonly process: RtpengineProcess;
  readonly client: RtpengineClient;
  readonly dtmf: DtmfEventListener;
  /** Everything rtpengine logged (at the harness's level, "warning" unless overridden). */
  readonly logLines: string[];
  stop(): Promise<void>;
}

/**
 * A real rtpengine on loopback: a free ng port, a random media port range (so test
 * files running in parallel rarely meet), `delete-delay = 0` (a deleted call id is
 * gone at once), its DTMF log sent to a DtmfEventListener, and a client. Set
 * RTPENGINE_LOG=1 to echo rtpengine's lines on stderr.
 */
export async function startRtpengine(options: Partial<RtpengineProcessOptions> = {}): Promise<RtpengineHarness> {
  await requireRtpengine();
  const dtmf = await DtmfEventListener.open({ host: "127.0.0.1", port: 0 });
  const logLines: string[] = [];
  const base = 20000 + randomInt(0, 90) * 400;
  const process = new RtpengineProcess({
    // A media host's layout (anchorMedia names both sides), all on loopback.
    interfaces: mediaHostInterfaces("127.0.0.1"),
    portMin: base,
    portMax: base + 399,
    dtmfLogDest: dtmf.address,
    logLevel: "warning",
    deleteDelayInMs: 0,
    startTimeoutInMs: 8000,
    stopTimeoutInMs: 3000,
    onLogLine: (line) => {
      logLines.push(line);
      if (globalThis.process.env.RTPENGINE_LOG) globalThis.process.stderr.write(`rtpengine: ${line}\n`);
    },
    ...options,
  });
  try {
    await process.start();
  } catch (error) {
    await dtmf.close();
    throw error;
  }
  const client = await RtpengineClient.open({ host: process.ngHost, port: process.ngPort, localAddress: "127.0.0.1", requestTimeoutInMs: 3000 });
  return {
    process,
    client,
    dtmf,
    logLines,
    async stop() {
      await client.close();
      await process.stop();
      await dtmf.close();
    },
  };
}

/**
 * Registers before/after hooks that start and stop one rtpengine for the test file and
 * returns its accessor. A failed start (rtpengine not installed, say) does not fail the
 * hook, where node:test would only report the tests as cancelled: every test that
 * touches the accessor fails with the start's error and its message instead.
 */
export function useRtpengine(options: Partial<RtpengineProcessOptions> = {}): () => RtpengineHarness {
  let harness: RtpengineHarness | undefined;
  let failure: unknown;
  before(async () => {
    try {
      harness = await startRtpengine(options);
    } catch (error) {
      failure = error;
    }
  });
  after(async () => {
    await harness?.stop();
  });
  return () => {
    if (harness) return harness;
    throw failure ?? new Error("rtpengine has not been started (useRtpengine's before hook has not run)");
  };
}

/** A call id no other test uses. */
export function newCallId(label = "call"): string {
  return `${label}-${randomUUID()}@opencvi.test`;
}

/** The repository root (works from test/ and from dist/test/): golden files are not copied to dist/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "media-host"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("package.json not found above the test file");
    dir = parent;
  }
}

// ---------------------------------------------------------------- SDP for test endpoints

export interface TestCodec {
  readonly pt: number;
  /** rtpmap encoding/clock[/channels], e.g. "PCMU/8000". */
  readonly rtpmap: string;
  readonly fmtp?: string;
}

export const PCMU: TestCodec = { pt: 0, rtpmap: "PCMU/8000" };
export const PCMA: TestCodec = { pt: 8, rtpmap: "PCMA/8000" };
export const TELEPHONE_EVENT: TestCodec = { pt: 101, rtpmap: "telephone-event/8000", fmtp: "0-15" };

/** A plain RTP/AVP audio SDP for a test endpoint. */
export function plainAudioSdp(options: {
  readonly address: string;
  readonly port: number;
  readonly user?: string;
  readonly codecs?: readonly TestCodec[];
}): string {
  const codecs = options.codecs ?? [PCMU, TELEPHONE_EVENT];
  const lines = [
    "v=0",
    `o=${options.user ?? "test"} ${randomInt(1, 2 ** 31)} 1 IN IP4 ${options.address}`,
    "s=-",
    `c=IN IP4 ${options.address}`,
    "t=0 0",
    `m=audio ${options.port} RTP/AVP ${codecs.map((c) => c.pt).join(" ")}`,
    ...codecs.flatMap((c) => [`a=rtpmap:${c.pt} ${c.rtpmap}`, ...(c.fmtp ? [`a=fmtp:${c.pt} ${c.fmtp}`] : [])]),
    "a=ptime:20",
    "a=sendrecv",
  ];
  return `${lines.join("\r\n")}\r\n`;
}

// ---------------------------------------------------------------- RTP endpoints

export interface RtpPacket {
  readonly payloadType: number;
  readonly marker: boolean;
  readonly sequence: number;
  readonly timestamp: number;
  readonly ssrc: number;
  readonly payload: Buffer;
  readonly from: { readonly address: string; readonly port: number };
}

export interface Destination {
  readonly address: string;
  readonly port: number;
}

/** Parses an RTP packet (no CSRCs or extensions expected from rtpengine; both skipped if present). */
export function parseRtp(datagram: Buffer, from: Destination = { address: "", port: 0 }): RtpPacket | undefined {
  if (datagram.length < 12 || datagram[0]! >> 6 !== 2) return undefined;
  const csrcCount = datagram[0]! & 0x0f;
  let offset = 12 + 4 * csrcCount;
  if (datagram[0]! & 0x10) {
    if (datagram.length < offset + 4) return undefined;
    offset += 4 + 4 * datagram.readUInt16BE(offset + 2);
  }
  let end = datagram.length;
  if (datagram[0]! & 0x20) end -= datagram[end - 1]!;
  if (offset > end) return undefined;
  return {
    payloadType: datagram[1]! & 0x7f,
    marker: (datagram[1]! & 0x80) !== 0,
    sequence: datagram.readUInt16BE(2),
    timestamp: datagram.readUInt32BE(4),
    ssrc: datagram.readUInt32BE(8),
    payload: datagram.subarray(offset, end),
    from,
  };
}

/**
 * One RTP endpoint on a UDP socket, as a device or the meeting side would be: sends
 * RTP (audio, RFC 4733 events) with its own SSRC/sequence/timestamp and records
 * everything it receives.
 */
export class RtpPeer {
  readonly received: RtpPacket[] = [];
  readonly ssrc = randomInt(1, 2 ** 32 - 1);
  #sequence = randomInt(0, 2 ** 16);
  #timestamp = randomInt(0, 2 ** 31);
  readonly #socket: Socket;
  readonly #waiters = new Set<() => void>();

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on("message", (datagram, from) => {
      const packet = parseRtp(datagram, { address: from.address, port: from.port });
      if (packet) this.received.push(packet);
      for (const wake of [...this.#waiters]) wake();
    });
  }

  static async open(address = "127.0.0.1"): Promise<RtpPeer> {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, address, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    return new RtpPeer(socket);
  }

  get address(): string {
    return this.#socket.address().address;
  }

  get port(): number {
    return this.#socket.address().port;
  }

  /** Sends one RTP packet; the timestamp defaults to the current media clock. */
  async send(to: Destination, packet: { payloadType: number; payload: Buffer; marker?: boolean; timestamp?: number }): Promise<void> {
    const header = Buffer.alloc(12);
    header[0] = 0x80;
    header[1] = (packet.marker ? 0x80 : 0) | packet.payloadType;
    header.writeUInt16BE(this.#sequence, 2);
    this.#sequence = (this.#sequence + 1) & 0xffff;
    header.writeUInt32BE((packet.timestamp ?? this.#timestamp) >>> 0, 4);
    header.writeUInt32BE(this.ssrc, 8);
    await new Promise<void>((resolve, reject) =>
      this.#socket.send(Buffer.concat([header, packet.payload]), to.port, to.address, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** `count` packets of 20 ms audio (160 samples at 8 kHz), paced in real time. */
  async sendAudio(to: Destination, count: number, options: { payloadType?: number; payload?: Buffer; intervalInMs?: number } = {}): Promise<void> {
    const payload = options.payload ?? Buffer.alloc(160, 0xff); // PCMU silence
    for (let i = 0; i < count; i++) {
      await this.send(to, { payloadType: options.payloadType ?? 0, payload, marker: i === 0 });
      this.#timestamp = (this.#timestamp + 160) >>> 0;
      await sleep(options.intervalInMs ?? 20);
    }
  }

  /**
   * One RFC 4733 digit: an event packet every 20 ms with growing duration (the first
   * with the marker bit), then the end packet three times, all with the event's start
   * timestamp; the media clock then moves past the event.
   */
  async sendDtmf(to: Destination, event: number, options: { payloadType?: number; durationInMs?: number; volume?: number } = {}): Promise<void> {
    const payloadType = options.payloadType ?? 101;
    const volume = options.volume ?? 10;
    const totalSamples = Math.round(((options.durationInMs ?? 100) * 8000) / 1000);
    const start = this.#timestamp;
    const payload = (end: boolean, samples: number) => Buffer.from([event, (end ? 0x80 : 0) | volume, (samples >> 8) & 0xff, samples & 0xff]);
    let first = true;
    for (let samples = 160; samples < totalSamples; samples += 160) {
      await this.send(to, { payloadType, payload: payload(false, samples), marker: first, timestamp: start });
      first = false;
      await sleep(20);
    }
    for (let i = 0; i < 3; i++)
      await this.send(to, { payloadType, payload: payload(true, totalSamples), marker: first && i === 0, timestamp: start });
    this.#timestamp = (start + totalSamples + 160) >>> 0;
  }

  /** Resolves once `predicate(received)` holds; rejects after `timeoutInMs` with `what` in the message. */
  async waitFor(what: string, predicate: (received: readonly RtpPacket[]) => boolean, timeoutInMs = 3000): Promise<void> {
    if (predicate(this.received)) return;
    await new Promise<void>((resolve, reject) => {
      const wake = () => {
        if (!predicate(this.received)) return;
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        reject(new Error(`timed out after ${timeoutInMs} ms waiting for ${what}; received ${this.received.length} packets`));
      }, timeoutInMs);
      this.#waiters.add(wake);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Collects DTMF events until `count` arrived (or rejects after `timeoutInMs`). */
export function collectDtmf(listener: DtmfEventListener, count: number, filter: (e: DtmfEvent) => boolean, timeoutInMs = 3000): Promise<DtmfEvent[]> {
  const events: DtmfEvent[] = [];
  return new Promise((resolve, reject) => {
    const onDtmf = (event: DtmfEvent) => {
      if (!filter(event)) return;
      events.push(event);
      if (events.length === count) {
        clearTimeout(timer);
        listener.off("dtmf", onDtmf);
        resolve(events);
      }
    };
    const timer = setTimeout(() => {
      listener.off("dtmf", onDtmf);
      reject(new Error(`timed out after ${timeoutInMs} ms: ${events.length} of ${count} DTMF events (${events.map((e) => e.digit).join("")})`));
    }, timeoutInMs);
    listener.on("dtmf", onDtmf);
  });
}

// ---------------------------------------------------------------- audio

/** A mono 16-bit PCM WAV file with a sine tone. */
export function sineWav(options: {
  readonly frequency: number;
  readonly durationInMs: number;
  readonly sampleRate?: number;
  readonly amplitude?: number;
}): Buffer {
  const rate = options.sampleRate ?? 8000;
  const samples = Math.round((rate * options.durationInMs) / 1000);
  const amplitude = options.amplitude ?? 12000;
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) data.writeInt16LE(Math.round(amplitude * Math.sin((2 * Math.PI * options.frequency * i) / rate)), i * 2);
  const header = Buffer.alloc(44);
  header.write("RIFF", 0, "ascii");
  header.writeUInt32LE(36 + data.length, 4);
  header.write("WAVE", 8, "ascii");
  header.write("fmt ", 12, "ascii");
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28); // byte rate
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  header.write("data", 36, "ascii");
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

/** G.711 μ-law to linear 16-bit. */
export function decodeMuLaw(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + 0x84) << exponent) - 0x84;
  return u & 0x80 ? -magnitude : magnitude;
}

/** Dominant frequency estimate from zero crossings (fine for one clean tone). */
export function estimateFrequency(samples: readonly number[], sampleRate: number): number {
  let crossings = 0;
  for (let i = 1; i < samples.length; i++) if ((samples[i - 1]! < 0 && samples[i]! >= 0) || (samples[i - 1]! >= 0 && samples[i]! < 0)) crossings++;
  return (crossings / 2) * (sampleRate / samples.length);
}
