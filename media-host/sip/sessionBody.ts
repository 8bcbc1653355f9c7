/**
 * The session description of a request whose body is multipart (RFC 5621): which part
 * the gateway uses, or with which status it refuses the request. The stack hands the
 * rest of the media host the request with that part as its whole body (Content-Type
 * application/sdp), so nothing past the SIP layer ever sees a multipart body.
 *
 * The rules, per entity (the message body, or a body part):
 * - An SDP part is used when its disposition is "session" (the default for
 *   application/sdp, RFC 3261 §20.11) and its transfer encoding can be undone
 *   (7bit, 8bit, binary, base64).
 * - Any other part is not processed here: with handling=optional it is ignored; with
 *   handling=required, the default when absent or unknown (RFC 3261 §20.11, RFC 3204),
 *   the request gets 415 with Accept (RFC 3261 §21.4.16) — a proxy such as Lync's then
 *   retries with a plain SDP body ([MS-SIPRE] 3.15.5.2).
 * - multipart/mixed: its parts, each by these rules; one session description at most
 *   (two offers in one request cannot both be answered: 400).
 * - multipart/alternative: one part is used, and the handling parameters of the parts
 *   inside do not count, only the alternative's own (RFC 5621). Of the parts that give
 *   a session description, the last whose SDP rtpengine can anchor (an m=audio with a
 *   port and an RTP profile) is taken: RFC 2046 §5.1.4 orders alternatives from least
 *   to most preferred, and Lync puts its RFC 5245 ICE SDP last, after the draft-06 ICE
 *   fallback whose candidates rtpengine cannot read (they would leak through
 *   unrecognised); an SDP without usable audio (a stripped fallback with port 0, say)
 *   is passed over. When none has usable audio the last one is still taken, and
 *   rtpengine's refusal (488) says why.
 * - Other multipart subtypes (related, signed, …) are parts of a type not taken here.
 * - A multipart container with handling=optional that cannot be used is ignored.
 * A multipart body that is malformed (RFC 2046 framing, part headers, limits) is a 400.
 * When nothing is left for the session the request goes on without a body: an INVITE
 * is then a delayed offer (our offer goes in the 2xx), an UPDATE is a session refresh.
 */

import type { ContentDisposition, MediaType } from "./headerValues.js";
import { parseContentDisposition } from "./headerValues.js";
import type { SipRequest } from "./message.js";
import { IDENTITY_ENCODINGS, type Multipart, MultipartError, type MultipartLimits, parseMultipart } from "./multipart.js";
import type { RequestRejection } from "./sanity.js";

/** What a multipart body gives the session. */
export type SessionBody =
  | { readonly kind: "sdp"; readonly sdp: Buffer }
  | { readonly kind: "none" }
  | { readonly kind: "refused"; readonly status: 400 | 415; readonly reason: string; readonly detail: string };

/** What an entity (the message body or a body part) is made of, as far as the rules need. */
interface Entity {
  readonly contentType: MediaType;
  readonly disposition: ContentDisposition | undefined;
  readonly transferEncoding: string;
  readonly body: Buffer;
  readonly multipart: Multipart | undefined;
}

const NONE: SessionBody = { kind: "none" };

const RTP_PROFILES = new Set(["rtp/avp", "rtp/savp", "rtp/avpf", "rtp/savpf", "udp/tls/rtp/savp", "udp/tls/rtp/savpf"]);

/**
 * Whether rtpengine can anchor this SDP's audio: it starts with v=0 and has an m=audio
 * line with a non-zero port and an RTP profile rtpengine relays. ICE or Microsoft
 * attributes do not matter (rtpengine passes or handles them).
 */
export function hasAnchorableAudio(sdp: Buffer): boolean {
  const text = sdp.toString("latin1");
  if (!/^v=0\r?\n/.test(text)) return false;
  for (const raw of text.split("\n")) {
    if (!raw.startsWith("m=audio ")) continue;
    const [, port, profile] = raw.replace(/\r$/, "").split(" ");
    const number = /^(\d{1,5})(\/\d+)?$/.exec(port ?? "")?.[1];
    if (number !== undefined && Number(number) > 0 && RTP_PROFILES.has((profile ?? "").toLowerCase())) return true;
  }
  return false;
}

function describe(entity: Entity): string {
  const type = `${entity.contentType.type}/${entity.contentType.subtype}`;
  return entity.disposition ? `${type} (${entity.disposition.type})` : type;
}

function unsupported(detail: string): SessionBody {
  return { kind: "refused", status: 415, reason: "Unsupported Media Type", detail };
}

