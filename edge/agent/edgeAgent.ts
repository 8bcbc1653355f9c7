import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import type { WantedHost } from "./dispatcherPlan.js";
import { DispatcherSync, type PoolSource } from "./dispatcherSync.js";
import { type KamailioEndpoints, KamailioProcess, type KamailioProcessOptions } from "./kamailioProcess.js";
import { KamailioRpc } from "./kamailioRpc.js";

export interface EdgeAgentOptions {
  readonly kamailio: Omit<KamailioProcessOptions, "initialDestinations" | "onLogLine">;
  readonly pool: PoolSource;
  /** How often the pool is read (default 1 s). */
  readonly syncIntervalInMs?: number;
  readonly logger: Logger;
}

export interface EdgeAgentEvents {
  /** Kamailio ended on its own: the edge is down (its supervisor restarts the agent). */
  exited: [{ readonly code: number | null; readonly signal: NodeJS.Signals | null }];
}

/** The dispatcher list file's line for a host: set, URI, flags (4 = disabled), priority, attributes. */
export function destinationLine(host: WantedHost): string {
  return `1 ${host.sipUri} ${host.draining ? 4 : 0} 0 duid=${host.hostId};maxload=${host.capacity}`;
}

/**
 * One SIP edge: Kamailio with the edge's config, started with the pool's hosts as they are
 * now, then kept in step with the pool every second.
 */
export class EdgeAgent extends EventEmitter<EdgeAgentEvents> {
  readonly #options: EdgeAgentOptions;
  #kamailio: KamailioProcess | undefined;
  #sync: DispatcherSync | undefined;
  #lastFailure = "";

  constructor(options: EdgeAgentOptions) {
    super();
    this.#options = options;
  }

  get endpoints(): KamailioEndpoints {
    if (!this.#kamailio) throw new Error("the edge has not been started");
    return this.#kamailio.endpoints;
  }

  get pid(): number | undefined {
    return this.#kamailio?.pid;
  }

  async start(): Promise<KamailioEndpoints> {
    const { logger } = this.#options;
    // Started with the hosts there are now; should the registry not answer, with none (the sync adds them).
    const initial = await this.#options.pool.wantedHosts().catch((e: Error) => {
      logger.warn({ err: e.message }, "edge: the pool could not be read at start; starting with no host");
      return [] as readonly WantedHost[];
    });
    const kamailio = new KamailioProcess({
      ...this.#options.kamailio,
      initialDestinations: initial.map(destinationLine),
      onLogLine: (line) => {
        // Kamailio says these at every start and stop: not news.
        const routine = /openssl bug #1491|child process \d+ exited normally/.test(line);
        if (!routine && / (WARNING|ERROR|CRITICAL|ALERT|BUG):/.test(line)) logger.warn({ kamailio: line.trim() }, "edge: Kamailio");
        else logger.debug({ kamailio: line.trim() }, "edge: Kamailio");
      },
    });
    this.#kamailio = kamailio;
    const endpoints = await kamailio.start();
    kamailio.on("exited", (exit) => {
      logger.error({ ...exit, lastLines: kamailio.recentLogLines().slice(-10) }, "edge: Kamailio exited");
      this.emit("exited", exit);
    });
    const sync = new DispatcherSync({
      rpc: new KamailioRpc({ url: endpoints.rpcUrl }),
      pool: this.#options.pool,
      ...(this.#options.syncIntervalInMs ? { intervalInMs: this.#options.syncIntervalInMs } : {}),
    });
    sync.on("applied", (action) => logger.info({ action }, "edge: host set changed"));
    sync.on("failed", (error) => {
      // Once per distinct failure, not every second.
      if (error.message === this.#lastFailure) return;
      this.#lastFailure = error.message;
      logger.warn({ err: error.message }, "edge: could not bring the host set in step with the pool (keeping the last one)");
    });
    this.#sync = sync;
    sync.start();
    logger.info({ hosts: initial.map((h) => h.hostId), sip: `${endpoints.sipAddress}:${endpoints.sipPort}` }, "edge: listening");
    return endpoints;
  }

  async stop(): Promise<void> {
    await this.#sync?.stop();
    await this.#kamailio?.stop();
  }
}
