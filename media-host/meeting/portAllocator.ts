/**
 * Hands out the meeting legs' ICE ports from WEBRTC_PORT_MIN..MAX. werift, given a port
 * range, probes it linearly from the bottom — one bind (and one EADDRINUSE) per port in
 * use — which at a hundred live calls cost more than the rest of a leg's set-up. Each
 * leg instead gets a small window of its own, round-robin over the range and skipping
 * ports that live legs hold, so werift's first probe almost always succeeds and the
 * window's other ports cover a port taken by someone else. A window is never a single
 * port: werift refuses an icePortRange whose ends are equal.
 */
export class PortAllocator {
  readonly #min: number;
  readonly #max: number;
  readonly #window: number;
  readonly #inUse = new Set<number>();
  #next: number;

  constructor(min: number, max: number, window = 4) {
    if (!(Number.isInteger(min) && Number.isInteger(max) && min > 0 && max > min && max <= 65535))
      throw new RangeError(`bad port range ${min}-${max}: two ports at least`);
    this.#min = min;
    this.#max = max;
    this.#window = Math.max(2, Math.min(window, max - min + 1));
    this.#next = min;
  }

  get inUse(): number {
    return this.#inUse.size;
  }

  /** A window [first, last] (two ports at least) whose first port no live leg holds; undefined when every start is held. */
  allocate(): readonly [number, number] | undefined {
    // Windows start below the last port, so each spans two ports at least.
    const starts = this.#max - this.#min;
    for (let tried = 0; tried < starts; tried++) {
      const port = this.#next;
      this.#next = port === this.#max - 1 ? this.#min : port + 1;
      if (this.#inUse.has(port)) continue;
      this.#inUse.add(port);
      return [port, Math.min(this.#max, port + this.#window - 1)];
    }
    return undefined;
  }

  release(port: number): void {
    this.#inUse.delete(port);
  }
}
