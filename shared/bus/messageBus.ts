/**
 * The bus between the control plane and the media hosts, shaped after Azure Service
 * Bus so that its adapter is a thin mapping: one queue whose sessions are the media
 * hosts (the session id is `to`; a host holds its session's lock while it lives), per-call
 * ordering inside a host's messages (`orderingKey`), at-least-once delivery with duplicate
 * detection by message id, and a take-over of a dead host's leftovers.
 */
export interface BusMessage<T = unknown> {
  /** Stable for the same logical event, so duplicates can be detected and dropped. */
  readonly messageId: string;
  /** Messages with the same ordering key are handled one at a time, in order (the call id). */
  readonly orderingKey: string;
  /** The media host the message is for (its Service Bus session). */
  readonly to: string;
  /** The event type, e.g. "call.established". */
  readonly subject: string;
  readonly body: T;
}

export interface PublishOptions {
  readonly abortSignal?: AbortSignal;
}

export interface MessagePublisher {
  publish(messages: readonly BusMessage[], options?: PublishOptions): Promise<void>;
}

/** Handles one message; throwing makes the bus deliver it again later (at-least-once). */
export type MessageHandler = (message: BusMessage) => Promise<void>;

export interface Subscription {
  close(): Promise<void>;
}

export interface MessageSubscriber {
  /**
   * Receives the messages addressed to `receiver` (a media host id), exclusively: while one
   * subscriber holds a receiver, nobody else gets its messages. Messages sent before the
   * subscription wait for it.
   */
  subscribe(receiver: string, handler: MessageHandler): Subscription;
}

export type TakeOverResult = { readonly kind: "taken"; readonly deadLettered: number } | { readonly kind: "busy" };

export interface TakeOverOptions {
  /** Recorded with each dead-lettered message (DeadLetterReason). */
  readonly deadLetterReason: string;
  readonly abortSignal?: AbortSignal;
}

export interface MessageTakeover {
  /**
   * For a receiver that is gone for good (a dead media host): dead-letters what waits for
   * it. "busy" while a subscriber still holds it (alive after all, or its lock has not
   * expired yet): try again later.
   */
  takeOver(receiver: string, options: TakeOverOptions): Promise<TakeOverResult>;
}
