import { setTimeout as delay } from "node:timers/promises";
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

export interface InProcessMessageBusOptions {
  /** Deliveries of one message before it is dead-lettered. */
  readonly maxDeliveryCount?: number;
  readonly retryDelayInMs?: number;
  /** How long a message id is remembered for duplicate detection. */
  readonly duplicateDetectionWindowInMs?: number;
}

interface Receiver {
  readonly handler: MessageHandler;
  /** Per ordering key, the tail of its delivery chain: one message at a time, in order. */
  readonly lanes: Map<string, Promise<void>>;
}

/**
 * The one-machine bus: same contract as the Service Bus adapter (one exclusive
 * subscriber per receiver, ordering per key, at-least-once with redelivery, duplicate
 * detection, dead-lettering, take-over of a gone receiver's messages), without the
 * network. Messages for a receiver that is not subscribed yet wait.
 */
export class InProcessMessageBus implements MessagePublisher, MessageSubscriber, MessageTakeover {
  readonly deadLetters: { message: BusMessage; reason: string }[] = [];
  readonly #receivers = new Map<string, Receiver>();
  readonly #waiting = new Map<string, BusMessage[]>();
  /** Subscribers waiting for a receiver another one holds. */
  readonly #queued = new Map<string, Receiver[]>();
  readonly #seen = new Map<string, number>();
  readonly #options: Required<InProcessMessageBusOptions>;

  constructor(options: InProcessMessageBusOptions = {}) {
    this.#options = { maxDeliveryCount: 10, retryDelayInMs: 50, duplicateDetectionWindowInMs: 10 * 60_000, ...options };
  }

  async publish(messages: readonly BusMessage[], options: PublishOptions = {}): Promise<void> {
    options.abortSignal?.throwIfAborted();
    const now = Date.now();
    // Oldest first (a Map keeps insertion order): stop at the first id still inside the window.
    for (const [id, at] of this.#seen) {
      if (now - at <= this.#options.duplicateDetectionWindowInMs) break;
      this.#seen.delete(id);
    }
    for (const message of messages) {
      if (this.#seen.has(message.messageId)) continue;
      this.#seen.set(message.messageId, now);
      const receiver = this.#receivers.get(message.to);
      if (receiver) this.#enqueue(receiver, message);
      else this.#waiting.set(message.to, [...(this.#waiting.get(message.to) ?? []), message]);
    }
  }

  subscribe(receiverId: string, handler: MessageHandler): Subscription {
    const receiver: Receiver = { handler, lanes: new Map() };
    // Held by another subscriber: this one gets the receiver when that one closes (as a Service Bus session lock).
    if (this.#receivers.has(receiverId)) this.#queued.set(receiverId, [...(this.#queued.get(receiverId) ?? []), receiver]);
    else this.#activate(receiverId, receiver);
    return {
      close: async () => {
        const queued = this.#queued.get(receiverId) ?? [];
        if (queued.includes(receiver)) {
          this.#queued.set(
            receiverId,
            queued.filter((r) => r !== receiver),
          );
          return;
        }
        if (this.#receivers.get(receiverId) !== receiver) return;
        this.#receivers.delete(receiverId);
        const next = queued[0];
        if (next) {
          this.#queued.set(receiverId, queued.slice(1));
          this.#activate(receiverId, next);
        }
        await Promise.allSettled(receiver.lanes.values());
      },
    };
  }

  #activate(receiverId: string, receiver: Receiver): void {
    this.#receivers.set(receiverId, receiver);
    for (const message of this.#waiting.get(receiverId) ?? []) this.#enqueue(receiver, message);
    this.#waiting.delete(receiverId);
  }

  async takeOver(receiverId: string, options: TakeOverOptions): Promise<TakeOverResult> {
    options.abortSignal?.throwIfAborted();
    if (this.#receivers.has(receiverId)) return { kind: "busy" };
    const waiting = this.#waiting.get(receiverId) ?? [];
    this.#waiting.delete(receiverId);
    for (const message of waiting) this.deadLetters.push({ message, reason: options.deadLetterReason });
    return { kind: "taken", deadLettered: waiting.length };
  }

  /**
   * Resolves when every delivery in flight has finished (for tests and orderly shutdown),
   * including those that deliveries caused: a handler may publish while this waits.
   */
  async drain(): Promise<void> {
    for (;;) {
      const inFlight = [...this.#receivers.values()].flatMap((receiver) => [...receiver.lanes.values()]);
      if (inFlight.length === 0) return;
      await Promise.allSettled(inFlight);
    }
  }

  #enqueue(receiver: Receiver, message: BusMessage): void {
    const previous = receiver.lanes.get(message.orderingKey) ?? Promise.resolve();
    const next = previous.then(() => this.#deliver(receiver, message));
    receiver.lanes.set(message.orderingKey, next);
    void next.finally(() => {
      if (receiver.lanes.get(message.orderingKey) === next) receiver.lanes.delete(message.orderingKey);
    });
  }

  async #deliver(receiver: Receiver, message: BusMessage): Promise<void> {
    let lastError = "";
    for (let attempt = 1; attempt <= this.#options.maxDeliveryCount; attempt++) {
      try {
        await receiver.handler(message);
        return;
      } catch (e) {
        lastError = e instanceof Error ? e.message : String(e);
        await delay(this.#options.retryDelayInMs * attempt);
      }
    }
    this.deadLetters.push({ message, reason: `handler failed ${this.#options.maxDeliveryCount} times: ${lastError}` });
  }
}
