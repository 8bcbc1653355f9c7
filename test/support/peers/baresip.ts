import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import type { NattedTestHost, TestHost } from "../netns.js";
import { sineSamples, writeWav } from "./audio.js";
import { freePort } from "./sipp.js";

/**
 * Headless baresip 1.0 (Debian `baresip-core`, `baresip-ffmpeg`) as a SIP room-system
 * stand-in: a generated config directory, no sound card (audio from a WAV through
 * `aufile`, received audio recorded to WAV by `sndfile`, `aubridge` as the null
 * player), optional video from `fakevideo` (test pattern) or a .y4m file
 * (`avformat`), driven over `ctrl_tcp` (netstring-framed JSON commands, events).
 *
 * baresip advertises the machine's primary address unless told otherwise; here
 * `net_interface 127.0.0.1` makes its Via, Contact, SDP o=/c= and RTP all use
 * loopback (measured with SIPp's message trace). On a test host of its own (a network
 * namespace) it uses that host's address instead, as a room system on the LAN does: a
 * host behind NAT writes its private address, and the test drives it through a port
 * its router forwards.
 */

export interface BaresipOptions {
  /** Run on this test host (its namespace and address) instead of this machine's loopback. */
  readonly host?: TestHost;
  /** SIP UDP/TCP port on its address; a free one unless told. */
  readonly sipPort?: number;
  /** ctrl_tcp port on its address; a free one unless told. */
  readonly ctrlPort?: number;
  /** First RTP port; baresip uses ports in [rtpPortMin, rtpPortMin + 100). A random range unless told. */
  readonly rtpPortMin?: number;
  /** What baresip sends: a WAV file (S16LE mono 8 kHz for PCMU/PCMA), or a generated tone (600 Hz, 60 s, unless told). */
  readonly audioSource?: { readonly wavFile: string } | { readonly toneHz?: number; readonly durationMs?: number };
  /** Record the decoded received audio (and the encoded sent audio) to WAV files in the config directory (on unless told). */
  readonly recordAudio?: boolean;
  /** Video: none (default), the fakevideo test pattern, or a .y4m file; H.264 and others through avcodec. */
  readonly video?: "none" | "fakevideo" | { readonly y4mFile: string };
  /** The picture baresip encodes: size "WxH", frames per second, bits per second (352x288, 15, 300 kb/s unless told). */
  readonly videoFormat?: { readonly size?: string; readonly fps?: number; readonly bitrate?: number };
  /** How incoming calls are answered. */
  readonly answerMode?: "manual" | "auto";
  /** User part of the local account (no registration: regint=0). */
  readonly user?: string;
  /** The account's display name (From), e.g. "Boardroom". */
  readonly displayName?: string;
  /** Extra config lines, appended. */
  readonly extraConfig?: readonly string[];
  /** Bound on baresip's life, ms (120 s unless told): it is killed then. */
  readonly timeoutInMs?: number;
  readonly keepFiles?: boolean;
}

/** One ctrl_tcp event, e.g. { class: "call", type: "CALL_ESTABLISHED", param: "sip:…" }. */
export interface BaresipEvent {
  readonly class: string;
  readonly type: string;
  readonly param?: string;
  readonly direction?: string;
  readonly peeruri?: string;
  readonly id?: string;
  readonly accountaor?: string;
  readonly at: number;
}

/** One stream's figures as baresip reports them (Baresip.streamStats). */
export interface BaresipStreamStats {
  readonly packetsSent: number;
  readonly packetsReceived: number;
  /** Video: pictures decoded and displayed, and their size ("960x540"). */
  readonly framesDisplayed?: number;
  readonly displaySize?: string;
}

export interface CommandResponse {
  readonly ok: boolean;
  readonly data: string;
}

export function findBaresip(): string {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, "baresip");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error("baresip is not on PATH: it is Debian's packages baresip-core and baresip-ffmpeg, which scripts/setup.sh installs");
}

const MODULE_PATH = "/usr/lib/baresip/modules";

/** The reason baresip gives in CALL_CLOSED when the far end sent BYE. */
export const CLOSED_BY_PEER = "Connection reset by peer";
/** The reason baresip gives in CALL_CLOSED after our own hangup. */
export const CLOSED_BY_US = "Connection reset by user";

