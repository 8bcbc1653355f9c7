import { randomBytes } from "node:crypto";
import rhea, { type Message, type Sender } from "rhea";

// One Service Bus message store (a subscription, a queue, one session of a queue, or a
// dead-letter sub-queue): peek-lock deliveries to the receiver links attached to it, within
// their credit, with lock expiry, abandon/redelivery up to the max delivery count, and
// dead-lettering.

/** A message as the broker holds it: the publisher's AMQP message plus the broker's bookkeeping. */
export interface StoredMessage {
  readonly sequenceNumber: number;
  readonly enqueuedTime: Date;
  /** Replaced (never mutated) when a settlement modifies annotations or properties: subscriptions share publishes. */
  message: Message;
  /** Failed deliveries so far: the AMQP header's delivery-count, 0 on the first delivery. */
  deliveryCount: number;
}

export type Outcome =
  | { readonly kind: "complete" }
  | { readonly kind: "abandon"; readonly annotations?: Readonly<Record<string, unknown>> }
  | { readonly kind: "deadLetter"; readonly properties: Readonly<Record<string, unknown>> };

export interface EntityQueueOptions {
  readonly lockDurationInMs: number;
  readonly maxDeliveryCount: number;
  /** Where dead-lettered messages go; absent for a dead-letter queue itself. */
  readonly deadLetterQueue?: EntityQueue;
  /**
   * Set for one session's messages: their locks are the session lock, whose expiry this gives
   * (as receivers are told it). They have no expiry of their own and end when the link lets
   * the session go; lockDurationInMs does not apply.
   */
  readonly sessionLockedUntil?: () => Date;
}

interface Lock {
  readonly stored: StoredMessage;
  readonly link: Sender;
  /** Absent for a session's messages. */
  timer: NodeJS.Timeout | undefined;
}

/** rhea's session buffers outgoing deliveries (2048 by default); untyped. */
interface SessionBuffers {
  outgoing: { available(): number };
}

/** rhea keeps these on the link without typing them: credit left and transfers sent since attach. */
interface LinkCounters {
  credit: number;
  delivery_count: number;
}

export class EntityQueue {
  readonly #options: EntityQueueOptions;
  /** Ready for delivery, by sequence number. */
  readonly #available: StoredMessage[] = [];
  /** Delivered and locked, by lock token (the delivery tag, hex). */
  readonly #locks = new Map<string, Lock>();
  readonly #links: Sender[] = [];
  /** Deliveries handed to rhea per link: rhea counts credit down only when it writes the transfer. */
  readonly #sent = new WeakMap<Sender, number>();
  #nextLink = 0;
  #lockRenewals = 0;

  constructor(
    readonly path: string,
    options: EntityQueueOptions,
  ) {
    this.#options = options;
  }

  /** Active messages as Service Bus counts them: available and locked. */
  get activeMessageCount(): number {
    return this.#available.length + this.#locks.size;
  }

  /** Successful renew-lock operations so far. */
  get lockRenewals(): number {
    return this.#lockRenewals;
  }

