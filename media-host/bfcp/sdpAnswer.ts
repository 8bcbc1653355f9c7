/**
 * BFCP in SDP (RFC 8856, which obsoletes RFC 4583): reading a device's BFCP m-sections and
 * writing the gateway's answer to the one it takes. The gateway is always the floor control
 * server: `s-only` is the one answer valid against both `c-s` (Poly, Cisco) and `c-only`
 * (Lifesize), and the server owns grant and revoke, so it can arbitrate against Teams.
 *
 * Works on m-sections as lines (the `m=` line first), so this room needs no SDP library of
 * the call's: the call cuts the sections out, keeps them away from rtpengine (which rewrites
 * `TCP/BFCP` to a UDP port), and splices the answer back.
 */

export type BfcpTransportKind = "udp" | "tcp";

export interface BfcpOffer {
  /** The m-line's index in the offer (answers keep the order). */
  readonly index: number;
  readonly proto: string;
  readonly port: number;
  /** UDP/BFCP or TCP/BFCP; undefined for TLS and DTLS, which we decline. */
  readonly transport?: BfcpTransportKind;
  readonly floorctrl: readonly ("c-only" | "s-only" | "c-s")[];
  readonly confId?: number;
  readonly userId?: number;
  /** Floor ids with the content streams' labels they govern (`mstrm:`, or RFC 4583's `m-stream:`). */
  readonly floors: readonly { readonly floorId: number; readonly labels: readonly string[] }[];
  readonly setup?: string;
  readonly connection?: string;
  /** The versions the device speaks (`a=bfcpver`); absent: 1 over TCP, 2 over UDP (RFC 8856 §5). */
  readonly versions: readonly number[];
}

const BFCP_PROTO = /^(UDP|TCP|TCP\/TLS|UDP\/TLS|TCP\/DTLS|TCP\/WS|TCP\/WSS)\/BFCP$/i;

/** Whether an m-section is BFCP (any transport), by its m-line. */
export function isBfcpSection(section: readonly string[]): boolean {
  const parts = (section[0] ?? "").replace(/^m=/, "").trim().split(/\s+/);
  return parts[0] === "application" && BFCP_PROTO.test(parts[2] ?? "");
}

/** Reads one BFCP m-section; undefined when it is not one. Unknown or malformed attributes are left out, not fatal. */
export function readBfcpOffer(section: readonly string[], index: number): BfcpOffer | undefined {
  if (!isBfcpSection(section)) return undefined;
  const [, portText = "0", proto = ""] = (section[0] ?? "").replace(/^m=/, "").trim().split(/\s+/);
  const upper = proto.toUpperCase();
  const transport: BfcpTransportKind | undefined = upper === "UDP/BFCP" ? "udp" : upper === "TCP/BFCP" ? "tcp" : undefined;
  const floorctrl: ("c-only" | "s-only" | "c-s")[] = [];
  const floors: { floorId: number; labels: string[] }[] = [];
  let confId: number | undefined;
  let userId: number | undefined;
  let setup: string | undefined;
  let connection: string | undefined;
  let versions: number[] | undefined;
  for (const line of section.slice(1)) {
    const m = /^a=([A-Za-z-]+)(?::(.*))?$/.exec(line.trim());
    if (!m) continue;
    const name = (m[1] ?? "").toLowerCase();
    const value = (m[2] ?? "").trim();
    if (name === "floorctrl") {
      for (const role of value.split(/\s+/)) if (role === "c-only" || role === "s-only" || role === "c-s") floorctrl.push(role);
    } else if (name === "confid") confId = unsigned(value, 0xffffffff);
    else if (name === "userid") userId = unsigned(value, 0xffff);
    else if (name === "floorid") {
      // "1 mstrm:3", "2 m-stream:12 13", and Renater's "1 mstrm 3" without the colon.
      const tokens = value.split(/\s+/);
      const floorId = unsigned(tokens[0] ?? "", 0xffff);
      if (floorId === undefined) continue;
      const labels: string[] = [];
      for (const token of tokens.slice(1)) {
        const label = token.replace(/^(mstrm|m-stream):?/i, "");
        if (label) labels.push(label);
      }
      floors.push({ floorId, labels });
    } else if (name === "setup") setup = value.toLowerCase();
    else if (name === "connection") connection = value.toLowerCase();
    else if (name === "bfcpver")
      versions = value
        .split(/\s+/)
        .map(Number)
        .filter((v) => v === 1 || v === 2);
  }
  return {
    index,
    proto,
    port: unsigned(portText, 0xffff) ?? 0,
    ...(transport ? { transport } : {}),
    floorctrl,
    ...(confId !== undefined ? { confId } : {}),
    ...(userId !== undefined ? { userId } : {}),
    floors,
    ...(setup ? { setup } : {}),
    ...(connection ? { connection } : {}),
    versions: versions?.length ? versions : [transport === "udp" ? 2 : 1],
  };
}

