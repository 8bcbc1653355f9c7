import { type ChildProcess, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from "node:tls";
import type { TestHost } from "../netns.js";
import { pcmuTone, telephoneEvents, writeRtpPcap } from "./pcap.js";

/**
 * Runs SIPp 3.6 (Debian `sip-tester`) scenarios from test/sipp/ against a SIP
 * server on loopback, and SIPp UAS counterparts for the scenarios' self-tests.
 *
 * Transports: "u1" (UDP, one socket) and "t1" (TCP, one connection) are SIPp's
 * own. Debian builds SIPp without OpenSSL ("To use a TLS transport you must
 * compile SIPp with OpenSSL"), so "l1" (TLS) is SIPp over TCP through an
 * in-process TLS bridge: the caller side connects SIPp (`-t t1 -rsa <bridge>`)
 * to a local TCP listener that opens one TLS connection per SIPp connection to
 * the target, checking its certificate against the local CA, and rewrites the
 * transport of SIPp's own Via and Contact from TCP to TLS (nothing else) so the
 * server sees a TLS client. A UAS on "l1" is SIPp on TCP behind a TLS server.
 */

/** u1: UDP, one socket; t1: TCP, one connection for all calls; tn: TCP, a connection per call (as devices do); l1: TLS (through the bridge). */
export type SippTransport = "u1" | "t1" | "tn" | "l1";

export interface TlsClientOptions {
  /** CA bundle (PEM path) that signed the server's certificate; .local/tls/ca.pem unless told. */
  readonly caFile?: string;
  /** SNI / name checked in the server's certificate; "localhost" unless told. */
  readonly servername?: string;
  readonly rejectUnauthorized?: boolean;
}

export interface TlsServerOptions {
  readonly certFile?: string;
  readonly keyFile?: string;
}

export interface SippRunOptions {
  /** A path, or a name in test/sipp/scenarios ("direct-dial" or "direct-dial.xml"). */
  readonly scenario: string;
  /** host:port of the server under test, e.g. "127.0.0.1:5060". */
  readonly target: string;
  /** The dial string: the user part of the Request-URI (-s). */
  readonly service: string;
  readonly transport?: SippTransport;
  /** Calls to place (-m); 1 unless told. */
  readonly calls?: number;
  /** Calls per second (-r); 10 unless told. */
  readonly rate?: number;
  /** Limit of simultaneous calls (-l). */
  readonly maxConcurrentCalls?: number;
  /** Percentage of SIP packets SIPp drops on purpose, both ways (-lost). */
  readonly lost?: number;
  /** Generic scenario keywords (-key name value): [name] in the scenario. */
  readonly variables?: Readonly<Record<string, string>>;
  /** Global variables (-set name value): [$name] in the scenario. */
  readonly globals?: Readonly<Record<string, string>>;
  /** Injection file rows (-inf): [field0], [field1]… */
  readonly csv?: { readonly order?: "SEQUENTIAL" | "RANDOM" | "USER"; readonly rows: readonly (readonly string[])[] };
  /** For scenarios that play [dtmf_pcap]: the digits (ending with '#') to write as RFC 4733 packets. */
  readonly dtmfDigits?: string;
  /** Payload type of telephone-event in the pcap (101, as the scenarios offer). */
  readonly dtmfPayloadType?: number;
  /** For scenarios that play [media_pcap] and get none in `variables`: length of the generated 1 kHz PCMU tone, ms. */
  readonly mediaMs?: number;
  readonly localIp?: string;
  /** Run SIPp on this test host (in its namespace; its address is the local IP unless told), as a device elsewhere on the network. UDP and TCP only. */
  readonly host?: TestHost;
  /** SIP port of SIPp; a free one unless told (SIPp itself would try 5060 first). */
  readonly localPort?: number;
  /** RTP port of SIPp (-mp, it also binds +2); SIPp looks for a free one from 6000 unless told. */
  readonly mediaPort?: number;
  readonly tls?: TlsClientOptions;
  /** Hard bound on the run: SIPp gets -timeout, and is killed shortly after if still running. */
  readonly timeoutInMs: number;
  /** Extra SIPp options, appended as given. */
  readonly extraArgs?: readonly string[];
  /** Keep the temp directory (traces, stats, pcaps) instead of deleting it. */
  readonly keepFiles?: boolean;
}

export interface ResponseTimeStats {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface SippResult {
  /** SIPp's exit code: 0 all calls passed, 1 some failed, 97 stopped by an internal command, 99 no call, 255/254 fatal. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly successful: number;
  readonly failed: number;
  readonly retransmissions: number;
  /** Non-zero Failed* counters of the statistics file, e.g. { FailedRegexpDoesntMatch: 1 }. */
  readonly failures: Readonly<Record<string, number>>;
  /** Per response-time counter of the scenario (rtd name): from -trace_rtt, one sample per measurement. */
  readonly responseTimesMs: Readonly<Record<string, ResponseTimeStats>>;
  /** SIPp's cumulative average call length, ms. */
  readonly averageCallLengthMs: number | undefined;
  readonly durationMs: number;
  readonly stderrTail: string;
  /** Unexpected messages and warnings (-trace_err). */
  readonly errorLogTail: string;
  /** Lines of the scenario's <log> actions (-trace_logs). */
  readonly logLines: readonly string[];
  /** SIPp's final statistics screen. */
  readonly screen: string;
  readonly command: readonly string[];
  /** The temp directory (deleted unless keepFiles). */
  readonly dir: string;
}

const TAIL_BYTES = 8192;

/** The repository's test/sipp directory, found upwards from this module (source or dist). */
export function sippDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "test", "sipp", "scenarios");
    if (existsSync(candidate)) return join(dir, "test", "sipp");
    const parent = dirname(dir);
    if (parent === dir) throw new Error("test/sipp/scenarios not found above this module");
    dir = parent;
  }
}

