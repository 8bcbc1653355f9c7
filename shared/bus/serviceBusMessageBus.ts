import { setTimeout as sleep } from "node:timers/promises";
import {
  isServiceBusError,
  type ServiceBusClient,
  type ServiceBusMessage,
  type ServiceBusReceivedMessage,
  type ServiceBusSender,
  type ServiceBusSessionReceiver,
} from "@azure/service-bus";
import type {
  BusMessage,
  MessageHandler,
  MessagePublisher,
  MessageSubscriber,
  MessageTakeover,
  PublishOptions,
  Subscription,
  TakeOverOptions,
  TakeOverResult,
} from "./messageBus.js";

export interface ServiceBusMessageBusOptions {
  /** The session-enabled queue; each media host holds the session named by its id. */
  readonly queueName: string;
  /** Messages a subscriber holds at once (the SDK's credit): waiting for their turn or being handled. Default 16. */
  readonly maxConcurrentCalls?: number;
  /** How long the SDK keeps renewing the session lock of a subscriber (it renews while the process runs). Default a day. */
  readonly maxAutoLockRenewalDurationInMs?: number;
  /**
   * The queue's MaxDeliveryCount (Service Bus's default is 10). On the last attempt the adapter dead-letters the
   * message itself, so the reason carries the handler's error, and it knows an abandoned message will come back.
   */
  readonly maxDeliveryCount?: number;
  /** How long a subscriber waits before it asks again for a session someone else holds (or after losing it). Default 1 s. */
  readonly sessionRetryInMs?: number;
  /** Errors the bus recovers from by itself (lost connections or locks, failed settlements). Default: a process warning. */
  readonly onError?: (error: Error) => void;
}

/** A received message in its lane; `release` ends the SDK's processMessage call, which gives its credit back. */
interface Pending {
  readonly received: ServiceBusReceivedMessage;
  readonly message: BusMessage;
  readonly release: () => void;
}

/** One ordering key's messages (one call's), handled one at a time in arrival order. */
interface Lane {
  readonly queue: Pending[];
  running: boolean;
  /** After an abandon: the message the lane waits for before it goes on, so the call keeps its order through retries. */
  awaiting: { readonly messageId: string; readonly timer: NodeJS.Timeout } | undefined;
}

/** One holding of a receiver's session: from acceptSession until the lock is lost, the link dies or close(). */
interface ActiveSubscription {
  readonly receiver: ServiceBusSessionReceiver;
  readonly handler: MessageHandler;
  readonly lanes: Map<string, Lane>;
  readonly inFlight: Set<Promise<void>>;
  closing: boolean;
}

type Parsed = { readonly ok: true; readonly message: BusMessage } | { readonly ok: false; readonly problem: string };

/** How long a lane waits for an abandoned message to come back before it goes on without it. */
const REDELIVERY_WAIT_MS = 30_000;
/** How often a pending settlement, and a held session, check that their link is still open. */
const LINK_WATCH_INTERVAL_MS = 100;
/** How long the take-over of a dead host's session waits for more of its messages. */
const TAKE_OVER_RECEIVE_WAIT_MS = 500;

/**
 * The bus on Azure Service Bus: one session-enabled queue, one session per media host
 * (session id = host id). A host's subscriber holds its session's lock for as long as it
 * runs (the SDK renews it), so a host's messages reach only that host, in order, whether
 * the pool has two hosts or two hundred; a host that appears later finds what was sent
 * before; hosts need only Listen and Send on the queue. A subscriber that loses its session
 * (lock expired while the process was paused, connection lost) takes it again. The
 * control plane takes over a dead host's session once its lock has lapsed and
 * dead-letters what is left. Inside a session, messages of one call (the ordering key)
 * are handled one at a time in arrival order, different calls concurrently. Peek-lock:
 * resolved → complete, thrown → abandon (redelivered), the last allowed attempt or a
 * malformed message → dead-letter. Duplicates are dropped by the queue's duplicate
 * detection on the message id.
 */
export class ServiceBusMessageBus implements MessagePublisher, MessageSubscriber, MessageTakeover {
  readonly #client: ServiceBusClient;
  readonly #queueName: string;
  readonly #maxConcurrentCalls: number;
  readonly #maxAutoLockRenewalDurationInMs: number;
  readonly #maxDeliveryCount: number;
  readonly #sessionRetryInMs: number;
  readonly #onError: (error: Error) => void;
  #sender: ServiceBusSender | undefined;
  /** The subscriptions' holding loops, stopped by close(). */
  readonly #holdings = new Set<() => Promise<void>>();

