import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { MediaHostMetrics } from "./metrics.js";

export interface HealthState {
  /** Taking no new calls (SIGTERM received): load balancers should stop sending. */
  readonly draining: boolean;
  readonly activeCalls: number;
  /** What is not working, e.g. "rtpengine not ready"; empty when healthy. */
  readonly problems: readonly string[];
}

export interface HealthServerOptions {
  readonly host: string;
  readonly port: number;
  readonly metrics: MediaHostMetrics;
  readonly health: () => HealthState;
}

/**
 * `/healthz` (200 when taking calls, 503 when draining or broken, with the reasons as
 * JSON) and `/metrics` (Prometheus text), on an address that is not the SIP one.
 */
export class HealthServer {
  readonly #server: Server;
  readonly #options: HealthServerOptions;

  constructor(options: HealthServerOptions) {
    this.#options = options;
    this.#server = createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      if (req.method !== "GET") {
        res.writeHead(405, { allow: "GET" }).end();
      } else if (path === "/healthz") {
        const state = this.#options.health();
        const ok = !state.draining && state.problems.length === 0;
        res.writeHead(ok ? 200 : 503, { "content-type": "application/json", "cache-control": "no-store" });
        res.end(JSON.stringify({ status: ok ? "ok" : state.draining ? "draining" : "unhealthy", ...state }));
      } else if (path === "/metrics") {
        this.#options.metrics.render().then(
          ({ contentType, body }) => res.writeHead(200, { "content-type": contentType }).end(body),
          () => res.writeHead(500).end(),
        );
      } else {
        res.writeHead(404).end();
      }
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(this.#options.port, this.#options.host, resolve);
    });
    return (this.#server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.closeAllConnections();
      this.#server.close(() => resolve());
    });
  }
}
