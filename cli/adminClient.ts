import type {
  CallHistoryFilters,
  CallRecord,
  CallSummary,
  DrainRequest,
  EffectivePolicy,
  MediaHost,
  MediaHostList,
  NewProvider,
  NewTenant,
  Page,
  Policy,
  PolicyAssignments,
  ProblemDetails,
  Provider,
  ProviderChanges,
  Tagged,
  Tenant,
  UserGrant,
} from "./apiTypes.js";
import { ApiError, CliError, ConnectionError, ExitCode } from "./errors.js";
import { oneLine } from "./format.js";

export interface AdminClientOptions {
  /** The admin API's base URL, e.g. http://127.0.0.1:7071/api (a trailing slash is ignored). */
  readonly baseUrl: string;
  /** A bearer token with the admin role; omitted only for the anonymous OpenAPI document. */
  readonly token?: string;
  /** Per request, including reading the answer. */
  readonly timeoutMs?: number;
  readonly userAgent?: string;
  /** Defaults to the global fetch. */
  readonly fetch?: typeof fetch;
}

interface RequestOptions {
  readonly query?: URLSearchParams;
  readonly body?: unknown;
  readonly ifMatch?: string;
  readonly anonymous?: boolean;
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly etag: string | undefined;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * A typed client of the OpenCVI admin API over fetch. Every failure is a CliError:
 * ApiError for an error answer (with the RFC 9457 problem), ConnectionError when the
 * API cannot be reached, a plain CliError for an answer that is not what the API sends.
 */
export class AdminClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #userAgent: string;
  readonly #fetch: typeof fetch;

  constructor(options: AdminClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#userAgent = options.userAgent ?? "opencvi-cli";
    this.#fetch = options.fetch ?? fetch;
  }

  // Tenants

  async addTenant(input: NewTenant): Promise<Tagged<Tenant>> {
    return this.#tagged<Tenant>(await this.#send("POST", "/v1/tenants", { body: input }));
  }

  /** By Entra tenant id (GUID) or tenant key. */
  async getTenant(tenantIdOrKey: string): Promise<Tagged<Tenant>> {
    return this.#tagged<Tenant>(await this.#send("GET", `/v1/tenants/${segment(tenantIdOrKey)}`));
  }

  async listTenants(options: { top?: number; continuationToken?: string } = {}): Promise<Page<Tenant>> {
    return this.#page<Tenant>(await this.#send("GET", "/v1/tenants", { query: pageQuery(options) }));
  }

  /** Every tenant, following continuation tokens. */
  async listAllTenants(options: { top?: number } = {}): Promise<Tenant[]> {
    return this.#all((continuationToken) => this.listTenants({ ...options, ...(continuationToken ? { continuationToken } : {}) }));
  }