function repoRoot(): string {
  return dirname(dirname(sippDir()));
}

export function scenarioPath(scenario: string, kind: "scenarios" | "uas" = "scenarios"): string {
  if (isAbsolute(scenario) || scenario.includes("/")) return resolve(scenario);
  return join(sippDir(), kind, scenario.endsWith(".xml") ? scenario : `${scenario}.xml`);
}

/** The sipp executable on PATH, or an error telling how to get it. */
export function findSipp(): string {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, "sipp");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error("sipp is not on PATH: it is Debian's package sip-tester, which scripts/setup.sh installs (or: apt-get install sip-tester)");
}

/** A port that was free on 127.0.0.1 a moment ago (UDP and TCP). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((res, rej) => {
      const server = createServer();
      server.once("error", rej);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        server.close(() => res(typeof address === "object" && address ? address.port : 0));
      });
    });
    if (await udpFree(port)) return port;
  }
  throw new Error("no free port found");
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const socket = createSocket("udp4");
    socket.once("error", () => res(false));
    socket.bind(port, "127.0.0.1", () => socket.close(() => res(true)));
  });
}

/** An even port whose UDP port and port+2 are free (what SIPp binds for -mp). */
export async function freeMediaPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + 2 * Math.floor(Math.random() * 10000);
    if ((await udpFree(port)) && (await udpFree(port + 2))) return port;
  }
  throw new Error("no free media port pair found");
}

// ---------------------------------------------------------------------------
// Child processes: bounded, and never left behind.

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once("exit", () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const c of live) c.kill("SIGKILL");
    });
  }
}

class Tail {
  private text = "";
  push(chunk: Buffer | string): void {
    this.text += chunk.toString();
    if (this.text.length > 4 * TAIL_BYTES) this.text = this.text.slice(-TAIL_BYTES);
  }
  toString(): string {
    return this.text.slice(-TAIL_BYTES);
  }
}

interface Spawned {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; killedByUs: boolean; durationMs: number }>;
  readonly stderr: Tail;
  kill(): void;
}

