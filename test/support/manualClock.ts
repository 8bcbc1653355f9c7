import type { Scheduler } from "../../media-host/sip/transactions/timers.js";

/** Time that moves only when told: timers fire in due order, nothing waits for real. */
export class ManualClock implements Scheduler {
  now = 0;
  #next = 0;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();

  setTimeout(callback: () => void, delayInMs: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.now + delayInMs, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = [...this.#timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!due) break;
      this.#timers.delete(due[0]);
      this.now = due[1].at;
      due[1].callback();
    }
    this.now = until;
  }
}
