/**
 * rtpengine 10.5's own words when a port's receive queue overflows (its log, at "error"):
 * "Too many packets in UDP receive queue" when one wake-up found more than 50 datagrams
 * waiting, "UDP receive queue exceeded N times" once it has stopped reading the port. Its log
 * rate limit keeps only the first of a kind for a while, so these are hints; the stream watch
 * is what judges deafness.
 */
export interface RtpengineComplaint {
  readonly kind: "queue-full" | "port-given-up";
  /** rtpengine's call id (ours: the SIP Call-ID). */
  readonly callId: string;
  readonly port: number;
}

const COMPLAINT = /\[(\S+) port (\d+)\]: .*?(Too many packets in UDP receive queue|UDP receive queue exceeded)/;

export function parseRtpengineComplaint(line: string): RtpengineComplaint | undefined {
  const match = COMPLAINT.exec(line);
  if (!match) return undefined;
  return {
    kind: match[3] === "UDP receive queue exceeded" ? "port-given-up" : "queue-full",
    callId: match[1] ?? "",
    port: Number(match[2]),
  };
}
