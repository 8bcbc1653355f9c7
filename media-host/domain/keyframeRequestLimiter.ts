/**
 * Keyframe requests are cheap to send and expensive to honour (a keyframe is several
 * times a normal frame): at most one per interval goes on, whichever side asks. A
 * request inside the interval is remembered and sent when it ends, so the last one
 * is never lost. No I/O: the caller owns the clock and the timer.
 */
export class KeyframeRequestLimiter {
  readonly #minIntervalInMs: number;
  #lastSentAt = Number.NEGATIVE_INFINITY;
  #pending = false;

  constructor(minIntervalInMs = 500) {
    this.#minIntervalInMs = minIntervalInMs;
  }

  /** A request came: "send" now, or "later" (after `retryInMs`), or "coalesced" into one already pending. */
  request(nowMs: number): { readonly action: "send" } | { readonly action: "later"; readonly retryInMs: number } | { readonly action: "coalesced" } {
    const waited = nowMs - this.#lastSentAt;
    if (waited >= this.#minIntervalInMs) {
      this.#lastSentAt = nowMs;
      this.#pending = false;
      return { action: "send" };
    }
    if (this.#pending) return { action: "coalesced" };
    this.#pending = true;
    return { action: "later", retryInMs: this.#minIntervalInMs - waited };
  }

  /** The deferred request is due: whether to send it now. */
  due(nowMs: number): boolean {
    if (!this.#pending) return false;
    this.#pending = false;
    this.#lastSentAt = nowMs;
    return true;
  }
}