function spawnBounded(sipp: string, args: readonly string[], cwd: string, hardTimeoutMs: number, host?: TestHost): Spawned {
  const started = Date.now();
  // `ip netns exec` execs SIPp in the namespace: one process, which the kill below reaches.
  const child = host
    ? spawn("ip", ["netns", "exec", host.namespace, sipp, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] })
    : spawn(sipp, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  track(child);
  const stderr = new Tail();
  child.stdout?.on("data", () => {
    // The live statistics screen: -trace_screen keeps the final one.
  });
  child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));
  let killedByUs = false;
  let killTimer: NodeJS.Timeout | undefined;
  const kill = () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    killedByUs = true;
    child.kill("SIGTERM");
    killTimer = setTimeout(() => child.kill("SIGKILL"), 1000);
  };
  // Safety net only: the running child keeps the event loop alive, not this timer.
  const hardTimer = setTimeout(kill, hardTimeoutMs);
  hardTimer.unref();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; killedByUs: boolean; durationMs: number }>((res, rej) => {
    child.once("error", (err) => {
      clearTimeout(hardTimer);
      rej(err);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(hardTimer);
      if (killTimer) clearTimeout(killTimer);
      res({ code, signal, killedByUs, durationMs: Date.now() - started });
    });
  });
  return { child, exited, stderr, kill };
}

// ---------------------------------------------------------------------------
// Results.

function parseDurationMs(value: string | undefined): number | undefined {
  // SIPp writes durations as HH:MM:SS:uuuuuu.
  const m = /^(\d+):(\d+):(\d+):(\d+)$/.exec(value ?? "");
  if (!m) return undefined;
  return (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1000 + Number(m[4]) / 1000;
}

function readStats(file: string): Map<string, string> {
  const stats = new Map<string, string>();
  if (!existsSync(file)) return stats;
  const lines = readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "");
  const header = lines[0]?.split(";") ?? [];
  const last = lines.length > 1 ? (lines[lines.length - 1]?.split(";") ?? []) : [];
  header.forEach((name, i) => {
    if (name) stats.set(name, last[i] ?? "");
  });
  return stats;
}

function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

function readResponseTimes(dir: string): Record<string, ResponseTimeStats> {
  const samples = new Map<string, number[]>();
  for (const name of readdirSync(dir).filter((f) => f.endsWith("_rtt.csv"))) {
    for (const line of readFileSync(join(dir, name), "utf8").split("\n").slice(1)) {
      const [, ms, rtd] = line.trim().split(";");
      if (!rtd || ms === undefined || Number.isNaN(Number(ms))) continue;
      const list = samples.get(rtd) ?? [];
      list.push(Number(ms));
      samples.set(rtd, list);
    }
  }
  const out: Record<string, ResponseTimeStats> = {};
  for (const [rtd, list] of samples) {
    list.sort((a, b) => a - b);
    out[rtd] = { count: list.length, p50: percentile(list, 50), p99: percentile(list, 99), max: list[list.length - 1]! };
  }
  return out;
}

function readText(file: string): string {
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}

function collect(
  dir: string,
  exit: Awaited<Spawned["exited"]>,
  stderr: Tail,
  command: string[],
  timeoutInMs: number,
  keepFiles: boolean,
): SippResult {
  const stats = readStats(join(dir, "stats.csv"));
  const num = (name: string) => Number(stats.get(name) ?? 0) || 0;
  const failures: Record<string, number> = {};
  for (const [name, value] of stats) {
    const m = /^(Failed\w+)\(C\)$/.exec(name);
    if (m && m[1] !== "FailedCall" && Number(value) > 0) failures[m[1]!] = Number(value);
  }
  const result: SippResult = {
    exitCode: exit.code,
    signal: exit.signal,
    timedOut: exit.killedByUs || exit.durationMs >= timeoutInMs,
    successful: num("SuccessfulCall(C)"),
    failed: num("FailedCall(C)"),
    retransmissions: num("Retransmissions(C)"),
    failures,
    responseTimesMs: readResponseTimes(dir),
    averageCallLengthMs: parseDurationMs(stats.get("CallLength(C)")),
    durationMs: exit.durationMs,
    stderrTail: stderr.toString(),
    errorLogTail: readText(join(dir, "errors.log")).slice(-TAIL_BYTES),
    logLines: readText(join(dir, "logs.log"))
      .split("\n")
      .filter((l) => l !== ""),
    screen: readText(join(dir, "screen.log")).slice(-TAIL_BYTES),
    command,
    dir,
  };
  if (!keepFiles) rmSync(dir, { recursive: true, force: true });
  return result;
}

