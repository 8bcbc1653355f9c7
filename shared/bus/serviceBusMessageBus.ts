import type { ServiceBusClient, ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusReceiver, ServiceBusSender } from "@azure/service-bus";
import type { BusMessage, MessageHandler, MessagePublisher, MessageSubscriber, PublishOptions, Subscription } from "./messageBus.js";

export interface ServiceBusMessageBusOptions {
  /** The topic; each media host has a subscription on it, named by its id and filtered on the application property `to`. */
  readonly topicName: string;
  /** Messages a subscriber holds at once (the SDK's credit): waiting for their session's turn or being handled. Default 16. */
  readonly maxConcurrentCalls?: number;
  /** How long the SDK keeps renewing a held message's lock. Default 5 minutes. */
  readonly maxAutoLockRenewalDurationInMs?: number;
  /**
   * The subscriptions' MaxDeliveryCount (Service Bus's default is 10). On the last attempt the adapter dead-letters the
   * message itself, so the reason carries the handler's error, and it knows an abandoned message will come back.
   */
  readonly maxDeliveryCount?: number;
  /** Errors the bus recovers from by itself (lost connections or locks, failed settlements). Default: a process warning. */
  readonly onError?: (error: Error) => void;
}

/** A received message in its session's lane; `release` ends the SDK's processMessage call, which gives its credit back. */
interface Pending {
  readonly received: ServiceBusReceivedMessage;
  readonly message: BusMessage;
  readonly release: () => void;
}

/** One session's messages of one subscriber, handled one at a time in arrival order. */
interface Lane {
  readonly queue: Pending[];
  running: boolean;
  /** After an abandon: the message the lane waits for before it goes on, so the session keeps its order through retries. */
  awaiting: { readonly messageId: string; readonly timer: NodeJS.Timeout } | undefined;
}

interface ActiveSubscription {
  readonly receiver: ServiceBusReceiver;
  readonly handler: MessageHandler;
  readonly lanes: Map<string, Lane>;
  readonly inFlight: Set<Promise<void>>;
  closing: boolean;
}

type Parsed = { readonly ok: true; readonly message: BusMessage } | { readonly ok: false; readonly problem: string };

/** How long a session waits for an abandoned message to come back before it goes on without it. */
const REDELIVERY_WAIT_MS = 30_000;
/** How often a pending settlement checks that its link is still open. */
const LINK_WATCH_INTERVAL_MS = 100;

/**
 * The bus on Azure Service Bus: one topic, one subscription per media host (not
 * session-enabled: a session-enabled one would pin a receiver link per active call).
 * Ordering per session is restored here, as InProcessMessageBus does it: a subscriber
 * handles a session's messages one at a time in arrival order, different sessions
 * concurrently. Peek-lock: resolved → complete, thrown → abandon (redelivered), the last
 * allowed attempt or a malformed message → dead-letter. Duplicates are dropped by the
 * topic's duplicate detection on the message id.
 */
export class ServiceBusMessageBus implements MessagePublisher, MessageSubscriber {
  readonly #client: ServiceBusClient;
  readonly #topicName: string;
  readonly #maxConcurrentCalls: number;
  readonly #maxAutoLockRenewalDurationInMs: number;
  readonly #maxDeliveryCount: number;
  readonly #onError: (error: Error) => void;
  readonly #subscribed = new Set<string>();
  #sender: ServiceBusSender | undefined;

  /** `client` comes from the composition root, built with a TokenCredential (managed identity in Azure): no keys here. */
  constructor(client: ServiceBusClient, options: ServiceBusMessageBusOptions) {
    this.#client = client;
    this.#topicName = options.topicName;
    this.#maxConcurrentCalls = options.maxConcurrentCalls ?? 16;
    this.#maxAutoLockRenewalDurationInMs = options.maxAutoLockRenewalDurationInMs ?? 5 * 60_000;
    this.#maxDeliveryCount = options.maxDeliveryCount ?? 10;
    this.#onError = options.onError ?? ((error) => process.emitWarning(error));
  }

