import type { Sender } from "rhea";
import { EntityQueue, type StoredMessage } from "./entityQueue.js";

// A session-enabled queue: its messages grouped by session id (the AMQP group_id), one
// EntityQueue per session. A receiver link holds one session at a time under a session lock,
// which expires unless renewed; a session nobody holds keeps its messages for the next holder.

export const SESSION_CANNOT_BE_LOCKED = "com.microsoft:session-cannot-be-locked";
export const SESSION_LOCK_LOST = "com.microsoft:session-lock-lost";
export const SESSION_LOCK_LOST_DESCRIPTION = "The session lock has expired on the MessageSession. Accept a new MessageSession.";
const TIMEOUT = "com.microsoft:timeout";

/** What the queue decides about receiver links; the broker answers on the wire. */
export interface SessionLinks {
  /** The link holds `sessionId` until `lockedUntil` and receives from `messages`: answer its attach. */
  granted(link: Sender, sessionId: string, lockedUntil: Date, messages: EntityQueue): void;
  /** Refuse the link's attach, or detach the link, with this error. */
  refused(link: Sender, condition: string, description: string): void;
}

export interface SessionQueueOptions {
  readonly lockDurationInMs: number;
  readonly maxDeliveryCount: number;
  readonly deadLetterQueue: EntityQueue;
}

interface Session {
  readonly id: string;
  readonly messages: EntityQueue;
  lock: SessionLock | undefined;
}

interface SessionLock {
  readonly link: Sender;
  lockedUntil: Date;
  timer: NodeJS.Timeout;
}

/** A link that asked for the next available session while none was free. */
interface Waiter {
  readonly link: Sender;
  readonly timer: NodeJS.Timeout;
}

export class SessionQueue {
  readonly #options: SessionQueueOptions;
  readonly #links: SessionLinks;
  readonly #sessions = new Map<string, Session>();
  /** Held sessions by the link holding them. */
  readonly #held = new Map<Sender, Session>();
  /** Oldest first. */
  readonly #waiting: Waiter[] = [];

  constructor(
    readonly path: string,
    options: SessionQueueOptions,
    links: SessionLinks,
  ) {
    this.#options = options;
    this.#links = links;
  }

  /** Every message held (available and locked), of one session or all, by sequence number. */
  messages(sessionId?: string): StoredMessage[] {
    const sessions = sessionId === undefined ? [...this.#sessions.values()] : [this.#sessions.get(sessionId)].filter((s) => s !== undefined);
    return sessions.flatMap((session) => session.messages.messages()).sort((a, b) => a.sequenceNumber - b.sequenceNumber);
  }

  /** Sessions a link holds, by id. */
  lockedSessions(): string[] {
    return [...this.#held.values()].map((session) => session.id).sort();
  }

  /** Links waiting for the next available session. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Stores a message in its session (the broker refuses messages without a session id before this). */
  enqueue(stored: StoredMessage): void {
    const session = this.#session(String(stored.message.group_id));
    session.messages.enqueue(stored);
    if (!session.lock) this.#serveWaiting();
  }

  /**
   * A receiver link attached asking for `sessionId`, or (null) for any free session with
   * messages, waiting up to `waitInMs` for one to become free, as Service Bus long-polls.
   */
  accept(link: Sender, sessionId: string | null, waitInMs: number): void {
    if (sessionId !== null) {
      const session = this.#session(sessionId);
      if (session.lock)
        this.#links.refused(
          link,
          SESSION_CANNOT_BE_LOCKED,
          `The requested session '${sessionId}' cannot be accepted. It may be locked by another receiver.`,
        );
      else this.#hold(session, link);
      return;
    }
    const free = this.#nextAvailable();
    if (free) {
      this.#hold(free, link);
      return;
    }
    const timer = setTimeout(() => {
      this.#stopWaiting(link);
      this.#links.refused(link, TIMEOUT, `No session with messages became available within ${waitInMs} ms.`);
    }, waitInMs);
    timer.unref();
    this.#waiting.push({ link, timer });
  }

  /** The link is gone (detached, its session ended, its connection dropped, its lock lost): its session is free at once, its locked messages available again. */
  release(link: Sender): void {
    this.#stopWaiting(link);
    const session = this.#held.get(link);
    if (!session) return;
    clearTimeout(session.lock?.timer);
    session.lock = undefined;
    this.#held.delete(link);
    session.messages.detach(link);
    if (session.messages.activeMessageCount === 0) this.#sessions.delete(session.id);
    this.#serveWaiting();
  }

  /** Extends the session lock by the lock duration; undefined when not held (by the link named, when one is). */
  renewLock(sessionId: string, linkName?: string): Date | undefined {
    const lock = this.#sessions.get(sessionId)?.lock;
    if (!lock || (linkName !== undefined && lock.link.name !== linkName)) return undefined;
    clearTimeout(lock.timer);
    lock.lockedUntil = new Date(Date.now() + this.#options.lockDurationInMs);
    lock.timer = this.#expireLater(lock.link);
    return lock.lockedUntil;
  }

  /** Stops timers (the broker is stopping). */
  dispose(): void {
    for (const session of this.#sessions.values()) clearTimeout(session.lock?.timer);
    for (const waiter of this.#waiting) clearTimeout(waiter.timer);
  }

  #session(id: string): Session {
    let session = this.#sessions.get(id);
    if (!session) {
      const created: Session = {
        id,
        messages: new EntityQueue(this.path, {
          lockDurationInMs: this.#options.lockDurationInMs,
          maxDeliveryCount: this.#options.maxDeliveryCount,
          deadLetterQueue: this.#options.deadLetterQueue,
          sessionLockedUntil: () => created.lock?.lockedUntil ?? new Date(),
        }),
        lock: undefined,
      };
      session = created;
      this.#sessions.set(id, session);
    }
    return session;
  }

  #hold(session: Session, link: Sender): void {
    const lockedUntil = new Date(Date.now() + this.#options.lockDurationInMs);
    session.lock = { link, lockedUntil, timer: this.#expireLater(link) };
    this.#held.set(link, session);
    this.#links.granted(link, session.id, lockedUntil, session.messages);
    session.messages.attach(link);
  }

  #expireLater(link: Sender): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.release(link);
      this.#links.refused(link, SESSION_LOCK_LOST, SESSION_LOCK_LOST_DESCRIPTION);
    }, this.#options.lockDurationInMs);
    // An idle broker must not keep a test process alive.
    timer.unref();
    return timer;
  }

  /** The free session with the oldest message, if any. */
  #nextAvailable(): Session | undefined {
    let next: Session | undefined;
    let oldest = Number.POSITIVE_INFINITY;
    for (const session of this.#sessions.values()) {
      const first = session.lock ? undefined : session.messages.messages()[0];
      if (first && first.sequenceNumber < oldest) {
        next = session;
        oldest = first.sequenceNumber;
      }
    }
    return next;
  }

  #serveWaiting(): void {
    while (this.#waiting.length > 0) {
      const session = this.#nextAvailable();
      if (!session) return;
      const waiter = this.#waiting.shift()!;
      clearTimeout(waiter.timer);
      this.#hold(session, waiter.link);
    }
  }

  #stopWaiting(link: Sender): void {
    const index = this.#waiting.findIndex((waiter) => waiter.link === link);
    if (index < 0) return;
    clearTimeout(this.#waiting[index]!.timer);
    this.#waiting.splice(index, 1);
  }
}
