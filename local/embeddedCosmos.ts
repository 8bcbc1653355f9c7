import { AsyncLocalStorage } from "node:async_hooks";
import type { IncomingMessage, RequestListener } from "node:http";
import { createRequire } from "node:module";
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

/** The stand-in's in-memory container (lib/account/items.js), as far as the narrowing below uses it. */
interface StandInItems {
  readonly _data: Map<string, { read(): unknown }>;
  _getPartition(document: unknown): unknown;
  query(params: unknown, options: unknown): unknown;
}

/** The partition key (the SDK's JSON array header) of the request being served, if it names one. */
const requestPartitionKey = new AsyncLocalStorage<string | undefined>();

/**
 * The stand-in runs every query over every document of its container, whatever partition
 * key the request names, and its compiled FROM clause copies the rows gathered so far for
 * each document: a query's cost grows with the square of the container (10k documents:
 * ~0.1 s, 30k: ~6 s), so a day's history page in a container of 100k calls took minutes.
 * Cosmos DB routes a query with a partition key to that partition alone; here too: the
 * query runs over the documents of the named partition only. Queries without one (cross-
 * partition) are unchanged. The product's queries name their partition key in the filter
 * as well (the stand-in insists on it), so their results are the same either way.
 */
function narrowQueriesToTheirPartition(server: {
  listeners(event: "request"): unknown[];
  removeAllListeners(event: "request"): unknown;
  on(event: "request", listener: RequestListener): unknown;
}): void {
  const items = createRequire(import.meta.url)("@vercel/cosmosdb-server/lib/account/items.js").default as { prototype: StandInItems };
  const query = items.prototype.query;
  items.prototype.query = function (this: StandInItems, params: unknown, options: unknown) {
    const partitionKey = requestPartitionKey.getStore();
    if (partitionKey === undefined) return query.call(this, params, options);
    const [value] = JSON.parse(partitionKey) as unknown[];
    const inPartition = new Map<string, { read(): unknown }>();
    for (const [rid, item] of this._data) if (this._getPartition(item.read()) === value) inPartition.set(rid, item);
    return query.call(Object.create(this, { _data: { value: inPartition } }) as StandInItems, params, options);
  };
  const [serve] = server.listeners("request") as RequestListener[];
  if (!serve) throw new Error("the embedded Cosmos DB server has no request listener");
  server.removeAllListeners("request");
  server.on("request", (req: IncomingMessage, res) => {
    // The SDK asks for a query plan with every query and uses it only if the query itself fails
    // (it never does here). The stand-in does not know plan requests and ran each as a query over
    // the whole container: at 100k history entries, most of a history page's time. A plan request
    // now gets a clear error, which the SDK keeps unless it needs the plan.
    if (req.headers["x-ms-cosmos-is-query-plan-request"]?.toString().toLowerCase() === "true") {
      req.resume();
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ code: "BadRequest", message: "the embedded Cosmos DB computes no query plans" }));
      return;
    }
    const header = req.headers["x-ms-documentdb-partitionkey"];
    requestPartitionKey.run(typeof header === "string" ? header : undefined, () => serve(req, res));
  });
}

if (!isMainThread && parentPort && (workerData as CosmosWorkerData | undefined)?.cert) {
  const { cert, key, host, port } = workerData as CosmosWorkerData;
  const server = createCosmosServer({ cert, key, keepAlive: true } as never);
  narrowQueriesToTheirPartition(server);
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
