/**
 * The bus between the control plane and the media hosts, shaped after Azure Service
 * Bus so that its adapter is a thin mapping: a topic with one subscription per media
 * host (filtered on `to`), sessions for per-call ordering, at-least-once delivery
 * with duplicate detection by message id.
 */
export interface BusMessage<T = unknown> {
  /** Stable for the same logical event, so duplicates can be detected and dropped. */
  readonly messageId: string;
  /** Ordering key: messages with the same session id are handled one at a time, in order (the call id). */
  readonly sessionId: string;
  /** The media host the message is for (a Service Bus subscription filters on it). */
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
  /** Receives the messages addressed to `receiver` (a media host id). */
  subscribe(receiver: string, handler: MessageHandler): Subscription;
}
