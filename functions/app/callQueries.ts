import { createHmac, timingSafeEqual } from "node:crypto";
import { CALL_OUTCOMES, type CallOutcome } from "../../shared/domain/callSession.js";
import { type FieldIssue, ValidationError } from "../../shared/errors.js";
import type { CallHistoryQuery } from "../ports.js";

/** `GET /v1/calls`'s query, checked: live calls, or a page of history. */
export type CallListRequest =
  | { readonly state: "live"; readonly tenantId?: string }
  | {
      readonly state: "ended";
      /** Absent with a continuation token: the query is the token's. */
      readonly query: CallHistoryQuery | undefined;
      /** The filters the request named itself (they must agree with a token's). */
      readonly named: Partial<Record<HistoryParameter, string>>;
      readonly top: number;
      readonly continuationToken?: string;
    };

type HistoryParameter = "tenant" | "from" | "to" | "outcome" | "reason";

export const HISTORY_PAGE_DEFAULT = 50;
export const HISTORY_PAGE_MAX = 200;
/** The widest history window: a page then reads at most this many day partitions. */
export const HISTORY_WINDOW_MAX_DAYS = 31;
const DAY_IN_MS = 86_400_000;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** ISO 8601 date-time with a zone (Z or ±hh:mm), as Date parses it without guessing. */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const KNOWN = new Set(["state", "tenant", "from", "to", "outcome", "reason", "top", "continuationToken"]);
const HISTORY_ONLY = ["from", "to", "outcome", "reason", "top", "continuationToken"] as const;

/** Reads `?state=live|ended&tenant=&from=&to=&outcome=&reason=&top=&continuationToken=`; every problem names its parameter. */
export function parseCallListRequest(query: { get(name: string): string | null; keys(): Iterable<string> }, now: Date): CallListRequest {
  const issues: FieldIssue[] = [];
  for (const name of query.keys()) if (!KNOWN.has(name)) issues.push({ field: name, message: `${name} is not a parameter of this operation` });
  const state = query.get("state") ?? "live";
  if (state !== "live" && state !== "ended") issues.push({ field: "state", message: "state must be live or ended" });
  const tenant = query.get("tenant") ?? undefined;
  if (tenant !== undefined && !GUID.test(tenant)) issues.push({ field: "tenant", message: "tenant must be a tenant id (a GUID)" });
  if (state === "live") {
    for (const name of HISTORY_ONLY)
      if (query.get(name) !== null) issues.push({ field: name, message: `${name} applies to state=ended (history) only` });
    if (issues.length > 0) throw new ValidationError(issues);
    return { state: "live", ...(tenant ? { tenantId: tenant.toLowerCase() } : {}) };
  }
  const time = (name: "from" | "to"): Date | undefined => {
    const value = query.get(name);
    if (value === null) return undefined;
    const at = ISO_DATE_TIME.test(value) && isRealDateTime(value) ? new Date(value) : undefined;
    if (at === undefined || Number.isNaN(at.getTime())) {
      issues.push({ field: name, message: `${name} must be an ISO 8601 date and time with a zone, e.g. 2026-12-07T09:00:00Z` });
      return undefined;
    }
    return at;
  };
  const from = time("from");
  const to = time("to");
  const outcome = query.get("outcome") ?? undefined;
  if (outcome !== undefined && !(CALL_OUTCOMES as readonly string[]).includes(outcome))
    issues.push({ field: "outcome", message: `outcome must be one of ${CALL_OUTCOMES.join(", ")}` });
  const reason = query.get("reason") ?? undefined;
  if (reason !== undefined && (reason.length === 0 || reason.length > 300))
    issues.push({ field: "reason", message: "reason must be 1-300 characters" });
  const topText = query.get("top");
  const top = topText === null ? HISTORY_PAGE_DEFAULT : Number(topText);
  if (!/^\d+$/.test(topText ?? "1") || !Number.isInteger(top) || top < 1 || top > HISTORY_PAGE_MAX)
    issues.push({ field: "top", message: `top must be a whole number from 1 to ${HISTORY_PAGE_MAX}` });
  const continuationToken = query.get("continuationToken") ?? undefined;
  if (continuationToken !== undefined && (continuationToken.length === 0 || continuationToken.length > 4096))
    issues.push({ field: "continuationToken", message: "continuationToken is not one this API issued" });
  const end = to ?? now;
  const start = from ?? new Date(end.getTime() - DAY_IN_MS);
  if (issues.length === 0 && start.getTime() >= end.getTime()) issues.push({ field: "from", message: "from must be before to" });
  if (issues.length === 0 && end.getTime() - start.getTime() > HISTORY_WINDOW_MAX_DAYS * DAY_IN_MS)
    issues.push({ field: "from", message: `the window from..to must be at most ${HISTORY_WINDOW_MAX_DAYS} days` });
  if (issues.length > 0) throw new ValidationError(issues);
  const named: Partial<Record<HistoryParameter, string>> = {};
  for (const name of ["tenant", "from", "to", "outcome", "reason"] as const) {
    const value = query.get(name);
    if (value !== null) named[name] = value;
  }
  const historyQuery: CallHistoryQuery = {
    from: start,
    to: end,
    ...(tenant ? { tenantId: tenant.toLowerCase() } : {}),
    ...(outcome ? { outcome: outcome as CallOutcome } : {}),
    ...(reason ? { endReason: reason } : {}),
  };
  return { state: "ended", query: continuationToken ? undefined : historyQuery, named, top, ...(continuationToken ? { continuationToken } : {}) };
}

