import { randomUUID } from "node:crypto";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { type BrokerMessage, type BrokerQueueOptions, type BrokerTopicOptions, ServiceBusBroker } from "./serviceBusBroker.js";

/** Entra ID tokens the broker takes on CBS: signed by a key of `jwksUri`, from `issuer`, for `audience`. */
export interface EntraTokenCheck {
  readonly jwksUri: string;
  readonly issuer: string;
  readonly audience: string;
}

export interface ServiceBusBrokerThreadOptions {
  readonly topics?: readonly BrokerTopicOptions[];
  readonly queues?: readonly BrokerQueueOptions[];
  readonly tls: { readonly key: Buffer; readonly cert: Buffer };
  readonly host?: string;
  readonly port?: number;
  readonly tokens: EntraTokenCheck;
}

type Control =
  | { readonly id: string; readonly op: "activeMessageCount" | "deadLetters"; readonly topic: string; readonly subscription: string }
  | { readonly id: string; readonly op: "queueActiveMessageCount" | "queueDeadLetters"; readonly queue: string; readonly sessionId?: string }
  | { readonly id: string; readonly op: "lockedSessions" | "nextSessionWaiters"; readonly queue: string }
  | { readonly id: string; readonly op: "dropConnections" | "stop" };
type Reply = { readonly id: string; readonly value?: unknown; readonly error?: string };

/**
 * The Service Bus test broker on a worker thread of its own, as the real namespace is a
 * service elsewhere: its AMQP work does not compete with the control plane's event loop.
 * The controls are the broker's, asynchronous.
 */
export class ServiceBusBrokerThread {
  readonly #worker: Worker;
  readonly #pending = new Map<string, (reply: Reply) => void>();
  readonly port: number;

  private constructor(worker: Worker, port: number) {
    this.#worker = worker;
    this.port = port;
    worker.on("message", (reply: Reply) => {
      this.#pending.get(reply.id)?.(reply);
      this.#pending.delete(reply.id);
    });
  }

  static async start(options: ServiceBusBrokerThreadOptions): Promise<ServiceBusBrokerThread> {
    const worker = new Worker(new URL(import.meta.url), { workerData: { serviceBusBroker: options } });
    const ready = await new Promise<Reply>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    if (ready.error !== undefined) {
      await worker.terminate();
      throw new Error(ready.error);
    }
    worker.unref();
    return new ServiceBusBrokerThread(worker, ready.value as number);
  }

  activeMessageCount(topic: string, subscription: string): Promise<number> {
    return this.#call({ id: randomUUID(), op: "activeMessageCount", topic, subscription }) as Promise<number>;
  }

  deadLetters(topic: string, subscription: string): Promise<BrokerMessage[]> {
    return this.#call({ id: randomUUID(), op: "deadLetters", topic, subscription }) as Promise<BrokerMessage[]>;
  }

  queueActiveMessageCount(queue: string, sessionId?: string): Promise<number> {
    return this.#call({ id: randomUUID(), op: "queueActiveMessageCount", queue, sessionId }) as Promise<number>;
  }

  queueDeadLetters(queue: string, sessionId?: string): Promise<BrokerMessage[]> {
    return this.#call({ id: randomUUID(), op: "queueDeadLetters", queue, sessionId }) as Promise<BrokerMessage[]>;
  }

  lockedSessions(queue: string): Promise<string[]> {
    return this.#call({ id: randomUUID(), op: "lockedSessions", queue }) as Promise<string[]>;
  }

  nextSessionWaiters(queue: string): Promise<number> {
    return this.#call({ id: randomUUID(), op: "nextSessionWaiters", queue }) as Promise<number>;
  }

  async dropConnections(): Promise<void> {
    await this.#call({ id: randomUUID(), op: "dropConnections" });
  }

  async stop(): Promise<void> {
    await this.#call({ id: randomUUID(), op: "stop" }).catch(() => {});
    await this.#worker.terminate();
  }

  #call(control: Control): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#pending.set(control.id, (reply) => (reply.error !== undefined ? reject(new Error(reply.error)) : resolve(reply.value)));
      this.#worker.postMessage(control);
    });
  }
}

const data = workerData as { serviceBusBroker?: ServiceBusBrokerThreadOptions } | undefined;
if (!isMainThread && parentPort && data?.serviceBusBroker) {
  const port = parentPort;
  const options = data.serviceBusBroker;
  const jwks = createRemoteJWKSet(new URL(options.tokens.jwksUri));
  const broker = new ServiceBusBroker({
    topics: options.topics,
    queues: options.queues,
    tls: options.tls,
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 0,
    verifyToken: async (token) => {
      try {
        await jwtVerify(token, jwks, { audience: options.tokens.audience, issuer: options.tokens.issuer });
        return true;
      } catch {
        return false;
      }
    },
  });
  broker.start().then(
    ({ port: listening }) => port.postMessage({ id: "ready", value: listening } satisfies Reply),
    (e: Error) => port.postMessage({ id: "ready", error: e.message } satisfies Reply),
  );
  port.on("message", (control: Control) => {
    const reply = (value: unknown) => port.postMessage({ id: control.id, value } satisfies Reply);
    try {
      answer(control, reply);
    } catch (e) {
      // An unknown entity, say: the caller's promise fails instead of waiting for ever.
      port.postMessage({ id: control.id, error: e instanceof Error ? e.message : String(e) } satisfies Reply);
    }
  });

  function answer(control: Control, reply: (value: unknown) => void): void {
    switch (control.op) {
      case "activeMessageCount":
        reply(broker.activeMessageCount(control.topic, control.subscription));
        break;
      case "deadLetters":
        reply(broker.deadLetters(control.topic, control.subscription));
        break;
      case "queueActiveMessageCount":
        reply(broker.queueActiveMessageCount(control.queue, control.sessionId));
        break;
      case "queueDeadLetters":
        reply(broker.queueDeadLetters(control.queue, control.sessionId));
        break;
      case "lockedSessions":
        reply(broker.lockedSessions(control.queue));
        break;
      case "nextSessionWaiters":
        reply(broker.nextSessionWaiters(control.queue));
        break;
      case "dropConnections":
        broker.dropConnections();
        reply(undefined);
        break;
      case "stop":
        broker.stop().then(() => reply(undefined));
        break;
    }
  }
}