  /** A fresh admin-consent link for the tenant's administrator (replaces earlier links). */
  async consentLink(tenantIdOrKey: string): Promise<{ url: string; expiresAt: string }> {
    return (await this.#send("POST", `/v1/tenants/${segment(tenantIdOrKey)}/consent-link`)).body as { url: string; expiresAt: string };
  }

  async removeTenant(tenantIdOrKey: string): Promise<void> {
    await this.#send("DELETE", `/v1/tenants/${segment(tenantIdOrKey)}`);
  }

  // Providers

  async listProviders(tenantId: string, filter?: string): Promise<Provider[]> {
    const query = new URLSearchParams(filter === undefined ? {} : { filter });
    return [...this.#page<Provider>(await this.#send("GET", `${tenantPath(tenantId)}/providers`, { query })).value];
  }

  async getProvider(tenantId: string, identity: string): Promise<Tagged<Provider>> {
    return this.#tagged<Provider>(await this.#send("GET", providerPath(tenantId, identity)));
  }

  async createProvider(tenantId: string, input: NewProvider): Promise<Tagged<Provider>> {
    return this.#tagged<Provider>(await this.#send("POST", `${tenantPath(tenantId)}/providers`, { body: input }));
  }

  async updateProvider(tenantId: string, identity: string, changes: ProviderChanges, ifMatch?: string): Promise<Tagged<Provider>> {
    return this.#tagged<Provider>(await this.#send("PATCH", providerPath(tenantId, identity), { body: changes, ...ifMatchOption(ifMatch) }));
  }

  async removeProvider(tenantId: string, identity: string, ifMatch?: string): Promise<void> {
    await this.#send("DELETE", providerPath(tenantId, identity), ifMatchOption(ifMatch));
  }

  // Policies

  async listPolicies(filter?: string): Promise<Policy[]> {
    const query = new URLSearchParams(filter === undefined ? {} : { filter });
    return [...this.#page<Policy>(await this.#send("GET", "/v1/policies", { query })).value];
  }

  async getAssignments(tenantId: string): Promise<Tagged<PolicyAssignments>> {
    return this.#tagged<PolicyAssignments>(await this.#send("GET", `${tenantPath(tenantId)}/policy-assignments`));
  }

  async listUserGrants(tenantId: string, options: { top?: number; continuationToken?: string } = {}): Promise<Page<UserGrant>> {
    return this.#page<UserGrant>(await this.#send("GET", `${tenantPath(tenantId)}/policy-assignments/users`, { query: pageQuery(options) }));
  }

  async listAllUserGrants(tenantId: string, options: { top?: number } = {}): Promise<UserGrant[]> {
    return this.#all((continuationToken) => this.listUserGrants(tenantId, { ...options, ...(continuationToken ? { continuationToken } : {}) }));
  }

  /** `policyName: null` takes the user's own grant away (answered with no body: undefined). */
  async grantToUser(tenantId: string, userId: string, policyName: string | null): Promise<UserGrant | undefined> {
    const answer = await this.#send("PUT", `${tenantPath(tenantId)}/policy-assignments/users/${segment(userId)}`, { body: { policyName } });
    return answer.status === 204 ? undefined : (this.#object(answer) as unknown as UserGrant);
  }

  async grantToGroup(
    tenantId: string,
    groupId: string,
    policyName: string | null,
    rank?: number,
    ifMatch?: string,
  ): Promise<Tagged<PolicyAssignments>> {
    const body = { policyName, ...(rank === undefined ? {} : { rank }) };
    const path = `${tenantPath(tenantId)}/policy-assignments/groups/${segment(groupId)}`;
    return this.#tagged<PolicyAssignments>(await this.#send("PUT", path, { body, ...ifMatchOption(ifMatch) }));
  }

  async grantGlobally(tenantId: string, policyName: string | null, ifMatch?: string): Promise<Tagged<PolicyAssignments>> {
    const path = `${tenantPath(tenantId)}/policy-assignments/global`;
    return this.#tagged<PolicyAssignments>(await this.#send("PUT", path, { body: { policyName }, ...ifMatchOption(ifMatch) }));
  }

  async effectivePolicy(tenantId: string, userId: string, groupIds: readonly string[] = []): Promise<EffectivePolicy> {
    const query = new URLSearchParams(groupIds.map((g): [string, string] => ["groupId", g]));
    const answer = await this.#send("GET", `${tenantPath(tenantId)}/users/${segment(userId)}/effective-policy`, { query });
    return this.#object(answer) as unknown as EffectivePolicy;
  }

  // The media pool

  /** Every media host of the pool, and the control plane's clock (`now`) to compare their leases with. */
  async listHosts(): Promise<MediaHostList> {
    const page = this.#page<MediaHost>(await this.#send("GET", "/v1/pool/hosts"));
    const now = (page as { now?: unknown }).now;
    return { value: page.value, now: typeof now === "string" ? now : new Date().toISOString() };
  }

  async getHost(hostId: string): Promise<MediaHost> {
    return this.#object(await this.#send("GET", hostPath(hostId))) as unknown as MediaHost;
  }

  /** No new calls for the host; its calls go on until they end or the deadline (default: the API's, 60 minutes). */
  async drainHost(hostId: string, request: DrainRequest = {}): Promise<MediaHost> {
    return this.#object(await this.#send("POST", `${hostPath(hostId)}/drain`, { body: request })) as unknown as MediaHost;
  }

  /** A draining host back into rotation (a dead one is a conflict: it comes back by registering again). */
  async undrainHost(hostId: string): Promise<MediaHost> {
    return this.#object(await this.#send("POST", `${hostPath(hostId)}/undrain`)) as unknown as MediaHost;
  }

  // Calls

  /** Every live call (or one tenant's), newest first. */
  async listLiveCalls(tenant?: string): Promise<CallSummary[]> {
    const query = new URLSearchParams({ state: "live", ...(tenant ? { tenant } : {}) });
    return [...this.#page<CallSummary>(await this.#send("GET", "/v1/calls", { query })).value];
  }

  /** Ended calls newest first, following continuation tokens until `limit` calls or the end. */
  async callHistory(filters: CallHistoryFilters, limit: number): Promise<{ readonly value: CallSummary[]; readonly continuationToken?: string }> {
    const calls: CallSummary[] = [];
    const named = Object.entries(filters).filter((e): e is [string, string] => e[1] !== undefined);
    let continuationToken: string | undefined;
    const seen = new Set<string>();
    do {
      const query = new URLSearchParams([["state", "ended"], ...named, ["top", String(Math.min(200, limit - calls.length))]]);
      if (continuationToken) query.set("continuationToken", continuationToken);
      const page = this.#page<CallSummary>(await this.#send("GET", "/v1/calls", { query }));
      calls.push(...page.value);
      continuationToken = page.continuationToken || undefined;
      if (continuationToken !== undefined) {
        if (seen.has(continuationToken)) throw new CliError(ExitCode.failure, "the admin API returned the same continuation token twice");
        seen.add(continuationToken);
      }
    } while (continuationToken !== undefined && calls.length < limit);
    return { value: calls.slice(0, limit), ...(continuationToken ? { continuationToken } : {}) };
  }

  async getCall(callId: string): Promise<CallRecord> {
    return this.#object(await this.#send("GET", `/v1/calls/${segment(callId)}`)) as unknown as CallRecord;
  }

  /** Ends a live call (the device gets a BYE, the bot leaves); an ended call is a conflict. */
  async hangUpCall(callId: string): Promise<CallRecord> {
    return this.#object(await this.#send("POST", `/v1/calls/${segment(callId)}/hangup`)) as unknown as CallRecord;
  }

  /** The OpenAPI document (anonymous). */
  async openApi(): Promise<Record<string, unknown>> {
    return this.#object(await this.#send("GET", "/openapi.json", { anonymous: true }));
  }

  // Plumbing

  async #send(method: string, path: string, options: RequestOptions = {}): Promise<Answer> {
    const query = options.query?.toString();
    const url = `${this.baseUrl}${path}${query ? `?${query}` : ""}`;
    const headers: Record<string, string> = { accept: "application/json, application/problem+json", "user-agent": this.#userAgent };
    if (!options.anonymous && this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (options.ifMatch !== undefined) headers["if-match"] = options.ifMatch;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(url, {
        method,
        headers,
        // A redirect would resend the token elsewhere, or turn a POST into a GET: report it instead.
        redirect: "manual",
        signal,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      });
      text = await response.text();
    } catch (e) {
      throw this.#unreachable(e);
    }
    const contentType = response.headers.get("content-type") ?? "";
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get("location");
      throw new CliError(
        ExitCode.failure,
        `the admin API at ${this.baseUrl} answered ${method} ${path} with a redirect (HTTP ${response.status})${location ? ` to ${oneLine(location, 200)}` : ""}`,
        { hint: "pass the URL it redirects to with --url" },
      );
    }
    const body = parseBody(text, contentType);
    if (!response.ok) throw errorFor(response.status, response.statusText, body, text, contentType);
    if (response.status !== 204 && text.trim() !== "" && body === undefined) {
      throw new CliError(
        ExitCode.failure,
        `the admin API at ${this.baseUrl} answered ${method} ${path} with something that is not JSON (${contentType || "no content-type"})`,
        { hint: "is --url the admin API's base URL (the one ending in /api)?" },
      );
    }
    return { status: response.status, body, etag: response.headers.get("etag") ?? undefined };
  }

  #unreachable(error: unknown): ConnectionError {
    const where = `cannot reach the admin API at ${this.baseUrl}`;
    if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
      return new ConnectionError(
        this.baseUrl,
        `${where}: no answer within ${Math.round(this.#timeoutMs / 1000)} s`,
        "is the host right, and is it up?",
      );
    }
    const cause = (error as { cause?: unknown }).cause;
    const code = errorCode(cause) ?? errorCode(error);
    const message = cause instanceof Error ? cause.message : error instanceof Error ? error.message : String(error);
    switch (code) {
      case "ECONNREFUSED":
        return new ConnectionError(
          this.baseUrl,
          `${where}: connection refused`,
          "is the admin API running there? For the local stack run `npm start`, or pass --url",
        );
      case "ENOTFOUND":
      case "EAI_AGAIN":
        return new ConnectionError(this.baseUrl, `${where}: host name not found (${code})`, "check the host name in --url or CVI_URL");
      case "ECONNRESET":
      case "EPIPE":
      case "UND_ERR_SOCKET":
        return new ConnectionError(this.baseUrl, `${where}: the connection was closed (${code})`);
      case "ETIMEDOUT":
      case "UND_ERR_CONNECT_TIMEOUT":
      case "UND_ERR_HEADERS_TIMEOUT":
      case "UND_ERR_BODY_TIMEOUT":
        return new ConnectionError(this.baseUrl, `${where}: timed out (${code})`);
      default:
        // Fetch refuses some well-known ports outright (the Fetch standard's "bad ports").
        if (message === "bad port") {
          return new ConnectionError(
            this.baseUrl,
            `${where}: fetch refuses to connect to port ${new URL(this.baseUrl).port} (a blocked port)`,
            "use another port",
          );
        }
        if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || code === "ERR_SSL_PACKET_LENGTH_TOO_LONG") {
          return new ConnectionError(this.baseUrl, `${where}: the server there does not speak TLS (${code})`, "try http:// instead of https://");
        }
        if (code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code)) {
          return new ConnectionError(
            this.baseUrl,
            `${where}: its TLS certificate is not trusted (${code}): ${oneLine(message, 200)}`,
            "for a local certificate authority set NODE_EXTRA_CA_CERTS to its CA file (e.g. .local/tls/ca.pem)",
          );
        }
        return new ConnectionError(this.baseUrl, `${where}: ${oneLine(message, 200)}${code ? ` (${code})` : ""}`);
    }
  }