/** One line telling how a run went, for assertion messages. */
export function describeResult(r: SippResult): string {
  const rt = Object.entries(r.responseTimesMs)
    .map(([k, v]) => `${k} p50 ${v.p50} ms p99 ${v.p99} ms`)
    .join(", ");
  return (
    `exit ${r.exitCode}${r.signal ? ` (${r.signal})` : ""}${r.timedOut ? " TIMED OUT" : ""}: ${r.successful} passed, ${r.failed} failed` +
    `${Object.keys(r.failures).length ? ` ${JSON.stringify(r.failures)}` : ""}, ${r.retransmissions} retransmissions${rt ? `; ${rt}` : ""}` +
    `\n--- errors:\n${r.errorLogTail.slice(-2000)}\n--- stderr:\n${r.stderrTail.slice(-2000)}`
  );
}

function commonArgs(dir: string, localIp: string): string[] {
  return [
    "-i",
    localIp,
    "-bind_local",
    "-mi",
    localIp,
    "-nostdin",
    "-trace_stat",
    "-stf",
    join(dir, "stats.csv"),
    // Dump statistics every second too, so a run cut short by its timeout still has counters.
    "-fd",
    "1",
    "-trace_err",
    "-error_file",
    join(dir, "errors.log"),
    "-trace_logs",
    "-log_file",
    join(dir, "logs.log"),
    "-trace_screen",
    "-screen_file",
    join(dir, "screen.log"),
    "-trace_rtt",
    "-rtt_freq",
    "1",
  ];
}

function pairs(flag: string, entries: Readonly<Record<string, string>> | undefined): string[] {
  return Object.entries(entries ?? {}).flatMap(([k, v]) => [flag, k, v]);
}

// ---------------------------------------------------------------------------
// TLS bridging (SIPp has no TLS in Debian's build).

/** Splits a SIP byte stream into messages (headers + Content-Length body), passing keep-alive CRLFs through. */
class SipFramer {
  private buffer = Buffer.alloc(0);
  constructor(private readonly onMessage: (message: Buffer) => void) {}
  push(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      let start = 0;
      while (start + 1 < this.buffer.length && this.buffer[start] === 13 && this.buffer[start + 1] === 10) start += 2;
      if (start > 0) {
        this.onMessage(this.buffer.subarray(0, start));
        this.buffer = this.buffer.subarray(start);
      }
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = this.buffer.subarray(0, end).toString("latin1");
      const m = /^(?:content-length|l)[ \t]*:[ \t]*(\d+)/im.exec(head);
      const total = end + 4 + (m ? Number(m[1]) : 0);
      if (this.buffer.length < total) return;
      this.onMessage(this.buffer.subarray(0, total));
      this.buffer = this.buffer.subarray(total);
    }
  }
}

/** SIPp's TCP Via/Contact become TLS in the header section; the body is left alone. */
export function rewriteTransportToTls(message: Buffer): Buffer {
  const end = message.indexOf("\r\n\r\n");
  if (end < 0) return message;
  const head = message
    .subarray(0, end)
    .toString("latin1")
    .replace(/^((?:via|v)[ \t]*:[ \t]*SIP\/2\.0\/)TCP\b/gim, "$1TLS")
    .replace(/;transport=tcp\b/gi, ";transport=tls");
  return Buffer.concat([Buffer.from(head, "latin1"), message.subarray(end)]);
}