  async publish(messages: readonly BusMessage[], options: PublishOptions = {}): Promise<void> {
    const { abortSignal } = options;
    abortSignal?.throwIfAborted();
    if (messages.length === 0) return;
    this.#sender ??= this.#client.createSender(this.#topicName);
    const sender = this.#sender;
    // The usual case, one call's new view: sent as it is, without a batch's envelope and size look-up.
    if (messages.length === 1 && messages[0]) {
      await sender.sendMessages(toServiceBusMessage(messages[0]), { abortSignal });
      return;
    }
    let batch = await sender.createMessageBatch({ abortSignal });
    for (const message of messages) {
      const outgoing = toServiceBusMessage(message);
      if (batch.tryAddMessage(outgoing)) continue;
      if (batch.count > 0) {
        // A full batch goes now. Should a later one fail, publishing all again is safe: the topic drops duplicates.
        await sender.sendMessages(batch, { abortSignal });
        batch = await sender.createMessageBatch({ abortSignal });
        if (batch.tryAddMessage(outgoing)) continue;
      }
      throw new Error(`message ${message.messageId} does not fit in a Service Bus batch (${batch.maxSizeInBytes} bytes)`);
    }
    if (batch.count > 0) await sender.sendMessages(batch, { abortSignal });
  }

  subscribe(receiverId: string, handler: MessageHandler): Subscription {
    if (this.#subscribed.has(receiverId)) throw new Error(`${receiverId} is subscribed already`);
    this.#subscribed.add(receiverId);
    const active: ActiveSubscription = {
      receiver: this.#client.createReceiver(this.#topicName, receiverId, {
        receiveMode: "peekLock",
        maxAutoLockRenewalDurationInMs: this.#maxAutoLockRenewalDurationInMs,
      }),
      handler,
      lanes: new Map(),
      inFlight: new Set(),
      closing: false,
    };
    const stream = active.receiver.subscribe(
      {
        processMessage: (received) => this.#receive(active, received),
        // The SDK retries receiving by itself; what reaches here is for the logs.
        processError: async (args) => this.#report(args.error),
      },
      { autoCompleteMessages: false, maxConcurrentCalls: this.#maxConcurrentCalls },
    );
    return {
      close: async () => {
        active.closing = true;
        // Messages not started stay locked: closing the receiver gives them back to Service Bus.
        for (const lane of active.lanes.values()) {
          if (lane.awaiting) clearTimeout(lane.awaiting.timer);
          for (const pending of lane.queue.splice(0)) pending.release();
        }
        await Promise.allSettled(active.inFlight);
        await stream.close();
        await active.receiver.close();
        this.#subscribed.delete(receiverId);
      },
    };
  }

  /** Closes the sender; subscriptions close through their own close(). */
  async close(): Promise<void> {
    const sender = this.#sender;
    this.#sender = undefined;
    await sender?.close();
  }

