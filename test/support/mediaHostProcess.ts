import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { LocalStack } from "../../local/stack.js";
import type { ListeningPorts } from "../../media-host/mediaHost.js";

export interface MediaHostProcess {
  readonly id: string;
  readonly pid: number;
  readonly ports: ListeningPorts;
  /** Its log, one parsed pino line each. */
  readonly log: readonly Record<string, unknown>[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

export interface StartMediaHostProcessOptions {
  readonly id: string;
  readonly promptsDirectory: string;
  readonly drainGraceMs?: number;
  readonly rtpPortMin?: number;
  readonly rtpPortMax?: number;
  /** Overrides of the environment (e.g. to leave a setting out: undefined). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly startTimeoutInMs?: number;
}

const MAIN = fileURLToPath(new URL("../../media-host/main.js", import.meta.url));

/**
 * The media host as it runs on its VM (`node dist/media-host/main.js`, settings from the
 * environment) against a local stack that runs Service Bus: call events reach it over
 * AMQP, the control plane over HTTP with its own Entra ID identity.
 */
export async function startMediaHostProcess(stack: LocalStack, options: StartMediaHostProcessOptions): Promise<MediaHostProcess> {
  if (!stack.serviceBus) throw new Error("the stack runs no Service Bus: start it with serviceBus: true");
  const env: Record<string, string | undefined> = {
    ...process.env,
    MEDIA_HOST_ID: options.id,
    CONTROL_PLANE_URL: stack.adminApiUrl,
    AZURE_TENANT_ID: stack.mediaHostIdentity.tenantId,
    AZURE_CLIENT_ID: stack.mediaHostIdentity.clientId,
    AZURE_CLIENT_SECRET: stack.mediaHostIdentity.clientSecret,
    AZURE_AUTHORITY_HOST: stack.entra.origin,
    SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE: stack.serviceBus.fullyQualifiedNamespace,
    SERVICE_BUS_ENDPOINT: stack.serviceBus.endpoint,
    SERVICE_BUS_QUEUE: stack.serviceBus.queue,
    SERVICE_DOMAIN: stack.settings.SERVICE_DOMAIN,
    SIP_BIND_HOST: "127.0.0.1",
    SIP_PORT: "0",
    SIP_TLS_PORT: "0",
    HEALTH_PORT: "0",
    // Below Linux's ephemeral ports (32768-60999) and apart from the local stack's own media host.
    RTP_PORT_MIN: String(options.rtpPortMin ?? 24000),
    RTP_PORT_MAX: String(options.rtpPortMax ?? 27999),
    // The meeting leg's ICE ports likewise (several media host processes may run: windows rarely collide, and then move on).
    WEBRTC_PORT_MIN: "28000",
    WEBRTC_PORT_MAX: "28999",
    MEETING_LEG_PORT: "0",
    PROMPTS_DIRECTORY: options.promptsDirectory,
    DRAIN_GRACE_MS: String(options.drainGraceMs ?? 30_000),
    ...options.env,
  };
  const child: ChildProcess = spawn(process.execPath, [MAIN], { env, stdio: ["ignore", "pipe", "pipe"] });
  const log: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const ports = await new Promise<ListeningPorts>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the media host did not start in time:\n${tail()}`)), options.startTimeoutInMs ?? 20_000);
    const tail = () => [...log.slice(-10).map((l) => JSON.stringify(l)), ...stderr.slice(-10)].join("\n");
    createInterface({ input: child.stdout! }).on("line", (line) => {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        parsed = { msg: line };
      }
      log.push(parsed);
      if (parsed.msg === "media host listening") {
        clearTimeout(timer);
        resolve(parsed.ports as ListeningPorts);
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`the media host exited (${code}) while starting:\n${tail()}`));
    });
  });
  return { id: options.id, pid: child.pid ?? 0, ports, log, exited, kill: (signal = "SIGTERM") => void child.kill(signal) };
}