function defaultTlsFile(name: string): string {
  return join(repoRoot(), ".local", "tls", name);
}

function pipeSockets(a: Socket | TLSSocket, b: Socket | TLSSocket): void {
  a.on("error", () => b.destroy());
  b.on("error", () => a.destroy());
  a.on("close", () => b.destroy());
  b.on("close", () => a.destroy());
}

/** A TCP listener on loopback; each connection is carried over TLS to host:port. */
async function startTlsClientBridge(host: string, port: number, options: TlsClientOptions = {}): Promise<{ port: number; close(): Promise<void> }> {
  const ca = readFileSync(options.caFile ?? defaultTlsFile("ca.pem"));
  const sockets = new Set<Socket>();
  const server = createServer((plain) => {
    sockets.add(plain);
    plain.on("close", () => sockets.delete(plain));
    plain.pause();
    const secure = tlsConnect(
      { host, port, ca, servername: options.servername ?? "localhost", rejectUnauthorized: options.rejectUnauthorized ?? true },
      () => plain.resume(),
    );
    pipeSockets(plain, secure);
    const framer = new SipFramer((message) => secure.write(rewriteTransportToTls(message)));
    plain.on("data", (chunk: Buffer) => framer.push(chunk));
    secure.on("data", (chunk: Buffer) => plain.write(chunk));
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    close: () => closeServer(server, sockets),
  };
}

/** A TLS listener on loopback port; each connection is carried in the clear to the TCP port. */
async function startTlsServerBridge(listenPort: number, tcpPort: number, options: TlsServerOptions = {}): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createTlsServer(
    { cert: readFileSync(options.certFile ?? defaultTlsFile("server.pem")), key: readFileSync(options.keyFile ?? defaultTlsFile("server-key.pem")) },
    (secure) => {
      sockets.add(secure);
      secure.on("close", () => sockets.delete(secure));
      const plain = new Socket();
      sockets.add(plain);
      plain.on("close", () => sockets.delete(plain));
      plain.connect(tcpPort, "127.0.0.1");
      pipeSockets(secure, plain);
      secure.pipe(plain);
      plain.pipe(secure);
    },
  );
  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen(listenPort, "127.0.0.1", () => res());
  });
  return { close: () => closeServer(server, sockets) };
}

function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((res) => server.close(() => res()));
}

// ---------------------------------------------------------------------------
// Caller side.

function splitTarget(target: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(target);
  if (!m) return { host: target, port: 5060 };
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}