/** A part's octets with its transfer encoding undone; undefined for an encoding not handled (quoted-printable, x-…). */
function decoded(entity: Entity): Buffer | undefined {
  if (IDENTITY_ENCODINGS.includes(entity.transferEncoding)) return entity.body;
  if (entity.transferEncoding !== "base64") return undefined;
  const text = entity.body.toString("latin1").replace(/[\r\n\t ]/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return Buffer.from(text, "base64");
}

function isSessionDescription(entity: Entity): boolean {
  const { type, subtype } = entity.contentType;
  return type === "application" && subtype === "sdp" && (entity.disposition === undefined || entity.disposition.type === "session");
}

function evaluate(entity: Entity): SessionBody {
  const optional = entity.disposition?.handling === "optional";
  if (entity.multipart) {
    const { subtype } = entity.multipart;
    const verdict =
      subtype === "alternative"
        ? chooseAlternative(entity.multipart)
        : subtype === "mixed"
          ? combineMixed(entity.multipart)
          : unsupported(`multipart/${subtype} is not taken`);
    return verdict.kind === "refused" && verdict.status === 415 && optional ? NONE : verdict;
  }
  if (isSessionDescription(entity)) {
    const sdp = decoded(entity);
    if (sdp) return { kind: "sdp", sdp };
    if (!optional) return unsupported(`an SDP part encoded ${entity.transferEncoding}`);
    return NONE;
  }
  return optional ? NONE : unsupported(`a required ${describe(entity)} part`);
}

function combineMixed(multipart: Multipart): SessionBody {
  let found: SessionBody | undefined;
  for (const part of multipart.parts) {
    const verdict = evaluate(part);
    if (verdict.kind === "refused") return verdict;
    if (verdict.kind !== "sdp") continue;
    if (found)
      return { kind: "refused", status: 400, reason: "Several Session Descriptions", detail: "more than one session description in multipart/mixed" };
    found = verdict;
  }
  return found ?? NONE;
}

function chooseAlternative(multipart: Multipart): SessionBody {
  const usable: Buffer[] = [];
  for (const part of multipart.parts) {
    const verdict = evaluate(part);
    if (verdict.kind === "sdp") usable.push(verdict.sdp);
  }
  if (usable.length === 0) return unsupported("no part of multipart/alternative is a session description we take");
  const preferred = usable.findLast(hasAnchorableAudio) ?? usable.at(-1)!;
  return { kind: "sdp", sdp: preferred };
}

/**
 * The session description of a multipart body (RFC 5621, rules above). `disposition` is
 * the message's own Content-Disposition (its handling applies to the whole body).
 */
export function sessionBodyOf(
  body: Buffer,
  contentType: MediaType,
  disposition: ContentDisposition | undefined,
  limits?: Partial<MultipartLimits>,
): SessionBody {
  let multipart: Multipart;
  try {
    multipart = parseMultipart(body, contentType, limits);
  } catch (error) {
    if (error instanceof MultipartError) return { kind: "refused", status: 400, reason: "Malformed Multipart Body", detail: error.message };
    throw error;
  }
  return evaluate({ contentType, disposition, transferEncoding: "binary", body, multipart });
}

/**
 * The request as the media host past the SIP layer sees it: a multipart body replaced
 * by the SDP part chosen (Content-Type application/sdp, its Content-Length), or no body
 * when no part is for the session; or the refusal, whose 415 carries `accept` (what the
 * stack takes). Requests without a multipart body come back as they are.
 */
export function withSessionBody(
  request: SipRequest,
  accept: readonly string[],
  limits?: Partial<MultipartLimits>,
): { readonly request: SipRequest } | { readonly rejection: RequestRejection } {
  const type = request.headers.contentType();
  if (request.body.length === 0 || type?.type !== "multipart") return { request };
  let disposition: ContentDisposition | undefined;
  const dispositionValue = request.headers.get("Content-Disposition");
  try {
    disposition = dispositionValue === undefined ? undefined : parseContentDisposition(dispositionValue);
  } catch {
    return { rejection: refusal(request, 400, "Bad Request", "malformed Content-Disposition", accept) };
  }
  const verdict = sessionBodyOf(request.body, type, disposition, limits);
  if (verdict.kind === "refused") return { rejection: refusal(request, verdict.status, verdict.reason, verdict.detail, accept) };
  const headers = request.headers.clone();
  headers.delete("Content-Disposition");
  headers.delete("Content-Transfer-Encoding");
  const body = verdict.kind === "sdp" ? verdict.sdp : Buffer.alloc(0);
  if (verdict.kind === "sdp") headers.set("Content-Type", "application/sdp");
  else headers.delete("Content-Type");
  headers.set("Content-Length", String(body.length));
  return { request: { ...request, headers, body } };
}

function refusal(request: SipRequest, status: number, reason: string, detail: string, accept: readonly string[]): RequestRejection {
  // Our own words and media-type tokens only: nothing that could break out of the quotes.
  const text = detail.replace(/["\\\r\n]/g, "'");
  return {
    status,
    reason,
    headers: [...(status === 415 ? [["Accept", accept.join(", ")] as const] : []), ["Reason", `SIP;cause=${status};text="${text}"`]],
    respondable: request.method !== "ACK",
  };
}
