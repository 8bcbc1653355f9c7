import type { AddressInfo } from "node:net";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { createHttpsServer as createCosmosServer } from "@vercel/cosmosdb-server";

interface CosmosWorkerData {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly host: string;
  readonly port: number;
}

type FromWorker = { readonly port: number } | { readonly error: string };

/**
 * The embedded Cosmos DB (@vercel/cosmosdb-server) on a worker thread of its own: the
 * service side of every document operation then runs beside the control plane, not
 * in its event loop, as a real Cosmos DB account would.
 */
export class EmbeddedCosmos {
  readonly #worker: Worker;
  readonly port: number;

  private constructor(worker: Worker, port: number) {
    this.#worker = worker;
    this.port = port;
  }

  static async start(options: CosmosWorkerData): Promise<EmbeddedCosmos> {
    const worker = new Worker(new URL(import.meta.url), { workerData: options });
    const answer = await new Promise<FromWorker>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    if ("error" in answer) {
      await worker.terminate();
      throw new Error(answer.error);
    }
    worker.unref();
    return new EmbeddedCosmos(worker, answer.port);
  }

  async stop(): Promise<void> {
    await this.#worker.terminate();
  }
}

if (!isMainThread && parentPort && (workerData as CosmosWorkerData | undefined)?.cert) {
  const { cert, key, host, port } = workerData as CosmosWorkerData;
  const server = createCosmosServer({ cert, key, keepAlive: true } as never);
  // Node closes idle kept-alive sockets after 5 s, racing clients that reuse them ("socket hang up");
  // a real Cosmos DB endpoint keeps them far longer.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  const reply = (message: FromWorker) => parentPort?.postMessage(message);
  server.once("error", (e: NodeJS.ErrnoException) =>
    reply({ error: e.code === "EADDRINUSE" ? `embedded Cosmos DB cannot listen on ${host}:${port}: the port is in use` : e.message }),
  );
  server.listen(port, host, () => reply({ port: (server.address() as AddressInfo).port }));
}