/** Runs a SIPp caller scenario against `target` and resolves with what happened (never rejects on call failures). */
export async function runSipp(options: SippRunOptions): Promise<SippResult> {
  const sipp = findSipp();
  const scenario = scenarioPath(options.scenario);
  if (!existsSync(scenario)) throw new Error(`no SIPp scenario ${scenario}`);
  const text = readFileSync(scenario, "utf8");
  const variables: Record<string, string> = { ...options.variables };
  const needsDtmf = text.includes("[dtmf_pcap]") && variables.dtmf_pcap === undefined;
  if (needsDtmf && !options.dtmfDigits) throw new Error(`${options.scenario} plays [dtmf_pcap]: give dtmfDigits (or variables.dtmf_pcap)`);
  const needsCsv = /\[field\d+/.test(text);
  if (needsCsv && !options.csv) throw new Error(`${options.scenario} reads an injection file ([fieldN]): give csv rows`);
  const dir = mkdtempSync(join(tmpdir(), "opencvi-sipp-"));
  const transport = options.transport ?? "u1";
  const localIp = options.localIp ?? options.host?.address ?? "127.0.0.1";
  if (options.host && transport === "l1") throw new Error("SIPp on a test host speaks UDP or TCP: its TLS bridge runs in this process");

  if (text.includes("[media_pcap]") && variables.media_pcap === undefined) {
    variables.media_pcap = join(dir, "media.pcap");
    writeRtpPcap(variables.media_pcap, pcmuTone(options.mediaMs ?? 2500, { frequencyHz: 1000 }));
  }
  if (needsDtmf && options.dtmfDigits) {
    variables.dtmf_pcap = join(dir, "dtmf.pcap");
    writeRtpPcap(variables.dtmf_pcap, telephoneEvents(options.dtmfDigits, { payloadType: options.dtmfPayloadType ?? 101 }));
  }
  const args: string[] = [options.target, "-sf", scenario, "-s", options.service];
  if (needsCsv && options.csv) {
    const file = join(dir, "injection.csv");
    writeFileSync(file, `${options.csv.order ?? "SEQUENTIAL"}\n${options.csv.rows.map((r) => `${r.join(";")};`).join("\n")}\n`);
    args.push("-inf", file);
  }

  let bridge: { port: number; close(): Promise<void> } | undefined;
  try {
    if (transport === "l1") {
      const { host, port } = splitTarget(options.target);
      bridge = await startTlsClientBridge(host, port, options.tls);
      args.push("-t", "t1", "-rsa", `127.0.0.1:${bridge.port}`);
    } else {
      args.push("-t", transport);
      // SIPp refuses "tn" unless its socket limit is below the process's open-file limit.
      if (transport === "tn") args.push("-max_socket", "1000");
    }
    const localPort = options.localPort ?? (await freePort());
    args.push("-p", String(localPort), ...commonArgs(dir, localIp));
    if (options.mediaPort !== undefined) args.push("-mp", String(options.mediaPort));
    const timeoutSec = Math.max(1, Math.ceil(options.timeoutInMs / 1000));
    args.push("-m", String(options.calls ?? 1), "-r", String(options.rate ?? 10), "-timeout", `${timeoutSec}s`, "-timeout_error");
    if (options.maxConcurrentCalls !== undefined) args.push("-l", String(options.maxConcurrentCalls));
    if (options.lost !== undefined) args.push("-lost", String(options.lost));
    args.push(...pairs("-key", variables), ...pairs("-set", options.globals), ...(options.extraArgs ?? []));

    const run = spawnBounded(sipp, args, dir, options.timeoutInMs + 3000, options.host);
    const exit = await run.exited;
    return collect(dir, exit, run.stderr, [sipp, ...args], options.timeoutInMs, options.keepFiles ?? false);
  } catch (err) {
    if (!options.keepFiles) rmSync(dir, { recursive: true, force: true });
    throw err;
  } finally {
    await bridge?.close();
  }
}

// ---------------------------------------------------------------------------
// Server side (self-tests).

export interface SippUasOptions {
  /** A path, or a name in test/sipp/uas ("direct-dial"). */
  readonly scenario: string;
  /** SIP port to listen on (127.0.0.1); a free one unless told. */
  readonly port?: number;
  readonly transport?: SippTransport;
  /** Stop after this many calls (-m); otherwise run until stop(). */
  readonly calls?: number;
  /** Port written into the UAS's SDP answers ([rtp_port]): where a test listens for the caller's RTP. A free (unused) port unless told. */
  readonly rtpPort?: number;
  /** How long a finished call absorbs retransmissions (<timewait/>, -d): 4000 ms over UDP, 0 over TCP/TLS unless told. */
  readonly timewaitMs?: number;
  readonly variables?: Readonly<Record<string, string>>;
  readonly tls?: TlsServerOptions;
  /** Bound on the UAS's life, ms (60 s unless told). */
  readonly timeoutInMs?: number;
  readonly extraArgs?: readonly string[];
  readonly keepFiles?: boolean;
}

export interface SippUas {
  readonly port: number;
  readonly transport: SippTransport;
  readonly rtpPort: number;
  readonly target: string;
  /** Resolves when SIPp exits on its own (after `calls`), or after stop(). */
  readonly done: Promise<SippResult>;
  /** Asks SIPp to finish (SIGUSR1: no new calls, ongoing ones end), kills it after graceMs, and resolves with the result. */
  stop(graceMs?: number): Promise<SippResult>;
}

/**
 * Starts a SIPp UAS counterpart on 127.0.0.1 and resolves once it listens. A port picked
 * here can be taken by another process before SIPp binds it (tests run in parallel): then
 * it tries again on fresh ports.
 */
export async function startSippUas(options: SippUasOptions): Promise<SippUas> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startSippUasOnce(options);
    } catch (e) {
      const portsOurs = options.port === undefined && options.rtpPort === undefined;
      if (!portsOurs || attempt >= 3 || !/errno = 98|Address already in use/.test((e as Error).message)) throw e;
    }
  }
}