  /** Every message held (available and locked), by sequence number. */
  messages(): StoredMessage[] {
    return [...this.#available, ...[...this.#locks.values()].map((lock) => lock.stored)].sort((a, b) => a.sequenceNumber - b.sequenceNumber);
  }

  enqueue(stored: StoredMessage): void {
    this.#insert(stored);
    this.pump();
  }

  attach(link: Sender): void {
    this.#links.push(link);
    this.pump();
  }

  /** The link is gone (detached, its session ended, its connection dropped): its locked messages are available again at once. */
  detach(link: Sender): void {
    const index = this.#links.indexOf(link);
    if (index < 0) return;
    this.#links.splice(index, 1);
    for (const [token, lock] of this.#locks) {
      if (lock.link !== link) continue;
      clearTimeout(lock.timer);
      this.#locks.delete(token);
      this.#insert(lock.stored);
    }
    this.pump();
  }

  /** Sends available messages to links with credit, round robin. */
  pump(): void {
    while (this.#available.length > 0) {
      const link = this.#sendableLink();
      if (!link) return;
      this.#deliver(link, this.#available.shift()!);
    }
  }

  /** The receiver asked to drain: use up its credit when nothing is left to send. */
  drain(link: Sender): void {
    this.pump();
    const left = this.#freeCredit(link);
    if (left <= 0) return;
    // rhea advances delivery-count by the credit left when it writes the drained flow.
    this.#sent.set(link, (this.#sent.get(link) ?? 0) + left);
    link.set_drained(true);
  }

  /** Applies a settlement; false when the lock is not held (expired, or released with its link). */
  settle(lockToken: string, outcome: Outcome): boolean {
    const lock = this.#takeLock(lockToken);
    if (!lock) return false;
    if (outcome.kind === "abandon") {
      const annotations = { ...lock.stored.message.message_annotations, ...outcome.annotations };
      lock.stored.message = { ...lock.stored.message, message_annotations: annotations };
      this.#redeliverOrDeadLetter(lock.stored);
    } else if (outcome.kind === "deadLetter") {
      this.#deadLetter(lock.stored, outcome.properties);
    }
    this.pump();
    return true;
  }

  /** Extends a held lock by the lock duration; undefined when the lock is not held (a session's messages have only the session lock). */
  renewLock(lockToken: string): Date | undefined {
    const lock = this.#locks.get(lockToken);
    if (!lock || this.#options.sessionLockedUntil) return undefined;
    clearTimeout(lock.timer);
    lock.timer = this.#expireLater(lockToken);
    this.#lockRenewals++;
    return new Date(Date.now() + this.#options.lockDurationInMs);
  }

  /** Stops lock timers (the broker is stopping). */
  dispose(): void {
    for (const lock of this.#locks.values()) clearTimeout(lock.timer);
  }

  #deliver(link: Sender, stored: StoredMessage): void {
    // The delivery tag is the lock token: 16 bytes, which the SDK shows as a GUID.
    const tag = randomBytes(16);
    this.#sent.set(link, (this.#sent.get(link) ?? 0) + 1);
    // A receiver attached with snd-settle-mode settled (receiveAndDelete) takes messages without locks.
    if (link.snd_settle_mode === 1) {
      link.send(wireMessage(stored), tag);
      return;
    }
    const token = tag.toString("hex");
    const sessionLockedUntil = this.#options.sessionLockedUntil;
    link.send(wireMessage(stored, sessionLockedUntil?.() ?? new Date(Date.now() + this.#options.lockDurationInMs)), tag);
    this.#locks.set(token, { stored, link, timer: sessionLockedUntil ? undefined : this.#expireLater(token) });
  }

  #expireLater(lockToken: string): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const lock = this.#takeLock(lockToken);
      if (lock) this.#redeliverOrDeadLetter(lock.stored);
      this.pump();
    }, this.#options.lockDurationInMs);
    // An idle broker must not keep a test process alive.
    timer.unref();
    return timer;
  }

  #takeLock(lockToken: string): Lock | undefined {
    const lock = this.#locks.get(lockToken);
    if (!lock) return undefined;
    clearTimeout(lock.timer);
    this.#locks.delete(lockToken);
    return lock;
  }

  #redeliverOrDeadLetter(stored: StoredMessage): void {
    stored.deliveryCount++;
    if (this.#options.deadLetterQueue && stored.deliveryCount >= this.#options.maxDeliveryCount) {
      this.#deadLetter(stored, {
        DeadLetterReason: "MaxDeliveryCountExceeded",
        DeadLetterErrorDescription: `Message could not be consumed after ${this.#options.maxDeliveryCount} delivery attempts.`,
      });
    } else {
      this.#insert(stored);
    }
  }

  /** Moves a message to the dead-letter queue with the reason as application properties (a dead-letter queue's own messages are dropped). */
  #deadLetter(stored: StoredMessage, properties: Readonly<Record<string, unknown>>): void {
    const message: Message = {
      ...stored.message,
      application_properties: { ...stored.message.application_properties, ...withoutUndefined(properties) },
    } as Message;
    this.#options.deadLetterQueue?.enqueue({ ...stored, message });
  }

  #insert(stored: StoredMessage): void {
    let index = this.#available.length;
    while (index > 0 && this.#available[index - 1]!.sequenceNumber > stored.sequenceNumber) index--;
    this.#available.splice(index, 0, stored);
  }

  #sendableLink(): Sender | undefined {
    for (let i = 0; i < this.#links.length; i++) {
      const index = (this.#nextLink + i) % this.#links.length;
      const link = this.#links[index]!;
      if (link.is_open() && this.#freeCredit(link) > 0 && (link.session as unknown as SessionBuffers).outgoing.available() > 0) {
        this.#nextLink = index + 1;
        return link;
      }
    }
    return undefined;
  }

  /** Credit the receiver granted minus deliveries rhea has not written yet. */
  #freeCredit(link: Sender): number {
    const counters = link as unknown as LinkCounters;
    return counters.credit + counters.delivery_count - (this.#sent.get(link) ?? 0);
  }
}

/** The AMQP message as a receiver gets it: header delivery-count and Service Bus annotations added. */
export function wireMessage(stored: StoredMessage, lockedUntil?: Date): Message {
  const annotations: Record<string, unknown> = {
    ...stored.message.message_annotations,
    // The SDK reads the sequence number as a long (a Long or 8 bytes).
    "x-opt-sequence-number": rhea.types.wrap_long(stored.sequenceNumber),
    "x-opt-enqueued-time": stored.enqueuedTime,
  };
  if (lockedUntil) annotations["x-opt-locked-until"] = lockedUntil;
  return { ...stored.message, delivery_count: stored.deliveryCount, message_annotations: annotations } as Message;
}

function withoutUndefined(record: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}
