import { EventEmitter } from "node:events";
import { type DispatcherAction, isReload, planDispatcher, type WantedHost } from "./dispatcherPlan.js";
import { KamailioRpcError } from "./errors.js";
import type { KamailioRpc } from "./kamailioRpc.js";

/** Where the edge learns which media hosts the pool has (the control plane's host registry). */
export interface PoolSource {
  wantedHosts(options?: { readonly abortSignal?: AbortSignal }): Promise<readonly WantedHost[]>;
}

export interface DispatcherSyncOptions {
  readonly rpc: KamailioRpc;
  readonly pool: PoolSource;
  /** The dispatcher set of the media hosts (edge/kamailio.cfg's HOSTS). */
  readonly set?: number;
  /** How often the registry is read (default 1 s: a drained host gets no new call within 2 s). */
  readonly intervalInMs?: number;
}

export interface DispatcherSyncEvents {
  applied: [action: DispatcherAction];
  /** A round that could not finish (registry or Kamailio unreachable): the edge keeps its last host set. */
  failed: [error: Error];
}

/**
 * Keeps the edge's dispatcher set in step with the pool, at run time: hosts added and
 * removed one at a time with dispatcher.add/remove (no reload, so the other hosts' call
 * counts stay), draining hosts disabled at once. Kamailio refuses list changes closer
 * than a second apart: what it refuses is simply planned again on the next round.
 */
export class DispatcherSync extends EventEmitter<DispatcherSyncEvents> {
  readonly #options: DispatcherSyncOptions;
  readonly #set: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #abort = new AbortController();

  constructor(options: DispatcherSyncOptions) {
    super();
    this.#options = options;
    this.#set = options.set ?? 1;
  }

  /** Rounds every interval until stop(); the first one now. */
  start(): void {
    this.#stopped = false;
    const tick = () => {
      if (this.#stopped) return;
      this.#running = this.syncOnce()
        .then(
          () => {},
          (e: unknown) => void this.emit("failed", e instanceof Error ? e : new Error(String(e))),
        )
        .finally(() => {
          if (!this.#stopped) this.#timer = setTimeout(tick, this.#options.intervalInMs ?? 1000);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort.abort();
    await this.#running;
    this.#abort = new AbortController();
  }

  /** One round: read the pool, compare, apply. Resolves with what is left for later rounds. */
  async syncOnce(): Promise<readonly DispatcherAction[]> {
    const abortSignal = this.#abort.signal;
    const wanted = await this.#options.pool.wantedHosts({ abortSignal });
    const current = await this.#options.rpc.dispatcherList(this.#set, { abortSignal });
    const actions = planDispatcher(wanted, current);
    let reloaded = false;
    const left: DispatcherAction[] = [];
    for (const action of actions) {
      if (isReload(action) && reloaded) {
        left.push(action);
        continue;
      }
      try {
        await this.#apply(action, abortSignal);
      } catch (e) {
        // "ongoing reload": the last list change is less than a second old; next round.
        if (e instanceof KamailioRpcError && /reload/i.test(e.message)) {
          left.push(action);
          reloaded = true;
          continue;
        }
        throw e;
      }
      if (isReload(action)) reloaded = true;
      this.emit("applied", action);
    }
    return left;
  }

  async #apply(action: DispatcherAction, abortSignal: AbortSignal): Promise<void> {
    const rpc = this.#options.rpc;
    switch (action.kind) {
      case "add":
        return rpc.dispatcherAdd(this.#set, action.uri, action.attributes, { abortSignal, disabled: action.disabled });
      case "remove":
        return rpc.dispatcherRemove(this.#set, action.uri, { abortSignal });
      case "disable":
        return rpc.dispatcherSetHostState(this.#set, action.hostId, "d", { abortSignal });
      case "enable":
        return rpc.dispatcherSetHostState(this.#set, action.hostId, "ap", { abortSignal });
    }
  }
}
