import { KamailioRpcError } from "./errors.js";

/** One destination of the dispatcher's host set, as `dispatcher.list` shows it. */
export interface DispatcherDestination {
  readonly uri: string;
  /** The host id (the `duid` attribute). */
  readonly hostId: string | undefined;
  readonly maxLoad: number;
  /** A = active, I = inactive (failed probes), T = trying, D = disabled (draining). */
  readonly state: "active" | "inactive" | "trying" | "disabled";
  readonly probing: boolean;
  /** Calls the dispatcher counts on this host (algorithm 10's load). */
  readonly load: number;
}

export interface KamailioRpcOptions {
  /** http://127.0.0.1:<EDGE_RPC_PORT>/RPC */
  readonly url: string;
  readonly timeoutInMs?: number;
}

export interface RpcCallOptions {
  readonly abortSignal?: AbortSignal;
}

type DispatcherState = "a" | "ap" | "i" | "ip" | "t" | "tp" | "d";

/**
 * Kamailio's JSON-RPC (jsonrpcs over xhttp, on the edge's loopback-only RPC port): the
 * dispatcher commands the edge agent keeps the host set with. Errors Kamailio reports
 * reject with KamailioRpcError carrying its code and message.
 */
export class KamailioRpc {
  readonly #url: string;
  readonly #timeoutInMs: number;
  #nextId = 1;

  constructor(options: KamailioRpcOptions) {
    this.#url = options.url;
    this.#timeoutInMs = options.timeoutInMs ?? 3000;
  }

  async call(method: string, params: readonly (string | number)[] = [], options: RpcCallOptions = {}): Promise<unknown> {
    const id = this.#nextId++;
    const timeout = AbortSignal.timeout(this.#timeoutInMs);
    const signal = options.abortSignal ? AbortSignal.any([options.abortSignal, timeout]) : timeout;
    let response: Response;
    try {
      response = await fetch(this.#url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", method, params, id }),
        signal,
      });
    } catch (e) {
      throw new KamailioRpcError(`${method}: Kamailio's RPC at ${this.#url} could not be reached (${(e as Error).message})`, undefined);
    }
    const text = await response.text();
    let body: { result?: unknown; error?: { code?: number; message?: string } };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new KamailioRpcError(`${method}: Kamailio answered ${response.status} with no JSON-RPC body`, response.status);
    }
    if (body.error) throw new KamailioRpcError(`${method}: ${body.error.message ?? "failed"}`, body.error.code);
    return body.result;
  }

  /** The destinations of `set`; an empty list when the dispatcher has none yet. */
  async dispatcherList(set: number, options: RpcCallOptions = {}): Promise<DispatcherDestination[]> {
    let result: unknown;
    try {
      result = await this.call("dispatcher.list", [], options);
    } catch (e) {
      // Kamailio's way of saying the list is empty.
      if (e instanceof KamailioRpcError && /No Destination Sets/i.test(e.message)) return [];
      throw e;
    }
    const records = (result as { RECORDS?: { SET?: { ID?: number; TARGETS?: { DEST?: RawDestination }[] } }[] } | undefined)?.RECORDS ?? [];
    const targets = records.find((r) => r.SET?.ID === set)?.SET?.TARGETS ?? [];
    return targets.flatMap((t) => (t.DEST ? [toDestination(t.DEST)] : []));
  }

  /** Adds a host to `set`, keeping the other hosts' call counts (a reload would reset them). */
  async dispatcherAdd(set: number, uri: string, attributes: string, options: RpcCallOptions & { readonly disabled?: boolean } = {}): Promise<void> {
    // Flag 4 is the dispatcher's "disabled" (admin) state.
    await this.call("dispatcher.add", [set, uri, options.disabled ? 4 : 0, 0, attributes], options);
  }

  async dispatcherRemove(set: number, uri: string, options: RpcCallOptions = {}): Promise<void> {
    await this.call("dispatcher.remove", [set, uri], options);
  }

  /** Sets a host's state by its id: "d" (disabled) stops new calls, "ap" puts it back under probing. */
  async dispatcherSetHostState(set: number, hostId: string, state: DispatcherState, options: RpcCallOptions = {}): Promise<void> {
    await this.call("dispatcher.set_duid_state", [state, set, hostId], options);
  }
}

interface RawDestination {
  readonly URI?: string;
  readonly FLAGS?: string;
  readonly ATTRS?: { readonly DUID?: string; readonly MAXLOAD?: number };
  readonly RUNTIME?: { readonly DLGLOAD?: number };
}

const STATES = { A: "active", I: "inactive", T: "trying", D: "disabled" } as const;

function toDestination(raw: RawDestination): DispatcherDestination {
  const flags = raw.FLAGS ?? "";
  return {
    uri: raw.URI ?? "",
    hostId: raw.ATTRS?.DUID || undefined,
    maxLoad: raw.ATTRS?.MAXLOAD ?? 0,
    state: STATES[flags[0] as keyof typeof STATES] ?? "inactive",
    probing: flags[1] === "P",
    load: raw.RUNTIME?.DLGLOAD ?? 0,
  };
}
