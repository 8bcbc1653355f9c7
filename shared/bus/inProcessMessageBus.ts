import { setTimeout as delay } from "node:timers/promises";
import type { BusMessage, MessageHandler, MessagePublisher, MessageSubscriber, PublishOptions, Subscription } from "./messageBus.js";

export interface InProcessMessageBusOptions {
  /** Deliveries of one message before it is dead-lettered. */
  readonly maxDeliveryCount?: number;
  readonly retryDelayInMs?: number;
  /** How long a message id is remembered for duplicate detection. */
  readonly duplicateDetectionWindowInMs?: number;
}

interface Receiver {
  readonly handler: MessageHandler;
  /** Per session, the tail of its delivery chain: one message at a time, in order. */
  readonly sessions: Map<string, Promise<void>>;
}

/**
 * The one-machine bus: same contract as the Service Bus adapter (ordering per
 * session, at-least-once with redelivery, duplicate detection, dead-lettering),
 * without the network. Messages for a receiver that is not subscribed yet wait.
 */
export class InProcessMessageBus implements MessagePublisher, MessageSubscriber {
  readonly deadLetters: { message: BusMessage; reason: string }[] = [];
  readonly #receivers = new Map<string, Receiver>();
  readonly #waiting = new Map<string, BusMessage[]>();
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
    if (this.#receivers.has(receiverId)) throw new Error(`${receiverId} is subscribed already`);
    const receiver: Receiver = { handler, sessions: new Map() };
    this.#receivers.set(receiverId, receiver);
    for (const message of this.#waiting.get(receiverId) ?? []) this.#enqueue(receiver, message);
    this.#waiting.delete(receiverId);
    return {
      close: async () => {
        this.#receivers.delete(receiverId);
        await Promise.allSettled(receiver.sessions.values());
      },
    };
  }

  /**
   * Resolves when every delivery in flight has finished (for tests and orderly shutdown),
   * including those that deliveries caused: a handler may publish while this waits.
   */
  async drain(): Promise<void> {
    for (;;) {
      const inFlight = [...this.#receivers.values()].flatMap((receiver) => [...receiver.sessions.values()]);
      if (inFlight.length === 0) return;
      await Promise.allSettled(inFlight);
    }
  }

  #enqueue(receiver: Receiver, message: BusMessage): void {
    const previous = receiver.sessions.get(message.sessionId) ?? Promise.resolve();
    const next = previous.then(() => this.#deliver(receiver, message));
    receiver.sessions.set(message.sessionId, next);
    void next.finally(() => {
      if (receiver.sessions.get(message.sessionId) === next) receiver.sessions.delete(message.sessionId);
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
