/** Timers the transports run on; a port so that tests move time by hand and nothing waits for real. */
export interface BfcpClock {
  setTimeout(callback: () => void, delayInMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: BfcpClock = {
  setTimeout: (callback, delayInMs) => {
    const handle = setTimeout(callback, delayInMs);
    // A pending retransmission or cache expiry must not keep the process alive.
    handle.unref?.();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
