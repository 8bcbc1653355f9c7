import { formatTenantKey, TENANT_KEY_DIGITS } from "../../shared/domain/tenantKey.js";
import { normalizeVtcId } from "../../shared/domain/vtcId.js";

/**
 * What a room system dialed, read from the Request-URI of its INVITE.
 *
 * Forms (see shared reference "Dial forms seen"), with `<d>` = the service domain:
 * - `813878896@t.<d>`: IVR — the caller keys in the VTC ID afterwards.
 * - `813878896.1127180739@t.<d>`: direct, tenant key first (Microsoft, BlueJeans).
 * - `1127180739.813878896@t.<d>`: direct, VTC ID first (Webex).
 * - `1127180739@video.contoso.com`: direct on a per-customer domain mapped to one tenant (Pexip).
 *
 * The service answers on `t.<d>` (the tenant key's own host) and on `<d>` itself.
 * Tenant keys are the nine digits of `shared/domain/tenantKey.ts` (never a leading 0);
 * VTC IDs are whatever `normalizeVtcId` accepts (6-16 digits).
 */
export type DialedTarget = DialedIvr | DialedDirect | DialedByDomain | DialInvalid;

export interface DialedIvr {
  readonly kind: "ivr";
  /** The full key, `<digits>@t.<serviceDomain>`, lower case: what the resolve API takes. */
  readonly tenantKey: string;
}

export interface DialedDirect {
  readonly kind: "direct";
  readonly tenantKey: string;
  readonly vtcId: string;
  /** Which order was read: tenant key first (Microsoft/BlueJeans) or VTC ID first (Webex). */
  readonly order: DialOrder;
  /**
   * Present only when the user part reads both ways (two groups of nine digits, neither
   * starting with 0): the other reading. `tenantKey`/`vtcId` hold the preferred
   * Microsoft order; the SIP side may try this one if the first is refused as an
   * unknown tenant key.
   */
  readonly alternative?: { readonly tenantKey: string; readonly vtcId: string; readonly order: DialOrder };
}

export interface DialedByDomain {
  readonly kind: "direct-by-domain";
  /** The tenant key the per-customer domain maps to (as `tenantKeyForDomain` returned it). */
  readonly tenantKey: string;
  readonly vtcId: string;
  /** The dialed host, lower case, without port or trailing dot. */
  readonly domain: string;
}

export interface DialInvalid {
  readonly kind: "invalid";
  /** A short sentence for the SIP Reason header of the 404 and for logs. */
  readonly reason: string;
}

export type DialOrder = "tenant-first" | "vtc-first";

export interface DialPlan {
  /** The service's domain, e.g. `cvi.example.net` (tenant keys are `<digits>@t.<serviceDomain>`). */
  readonly serviceDomain: string;
  /**
   * Per-customer domains: host (lower case, no port, no trailing dot) → that tenant's key.
   * Undefined for a host that is not a customer domain.
   */
  readonly tenantKeyForDomain?: (host: string) => string | undefined;
  /**
   * The media host's own addresses (lower case): many room systems dial by IP
   * (`813878896.1127180739@203.0.113.5`), which then counts as the service's host.
   */
  readonly ownHosts?: readonly string[];
}

/** Longer user parts are not anything we issue; refusing them early bounds the work on hostile input. */
export const MAX_USER_PART_LENGTH = 128;

const TENANT_DIGITS = new RegExp(`^[1-9][0-9]{${TENANT_KEY_DIGITS - 1}}$`);
/** Inside one group of a user part: digits and the separators people and dial plans insert. */
const INSIDE_ID_SEPARATORS = /[ \-_]/g;
const ALLOWED_USER_CHARS = /^[0-9. \-_]*$/;

const invalid = (reason: string): DialInvalid => ({ kind: "invalid", reason });

/**
 * Parses a Request-URI (`sip:` or `sips:`, any case; `;user=phone` and other URI
 * parameters, headers, a port and a password are ignored).
 */
export function parseRequestUri(requestUri: string, plan: DialPlan): DialedTarget {
  const match = /^\s*(sips?):(.*)$/i.exec(requestUri);
  if (!match?.[2]) return invalid("not a sip: or sips: URI");
  let rest = match[2].trim();
  const question = rest.indexOf("?");
  if (question >= 0) rest = rest.slice(0, question);
  const at = rest.lastIndexOf("@");
  if (at < 0) return invalid(`the URI has no user part: dial <tenant key>@t.${plan.serviceDomain.toLowerCase()}`);
  let user = rest.slice(0, at);
  // userinfo = user [":" password]; a password never matters here.
  const colon = user.indexOf(":");
  if (colon >= 0) user = user.slice(0, colon);
  const hostport = rest.slice(at + 1).split(";")[0] ?? "";
  return parseDialString(user, hostport, plan);
}

