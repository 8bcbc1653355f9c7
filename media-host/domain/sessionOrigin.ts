const ORIGIN = /^o=(\S+) (\S+) (\d+) (\S+ \S+ \S+?)(\r?)$/m;

/**
 * The o= line of every SDP the gateway sends one device (RFC 3264 §8): the first one's
 * username, session id and address for the whole dialog, the version one up on each SDP
 * after it, whichever of our offers and answers it is (rtpengine writes the o= of whoever
 * fed it the SDP: the device's own at set-up, the bridge's when we offer). Pure.
 */
export class SessionOrigin {
  #fixed: { readonly username: string; readonly sessionId: string; readonly rest: string } | undefined;
  #version = 0n;

  /** `sdp` with our o= line; an SDP without one is returned as it is. */
  stamp(sdp: string): string {
    const match = ORIGIN.exec(sdp);
    if (!match) return sdp;
    const [, username = "-", sessionId = "0", version = "0", rest = "", cr = ""] = match;
    if (!this.#fixed) {
      this.#fixed = { username, sessionId, rest };
      this.#version = BigInt(version);
      return sdp;
    }
    this.#version++;
    const { username: u, sessionId: id, rest: r } = this.#fixed;
    return sdp.replace(ORIGIN, `o=${u} ${id} ${this.#version} ${r}${cr}`);
  }
}