  #object(answer: Answer): Record<string, unknown> {
    if (typeof answer.body !== "object" || answer.body === null || Array.isArray(answer.body)) {
      throw new CliError(ExitCode.failure, `the admin API at ${this.baseUrl} answered with an unexpected body (HTTP ${answer.status})`);
    }
    return answer.body as Record<string, unknown>;
  }

  #tagged<T>(answer: Answer): Tagged<T> {
    return { value: this.#object(answer) as T, etag: answer.etag };
  }

  #page<T>(answer: Answer): Page<T> {
    const body = this.#object(answer);
    if (!Array.isArray(body.value)) throw new CliError(ExitCode.failure, `the admin API at ${this.baseUrl} answered a list without "value"`);
    return body as unknown as Page<T>;
  }

  async #all<T>(fetchPage: (continuationToken: string | undefined) => Promise<Page<T>>): Promise<T[]> {
    const items: T[] = [];
    const seen = new Set<string>();
    let continuationToken: string | undefined;
    do {
      const page = await fetchPage(continuationToken);
      items.push(...page.value);
      continuationToken = page.continuationToken || undefined;
      // A token seen before would loop forever; the API never does this, a broken proxy might.
      if (continuationToken !== undefined) {
        if (seen.has(continuationToken)) throw new CliError(ExitCode.failure, "the admin API returned the same continuation token twice");
        seen.add(continuationToken);
      }
    } while (continuationToken !== undefined);
    return items;
  }
}

