import { INVITE_PERMISSIONS } from "../../shared/domain/consent.js";
import type { ProviderNaming, VideoInteropServiceProvider } from "../../shared/domain/provider.js";
import type { Tenant } from "../../shared/domain/tenant.js";
import { ConsentMissingError } from "../../shared/errors.js";
import type { Directory, ProviderRepository } from "../ports.js";
import type { PolicyService } from "./policyService.js";

/**
 * Whether an organizer's meetings get this service's coordinates: their effective
 * policy (own grant, else their highest-ranked group's, else the tenant's) enables
 * this service's provider, and the tenant has configured that provider.
 */
export class Organizers {
  /** Recent decisions for dial-ins, per tenant then organizer: expiry and the provider (undefined = not enabled). */
  readonly #decisions = new Map<string, Map<string, { readonly until: number; readonly provider: VideoInteropServiceProvider | undefined }>>();

  constructor(
    private readonly policies: PolicyService,
    private readonly directory: Directory,
    private readonly providers: ProviderRepository,
    private readonly naming: ProviderNaming,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * enabledProvider as decided at most `maxAgeInMs` ago in this instance. Dial-ins use it:
   * devices join a meeting in bursts around its start, and each decision costs two
   * directory look-ups and four reads. Grant and provider changes made here drop the
   * tenant's decisions at once (`forget`); changes elsewhere (group membership in Entra
   * ID, another instance's admin call) show within `maxAgeInMs` — Teams' own policy
   * changes take far longer to reach meetings.
   */
  async recentlyEnabledProvider(tenantId: string, userId: string, maxAgeInMs: number): Promise<VideoInteropServiceProvider | undefined> {
    const known = this.#decisions.get(tenantId)?.get(userId);
    if (known && known.until > this.now()) return known.provider;
    const provider = await this.enabledProvider(tenantId, userId);
    let tenant = this.#decisions.get(tenantId);
    if (!tenant) {
      // A bound on memory: an instance keeps decisions for this many tenants at most.
      if (this.#decisions.size >= 10_000) this.#decisions.clear();
      tenant = new Map();
      this.#decisions.set(tenantId, tenant);
    }
    if (tenant.size >= 10_000) tenant.clear();
    tenant.set(userId, { until: this.now() + maxAgeInMs, provider });
    return provider;
  }

  /** Drops the tenant's recent decisions (its grants or provider changed). */
  forget(tenantId: string): void {
    this.#decisions.delete(tenantId);
  }

  /** This service's provider for the organizer, or undefined when they are not enabled for it. `tenantId` is a stored tenant's (normalized) id. */
  async enabledProvider(tenantId: string, userId: string): Promise<VideoInteropServiceProvider | undefined> {
    let aliases = [userId];
    let groupIds: string[] = [];
    try {
      const user = await this.directory.user(tenantId, userId);
      if (!user) return undefined;
      aliases = user.userPrincipalName ? [user.id, user.userPrincipalName] : [user.id];
      groupIds = await this.directory.groupIdsOf(tenantId, user.id);
    } catch (e) {
      // Without directory permissions only grants to the user's id and the tenant-wide grant can apply.
      if (!(e instanceof ConsentMissingError)) throw e;
    }
    const effective = await this.policies.effectiveForKnownTenant(tenantId, aliases, groupIds);
    if (!effective.policy.enabled || effective.policy.providerName !== this.naming.serviceProviderName) return undefined;
    return (await this.providers.get(tenantId, this.naming.serviceProviderName))?.value;
  }

  /** Invites can be written only with consent for calls and for calendars. */
  static mayWriteInvites(tenant: Tenant): boolean {
    const consent = tenant.consent;
    return consent.status === "granted" && INVITE_PERMISSIONS.every((p) => !consent.missing.includes(p));
  }
}