async function startSippUasOnce(options: SippUasOptions): Promise<SippUas> {
  const sipp = findSipp();
  const scenario = scenarioPath(options.scenario, "uas");
  if (!existsSync(scenario)) throw new Error(`no SIPp UAS scenario ${scenario}`);
  const dir = mkdtempSync(join(tmpdir(), "opencvi-sipp-uas-"));
  const transport = options.transport ?? "u1";
  const port = options.port ?? (await freePort());
  const rtpPort = options.rtpPort ?? (await freePort());
  const sippPort = transport === "l1" ? await freePort() : port;
  const timeoutInMs = options.timeoutInMs ?? 60_000;
  const args = [
    "-sf",
    scenario,
    "-t",
    transport === "l1" ? "t1" : transport,
    "-p",
    String(sippPort),
    ...commonArgs(dir, "127.0.0.1"),
    "-d",
    String(options.timewaitMs ?? (transport === "u1" ? 4000 : 0)),
    "-timeout",
    `${Math.ceil(timeoutInMs / 1000)}s`,
    ...pairs("-key", { rtp_port: String(rtpPort), ...options.variables }),
    ...(options.calls !== undefined ? ["-m", String(options.calls)] : []),
    ...(options.extraArgs ?? []),
  ];
  const run = spawnBounded(sipp, args, dir, timeoutInMs + 3000);
  let bridge: { close(): Promise<void> } | undefined;
  const done = run.exited.then(async (exit) => {
    await bridge?.close();
    return collect(dir, exit, run.stderr, [sipp, ...args], timeoutInMs, options.keepFiles ?? false);
  });
  try {
    await waitListening(sippPort, transport === "u1" ? "udp" : "tcp", run);
    if (transport === "l1") bridge = await startTlsServerBridge(port, sippPort, options.tls);
  } catch (err) {
    run.kill();
    const r = await done.catch(() => undefined);
    throw new Error(`SIPp UAS did not start: ${(err as Error).message}${r ? `\n${describeResult(r)}` : ""}`);
  }
  return {
    port,
    transport,
    rtpPort,
    target: `127.0.0.1:${port}`,
    done,
    async stop(graceMs = 2000) {
      if (run.child.exitCode === null && run.child.signalCode === null) {
        run.child.kill("SIGUSR1");
        const timer = setTimeout(run.kill, graceMs);
        const r = await done;
        clearTimeout(timer);
        return r;
      }
      return done;
    },
  };
}

async function waitListening(port: number, kind: "udp" | "tcp", run: Spawned): Promise<void> {
  const deadline = Date.now() + 5000;
  let exited = false;
  run.exited.then(
    () => {
      exited = true;
    },
    () => {
      exited = true;
    },
  );
  while (Date.now() < deadline) {
    if (exited) throw new Error(`sipp exited: ${run.stderr.toString().slice(-1000)}`);
    const busy = kind === "udp" ? !(await udpFree(port)) : await tcpListening(port);
    if (busy) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${kind} 127.0.0.1:${port} after 5 s`);
}

function tcpListening(port: number): Promise<boolean> {
  return new Promise((res) => {
    const socket = new Socket();
    socket.once("connect", () => {
      socket.destroy();
      res(true);
    });
    socket.once("error", () => res(false));
    socket.connect(port, "127.0.0.1");
  });
}
