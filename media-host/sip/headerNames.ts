/**
 * Header field names: compact forms (RFC 3261 §7.3.3 and the extensions that
 * registered one) and the usual spelling of well-known names. Names compare
 * case-insensitively (§7.3.1); unknown names keep the spelling they arrived in.
 */

const COMPACT: Readonly<Record<string, string>> = {
  a: "Accept-Contact", // RFC 3841
  b: "Referred-By", // RFC 3892
  c: "Content-Type",
  d: "Request-Disposition", // RFC 3841
  e: "Content-Encoding",
  f: "From",
  i: "Call-ID",
  j: "Reject-Contact", // RFC 3841
  k: "Supported",
  l: "Content-Length",
  m: "Contact",
  n: "Identity-Info", // RFC 4474
  o: "Event", // RFC 6665
  r: "Refer-To", // RFC 3515
  s: "Subject",
  t: "To",
  u: "Allow-Events", // RFC 6665
  v: "Via",
  x: "Session-Expires", // RFC 4028
  y: "Identity", // RFC 4474
};

const WELL_KNOWN = [
  "Accept",
  "Accept-Contact",
  "Accept-Encoding",
  "Accept-Language",
  "Alert-Info",
  "Allow",
  "Allow-Events",
  "Authentication-Info",
  "Authorization",
  "Call-ID",
  "Call-Info",
  "Contact",
  "Content-Disposition",
  "Content-Encoding",
  "Content-Language",
  "Content-Length",
  "Content-Type",
  "CSeq",
  "Date",
  "Error-Info",
  "Event",
  "Expires",
  "From",
  "Identity",
  "Identity-Info",
  "In-Reply-To",
  "Max-Forwards",
  "Min-Expires",
  "Min-SE",
  "MIME-Version",
  "Organization",
  "P-Asserted-Identity",
  "P-Preferred-Identity",
  "Path",
  "Priority",
  "Privacy",
  "Proxy-Authenticate",
  "Proxy-Authorization",
  "Proxy-Require",
  "RAck",
  "Reason",
  "Record-Route",
  "Refer-To",
  "Referred-By",
  "Reject-Contact",
  "Replaces",
  "Reply-To",
  "Request-Disposition",
  "Require",
  "Retry-After",
  "Route",
  "RSeq",
  "Server",
  "Service-Route",
  "Session-Expires",
  "Subject",
  "Subscription-State",
  "Supported",
  "Timestamp",
  "To",
  "Unsupported",
  "User-Agent",
  "Via",
  "Warning",
  "WWW-Authenticate",
];

/** Lower-cased name (compact forms included) to [name as written, lookup key]. */
const KNOWN = new Map<string, readonly [string, string]>();
for (const name of WELL_KNOWN) KNOWN.set(name.toLowerCase(), [name, name.toLowerCase()]);
for (const [letter, name] of Object.entries(COMPACT)) KNOWN.set(letter, [name, name.toLowerCase()]);
const EXACT = new Map<string, readonly [string, string]>(WELL_KNOWN.map((name) => [name, KNOWN.get(name.toLowerCase())!]));

/** [the name a header is stored and written under, its case-insensitive lookup key]: compact forms expanded, well-known names in their usual spelling. */
export function resolveHeaderName(name: string): readonly [string, string] {
  // Most stacks send the usual spelling: found without lower-casing.
  const exact = EXACT.get(name);
  if (exact !== undefined) return exact;
  const lower = name.toLowerCase();
  return KNOWN.get(lower) ?? [name, lower];
}

export function canonicalHeaderName(name: string): string {
  return resolveHeaderName(name)[0];
}

/** The case-insensitive lookup key of a header name (compact forms included). */
export function headerKey(name: string): string {
  return resolveHeaderName(name)[1];
}