/** Date would roll 2026-02-30 over into March: a date-time must name a real day and time. */
function isRealDateTime(value: string): boolean {
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = (value.match(/\d+/g) ?? []).slice(0, 6).map(Number);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour <= 23 && minute <= 59 && second <= 59;
}

interface TokenBody {
  /** The query the pages belong to. */
  readonly q: { readonly from: string; readonly to: string; readonly tenantId?: string; readonly outcome?: CallOutcome; readonly endReason?: string };
  /** The repository's own position. */
  readonly p: string;
}

const FORGED = () => new ValidationError([{ field: "continuationToken", message: "continuationToken is not one this API issued" }]);

/**
 * History page tokens: the query and the storage's position, signed (HMAC-SHA256), so a
 * forged or garbled token is refused before it reaches the database, and a page cannot be
 * read under another query's filters.
 */
export class CallHistoryTokens {
  readonly #key: Buffer;

  constructor(signingKey: string) {
    // A key of its own, derived, so these tokens can never pass for another signed value (consent states).
    this.#key = createHmac("sha256", signingKey).update("opencvi call history page token v1").digest();
  }

  issue(query: CallHistoryQuery, position: string): string {
    const body: TokenBody = {
      q: {
        from: query.from.toISOString(),
        to: query.to.toISOString(),
        ...(query.tenantId ? { tenantId: query.tenantId } : {}),
        ...(query.outcome ? { outcome: query.outcome } : {}),
        ...(query.endReason ? { endReason: query.endReason } : {}),
      },
      p: position,
    };
    const payload = Buffer.from(JSON.stringify(body)).toString("base64url");
    return `${payload}.${this.#sign(payload)}`;
  }

  /** The query and position a token carries; the filters the request named must be the token's. */
  read(token: string, named: Partial<Record<HistoryParameter, string>>): { readonly query: CallHistoryQuery; readonly position: string } {
    const [payload, signature, extra] = token.split(".");
    if (!payload || !signature || extra !== undefined) throw FORGED();
    const expected = Buffer.from(this.#sign(payload));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw FORGED();
    const body = JSON.parse(Buffer.from(payload, "base64url").toString()) as TokenBody;
    const query: CallHistoryQuery = {
      from: new Date(body.q.from),
      to: new Date(body.q.to),
      ...(body.q.tenantId ? { tenantId: body.q.tenantId } : {}),
      ...(body.q.outcome ? { outcome: body.q.outcome } : {}),
      ...(body.q.endReason ? { endReason: body.q.endReason } : {}),
    };
    const differs = (name: HistoryParameter, value: string | undefined, same: (given: string) => boolean) =>
      named[name] !== undefined && (value === undefined || !same(named[name]!));
    const sameTime = (at: Date) => (given: string) => new Date(given).getTime() === at.getTime();
    const mismatch = [
      differs("tenant", query.tenantId, (g) => g.toLowerCase() === query.tenantId),
      differs("from", body.q.from, sameTime(query.from)),
      differs("to", body.q.to, sameTime(query.to)),
      differs("outcome", query.outcome, (g) => g === query.outcome),
      differs("reason", query.endReason, (g) => g === query.endReason),
    ].some(Boolean);
    if (mismatch)
      throw new ValidationError([
        { field: "continuationToken", message: "continuationToken belongs to another query: keep the filters and time range of its first page" },
      ]);
    return { query, position: body.p };
  }

  #sign(payload: string): string {
    return createHmac("sha256", this.#key).update(payload).digest("base64url");
  }
}
