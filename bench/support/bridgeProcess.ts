import { type ChildProcess, fork } from "node:child_process";
import type { BridgeReply, BridgeRequest } from "./bridgeHost.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The bridge host child process, spoken to over IPC. */
export class BridgeProcess {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, (reply: BridgeReply) => void>();
  #next = 1;
  readonly ready: Promise<void>;

  /**
   * `exposeGc`: the process may be asked to collect garbage before its memory is read (the "gc" request);
   * `acceptContent`: its legs take the device's slides m-line (the "present" request).
   */
  constructor(ngHost: string, ngPort: number, options: { readonly exposeGc?: boolean; readonly acceptContent?: boolean } = {}) {
    this.#child = fork(new URL("./bridgeHost.js", import.meta.url), [ngHost, String(ngPort), ...(options.acceptContent ? ["content"] : [])], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      ...(options.exposeGc ? { execArgv: [...process.execArgv, "--expose-gc"] } : {}),
    });
    this.ready = new Promise((resolve, reject) => {
      this.#pending.set(0, (reply) => (reply.ok ? resolve() : reject(new Error(reply.error))));
      this.#child.once("exit", (code) => reject(new Error(`the bridge process exited (${code})`)));
    });
    this.#child.on("message", (reply: BridgeReply) => {
      const settle = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      settle?.(reply);
    });
  }

  get pid(): number {
    return this.#child.pid ?? 0;
  }

  request<T>(request: DistributiveOmit<BridgeRequest, "id">): Promise<T> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, (reply) => (reply.ok ? resolve(reply.result as T) : reject(new Error(reply.error))));
      this.#child.send({ ...request, id });
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.#child.once("exit", r));
    await this.request({ op: "exit" }).catch(() => {});
    await Promise.race([exited, sleep(3000)]);
    this.#child.kill("SIGKILL");
  }
}
export type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