/**
 * Parses the user part (as it appears in the URI, percent-escapes allowed) and the host
 * (a port is ignored) of a Request-URI.
 */
export function parseDialString(userPart: string, hostPort: string, plan: DialPlan): DialedTarget {
  const host = normalizeHost(hostPort);
  if (host === undefined) return invalid("the URI has no valid host");
  const user = decodeUserPart(userPart);
  if (user === undefined) return invalid("the user part is badly escaped");
  if (user.length > MAX_USER_PART_LENGTH) return invalid("the user part is too long");

  const serviceDomain = plan.serviceDomain.toLowerCase();
  if (host === `t.${serviceDomain}` || host === serviceDomain || plan.ownHosts?.includes(host)) return parseOnServiceHost(user, serviceDomain);

  const customerKey = plan.tenantKeyForDomain?.(host);
  if (customerKey) {
    // One tenant per domain, so a dot is only ever a separator inside the ID.
    const vtcId = normalizeVtcId(user);
    return vtcId
      ? { kind: "direct-by-domain", tenantKey: customerKey, vtcId, domain: host }
      : invalid("dial the conference ID (6-16 digits) at this domain");
  }
  return invalid(`${host} is not a domain of this service`);
}

function parseOnServiceHost(user: string, serviceDomain: string): DialedTarget {
  if (!ALLOWED_USER_CHARS.test(user)) return invalid("the user part must be digits: <tenant key>, <tenant key>.<VTC ID> or <VTC ID>.<tenant key>");
  const groups = user.split(".").map((g) => g.replace(INSIDE_ID_SEPARATORS, ""));
  if (groups.some((g) => g === "")) {
    return groups.length === 1 ? invalid(`the user part is empty: dial <tenant key>@t.${serviceDomain}`) : invalid("empty part around a '.'");
  }
  const key = (digits: string) => formatTenantKey(digits, serviceDomain);

  if (groups.length === 1) {
    const only = groups[0] ?? "";
    if (TENANT_DIGITS.test(only)) return { kind: "ivr", tenantKey: key(only) };
    return invalid(`a tenant key is ${TENANT_KEY_DIGITS} digits not starting with 0; dial <tenant key>.<VTC ID>`);
  }

  // The tenant key is one whole group at either end; the VTC ID is everything else
  // (so dots inside a VTC ID are tolerated when the key is unambiguous).
  const first = groups[0] ?? "";
  const last = groups[groups.length - 1] ?? "";
  const afterFirst = normalizeVtcId(groups.slice(1).join(""));
  const beforeLast = normalizeVtcId(groups.slice(0, -1).join(""));
  const tenantFirst =
    TENANT_DIGITS.test(first) && afterFirst ? { tenantKey: key(first), vtcId: afterFirst, order: "tenant-first" as const } : undefined;
  const vtcFirst = TENANT_DIGITS.test(last) && beforeLast ? { tenantKey: key(last), vtcId: beforeLast, order: "vtc-first" as const } : undefined;

  if (tenantFirst && vtcFirst) return { kind: "direct", ...tenantFirst, alternative: vtcFirst };
  if (tenantFirst) return { kind: "direct", ...tenantFirst };
  if (vtcFirst) return { kind: "direct", ...vtcFirst };
  return invalid(
    `expected <tenant key>.<VTC ID> or <VTC ID>.<tenant key> (tenant key ${TENANT_KEY_DIGITS} digits not starting with 0, VTC ID 6-16 digits)`,
  );
}

function decodeUserPart(userPart: string): string | undefined {
  // Telephone-subscriber parameters (`;phone-context=…`, `;isub=…`) carry nothing we use.
  const withoutParams = userPart.split(";")[0] ?? "";
  try {
    return decodeURIComponent(withoutParams);
  } catch {
    return undefined;
  }
}

/** Lower case, without port, brackets (IPv6) or a trailing dot; undefined when empty. */
function normalizeHost(hostPort: string): string | undefined {
  let host = hostPort.trim().toLowerCase();
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    host = close > 0 ? host.slice(1, close) : "";
  } else {
    const colon = host.indexOf(":");
    if (colon >= 0) host = host.slice(0, colon);
    if (host.endsWith(".")) host = host.slice(0, -1);
  }
  return host === "" ? undefined : host;
}
