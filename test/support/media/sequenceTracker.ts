/**
 * What a receiver makes of one stream's 16-bit sequence numbers (RFC 3550 A.1, without the probation):
 * the wraps it saw, the extended highest sequence number, how many distinct packets arrived (a NACK's
 * retransmission of one already there is a duplicate) and how many are missing. A sequence number more
 * than half the space behind the highest is a late packet from before, never a wrap.
 */
export class SequenceTracker {
  wraps = 0;
  /** Distinct packets. */
  received = 0;
  duplicates = 0;
  #first = -1;
  #highest = -1;
  /** One byte per extended sequence number since the first. */
  #seen = new Uint8Array(4096);

  observe(sequence: number): void {
    if (this.#highest < 0) {
      this.#first = sequence;
      this.#highest = sequence;
      this.#mark(sequence);
      return;
    }
    const last = this.#highest & 0xffff;
    const ahead = (sequence - last) & 0xffff;
    if (ahead !== 0 && ahead < 0x8000) {
      if (sequence < last) this.wraps++;
      this.#highest += ahead;
      this.#mark(this.#highest);
    } else {
      this.#mark(this.#highest - ((last - sequence) & 0xffff));
    }
  }

  /** RFC 3550's extended highest sequence number (-1 before the first packet). */
  get extendedHighest(): number {
    return this.#highest;
  }

  /** Expected (first to highest) minus the distinct packets received. */
  get lost(): number {
    return this.#highest < 0 ? 0 : this.#highest - this.#first + 1 - this.received;
  }

  #mark(extended: number): void {
    const index = extended - this.#first;
    if (index < 0) return; // from before the first packet: not counted
    if (index >= this.#seen.length) {
      const grown = new Uint8Array(Math.max(this.#seen.length * 2, index + 1));
      grown.set(this.#seen);
      this.#seen = grown;
    }
    if (this.#seen[index]) {
      this.duplicates++;
      return;
    }
    this.#seen[index] = 1;
    this.received++;
  }
}
