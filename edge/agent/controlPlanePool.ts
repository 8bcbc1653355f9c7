import type { TokenCredential } from "@azure/identity";
import { CachedTokenCredential } from "../../shared/identity/cachedTokenCredential.js";
import type { WantedHost } from "./dispatcherPlan.js";
import type { PoolSource } from "./dispatcherSync.js";

export interface ControlPlanePoolOptions {
  /** The control plane's API base, e.g. https://func-cvi.azurewebsites.net/api. */
  readonly controlPlaneUrl: string;
  /** The API's scope (its app id URI + /.default). */
  readonly scope: string;
  /** The edge's own identity (managed identity in Azure), holding the app role CVI.Edge. */
  readonly credential: TokenCredential;
  readonly timeoutInMs?: number;
}

interface HostView {
  readonly hostId: string;
  readonly status: "active" | "draining" | "unresponsive" | "dead";
  readonly sipUri: string;
  readonly capacity: number;
}

/**
 * The pool as the control plane's host registry has it (`GET /v1/pool/hosts`): the edge
 * routes to hosts holding a live lease, and lists draining ones disabled (their calls'
 * in-dialog requests still pass). A host whose lease lapsed, or that is dead, is left out.
 */
export class ControlPlanePool implements PoolSource {
  readonly #options: ControlPlanePoolOptions;
  readonly #credential: TokenCredential;

  constructor(options: ControlPlanePoolOptions) {
    this.#options = options;
    this.#credential = new CachedTokenCredential(options.credential);
  }

  async wantedHosts(options: { readonly abortSignal?: AbortSignal } = {}): Promise<readonly WantedHost[]> {
    const token = await this.#credential.getToken(this.#options.scope, options.abortSignal ? { abortSignal: options.abortSignal } : {});
    if (!token) throw new Error("no token for the control plane");
    const timeout = AbortSignal.timeout(this.#options.timeoutInMs ?? 5000);
    const response = await fetch(`${this.#options.controlPlaneUrl}/v1/pool/hosts`, {
      headers: { authorization: `Bearer ${token.token}` },
      signal: options.abortSignal ? AbortSignal.any([options.abortSignal, timeout]) : timeout,
    });
    if (!response.ok) throw new Error(`the control plane answered ${response.status} for the pool's hosts`);
    const { value } = (await response.json()) as { value: readonly HostView[] };
    return value
      .filter((host) => host.status === "active" || host.status === "draining")
      .map((host) => ({ hostId: host.hostId, sipUri: host.sipUri, capacity: host.capacity, draining: host.status === "draining" }));
  }
}