  /** `client` comes from the composition root, built with a TokenCredential (managed identity in Azure): no keys here. */
  constructor(client: ServiceBusClient, options: ServiceBusMessageBusOptions) {
    this.#client = client;
    this.#queueName = options.queueName;
    this.#maxConcurrentCalls = options.maxConcurrentCalls ?? 16;
    this.#maxAutoLockRenewalDurationInMs = options.maxAutoLockRenewalDurationInMs ?? 24 * 3600_000;
    this.#maxDeliveryCount = options.maxDeliveryCount ?? 10;
    this.#sessionRetryInMs = options.sessionRetryInMs ?? 1000;
    this.#onError = options.onError ?? ((error) => process.emitWarning(error));
  }

  async publish(messages: readonly BusMessage[], options: PublishOptions = {}): Promise<void> {
    const { abortSignal } = options;
    abortSignal?.throwIfAborted();
    if (messages.length === 0) return;
    this.#sender ??= this.#client.createSender(this.#queueName);
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
        // A full batch goes now. Should a later one fail, publishing all again is safe: the queue drops duplicates.
        await sender.sendMessages(batch, { abortSignal });
        batch = await sender.createMessageBatch({ abortSignal });
        if (batch.tryAddMessage(outgoing)) continue;
      }
      throw new Error(`message ${message.messageId} does not fit in a Service Bus batch (${batch.maxSizeInBytes} bytes)`);
    }
    if (batch.count > 0) await sender.sendMessages(batch, { abortSignal });
  }

  subscribe(receiverId: string, handler: MessageHandler): Subscription {
    const stop = new AbortController();
    let current: ActiveSubscription | undefined;
    const holding = (async () => {
      while (!stop.signal.aborted) {
        let receiver: ServiceBusSessionReceiver;
        try {
          receiver = await this.#client.acceptSession(this.#queueName, receiverId, {
            receiveMode: "peekLock",
            maxAutoLockRenewalDurationInMs: this.#maxAutoLockRenewalDurationInMs,
            abortSignal: stop.signal,
          });
        } catch (e) {
          if (stop.signal.aborted) return;
          // The client was closed by its owner: nothing will ever be received through it again.
          if (clientClosed(e)) {
            this.#report(new Error(`the subscription of ${receiverId} ended: its Service Bus client was closed`));
            return;
          }
          // Held by another (a predecessor whose lock has not lapsed yet, a reaper at work): wait for it.
          if (!(isServiceBusError(e) && e.code === "SessionCannotBeLocked")) this.#report(toError(e));
          await sleep(this.#sessionRetryInMs, undefined, { signal: stop.signal }).catch(() => {});
          continue;
        }
        current = { receiver, handler, lanes: new Map(), inFlight: new Set(), closing: false };
        await this.#hold(current, stop.signal);
        await this.#letGo(current);
        current = undefined;
        if (!stop.signal.aborted) await sleep(this.#sessionRetryInMs, undefined, { signal: stop.signal }).catch(() => {});
      }
    })();
    const close = async () => {
      stop.abort();
      await holding;
      this.#holdings.delete(close);
    };
    this.#holdings.add(close);
    return { close };
  }

  /**
   * For a dead media host: takes its session (possible once the host's lock has lapsed or its
   * connection is gone) and dead-letters every message in it. "busy" while someone holds it.
   */
  async takeOver(receiverId: string, options: TakeOverOptions): Promise<TakeOverResult> {
    let receiver: ServiceBusSessionReceiver;
    try {
      receiver = await this.#client.acceptSession(this.#queueName, receiverId, {
        receiveMode: "peekLock",
        maxAutoLockRenewalDurationInMs: 0,
        ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
      });
    } catch (e) {
      if (isServiceBusError(e) && e.code === "SessionCannotBeLocked") return { kind: "busy" };
      throw e;
    }
    let deadLettered = 0;
    try {
      for (;;) {
        const batch = await receiver.receiveMessages(50, { maxWaitTimeInMs: TAKE_OVER_RECEIVE_WAIT_MS });
        if (batch.length === 0) break;
        for (const message of batch) {
          await receiver.deadLetterMessage(message, {
            deadLetterReason: options.deadLetterReason,
            deadLetterErrorDescription: `taken over from ${receiverId}, which will not come back for it`,
          });
          deadLettered++;
        }
      }
    } finally {
      await receiver.close();
    }
    return { kind: "taken", deadLettered };
  }

  /** Closes the sender and every subscription still open. */
  async close(): Promise<void> {
    await Promise.all([...this.#holdings].map((close) => close()));
    const sender = this.#sender;
    this.#sender = undefined;
    await sender?.close();
  }

  /** Streams the session's messages until the lock is lost, its link closes, or `stop`. */
  async #hold(active: ActiveSubscription, stop: AbortSignal): Promise<void> {
    let end!: () => void;
    const ended = new Promise<void>((resolve) => {
      end = resolve;
    });
    stop.addEventListener("abort", end, { once: true });
    // The SDK does not reconnect a session receiver: a closed one is ours to replace.
    const watch = setInterval(() => {
      if (active.receiver.isClosed) end();
    }, LINK_WATCH_INTERVAL_MS);
    const stream = active.receiver.subscribe(
      {
        processMessage: (received) => this.#receive(active, received),
        processError: async (args) => {
          this.#report(args.error);
          if (isServiceBusError(args.error) && args.error.code === "SessionLockLost") end();
        },
      },
      { autoCompleteMessages: false, maxConcurrentCalls: this.#maxConcurrentCalls },
    );
    await ended;
    clearInterval(watch);
    stop.removeEventListener("abort", end);
    await stream.close().catch(() => {});
  }

  /** Ends a holding: messages not started stay locked and go back with the session when the receiver closes. */
  async #letGo(active: ActiveSubscription): Promise<void> {
    active.closing = true;
    for (const lane of active.lanes.values()) {
      if (lane.awaiting) clearTimeout(lane.awaiting.timer);
      for (const pending of lane.queue.splice(0)) pending.release();
    }
    await Promise.allSettled(active.inFlight);
    await active.receiver.close().catch((e: unknown) => this.#report(toError(e)));
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
    const { orderingKey, messageId } = pending.message;
    let lane = active.lanes.get(orderingKey);
    if (!lane) {
      lane = { queue: [], running: false, awaiting: undefined };
      active.lanes.set(orderingKey, lane);
    }
    if (lane.awaiting?.messageId === messageId) {
      // The message the session waited for is back: it goes ahead of those that arrived after it.
      clearTimeout(lane.awaiting.timer);
      lane.awaiting = undefined;
      lane.queue.unshift(pending);
    } else {
      lane.queue.push(pending);
    }
    this.#pump(active, orderingKey, lane);
  }

  #pump(active: ActiveSubscription, orderingKey: string, lane: Lane): void {
    if (active.closing || lane.running || lane.awaiting) return;
    const next = lane.queue.shift();
    if (!next) {
      active.lanes.delete(orderingKey);
      return;
    }
    lane.running = true;
    const run: Promise<void> = this.#handle(active, lane, next).finally(() => {
      lane.running = false;
      active.inFlight.delete(run);
      next.release();
      this.#pump(active, orderingKey, lane);
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
        this.#pump(active, message.orderingKey, lane);
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
    // The media host's session: only the host holding it receives the message.
    sessionId: message.to,
    subject: message.subject,
    contentType: "application/json",
    applicationProperties: { to: message.to, orderingKey: message.orderingKey },
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
  const orderingKey = text(properties.orderingKey, "the application property orderingKey");
  // The SDK parses a data section as JSON and leaves the bytes when that fails.
  if (received.body === undefined || received.body instanceof Uint8Array) problems.push("the body is not JSON");
  if (problems.length > 0) return { ok: false, problem: problems.join("; ") };
  return { ok: true, message: { messageId, orderingKey, to, subject, body: received.body } };
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

/** What the SDK throws once its client (or the connection under it) has been closed for good. */
function clientClosed(e: unknown): boolean {
  return e instanceof Error && /underlying AMQP connection is closed|has been closed/i.test(e.message) && !isServiceBusError(e);
}

function notSettled(received: ServiceBusReceivedMessage): Error {
  return new Error(`message ${String(received.messageId)} was not settled: the link it came on closed (Service Bus delivers it again)`);
}

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