function segment(value: string): string {
  return encodeURIComponent(value);
}

function tenantPath(tenantId: string): string {
  return `/v1/tenants/${segment(tenantId)}`;
}

function providerPath(tenantId: string, identity: string): string {
  return `${tenantPath(tenantId)}/providers/${segment(identity)}`;
}

function hostPath(hostId: string): string {
  return `/v1/pool/hosts/${segment(hostId)}`;
}

function pageQuery(options: { top?: number; continuationToken?: string }): URLSearchParams {
  const query = new URLSearchParams();
  if (options.top !== undefined) query.set("top", String(options.top));
  if (options.continuationToken !== undefined) query.set("continuationToken", options.continuationToken);
  return query;
}

function ifMatchOption(ifMatch: string | undefined): { ifMatch?: string } {
  return ifMatch === undefined ? {} : { ifMatch };
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") return code;
  // Happy-eyeballs connects fail with an AggregateError of one error per address.
  if (error instanceof AggregateError) return error.errors.map(errorCode).find((c) => c !== undefined);
  return undefined;
}

function parseBody(text: string, contentType: string): unknown {
  if (text.trim() === "" || !/^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i.test(contentType)) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isProblem(body: unknown): body is ProblemDetails {
  if (typeof body !== "object" || body === null) return false;
  const p = body as Record<string, unknown>;
  return typeof p.title === "string" && typeof p.status === "number" && (p.detail === undefined || typeof p.detail === "string");
}

function errorFor(status: number, statusText: string, body: unknown, text: string, contentType: string): ApiError {
  if (isProblem(body)) {
    const errors = Array.isArray(body.errors)
      ? body.errors
          .filter((e) => typeof e === "object" && e !== null && typeof e.detail === "string")
          .map((e) => ({ field: String(e.field ?? ""), detail: e.detail }))
      : undefined;
    return new ApiError(status, { ...body, detail: body.detail ?? "", ...(errors ? { errors } : {}) }, "");
  }
  const snippet = /^text\/plain|json/i.test(contentType) && text.trim() !== "" ? `: ${oneLine(text, 200)}` : "";
  return new ApiError(status, undefined, `the admin API answered HTTP ${status}${statusText ? ` ${statusText}` : ""}${snippet}`);
}
