/**
 * RFC 3261 §17 timer values (Table 4) and the scheduler transactions run on. The
 * scheduler is a port so that tests drive time by hand and nothing waits for real.
 */
export interface TimerValues {
  /** RTT estimate: 500 ms. */
  readonly t1InMs: number;
  /** Longest interval between retransmissions of non-INVITE requests and INVITE responses: 4 s. */
  readonly t2InMs: number;
  /** Longest time a message stays in the network: 5 s. */
  readonly t4InMs: number;
}

export const DEFAULT_TIMERS: TimerValues = { t1InMs: 500, t2InMs: 4000, t4InMs: 5000 };

export interface Scheduler {
  setTimeout(callback: () => void, delayInMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realScheduler: Scheduler = {
  setTimeout: (callback, delayInMs) => {
    const handle = setTimeout(callback, delayInMs);
    handle.unref?.();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Named timers of one transaction; starting one that runs restarts it. */
export class TransactionTimers {
  readonly #scheduler: Scheduler;
  readonly #running = new Map<string, unknown>();

  constructor(scheduler: Scheduler) {
    this.#scheduler = scheduler;
  }

  start(name: string, delayInMs: number, onFire: () => void): void {
    this.stop(name);
    this.#running.set(
      name,
      this.#scheduler.setTimeout(() => {
        this.#running.delete(name);
        onFire();
      }, delayInMs),
    );
  }

  stop(name: string): void {
    const handle = this.#running.get(name);
    if (handle !== undefined) this.#scheduler.clearTimeout(handle);
    this.#running.delete(name);
  }

  stopAll(): void {
    for (const name of [...this.#running.keys()]) this.stop(name);
  }
}
