import { randomBytes } from "node:crypto";
import { consentFromRoles, decodeConsentState, encodeConsentState, hashNonce } from "../../shared/domain/consent.js";
import { isGuid } from "../../shared/domain/ids.js";
import type { ConsentState, Tenant } from "../../shared/domain/tenant.js";
import { ConsentMissingError } from "../../shared/errors.js";
import type { ConsentProbe, ConsentRequestRepository, TenantRepository } from "../ports.js";
import type { TenantService } from "./tenantService.js";

export interface ConsentServiceOptions {
  readonly authorityHost: string;
  readonly botAppId: string;
  /** Where Entra ID sends the admin back: the consent callback Function. */
  readonly redirectUri: string;
  readonly stateSigningKey: string;
  readonly linkLifetimeInMs?: number;
  readonly now: () => Date;
}

export interface ConsentLink {
  readonly url: string;
  readonly expiresAt: string;
}

/** The query Entra ID's admin-consent endpoint redirects back with. */
export interface ConsentCallbackQuery {
  readonly state?: string | null;
  readonly tenant?: string | null;
  readonly admin_consent?: string | null;
  readonly error?: string | null;
  readonly error_description?: string | null;
}

export type ConsentOutcome =
  | { readonly kind: "refused"; readonly reason: string }
  | { readonly kind: "recorded"; readonly tenant: Tenant; readonly consent: ConsentState };

const DEFAULT_LINK_LIFETIME_IN_MS = 60 * 60_000;

/**
 * The tenant admin-consent flow: a signed, single-use, short-lived link bound to one
 * tenant record; a callback that believes nothing it is told until the state checks
 * out and an app token for the tenant proves what was granted.
 */
export class ConsentService {
  readonly #tenants: TenantService;
  readonly #tenantRepository: TenantRepository;
  readonly #requests: ConsentRequestRepository;
  readonly #probe: ConsentProbe;
  readonly #options: ConsentServiceOptions;

  constructor(
    tenants: TenantService,
    tenantRepository: TenantRepository,
    requests: ConsentRequestRepository,
    probe: ConsentProbe,
    options: ConsentServiceOptions,
  ) {
    this.#tenants = tenants;
    this.#tenantRepository = tenantRepository;
    this.#requests = requests;
    this.#probe = probe;
    this.#options = options;
  }

  async start(tenantReference: string): Promise<ConsentLink> {
    const { value: tenant } = await this.#tenants.get(tenantReference);
    const nonce = randomBytes(18).toString("base64url");
    const expiresAt = new Date(this.#options.now().getTime() + (this.#options.linkLifetimeInMs ?? DEFAULT_LINK_LIFETIME_IN_MS));
    await this.#requests.open(tenant.tenantId, { nonceHash: hashNonce(nonce), expiresAt: expiresAt.toISOString() });
    const state = encodeConsentState({ tenantId: tenant.tenantId, nonce, expiresAt }, this.#options.stateSigningKey);
    const url = new URL(`${this.#options.authorityHost}/${tenant.tenantId}/v2.0/adminconsent`);
    url.searchParams.set("client_id", this.#options.botAppId);
    url.searchParams.set("scope", "https://graph.microsoft.com/.default");
    url.searchParams.set("redirect_uri", this.#options.redirectUri);
    url.searchParams.set("state", state);
    return { url: url.toString(), expiresAt: expiresAt.toISOString() };
  }

  async callback(query: ConsentCallbackQuery): Promise<ConsentOutcome> {
    if (!query.state) return { kind: "refused", reason: "the consent response carries no state" };
    const checked = decodeConsentState(query.state, this.#options.stateSigningKey, this.#options.now());
    if (!checked.ok) return { kind: "refused", reason: checked.reason };
    const { tenantId, nonce } = checked.claims;
    // The `tenant` parameter only has to agree with the state; the state names the tenant.
    if (query.tenant && (!isGuid(query.tenant) || query.tenant.toLowerCase() !== tenantId)) {
      return { kind: "refused", reason: "consent was given in a different organization than the one this link was made for" };
    }
    if (!(await this.#requests.consume(tenantId, hashNonce(nonce)))) {
      return { kind: "refused", reason: "this consent link has been used already, or replaced by a newer one" };
    }
    const now = this.#options.now();
    let consent: ConsentState;
    consent = await this.#prove(tenantId, now);
    // Declining a new request does not take back an earlier grant: only record it when nothing usable is granted.
    if (query.error && consent.status !== "granted") {
      consent = { status: "declined", declinedAt: now.toISOString(), reason: (query.error_description ?? query.error).slice(0, 300) };
    }
    const { value: tenant } = await this.#tenantRepository.update(tenantId, (t) => ({ ...t, consent, updatedAt: now.toISOString() }));
    return { kind: "recorded", tenant, consent };
  }

  /** Re-reads consent from a fresh app token, e.g. after a dial-in found access gone. */
  async refresh(tenantId: string): Promise<ConsentState> {
    const now = this.#options.now();
    const consent = await this.#prove(tenantId, now);
    await this.#tenantRepository.update(tenantId, (t) => ({ ...t, consent, updatedAt: now.toISOString() }));
    return consent;
  }

  async #prove(tenantId: string, now: Date): Promise<ConsentState> {
    try {
      return consentFromRoles(await this.#probe.grantedRoles(tenantId), now);
    } catch (e) {
      if (!(e instanceof ConsentMissingError)) throw e;
      return { status: "revoked", revokedAt: now.toISOString(), reason: e.message.slice(0, 300) };
    }
  }
}