export class Baresip extends EventEmitter {
  readonly events: BaresipEvent[] = [];
  private readonly pending = new Map<string, (r: CommandResponse) => void>();
  private buffer = Buffer.alloc(0);
  private nextToken = 1;
  private readonly output: string[] = [];
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly dir: string,
    readonly sipPort: number,
    /** Where ctrl_tcp is reached from here (host:port). */
    readonly ctrlEndpoint: { readonly host: string; readonly port: number },
    private readonly child: ChildProcess,
    private readonly keepFiles: boolean,
    lifeTimer: NodeJS.Timeout,
  ) {
    super();
    const keep = (chunk: Buffer) => {
      this.output.push(chunk.toString());
      if (this.output.length > 400) this.output.splice(0, 200);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.exited = new Promise((res) => {
      child.once("exit", (code, signal) => {
        clearTimeout(lifeTimer);
        this.exitInfo = { code, signal };
        this.emit("exit", this.exitInfo);
        res(this.exitInfo);
      });
    });
  }

  private socket: Socket | undefined;

  /** @internal Connects to ctrl_tcp (retrying while baresip starts). */
  async connect(deadlineMs: number): Promise<void> {
    while (Date.now() < deadlineMs) {
      if (this.exitInfo) throw new Error(`baresip exited (${JSON.stringify(this.exitInfo)}):\n${this.outputTail()}`);
      const socket = await new Promise<Socket | undefined>((res) => {
        const s = new Socket();
        s.once("connect", () => res(s));
        s.once("error", () => res(undefined));
        s.connect(this.ctrlEndpoint.port, this.ctrlEndpoint.host);
      });
      if (socket) {
        this.socket = socket;
        socket.on("data", (chunk: Buffer) => this.onData(chunk));
        socket.on("error", () => undefined);
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`baresip's ctrl_tcp did not answer on ${this.ctrlEndpoint.host}:${this.ctrlEndpoint.port}:\n${this.outputTail()}`);
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const colon = this.buffer.indexOf(":");
      if (colon < 0) return;
      const length = Number(this.buffer.subarray(0, colon).toString());
      if (!Number.isInteger(length)) {
        this.buffer = Buffer.alloc(0);
        return;
      }
      if (this.buffer.length < colon + 1 + length + 1) return;
      const json = this.buffer.subarray(colon + 1, colon + 1 + length).toString();
      this.buffer = this.buffer.subarray(colon + 1 + length + 1);
      let message: any;
      try {
        message = JSON.parse(json);
      } catch {
        continue;
      }
      if (message.response) {
        const resolve = this.pending.get(String(message.token));
        this.pending.delete(String(message.token));
        resolve?.({ ok: Boolean(message.ok), data: String(message.data ?? "") });
      } else if (message.event) {
        const event: BaresipEvent = { ...message, at: Date.now() };
        this.events.push(event);
        this.emit("event", event);
      }
    }
  }

  /** Sends a long command (menu/ctrl_tcp syntax) and resolves with baresip's response. */
  command(command: string, params?: string, timeoutMs = 5000): Promise<CommandResponse> {
    const socket = this.socket;
    if (!socket) return Promise.reject(new Error("not connected to baresip"));
    const token = String(this.nextToken++);
    const json = JSON.stringify(params === undefined ? { command, token } : { command, params, token });
    return new Promise((res, rej) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        rej(new Error(`baresip did not answer "${command}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(token, (r) => {
        clearTimeout(timer);
        res(r);
      });
      socket.write(`${Buffer.byteLength(json)}:${json},`);
    });
  }

  /** Dials a SIP URI, e.g. sip:813878896.123456789@127.0.0.1:5060. */
  async dial(uri: string): Promise<void> {
    const r = await this.command("dial", uri);
    if (!r.ok) throw new Error(`baresip dial ${uri}: ${r.data}`);
  }

  /** Dials `<dialString>@<target>` (target host:port). */
  dialTo(dialString: string, target: string): Promise<void> {
    return this.dial(`sip:${dialString}@${target}`);
  }

  /** Sends digits as RFC 4733 telephone-events on the current call (baresip queues them: ~180 ms each plus 3 end packets). */
  async sendDtmf(digits: string): Promise<void> {
    const r = await this.command("sndcode", digits);
    if (!r.ok) throw new Error(`baresip sndcode ${digits}: ${r.data}`);
  }

  /**
   * baresip's own figures for the current call's audio or video stream (its `audio_debug` /
   * `video_debug`): RTP packets it sent and received, and for video the pictures its decoder
   * put on its (fake) display.
   */
  async streamStats(kind: "audio" | "video"): Promise<BaresipStreamStats> {
    const r = await this.command(`${kind}_debug`);
    if (!r.ok) throw new Error(`baresip ${kind}_debug: ${r.data}`);
    const sent = /TX: packets=(\d+)/.exec(r.data)?.[1];
    const received = [...r.data.matchAll(/\brcvd=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    const display = /vidisp: \S+ (\d+) x (\d+) frames=(\d+)/.exec(r.data);
    if (sent === undefined) throw new Error(`baresip's ${kind}_debug has no RTP figures (no call?):\n${r.data}`);
    return {
      packetsSent: Number(sent),
      packetsReceived: received,
      ...(display ? { framesDisplayed: Number(display[3]), displaySize: `${display[1]}x${display[2]}` } : {}),
    };
  }

  async accept(): Promise<void> {
    const r = await this.command("accept");
    if (!r.ok) throw new Error(`baresip accept: ${r.data}`);
  }

  async hangup(): Promise<void> {
    await this.command("hangup");
  }

  /** The first event (already seen, or to come) matching type/predicate after `since` (ms epoch). */
  waitForEvent(match: string | ((e: BaresipEvent) => boolean), timeoutMs = 10_000, since = 0): Promise<BaresipEvent> {
    const test = typeof match === "string" ? (e: BaresipEvent) => e.type === match : match;
    const seen = this.events.find((e) => e.at >= since && test(e));
    if (seen) return Promise.resolve(seen);
    return new Promise((res, rej) => {
      const onEvent = (e: BaresipEvent) => {
        if (!test(e)) return;
        cleanup();
        res(e);
      };
      const onExit = () => {
        cleanup();
        rej(new Error(`baresip exited while waiting for ${typeof match === "string" ? match : "an event"}:\n${this.outputTail()}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        rej(
          new Error(
            `no ${typeof match === "string" ? match : "matching event"} from baresip within ${timeoutMs} ms; events: ${this.events.map((e) => e.type).join(", ")}`,
          ),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.off("event", onEvent);
        this.off("exit", onExit);
      };
      this.on("event", onEvent);
      this.once("exit", onExit);
    });
  }

  waitForEstablished(timeoutMs = 10_000): Promise<BaresipEvent> {
    return this.waitForEvent("CALL_ESTABLISHED", timeoutMs);
  }

  /** Resolves with the CALL_CLOSED event: `param` is the reason (CLOSED_BY_PEER for an incoming BYE, CLOSED_BY_US after hangup(), SIP status text on failure). */
  waitForClosed(timeoutMs = 10_000): Promise<BaresipEvent> {
    return this.waitForEvent("CALL_CLOSED", timeoutMs);
  }

  /** WAV files sndfile wrote (newest last): "dec" = audio received from the far end, "enc" = audio sent. */
  recordings(kind: "dec" | "enc" = "dec"): string[] {
    return readdirSync(this.dir)
      .filter((f) => f.startsWith("dump-") && f.endsWith(`-${kind}.wav`))
      .map((f) => join(this.dir, f))
      .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
  }

  outputTail(lines = 60): string {
    return this.output.join("").split("\n").slice(-lines).join("\n");
  }

  /** Quits baresip (command "quit", then SIGTERM/SIGKILL if it lingers) and removes its directory unless kept. */
  async quit(graceMs = 2000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exitInfo) {
      await this.command("quit", undefined, graceMs).catch(() => undefined);
      const t1 = setTimeout(() => this.child.kill("SIGTERM"), graceMs);
      const t2 = setTimeout(() => this.child.kill("SIGKILL"), graceMs + 1000);
      await this.exited;
      clearTimeout(t1);
      clearTimeout(t2);
    }
    this.socket?.destroy();
    if (!this.keepFiles) rmSync(this.dir, { recursive: true, force: true });
    return this.exitInfo!;
  }
}

const liveChildren = new Set<ChildProcess>();
let exitHook = false;

/**
 * Writes a config directory and starts baresip; resolves once ctrl_tcp answers. baresip also
 * binds the port after its SIP port (TLS), which nobody checked free: when another process
 * took one of its ports meanwhile, it starts again on fresh ones.
 */
export async function startBaresip(options: BaresipOptions = {}): Promise<Baresip> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startBaresipOnce(options);
    } catch (e) {
      const portsOurs = options.sipPort === undefined && options.ctrlPort === undefined;
      if (!portsOurs || attempt >= 3 || !/Address already in use/.test((e as Error).message)) throw e;
    }
  }
}

async function startBaresipOnce(options: BaresipOptions): Promise<Baresip> {
  const binary = findBaresip();
  if (!existsSync(MODULE_PATH)) throw new Error(`${MODULE_PATH} missing: install baresip-core and baresip-ffmpeg (scripts/setup.sh)`);
  const dir = mkdtempSync(join(tmpdir(), "opencvi-baresip-"));
  const sipPort = options.sipPort ?? (await freePort());
  const ctrlPort = options.ctrlPort ?? (await freePort());
  const rtpMin = options.rtpPortMin ?? 40000 + 100 * Math.floor(Math.random() * 200);
  let wav: string;
  const source = options.audioSource ?? {};
  if ("wavFile" in source) wav = source.wavFile;
  else {
    wav = join(dir, "source.wav");
    writeWav(wav, sineSamples({ frequencyHz: source.toneHz ?? 600, durationMs: source.durationMs ?? 60_000 }));
  }
  const record = options.recordAudio ?? true;
  const video = options.video ?? "none";
  const address = options.host?.address ?? "127.0.0.1";
  const config = [
    "poll_method\t\tepoll",
    `sip_listen\t\t${address}:${sipPort}`,
    `net_interface\t\t${address}`,
    "call_local_timeout\t120",
    "call_max_calls\t\t4",
    "audio_player\t\taubridge,nil",
    `audio_source\t\taufile,${wav}`,
    "audio_alert\t\taubridge,nil",
    `rtp_ports\t\t${rtpMin}-${rtpMin + 99}`,
    "rtp_timeout\t\t0",
    `module_path\t\t${MODULE_PATH}`,
    "module\t\t\tg711.so",
    "module\t\t\taufile.so",
    "module\t\t\taubridge.so",
    ...(record ? ["module\t\t\tsndfile.so", `snd_path\t\t${dir}`] : []),
    ...(video === "none"
      ? []
      : [
          video === "fakevideo" ? "video_source\t\tfakevideo,nil" : `video_source\t\tavformat,${video.y4mFile}`,
          `video_size\t\t${options.videoFormat?.size ?? "352x288"}`,
          `video_fps\t\t${options.videoFormat?.fps ?? 15}`,
          `video_bitrate\t\t${options.videoFormat?.bitrate ?? 300000}`,
          video === "fakevideo" ? "module\t\t\tfakevideo.so" : "module\t\t\tavformat.so",
          "module\t\t\tavcodec.so",
        ]),
    "module_app\t\taccount.so",
    "module_app\t\tmenu.so",
    "module_app\t\tctrl_tcp.so",
    `ctrl_tcp_listen\t\t${address}:${ctrlPort}`,
    ...(options.extraConfig ?? []),
  ];
  writeFileSync(join(dir, "config"), `${config.join("\n")}\n`);
  writeFileSync(
    join(dir, "accounts"),
    `${options.displayName ? `"${options.displayName}" ` : ""}<sip:${options.user ?? "opencvi-test"}@${address}>;regint=0;answermode=${options.answerMode ?? "manual"}\n`,
  );
  writeFileSync(join(dir, "contacts"), "");

  const host = options.host;
  // `ip netns exec` execs baresip in the host's namespace: the same process, so killing it kills baresip.
  const [command, args] = host ? ["ip", ["netns", "exec", host.namespace, binary, "-f", dir, "-v"]] : [binary, ["-f", dir, "-v"]];
  const child = spawn(command, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  liveChildren.add(child);
  child.once("exit", () => liveChildren.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once("exit", () => {
      for (const c of liveChildren) c.kill("SIGKILL");
    });
  }
  const life = setTimeout(() => child.kill("SIGKILL"), options.timeoutInMs ?? 120_000);
  life.unref();
  const ctrl = host && isNatted(host) ? splitEndpoint(host.forwardTcp(ctrlPort)) : { host: address, port: ctrlPort };
  const baresip = new Baresip(dir, sipPort, ctrl, child, options.keepFiles ?? false, life);
  await new Promise<void>((res, rej) => {
    child.once("spawn", () => res());
    child.once("error", rej);
  });
  try {
    await baresip.connect(Date.now() + 5000);
  } catch (err) {
    child.kill("SIGKILL");
    await baresip.exited;
    if (!options.keepFiles) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return baresip;
}

function isNatted(host: TestHost): host is NattedTestHost {
  return "forwardTcp" in host;
}

function splitEndpoint(endpoint: string): { host: string; port: number } {
  const colon = endpoint.lastIndexOf(":");
  return { host: endpoint.slice(0, colon), port: Number(endpoint.slice(colon + 1)) };
}
