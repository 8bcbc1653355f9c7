/**
 * rtpengine 10.5 reads at most 50 datagrams per wake-up of a port; five wake-ups in a row
 * that find more queued and it stops reading that port for the rest of its call (its
 * "UDP receive queue exceeded" strikes: one stall of ~150 ms at a high packet rate is
 * enough). Nothing in rtpengine says so afterwards. This judge tells such a deaf stream from
 * a sender that went quiet: rtpengine's packet count for the port stands still while the
 * kernel holds datagrams for it (queued, or dropped because the queue is full).
 */

/** Whose media enters rtpengine on the port: the device's, or the meeting's (from the bridge). */
export type StreamParty = "device" | "meeting";

/** One port of a call in rtpengine at one moment: rtpengine's count and the kernel's queue. */
export interface StreamReading {
  readonly party: StreamParty;
  /** "audio", "video", … (the m-line's media type). */
  readonly kind: string;
  /** The m-line's index in the SDP. */
  readonly mediaIndex: number;
  /** rtcp: a port of its own for RTCP (no rtcp-mux). */
  readonly component: "rtp" | "rtcp";
  readonly address: string;
  readonly port: number;
  /** Datagrams rtpengine has read from the port. */
  readonly packets: number;
  /** The kernel's receive queue of the port (undefined: no such socket in this network namespace). */
  readonly queuedBytes: number | undefined;
  /** The kernel's drop count of the port. */
  readonly drops: number | undefined;
}

export interface DeafStream {
  readonly party: StreamParty;
  readonly kind: string;
  readonly mediaIndex: number;
  readonly component: "rtp" | "rtcp";
  readonly address: string;
  readonly port: number;
  readonly queuedBytes: number;
  /** Datagrams the kernel dropped on the port since the last reading. */
  readonly dropped: number;
  /** Whether the other party's stream of the same media kept flowing meanwhile. */
  readonly peerFlowing: boolean;
}

export type StreamVerdict =
  | { readonly verdict: "deaf"; readonly stream: DeafStream }
  | { readonly verdict: "recovered"; readonly stream: DeafStream };

interface Remembered {
  readonly reading: StreamReading;
  readonly deaf: DeafStream | undefined;
}

const keyOf = (r: Pick<StreamReading, "party" | "mediaIndex" | "component" | "port">) => `${r.party}/${r.mediaIndex}/${r.component}/${r.port}`;

/**
 * The streams of one call, judged each time a new set of readings comes: a stream becomes
 * deaf (said once) when rtpengine read nothing from its port since the last reading although
 * the kernel dropped datagrams for it or held some at both readings; it recovers (said once)
 * when rtpengine reads from it again.
 */
export class DeafStreamJudge {
  #last = new Map<string, Remembered>();

  /** The streams that became deaf or recovered since the last readings. */
  judge(readings: readonly StreamReading[]): StreamVerdict[] {
    const verdicts: StreamVerdict[] = [];
    const next = new Map<string, Remembered>();
    const flowing = new Set<string>();
    for (const reading of readings) {
      const before = this.#last.get(keyOf(reading))?.reading;
      if (before && reading.packets > before.packets) flowing.add(`${reading.party}/${reading.mediaIndex}`);
    }
    for (const reading of readings) {
      const key = keyOf(reading);
      const remembered = this.#last.get(key);
      const before = remembered?.reading;
      let deaf = remembered?.deaf;
      if (before) {
        const read = reading.packets > before.packets;
        const dropped = reading.drops !== undefined && before.drops !== undefined ? Math.max(0, reading.drops - before.drops) : 0;
        const stillQueued = (reading.queuedBytes ?? 0) > 0 && (before.queuedBytes ?? 0) > 0;
        const peer = `${reading.party === "device" ? "meeting" : "device"}/${reading.mediaIndex}`;
        if (read && deaf) {
          verdicts.push({ verdict: "recovered", stream: deaf });
          deaf = undefined;
        } else if (!read && !deaf && (dropped > 0 || stillQueued)) {
          deaf = {
            party: reading.party,
            kind: reading.kind,
            mediaIndex: reading.mediaIndex,
            component: reading.component,
            address: reading.address,
            port: reading.port,
            queuedBytes: reading.queuedBytes ?? 0,
            dropped,
            peerFlowing: flowing.has(peer),
          };
          verdicts.push({ verdict: "deaf", stream: deaf });
        }
      }
      next.set(key, { reading, deaf });
    }
    this.#last = next;
    return verdicts;
  }

  /** The streams judged deaf and not recovered. */
  get deafStreams(): DeafStream[] {
    return [...this.#last.values()].flatMap((r) => (r.deaf ? [r.deaf] : []));
  }
}
