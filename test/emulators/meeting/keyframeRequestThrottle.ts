/**
 * At most one keyframe request to a source per interval, as Teams' media server
 * aggregates its receivers' requests. A request inside the interval is not dropped but
 * folded into one sent when the interval ends: the receiver that asked still needs its
 * keyframe.
 */
export class KeyframeRequestThrottle {
  readonly #intervalInMs: number;
  readonly #send: () => void;
  #lastSentAtMs = Number.NEGATIVE_INFINITY;
  #pending: NodeJS.Timeout | undefined;
  #closed = false;
  /** Requests actually sent (for tests and the snapshot). */
  sent = 0;

  constructor(intervalInMs: number, send: () => void) {
    this.#intervalInMs = intervalInMs;
    this.#send = send;
  }

  request(): void {
    if (this.#closed || this.#pending) return;
    const wait = this.#lastSentAtMs + this.#intervalInMs - Date.now();
    if (wait <= 0) {
      this.#fire();
      return;
    }
    this.#pending = setTimeout(() => {
      this.#pending = undefined;
      if (!this.#closed) this.#fire();
    }, wait);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#pending);
    this.#pending = undefined;
  }

  #fire(): void {
    this.#lastSentAtMs = Date.now();
    this.sent++;
    this.#send();
  }
}
