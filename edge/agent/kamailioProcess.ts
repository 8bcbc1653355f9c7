import { type ChildProcess, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { EventEmitter } from "node:events";
import { existsSync, constants as fsConstants } from "node:fs";
import { access, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { KamailioNotInstalledError, KamailioRpcError, KamailioStartError } from "./errors.js";
import { KamailioRpc } from "./kamailioRpc.js";

/** util-linux (Debian: essential) runs a program with a parent-death signal. */
const SETPRIV = "/usr/bin/setpriv";
/** edge/kamailio.cfg, from dist/edge/agent/ or edge/agent/ alike. */
const DEFAULT_CONFIG = fileURLToPath(
  new URL(existsSync(new URL("../kamailio.cfg", import.meta.url)) ? "../kamailio.cfg" : "../../../edge/kamailio.cfg", import.meta.url),
);

export interface KamailioTls {
  readonly port: number;
  readonly certificateFile: string;
  readonly privateKeyFile: string;
}

export interface KamailioProcessOptions {
  /** The executable: a path, or a name on PATH (default "kamailio", Debian package kamailio). */
  readonly binaryPath?: string;
  /** The edge's config (default edge/kamailio.cfg). */
  readonly configPath?: string;
  /** An interface address to bind SIP on. */
  readonly sipAddress: string;
  /** UDP and TCP; 0 = one that is free on both. */
  readonly sipPort: number;
  /** The public address behind a load balancer or NAT, written into Via and Record-Route. */
  readonly advertisedAddress?: string;
  /** SIP over TLS (port 0 = a free one); the certificate and key are PEM files. */
  readonly tls?: KamailioTls;
  /** JSON-RPC on 127.0.0.1 (0 = a free port). */
  readonly rpcPort?: number;
  /** Prometheus /metrics on the SIP address (0 = a free port). */
  readonly metricsPort?: number;
  /** Requests per 2 s from one address before it is blocked as a flood (default 400). */
  readonly floodRequestsPerTwoSeconds?: number;
  /** Failed out-of-dialog requests in a minute from one address before it is banned (default 30). */
  readonly failuresBeforeBan?: number;
  /** How long a banned address is ignored (default 300 s, at most an hour). */
  readonly banSeconds?: number;
  /** A ringing host silent for this long is given up and the call moved on (default 7000; hosts repeat 180 every 2 s). */
  readonly inviteTimeoutInMs?: number;
  /** Lines of the dispatcher list file the edge starts with, e.g. `1 sip:10.0.0.5:5060 0 0 duid=mh-1;maxload=40`. */
  readonly initialDestinations?: readonly string[];
  /** Where the pid file, ctl socket and list file go (default: a new temporary directory, removed on stop). */
  readonly runDirectory?: string;
  readonly onLogLine?: (line: string) => void;
  readonly startTimeoutInMs?: number;
  readonly stopTimeoutInMs?: number;
}

export interface KamailioEndpoints {
  readonly sipAddress: string;
  readonly sipPort: number;
  readonly tlsPort: number | undefined;
  readonly rpcUrl: string;
  readonly metricsUrl: string;
  /** For `kamcmd -s <ctlSocket>`. */
  readonly ctlSocket: string;
}

export interface KamailioProcessEvents {
  /** Kamailio ended without stop() being asked: the edge is down. */
  exited: [{ readonly code: number | null; readonly signal: NodeJS.Signals | null }];
}

const KEPT_LOG_LINES = 60;

/**
 * Kamailio running the edge's config in the foreground (`-DD -E`), with its own pid file,
 * ctl socket and runtime directory, never the system service. Settings reach the config
 * through its environment (`#!defenv`). Ready when its JSON-RPC answers; it gets SIGTERM
 * if this process dies (setpriv --pdeathsig), and it runs in a process group of its own that
 * stop() and this process's exit end whole, so neither it nor its workers outlive the agent.
 */
export class KamailioProcess extends EventEmitter<KamailioProcessEvents> {
  readonly #options: KamailioProcessOptions;
  readonly #logLines: string[] = [];
  #child: ChildProcess | undefined;
  #exited: Promise<unknown> | undefined;
  #runDirectory: string | undefined;
  #ownsRunDirectory = false;
  #stopping = false;
  #endpoints: KamailioEndpoints | undefined;
  /** Kamailio forks its workers: the whole process group goes, or workers outlive their main process holding the ports. */
  readonly #exitHook = () => this.#killGroup("SIGKILL");

  constructor(options: KamailioProcessOptions) {
    super();
    this.#options = options;
  }

  get endpoints(): KamailioEndpoints {
    if (!this.#endpoints) throw new Error("Kamailio has not been started");
    return this.#endpoints;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  recentLogLines(): readonly string[] {
    return [...this.#logLines];
  }

  async start(): Promise<KamailioEndpoints> {
    if (this.#child) throw new Error("Kamailio is started already");
    const o = this.#options;
    const binary = await resolveBinary(o.binaryPath ?? "kamailio");
    this.#runDirectory = o.runDirectory ?? (await mkdtemp(join(tmpdir(), "opencvi-edge-")));
    this.#ownsRunDirectory = o.runDirectory === undefined;
    const listFile = join(this.#runDirectory, "dispatcher.list");
    await writeFile(listFile, `${(o.initialDestinations ?? []).join("\n")}\n`, { mode: 0o600 });
    const sipPort = o.sipPort || (await freeUdpAndTcpPort(o.sipAddress));
    const tlsPort = o.tls ? o.tls.port || (await freeTcpPort(o.sipAddress)) : undefined;
    const rpcPort = o.rpcPort || (await freeTcpPort("127.0.0.1"));
    const metricsPort = o.metricsPort || (await freeTcpPort(o.sipAddress));
    const ctlSocket = `unix:${join(this.#runDirectory, "kamailio.ctl")}`;
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      EDGE_SIP_ADDRESS: o.sipAddress,
      EDGE_SIP_PORT: String(sipPort),
      EDGE_RPC_PORT: String(rpcPort),
      EDGE_METRICS_PORT: String(metricsPort),
      EDGE_CTL_SOCKET: ctlSocket,
      EDGE_DISPATCHER_LIST: listFile,
      EDGE_FLOOD_REQUESTS: String(o.floodRequestsPerTwoSeconds ?? 400),
      EDGE_FAILURES_BAN: String(o.failuresBeforeBan ?? 30),
      EDGE_BAN_SECONDS: String(Math.min(o.banSeconds ?? 300, 3600)),
      EDGE_INVITE_TIMEOUT_MS: String(o.inviteTimeoutInMs ?? 7000),
      ...(o.advertisedAddress ? { EDGE_ADVERTISED_ADDRESS: o.advertisedAddress } : {}),
      ...(o.tls && tlsPort
        ? // Absolute: Kamailio does not run in our working directory.
          {
            EDGE_TLS_PORT: String(tlsPort),
            EDGE_TLS_CERTIFICATE: resolve(o.tls.certificateFile),
            EDGE_TLS_PRIVATE_KEY: resolve(o.tls.privateKeyFile),
          }
        : {}),
    };
    const args = ["-DD", "-E", "-f", o.configPath ?? DEFAULT_CONFIG, "-P", join(this.#runDirectory, "kamailio.pid"), "-Y", this.#runDirectory];
    // Through setpriv, Kamailio gets SIGTERM should this process die without stopping it.
    const [command, commandArgs] = existsSync(SETPRIV) ? [SETPRIV, ["--pdeathsig", "SIGTERM", "--", binary, ...args]] : [binary, args];
    // A process group of its own, so that its workers can be ended with it.
    const child = spawn(command, commandArgs, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    this.#child = child;
    process.on("exit", this.#exitHook);
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => this.#onLogLine(line));
    }
    let exitedEarly: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    child.on("error", () => {
      // Spawn failures end in "exit" too; without a listener Node would throw.
    });
    this.#exited = new Promise<void>((resolve) =>
      child.once("exit", (code, signal) => {
        exitedEarly = { code, signal };
        process.off("exit", this.#exitHook);
        if (!this.#stopping && this.#endpoints) this.emit("exited", { code, signal });
        resolve();
      }),
    );
    const endpoints: KamailioEndpoints = {
      sipAddress: o.sipAddress,
      sipPort,
      tlsPort,
      rpcUrl: `http://127.0.0.1:${rpcPort}/RPC`,
      metricsUrl: `http://${o.sipAddress.includes(":") ? `[${o.sipAddress}]` : o.sipAddress}:${metricsPort}/metrics`,
      ctlSocket,
    };
    const rpc = new KamailioRpc({ url: endpoints.rpcUrl, timeoutInMs: 500 });
    const deadline = Date.now() + (o.startTimeoutInMs ?? 15_000);
    for (;;) {
      if (exitedEarly) {
        this.#killGroup("SIGKILL");
        await this.#cleanUp();
        throw new KamailioStartError(
          `Kamailio exited while starting (exit code ${exitedEarly.code}, signal ${exitedEarly.signal})`,
          this.recentLogLines(),
        );
      }
      try {
        await rpc.call("core.version");
        break;
      } catch (e) {
        if (!(e instanceof KamailioRpcError)) throw e;
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new KamailioStartError("Kamailio did not answer its RPC within the start timeout", this.recentLogLines());
      }
      await sleep(50);
    }
    this.#endpoints = endpoints;
    return endpoints;
  }

  /** SIGTERM, then SIGKILL after the stop timeout. Idempotent. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const inTime = await Promise.race([this.#exited?.then(() => true), sleep(this.#options.stopTimeoutInMs ?? 5000, false, { ref: false })]);
      if (!inTime) {
        this.#killGroup("SIGKILL");
        await this.#exited;
      }
    }
    // Workers of a main process that died abruptly would stay: none is left.
    this.#killGroup("SIGKILL");
    await this.#cleanUp();
  }

  #killGroup(signal: NodeJS.Signals): void {
    const pid = this.#child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is gone already
    }
  }

  #onLogLine(line: string): void {
    this.#logLines.push(line);
    if (this.#logLines.length > KEPT_LOG_LINES) this.#logLines.shift();
    this.#options.onLogLine?.(line);
  }

  async #cleanUp(): Promise<void> {
    process.off("exit", this.#exitHook);
    if (this.#ownsRunDirectory && this.#runDirectory) {
      await rm(this.#runDirectory, { recursive: true, force: true });
      this.#ownsRunDirectory = false;
    }
  }
}

/** A port free for both UDP and TCP on `host` a moment ago (SIP takes both). */
export async function freeUdpAndTcpPort(host: string): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freeTcpPort(host);
    if (await udpPortIsFree(host, port)) return port;
  }
  throw new Error(`no port free for both UDP and TCP on ${host}`);
}

export async function freeTcpPort(host: string): Promise<number> {
  const server = createServer();
  return await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function udpPortIsFree(host: string, port: number): Promise<boolean> {
  const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
  return new Promise<boolean>((resolve) => {
    socket.once("error", () => resolve(false));
    socket.bind(port, host, () => socket.close(() => resolve(true)));
  });
}

async function resolveBinary(binary: string): Promise<string> {
  const candidates = binary.includes("/")
    ? [binary]
    : [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), "/usr/sbin", "/sbin"].map((dir) => join(dir, binary));
  for (const candidate of candidates) {
    try {
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  throw new KamailioNotInstalledError(
    `Kamailio is not installed ("${binary}" not found). It comes from the Debian package kamailio (and kamailio-tls-modules for TLS): run \`bash scripts/setup.sh\` as root, or \`apt-get install kamailio kamailio-tls-modules\`.`,
  );
}
