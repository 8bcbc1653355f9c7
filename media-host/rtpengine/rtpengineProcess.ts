import { type ChildProcess, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { EventEmitter } from "node:events";
import { existsSync, constants as fsConstants } from "node:fs";
import { access, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { RtpengineClient } from "./rtpengineClient.js";

/** util-linux (Debian: essential) runs a program with a parent-death signal. */
const SETPRIV = "/usr/bin/setpriv";

/** Syslog levels, as rtpengine's `log-level` (0–7). */
export type RtpengineLogLevel = "emergency" | "alert" | "critical" | "error" | "warning" | "notice" | "info" | "debug";

const LOG_LEVELS: Record<RtpengineLogLevel, number> = {
  emergency: 0,
  alert: 1,
  critical: 2,
  error: 3,
  warning: 4,
  notice: 5,
  info: 6,
  debug: 7,
};

/** One `interface` entry: `[name/]address[!advertisedAddress]`. */
export interface RtpengineInterface {
  /** A logical name for the ng `direction`/`interface` keys (rtpengine's default is "default"). */
  readonly name?: string;
  /** The local address rtpengine binds media ports on. */
  readonly address: string;
  /** The address written into SDP instead (behind 1:1 NAT, e.g. an Azure VM's public IP). */
  readonly advertisedAddress?: string;
}

export interface RtpengineRestartPolicy {
  /** Restart after an unexpected exit (default true). */
  readonly enabled?: boolean;
  /** Delay before the first restart (default 200 ms); doubled for each further failure. */
  readonly initialDelayInMs?: number;
  /** Upper bound of the delay (default 10 s). */
  readonly maxDelayInMs?: number;
  /** A process that ran this long without exiting resets the backoff (default 30 s). */
  readonly resetAfterInMs?: number;
}

export interface RtpengineProcessOptions {
  /** The executable: a path, or a name looked up on PATH (default "rtpengine", Debian package rtpengine-daemon). */
  readonly binaryPath?: string;
  /** Media interfaces (default one: 127.0.0.1). */
  readonly interfaces?: readonly RtpengineInterface[];
  /** ng control address (default 127.0.0.1; keep it on loopback or a private network: the protocol has no authentication). */
  readonly ngHost?: string;
  /** ng control port (default: a free UDP port chosen at start, kept across restarts). */
  readonly ngPort?: number;
  /** Media port range (default 30000–40000, rtpengine's own). */
  readonly portMin?: number;
  readonly portMax?: number;
  /** Where rtpengine sends one JSON datagram per DTMF digit (see DtmfEventListener). */
  readonly dtmfLogDest?: { readonly host: string; readonly port: number };
  /** rtpengine's log level (default "notice"). */
  readonly logLevel?: RtpengineLogLevel;
  /** Each line rtpengine writes on stderr/stdout (default: dropped; the last lines are kept for errors). */
  readonly onLogLine?: (line: string) => void;
  /** How long a deleted call lingers (rtpengine's `delete-delay`, whole seconds; its default is 30 s). */
  readonly deleteDelayInMs?: number;
  /**
   * Real-time scheduling of rtpengine's media threads (its `scheduling`/`priority`): they then
   * run before any ordinary process with work, so a busy bridge or a burst of signalling on the
   * same cores cannot hold the packets back (a stall is what makes rtpengine 10.5 stop reading
   * a port for good). Needs root, CAP_SYS_NICE or an RLIMIT_RTPRIO of at least `priority`;
   * when refused, rtpengine logs it and runs with ordinary scheduling. Default: none.
   */
  readonly realtime?: { readonly policy: "rr" | "fifo"; readonly priority: number };
  /** rtpengine's worker threads (its default: the number of cores, at least 4). */
  readonly threads?: number;
  /** Further `key = value` lines for the config file (rtpengine's long option names). */
  readonly extraConfig?: Readonly<Record<string, string | number | boolean>>;
  /** Where the config file goes (default: a new temporary directory, removed on stop). Also rtpengine's working directory. */
  readonly workDirectory?: string;
  /** How long to wait for the first answer to ping (default 10 s). */
  readonly startTimeoutInMs?: number;
  /** How long after SIGTERM before SIGKILL (default 5 s). */
  readonly stopTimeoutInMs?: number;
  readonly restart?: RtpengineRestartPolicy;
}

export interface RtpengineReadyEvent {
  readonly pid: number;
  readonly ngHost: string;
  readonly ngPort: number;
  /** 0 for the first start, then 1, 2, … for each restart. */
  readonly restartCount: number;
}

export interface RtpengineExitedEvent {
  readonly pid: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when stop() ended it. */
  readonly expected: boolean;
}

export interface RtpengineRestartedEvent {
  readonly pid: number;
  /** Consecutive restart attempt (1 after a process that had run long enough). */
  readonly attempt: number;
  /** From the unexpected exit to the new process answering ping. */
  readonly downtimeInMs: number;
}

export interface RtpengineRestartFailedEvent {
  readonly attempt: number;
  readonly error: Error;
  readonly nextDelayInMs: number;
}

export interface RtpengineProcessEvents {
  ready: [RtpengineReadyEvent];
  exited: [RtpengineExitedEvent];
  restarted: [RtpengineRestartedEvent];
  restartFailed: [RtpengineRestartFailedEvent];
}

/** The rtpengine executable is not installed (or not executable). */
export class RtpengineNotInstalledError extends Error {
  override readonly name = "RtpengineNotInstalledError";
}

/** rtpengine exited or did not answer ping while starting. `logLines` are its last lines. */
export class RtpengineStartError extends Error {
  override readonly name = "RtpengineStartError";
  readonly logLines: readonly string[];
  constructor(message: string, logLines: readonly string[]) {
    super(logLines.length ? `${message}\nrtpengine's last lines:\n  ${logLines.join("\n  ")}` : message);
    this.logLines = logLines;
  }
}

export type RtpengineProcessState = "idle" | "starting" | "running" | "restarting" | "stopping" | "stopped";

const KEPT_LOG_LINES = 40;
const PING_TIMEOUT_IN_MS = 250;
const PING_RETRY_IN_MS = 50;

/**
 * One supervised rtpengine daemon. It writes its own config file and passes it with
 * `--config-file`, so /etc/rtpengine/rtpengine.conf is never read; runs userspace only
 * (`table = -1`) in the foreground, logging to stderr; is ready when it answers an ng
 * ping; is restarted with exponential backoff when it dies unexpectedly; and is stopped
 * with SIGTERM, then SIGKILL after `stopTimeoutInMs`. While running, a hook on the Node
 * process's "exit" kills it, so no daemon outlives its owner.
 */
export class RtpengineProcess extends EventEmitter<RtpengineProcessEvents> {
  readonly #options: RtpengineProcessOptions;
  readonly #logLines: string[] = [];
  #state: RtpengineProcessState = "idle";
  #binary = "";
  #stopping: Promise<void> | undefined;
  #child: ChildProcess | undefined;
  #childStartedAt = 0;
  #ngPort: number | undefined;
  #workDirectory: string | undefined;
  #ownsWorkDirectory = false;
  #configPath: string | undefined;
  #pinger: RtpengineClient | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #restartAttempt = 0;
  #restartCount = 0;
  #downSince = 0;
  /** Aborted by stop(): ends waits for readiness. */
  #lifetime = new AbortController();
  readonly #exitHook = () => {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };

  constructor(options: RtpengineProcessOptions = {}) {
    super();
    validateOptions(options);
    this.#options = options;
  }

  get state(): RtpengineProcessState {
    return this.#state;
  }

  /** The running daemon's pid (undefined while none runs). */
  get pid(): number | undefined {
    const child = this.#child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  get ngHost(): string {
    return this.#options.ngHost ?? "127.0.0.1";
  }

  /** The ng port (known once start() has begun). */
  get ngPort(): number {
    if (this.#ngPort === undefined) throw new Error("rtpengine has not been started");
    return this.#ngPort;
  }

  /** The config file written for the daemon (known once start() has begun). */
  get configPath(): string | undefined {
    return this.#configPath;
  }

  /** rtpengine's last output lines (for diagnostics). */
  recentLogLines(): readonly string[] {
    return [...this.#logLines];
  }

  /** Writes the config, starts the daemon and resolves once it answers ping. */
  async start(): Promise<RtpengineReadyEvent> {
    if (this.#state !== "idle") throw new Error(`rtpengine process is ${this.#state}; start() runs once`);
    this.#state = "starting";
    try {
      const binary = await resolveBinary(this.#options.binaryPath ?? "rtpengine");
      this.#binary = binary;
      this.#ngPort = this.#options.ngPort ?? (await findFreeUdpPort(this.ngHost));
      if (this.#options.workDirectory) {
        this.#workDirectory = this.#options.workDirectory;
      } else {
        this.#workDirectory = await mkdtemp(join(tmpdir(), "opencvi-rtpengine-"));
        this.#ownsWorkDirectory = true;
      }
      this.#configPath = join(this.#workDirectory, "rtpengine.conf");
      await writeFile(this.#configPath, renderConfig(this.#options, this.ngHost, this.#ngPort), { mode: 0o600 });
      this.#pinger = await RtpengineClient.open({ host: this.ngHost, port: this.#ngPort, requestTimeoutInMs: PING_TIMEOUT_IN_MS });
      process.on("exit", this.#exitHook);
      const ready = await this.#launch(binary);
      this.#state = "running";
      this.emit("ready", ready);
      return ready;
    } catch (error) {
      await this.#cleanUp();
      this.#state = "stopped";
      throw error;
    }
  }

  /** Stops the daemon (SIGTERM, then SIGKILL) and cancels any pending restart. Idempotent. */
  stop(options: { readonly timeoutInMs?: number } = {}): Promise<void> {
    if (this.#stopping) return this.#stopping;
    if (this.#state === "stopped" || this.#state === "idle") {
      this.#state = "stopped";
      return Promise.resolve();
    }
    this.#stopping = this.#stop(options.timeoutInMs ?? this.#options.stopTimeoutInMs ?? 5000);
    return this.#stopping;
  }

  async #stop(timeoutInMs: number): Promise<void> {
    this.#state = "stopping";
    this.#lifetime.abort();
    clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = onceExited(child);
      child.kill("SIGTERM");
      const inTime = await Promise.race([exited.then(() => true), sleep(timeoutInMs, false, { ref: false })]);
      if (!inTime) {
        child.kill("SIGKILL");
        await exited;
      }
    }
    await this.#cleanUp();
    this.#state = "stopped";
  }

  /** Spawns one daemon and waits for it to answer ping; kills it if it does not. */
  async #launch(binary: string): Promise<RtpengineReadyEvent> {
    const configPath = this.#configPath!;
    // Through util-linux's setpriv, rtpengine gets SIGTERM if this process dies without stopping
    // it (a crash, SIGKILL): a supervised daemon must not outlive its supervisor.
    const [command, args] = existsSync(SETPRIV)
      ? [SETPRIV, ["--pdeathsig", "SIGTERM", "--", binary, `--config-file=${configPath}`]]
      : [binary, [`--config-file=${configPath}`]];
    const child = spawn(command, args, {
      cwd: this.#workDirectory,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#child = child;
    this.#childStartedAt = Date.now();
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => this.#onLogLine(line));
    }
    const exited = onceExited(child);
    child.on("error", () => {
      // Spawn failures (EACCES, …): onceExited reports them; without a listener Node would throw.
    });
    void exited.then((exit) => this.#onExit(child, exit));

    const deadline = Date.now() + (this.#options.startTimeoutInMs ?? 10_000);
    const lifetime = this.#lifetime.signal;
    let exitedEarly: { code: number | null; signal: NodeJS.Signals | null; error?: Error } | undefined;
    void exited.then((exit) => {
      exitedEarly = exit;
    });
    for (;;) {
      if (exitedEarly) {
        const how = exitedEarly.error ? exitedEarly.error.message : `exit code ${exitedEarly.code}, signal ${exitedEarly.signal}`;
        throw new RtpengineStartError(`rtpengine exited while starting (${how})`, this.recentLogLines());
      }
      if (lifetime.aborted) throw new RtpengineStartError("rtpengine was stopped while starting", this.recentLogLines());
      try {
        await this.#pinger!.ping({ signal: lifetime });
        // Someone answered: make sure it was not another daemon on the same port while ours failed to bind.
        await sleep(PING_RETRY_IN_MS);
        if (!exitedEarly) break;
        continue;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        await exited;
        throw new RtpengineStartError(
          `rtpengine did not answer ping on ${this.ngHost}:${this.#ngPort} within the start timeout`,
          this.recentLogLines(),
        );
      }
      await sleep(PING_RETRY_IN_MS);
    }
    return { pid: child.pid!, ngHost: this.ngHost, ngPort: this.#ngPort!, restartCount: this.#restartCount };
  }

  #onExit(child: ChildProcess, exit: { code: number | null; signal: NodeJS.Signals | null }): void {
    if (child !== this.#child) return;
    const expected = this.#state === "stopping" || this.#state === "stopped";
    this.emit("exited", { pid: child.pid ?? -1, code: exit.code, signal: exit.signal, expected });
    // While starting or restarting, #launch reports the failure itself.
    if (this.#state !== "running") return;
    const policy = this.#options.restart ?? {};
    if (policy.enabled === false) {
      void this.#cleanUp().then(() => {
        this.#state = "stopped";
      });
      return;
    }
    if (Date.now() - this.#childStartedAt >= (policy.resetAfterInMs ?? 30_000)) this.#restartAttempt = 0;
    this.#downSince = Date.now();
    this.#state = "restarting";
    this.#scheduleRestart();
  }

  #scheduleRestart(): void {
    const policy = this.#options.restart ?? {};
    this.#restartAttempt++;
    const delay = Math.min((policy.initialDelayInMs ?? 200) * 2 ** (this.#restartAttempt - 1), policy.maxDelayInMs ?? 10_000);
    this.#restartTimer = setTimeout(() => void this.#restart(), delay);
  }

  async #restart(): Promise<void> {
    if (this.#state !== "restarting") return;
    const attempt = this.#restartAttempt;
    try {
      const ready = await this.#launch(this.#binary);
      if (this.#state !== "restarting") return;
      this.#restartCount++;
      this.#state = "running";
      const event = { ...ready, restartCount: this.#restartCount };
      this.emit("restarted", { pid: ready.pid, attempt, downtimeInMs: Date.now() - this.#downSince });
      this.emit("ready", event);
    } catch (error) {
      if (this.#state !== "restarting") return;
      const policy = this.#options.restart ?? {};
      const nextDelayInMs = Math.min((policy.initialDelayInMs ?? 200) * 2 ** attempt, policy.maxDelayInMs ?? 10_000);
      this.emit("restartFailed", { attempt, error: error instanceof Error ? error : new Error(String(error)), nextDelayInMs });
      this.#scheduleRestart();
    }
  }

  #onLogLine(line: string): void {
    this.#logLines.push(line);
    if (this.#logLines.length > KEPT_LOG_LINES) this.#logLines.shift();
    this.#options.onLogLine?.(line);
  }

  async #cleanUp(): Promise<void> {
    process.off("exit", this.#exitHook);
    clearTimeout(this.#restartTimer);
    await this.#pinger?.close();
    this.#pinger = undefined;
    if (this.#ownsWorkDirectory && this.#workDirectory) {
      await rm(this.#workDirectory, { recursive: true, force: true });
      this.#ownsWorkDirectory = false;
    }
  }
}

/** The config file: one `[rtpengine]` section of GLib key-file `key = value` lines. */
export function renderConfig(options: RtpengineProcessOptions, ngHost: string, ngPort: number): string {
  const interfaces = options.interfaces ?? [{ address: "127.0.0.1" }];
  const entries: [string, string | number | boolean][] = [
    ["table", -1],
    ["foreground", true],
    ["log-stderr", true],
    ["log-level", LOG_LEVELS[options.logLevel ?? "notice"]],
    [
      "interface",
      interfaces.map((i) => `${i.name ? `${i.name}/` : ""}${i.address}${i.advertisedAddress ? `!${i.advertisedAddress}` : ""}`).join(";"),
    ],
    ["listen-ng", `${hostForEndpoint(ngHost)}:${ngPort}`],
    ["port-min", options.portMin ?? 30000],
    ["port-max", options.portMax ?? 40000],
  ];
  if (options.dtmfLogDest) entries.push(["dtmf-log-dest", `${hostForEndpoint(options.dtmfLogDest.host)}:${options.dtmfLogDest.port}`]);
  if (options.deleteDelayInMs !== undefined) entries.push(["delete-delay", Math.ceil(options.deleteDelayInMs / 1000)]);
  if (options.realtime) entries.push(["scheduling", options.realtime.policy], ["priority", options.realtime.priority]);
  if (options.threads !== undefined) entries.push(["num-threads", options.threads]);
  const fixed = new Set(entries.map(([key]) => key));
  for (const [key, value] of Object.entries(options.extraConfig ?? {})) {
    if (fixed.has(key)) throw new Error(`extraConfig cannot set "${key}": it has its own option or is fixed`);
    entries.push([key, value]);
  }
  const lines = entries.map(([key, value]) => {
    const text = String(value);
    if (!/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(key)) throw new Error(`invalid rtpengine config key "${key}"`);
    if (/[\r\n\\]/.test(text)) throw new Error(`invalid rtpengine config value for "${key}"`);
    return `${key} = ${text}`;
  });
  return `# Written by OpenCVI's RtpengineProcess; rtpengine runs with --config-file=<this file>.\n[rtpengine]\n${lines.join("\n")}\n`;
}

/** A UDP port that was free a moment ago on `host` (bind to 0, read, close). */
export async function findFreeUdpPort(host = "127.0.0.1"): Promise<number> {
  const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
  return await new Promise<number>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, host, () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/** Resolves the executable (a path, or a name on PATH); throws RtpengineNotInstalledError with the fix. */
export async function resolveBinary(binary: string): Promise<string> {
  const candidates = binary.includes("/")
    ? [binary]
    : (process.env.PATH ?? "")
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, binary));
  for (const candidate of candidates) {
    try {
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  const where = binary.includes("/") ? `${binary} does not exist or is not executable` : `"${binary}" is not on PATH (${process.env.PATH ?? ""})`;
  throw new RtpengineNotInstalledError(
    `rtpengine is not installed: ${where}. It comes from the Debian package rtpengine-daemon: run \`bash scripts/setup.sh\` as root (or \`apt-get install rtpengine-daemon\`).`,
  );
}

function hostForEndpoint(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

function onceExited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    let spawnError: Error | undefined;
    child.once("error", (error) => {
      spawnError = error;
      // A child that never spawned emits no "exit"/"close" after "error" in every case: settle here.
      if (child.pid === undefined) resolve({ code: null, signal: null, error });
    });
    child.once("exit", (code, signal) => resolve({ code, signal, ...(spawnError ? { error: spawnError } : {}) }));
  });
}

function validateOptions(options: RtpengineProcessOptions): void {
  const port = (name: string, value: number | undefined) => {
    if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > 65535))
      throw new RangeError(`${name} must be a port number (1–65535)`);
  };
  port("ngPort", options.ngPort);
  port("portMin", options.portMin);
  port("portMax", options.portMax);
  port("dtmfLogDest.port", options.dtmfLogDest?.port);
  if ((options.portMin ?? 30000) > (options.portMax ?? 40000)) throw new RangeError("portMin must not exceed portMax");
  if (options.deleteDelayInMs !== undefined && (!Number.isFinite(options.deleteDelayInMs) || options.deleteDelayInMs < 0)) {
    throw new RangeError("deleteDelayInMs must be a non-negative number");
  }
  if (options.interfaces && options.interfaces.length === 0) throw new RangeError("interfaces must not be empty");
  const rt = options.realtime;
  if (rt && (!["rr", "fifo"].includes(rt.policy) || !Number.isInteger(rt.priority) || rt.priority < 1 || rt.priority > 99))
    throw new RangeError('realtime must be { policy: "rr" | "fifo", priority: 1–99 }');
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1))
    throw new RangeError("threads must be a positive integer");
}