  /** The SDK's processMessage: resolves once the message is settled, so the SDK's credit bounds what a subscriber holds. */
  async #receive(active: ActiveSubscription, received: ServiceBusReceivedMessage): Promise<void> {
    if (active.closing) return;
    const parsed = parse(received);
    if (!parsed.ok) {
      // Redelivering what can never be handled would only spend its delivery count.
      await this.#settle(received, () =>
        active.receiver.deadLetterMessage(received, { deadLetterReason: "MalformedMessage", deadLetterErrorDescription: parsed.problem }),
      );
      return;
    }
    await new Promise<void>((release) => this.#enqueue(active, { received, message: parsed.message, release }));
  }

  #enqueue(active: ActiveSubscription, pending: Pending): void {
    const { sessionId, messageId } = pending.message;
    let lane = active.lanes.get(sessionId);
    if (!lane) {
      lane = { queue: [], running: false, awaiting: undefined };
      active.lanes.set(sessionId, lane);
    }
    if (lane.awaiting?.messageId === messageId) {
      // The message the session waited for is back: it goes ahead of those that arrived after it.
      clearTimeout(lane.awaiting.timer);
      lane.awaiting = undefined;
      lane.queue.unshift(pending);
    } else {
      lane.queue.push(pending);
    }
    this.#pump(active, sessionId, lane);
  }

  #pump(active: ActiveSubscription, sessionId: string, lane: Lane): void {
    if (active.closing || lane.running || lane.awaiting) return;
    const next = lane.queue.shift();
    if (!next) {
      active.lanes.delete(sessionId);
      return;
    }
    lane.running = true;
    const run: Promise<void> = this.#handle(active, lane, next).finally(() => {
      lane.running = false;
      active.inFlight.delete(run);
      next.release();
      this.#pump(active, sessionId, lane);
    });
    active.inFlight.add(run);
  }

  /** Runs the handler and settles the message; never rejects. */
  async #handle(active: ActiveSubscription, lane: Lane, pending: Pending): Promise<void> {
    const { received, message } = pending;
    // Received before a reconnect: its lock went with the old link and Service Bus delivers it again, to be handled then.
    if (!cameOnLiveLink(received)) return;
    try {
      await active.handler(message);
    } catch (e) {
      const error = toError(e);
      // deliveryCount counts the earlier deliveries that failed.
      const attempt = (received.deliveryCount ?? 0) + 1;
      if (attempt >= this.#maxDeliveryCount) {
        await this.#settle(received, () =>
          active.receiver.deadLetterMessage(received, {
            deadLetterReason: "MaxDeliveryCountExceeded",
            deadLetterErrorDescription: `handler failed ${attempt} times: ${error.message}`,
          }),
        );
        return;
      }
      // The lane waits for the redelivery from now: it can arrive before the abandon's own acknowledgement.
      const timer = setTimeout(() => {
        lane.awaiting = undefined;
        this.#pump(active, message.sessionId, lane);
      }, REDELIVERY_WAIT_MS);
      timer.unref();
      lane.awaiting = { messageId: message.messageId, timer };
      await this.#settle(received, () => active.receiver.abandonMessage(received));
      return;
    }
    await this.#settle(received, () => active.receiver.completeMessage(received));
  }

  /** A settlement that fails (typically a lost lock) or cannot be done means Service Bus delivers the message again: at-least-once. */
  async #settle(received: ServiceBusReceivedMessage, settlement: () => Promise<void>): Promise<void> {
    if (!cameOnLiveLink(received)) {
      this.#report(notSettled(received));
      return;
    }
    // Should the link die meanwhile, the SDK would wait for an answer that cannot come (its operation timeout, on
    // every retry): watch the link, and let the session go on when it closes.
    let watch: NodeJS.Timeout | undefined;
    const linkClosed = new Promise<"link closed">((resolve) => {
      watch = setInterval(() => {
        if (!cameOnLiveLink(received)) resolve("link closed");
      }, LINK_WATCH_INTERVAL_MS);
    });
    const settling = settlement().then(() => "settled" as const);
    try {
      if ((await Promise.race([settling, linkClosed])) === "link closed") {
        settling.catch(() => {});
        this.#report(notSettled(received));
      }
    } catch (e) {
      this.#report(toError(e));
    } finally {
      clearInterval(watch);
    }
  }

  #report(error: Error): void {
    try {
      this.#onError(error);
    } catch {
      // A failing error callback must not break delivery.
    }
  }
}

function toServiceBusMessage(message: BusMessage): ServiceBusMessage {
  return {
    messageId: message.messageId,
    subject: message.subject,
    contentType: "application/json",
    // Application properties, not the AMQP `to`/group-id: the subscription's correlation filter matches `to`, and the
    // entity is not session-enabled.
    applicationProperties: { to: message.to, sessionId: message.sessionId },
    // The SDK writes anything but bytes as a JSON data section.
    body: message.body ?? null,
  };
}

function parse(received: ServiceBusReceivedMessage): Parsed {
  const properties = received.applicationProperties ?? {};
  const problems: string[] = [];
  const text = (value: unknown, what: string): string => {
    if (typeof value === "string" && value !== "") return value;
    problems.push(`${what} is missing or not a string`);
    return "";
  };
  const messageId = text(received.messageId, "messageId");
  const subject = text(received.subject, "subject");
  const to = text(properties.to, "the application property to");
  const sessionId = text(properties.sessionId, "the application property sessionId");
  // The SDK parses a data section as JSON and leaves the bytes when that fails.
  if (received.body === undefined || received.body instanceof Uint8Array) problems.push("the body is not JSON");
  if (problems.length > 0) return { ok: false, problem: problems.join("; ") };
  return { ok: true, message: { messageId, sessionId, to, subject, body: received.body } };
}

/**
 * Whether the AMQP link a message came on is still open. After a reconnect the SDK would settle a message from the
 * old link on that dead link (the receiver keeps its cache entry under the old link name) and wait out its operation
 * timeout on every retry, holding up the session. Reads the SDK's untyped rhea delivery; unknown shapes count as open.
 */
function cameOnLiveLink(received: ServiceBusReceivedMessage): boolean {
  const link = (received as { delivery?: { link?: { is_open?: () => boolean } } }).delivery?.link;
  return typeof link?.is_open !== "function" || link.is_open();
}

function notSettled(received: ServiceBusReceivedMessage): Error {
  return new Error(`message ${String(received.messageId)} was not settled: the link it came on closed (Service Bus delivers it again)`);
}

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