/**
 * The BFCP offer the gateway takes: UDP when offered (Cisco's and Poly RMX's preference, no
 * connection to set up through a NAT), else TCP; never TLS or DTLS (not built), never a
 * disabled line, never one where the device insists on being the server (`s-only`).
 */
export function chooseBfcpOffer(offers: readonly BfcpOffer[]): BfcpOffer | undefined {
  const usable = offers.filter((o) => o.transport && o.port !== 0 && acceptsServer(o));
  return usable.find((o) => o.transport === "udp") ?? usable.find((o) => o.transport === "tcp");
}

const acceptsServer = (offer: BfcpOffer) => offer.floorctrl.length === 0 || offer.floorctrl.some((r) => r === "c-only" || r === "c-s");

export interface BfcpAnswerOptions {
  /** Where the gateway takes BFCP for this call (UDP socket or TCP listener). */
  readonly port: number;
  /** The label of the content m-line (`a=label`) the floor governs, when the answer has one. */
  readonly contentLabel?: string;
  /** Conference and user ids when the device offered none (or zero): the caller's, e.g. random per call. */
  readonly fallbackConfId: number;
  readonly fallbackUserId: number;
}

export interface BfcpAnswer {
  readonly lines: readonly string[];
  readonly transport: BfcpTransportKind;
  /** The version to speak first (the device's highest of those we speak); replies follow each request's own. */
  readonly version: 1 | 2;
  readonly confId: number;
  readonly userId: number;
  readonly floorId: number;
}

/**
 * Our answer to the chosen offer: server role, the device's ids when it gave non-zero ones
 * (FreeSWITCH's and vopenia's servers keep the client's too; a device that offered ids
 * already put them in its own messages), floor id the device's or 1 (Lifesize sends none),
 * passive on TCP so the device connects out through its own NAT, a fresh connection.
 */
export function answerBfcpOffer(offer: BfcpOffer, options: BfcpAnswerOptions): BfcpAnswer {
  if (!offer.transport) throw new RangeError(`cannot answer ${offer.proto}: only UDP/BFCP and TCP/BFCP are answered`);
  const confId = offer.confId || options.fallbackConfId;
  const userId = offer.userId || options.fallbackUserId;
  const floorId = offer.floors[0]?.floorId || 1;
  const versions = [...new Set(offer.versions)].sort((a, b) => b - a);
  // RFC 8855 §5.1: version 1 over reliable transports, 2 over unreliable ones; a device that lists only the other gets that.
  const preferred = offer.transport === "udp" ? 2 : 1;
  const version: 1 | 2 = versions.includes(preferred) ? preferred : versions[0] === 2 ? 2 : 1;
  const lines = [
    `m=application ${options.port} ${offer.proto} *`,
    "a=floorctrl:s-only",
    `a=confid:${confId}`,
    `a=userid:${userId}`,
    options.contentLabel ? `a=floorid:${floorId} mstrm:${options.contentLabel}` : `a=floorid:${floorId}`,
    ...(offer.transport === "tcp" ? ["a=setup:passive", "a=connection:new"] : []),
    `a=bfcpver:${versions.join(" ")}`,
  ];
  return { lines, transport: offer.transport, version, confId, userId, floorId };
}

/** The answer to a BFCP m-section we do not take: port 0, same proto, as RFC 3264 §6 wants. */
export function declineBfcpSection(section: readonly string[]): string[] {
  const parts = (section[0] ?? "").replace(/^m=/, "").trim().split(/\s+/);
  return [`m=${parts[0]} 0 ${parts[2]} ${parts.slice(3).join(" ") || "*"}`];
}

function unsigned(text: string, max: number): number | undefined {
  if (!/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}
