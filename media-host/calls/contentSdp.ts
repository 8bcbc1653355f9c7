import { type BfcpOffer, isBfcpSection, readBfcpOffer } from "../bfcp/sdpAnswer.js";

/**
 * BFCP m-lines kept away from rtpengine (10.5 rewrites `TCP/BFCP` to a UDP relay port and
 * drops `a=setup`) and put back into the answer the device gets: the gateway terminates BFCP
 * itself. rtpengine passes a port-0 section through as it is, so each BFCP section goes to
 * it disabled and comes back at the same index, where our answer (or a decline) replaces it.
 */
export interface SetAsideBfcp {
  /** The offer as rtpengine gets it: every BFCP m-line's port 0. */
  readonly sdp: string;
  /** What the device offered for BFCP, by m-line index. */
  readonly offers: readonly BfcpOffer[];
}

const LINE_BREAK = /\r?\n/;

function sections(sdp: string): { head: string[]; media: string[][] } {
  const lines = sdp.split(LINE_BREAK).filter((l) => l.length > 0);
  const head: string[] = [];
  const media: string[][] = [];
  for (const line of lines) {
    if (line.startsWith("m=")) media.push([line]);
    else if (media.length) media[media.length - 1]?.push(line);
    else head.push(line);
  }
  return { head, media };
}

const join = (head: readonly string[], media: readonly (readonly string[])[]) => `${[...head, ...media.flat()].join("\r\n")}\r\n`;

export function setAsideBfcp(offer: string): SetAsideBfcp {
  const { head, media } = sections(offer);
  const offers: BfcpOffer[] = [];
  const disabled = media.map((section, index) => {
    if (!isBfcpSection(section)) return section;
    const read = readBfcpOffer(section, index);
    if (read) offers.push(read);
    const [, , proto] = (section[0] ?? "").replace(/^m=/, "").split(/\s+/);
    return [`m=application 0 ${proto} *`];
  });
  return { sdp: offers.length ? join(head, disabled) : offer, offers };
}

/**
 * The answer with our BFCP section at `index` (the lines of answerBfcpOffer) and every other
 * BFCP section as rtpengine returned it (port 0: declined).
 */
export function putBackBfcp(answer: string, index: number, lines: readonly string[]): string {
  const { head, media } = sections(answer);
  if (!media[index] || !isBfcpSection(media[index] as string[]))
    throw new RangeError(`the answer has no BFCP m-line at index ${index} to put ours in (it has ${media.length} m-lines)`);
  media[index] = [...lines];
  return join(head, media);
}
