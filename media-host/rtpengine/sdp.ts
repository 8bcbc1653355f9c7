/**
 * A minimal, lossless SDP model (RFC 8866): every line is kept in order, so
 * serializeSdp(parseSdp(x)) gives x back (with CRLF line endings). Enough to read
 * rtpengine's answers (ports, addresses, payload types) and to rewrite lines.
 */

/** One `<type>=<value>` line. */
export interface SdpLine {
  type: string;
  value: string;
}

/** One media section: its `m=` line, parsed, and the lines after it. */
export interface SdpMedia {
  /** "audio", "video", "application", … */
  media: string;
  port: number;
  /** The `/<number of ports>` suffix, when present. */
  portCount?: number;
  /** "RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", … */
  protocol: string;
  /** Payload types (RTP) or format names. */
  formats: string[];
  lines: SdpLine[];
}

export interface Sdp {
  /** Session-level lines (v=, o=, s=, c=, t=, session attributes…), in order. */
  session: SdpLine[];
  media: SdpMedia[];
}

export interface SdpRtpMap {
  readonly payloadType: number;
  readonly encoding: string;
  readonly clockRate: number;
  readonly channels?: number;
}

/** Parses SDP with CRLF or LF line endings; throws on a line that is not `<letter>=…`. */
export function parseSdp(text: string): Sdp {
  const sdp: Sdp = { session: [], media: [] };
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop();
  for (const [index, raw] of lines.entries()) {
    const match = /^([a-z])=(.*)$/s.exec(raw);
    if (!match) throw new SyntaxError(`SDP line ${index + 1} is not <type>=<value>: ${JSON.stringify(raw)}`);
    const type = match[1]!;
    const value = match[2]!;
    if (type === "m") {
      sdp.media.push(parseMediaLine(value, index + 1));
      continue;
    }
    const current = sdp.media.at(-1);
    (current ? current.lines : sdp.session).push({ type, value });
  }
  return sdp;
}

/** Serializes with CRLF after every line, as SDP requires. */
export function serializeSdp(sdp: Sdp): string {
  const out: string[] = sdp.session.map((l) => `${l.type}=${l.value}`);
  for (const m of sdp.media) {
    out.push(`m=${formatMediaLine(m)}`);
    for (const l of m.lines) out.push(`${l.type}=${l.value}`);
  }
  return `${out.join("\r\n")}\r\n`;
}

export function formatMediaLine(m: SdpMedia): string {
  const port = m.portCount !== undefined ? `${m.port}/${m.portCount}` : String(m.port);
  return [m.media, port, m.protocol, ...m.formats].join(" ");
}

/** The values of every `a=<name>` / `a=<name>:<value>` line ("" for a property attribute). */
export function attributes(lines: readonly SdpLine[], name: string): string[] {
  const out: string[] = [];
  for (const l of lines) {
    if (l.type !== "a") continue;
    if (l.value === name) out.push("");
    else if (l.value.startsWith(`${name}:`)) out.push(l.value.slice(name.length + 1));
  }
  return out;
}

/** The first `a=<name>` value, or undefined. */
export function attribute(lines: readonly SdpLine[], name: string): string | undefined {
  return attributes(lines, name)[0];
}

/** Removes every `a=<name>` line; returns how many went. */
export function removeAttributes(lines: SdpLine[], name: string): number {
  let removed = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (l.type === "a" && (l.value === name || l.value.startsWith(`${name}:`))) {
      lines.splice(i, 1);
      removed++;
    }
  }
  return removed;
}

/** The connection address of a media section: its own `c=`, else the session's. */
export function connectionAddress(sdp: Sdp, media: SdpMedia): string | undefined {
  const c = media.lines.find((l) => l.type === "c") ?? sdp.session.find((l) => l.type === "c");
  if (!c) return undefined;
  // c=<nettype> <addrtype> <address>[/ttl][/count]
  return c.value.split(" ")[2]?.split("/")[0];
}

/** Where to send a media section's RTP: address and port. */
export function mediaEndpoint(sdp: Sdp, index = 0): { readonly address: string; readonly port: number } {
  const m = sdp.media[index];
  if (!m) throw new RangeError(`the SDP has no media section ${index}`);
  const address = connectionAddress(sdp, m);
  if (address === undefined) throw new SyntaxError(`media section ${index} has no connection address`);
  return { address, port: m.port };
}

/** The `a=rtpmap` entries of a media section, by payload type. */
export function rtpMaps(media: SdpMedia): Map<number, SdpRtpMap> {
  const out = new Map<number, SdpRtpMap>();
  for (const value of attributes(media.lines, "rtpmap")) {
    const match = /^(\d+) ([^/\s]+)\/(\d+)(?:\/(\d+))?/.exec(value);
    if (!match) continue;
    const payloadType = Number(match[1]);
    out.set(payloadType, {
      payloadType,
      encoding: match[2]!,
      clockRate: Number(match[3]),
      ...(match[4] !== undefined ? { channels: Number(match[4]) } : {}),
    });
  }
  return out;
}

/** The payload type a media section uses for an encoding ("PCMU", "opus", "telephone-event"), by rtpmap or RFC 3551's static types. */
export function payloadTypeOf(media: SdpMedia, encoding: string, clockRate?: number): number | undefined {
  const wanted = encoding.toLowerCase();
  for (const format of media.formats) {
    const pt = Number(format);
    if (!Number.isInteger(pt)) continue;
    const map = rtpMaps(media).get(pt) ?? STATIC_PAYLOAD_TYPES.get(pt);
    if (map && map.encoding.toLowerCase() === wanted && (clockRate === undefined || map.clockRate === clockRate)) return pt;
  }
  return undefined;
}

const STATIC_PAYLOAD_TYPES = new Map<number, SdpRtpMap>([
  [0, { payloadType: 0, encoding: "PCMU", clockRate: 8000 }],
  [8, { payloadType: 8, encoding: "PCMA", clockRate: 8000 }],
  [9, { payloadType: 9, encoding: "G722", clockRate: 8000 }],
  [18, { payloadType: 18, encoding: "G729", clockRate: 8000 }],
]);

function parseMediaLine(value: string, lineNumber: number): SdpMedia {
  const [media, portField, protocol, ...formats] = value.split(" ");
  const portMatch = /^(\d+)(?:\/(\d+))?$/.exec(portField ?? "");
  if (!media || !portMatch || !protocol) throw new SyntaxError(`SDP line ${lineNumber}: malformed m= line ${JSON.stringify(value)}`);
  return {
    media,
    port: Number(portMatch[1]),
    ...(portMatch[2] !== undefined ? { portCount: Number(portMatch[2]) } : {}),
    protocol,
    formats,
    lines: [],
  };
}
