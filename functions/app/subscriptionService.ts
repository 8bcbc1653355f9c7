import { clientStateFor, isClientStateFor } from "../../shared/domain/clientState.js";
import { NotFoundError } from "../../shared/errors.js";
import type { ChangeSubscriptions, Directory, OrganizerSubscription, OrganizerSubscriptionRepository, TenantRepository } from "../ports.js";
import type { MeetingCoordinatesService } from "./meetingCoordinatesService.js";
import { Organizers } from "./organizers.js";
import type { PolicyService } from "./policyService.js";

export interface SubscriptionServiceOptions {
  readonly notificationUrl: string;
  readonly lifecycleNotificationUrl: string;
  readonly stateSigningKey: string;
  /** Requested lifetime; Outlook event subscriptions live at most 7 days. */
  readonly lifetimeInMs?: number;
  /** Renew when less than this is left. */
  readonly renewBeforeInMs?: number;
  readonly now: () => Date;
  readonly log: (line: string) => void;
}

export type LifecycleEvent = "reauthorizationRequired" | "subscriptionRemoved" | "missed";

const DAY = 24 * 60 * 60_000;

/**
 * Graph change subscriptions on the calendars of enabled organizers: created when an
 * organizer's effective policy enables this service, removed when it no longer does,
 * renewed before expiry, mended after lifecycle events.
 */
export class SubscriptionService {
  constructor(
    private readonly tenants: TenantRepository,
    private readonly graph: ChangeSubscriptions,
    private readonly records: OrganizerSubscriptionRepository,
    private readonly organizers: Organizers,
    private readonly policies: PolicyService,
    private readonly directory: Directory,
    private readonly coordinates: MeetingCoordinatesService,
    private readonly options: SubscriptionServiceOptions,
  ) {}

  /** Subscribes or unsubscribes the organizer as their policy says, and brings their invites in line. */
  async syncOrganizer(tenantId: string, userIdOrUpn: string): Promise<void> {
    // Graph names organizers by object id in notifications: subscriptions are keyed by it.
    const user = await this.directory.user(tenantId, userIdOrUpn);
    const userId = user?.id ?? userIdOrUpn.toLowerCase();
    const tenant = user ? (await this.tenants.get(tenantId))?.value : undefined;
    const enabled =
      tenant !== undefined && Organizers.mayWriteInvites(tenant) && (await this.organizers.enabledProvider(tenant.tenantId, userId)) !== undefined;
    const existing = await this.records.get(tenantId, userId);
    if (enabled && !existing) await this.#subscribe(tenantId, userId);
    if (!enabled && existing) {
      await this.graph.remove(tenantId, existing.subscriptionId);
      await this.records.remove(tenantId, userId);
    }
    if (user) await this.coordinates.reconcileOrganizer(tenantId, userId);
  }

  /** Every organizer a grant could concern: user grants, members of granted groups, everyone under a tenant-wide grant, and the subscribed. */
  async syncTenant(tenantId: string): Promise<void> {
    const [assignments, subscribed] = await Promise.all([this.policies.getAssignments(tenantId), this.records.list(tenantId)]);
    const users = new Set(subscribed.map((s) => s.userId));
    const enablesAProvider = (policyName: string) => this.policies.list().some((p) => p.name === policyName && p.enabled);
    if (enablesAProvider(assignments.value.global)) for (const id of await this.directory.listUserIds(tenantId)) users.add(id);
    for (const group of assignments.value.groups) {
      if (enablesAProvider(group.policyName)) for (const id of await this.directory.memberIdsOf(tenantId, group.groupId)) users.add(id);
    }
    let continuationToken: string | undefined;
    do {
      const page = await this.policies.listUserGrants(tenantId, continuationToken ? { continuationToken } : {});
      for (const grant of page.items) users.add(grant.userId);
      continuationToken = page.continuationToken;
    } while (continuationToken);
    for (const userId of users) await this.syncOrganizer(tenantId, userId);
  }

  /**
   * After a grant changed: brings subscriptions and invites in line. Failures are
   * logged, not thrown: the grant stands, and the maintenance timer retries.
   */
  async afterGrant(tenantId: string, userId?: string): Promise<void> {
    try {
      if (userId) await this.syncOrganizer(tenantId, userId);
      else await this.syncTenant(tenantId);
    } catch (e) {
      this.options.log(`subscriptions of tenant ${tenantId} not synchronised yet: ${(e as Error).message}`.slice(0, 400));
    }
  }

  /** Renews the tenant's subscriptions that would expire soon; recreates the ones Graph lost. */
  async renewDue(tenantId: string): Promise<number> {
    const now = this.options.now().getTime();
    let renewed = 0;
    for (const record of await this.records.list(tenantId)) {
      if (Date.parse(record.expiresAt) - now > (this.options.renewBeforeInMs ?? DAY)) continue;
      const expiresAt = this.#expiry();
      try {
        await this.graph.renew(tenantId, record.subscriptionId, expiresAt);
        await this.records.put(tenantId, { ...record, expiresAt: expiresAt.toISOString() });
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
        await this.#subscribe(tenantId, record.userId);
        await this.coordinates.reconcileOrganizer(tenantId, record.userId);
      }
      renewed++;
    }
    return renewed;
  }

  /** Whether a notification's clientState is the one we gave the organizer's subscription. */
  isAuthentic(tenantId: string, userId: string, clientState: unknown): boolean {
    return isClientStateFor(this.options.stateSigningKey, tenantId, userId, clientState);
  }

  findBySubscriptionId(tenantId: string, subscriptionId: string): Promise<OrganizerSubscription | undefined> {
    return this.records.findBySubscriptionId(tenantId, subscriptionId);
  }

  async handleLifecycle(tenantId: string, subscription: OrganizerSubscription, event: LifecycleEvent): Promise<void> {
    this.options.log(`lifecycle ${event} for the subscription of ${subscription.userId}`);
    if (event === "reauthorizationRequired") {
      try {
        await this.graph.reauthorize(tenantId, subscription.subscriptionId);
        return;
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
      }
    }
    // Removed, lost or missed: subscribe again (if still gone) and resynchronise the calendar.
    if (event !== "missed") {
      await this.records.remove(tenantId, subscription.userId);
      await this.#subscribe(tenantId, subscription.userId);
    }
    await this.coordinates.reconcileOrganizer(tenantId, subscription.userId);
  }

  async #subscribe(tenantId: string, userId: string): Promise<void> {
    const expiresAt = this.#expiry();
    const created = await this.graph.create(tenantId, {
      resource: `/users/${userId}/events`,
      changeType: "created,updated,deleted",
      notificationUrl: this.options.notificationUrl,
      lifecycleNotificationUrl: this.options.lifecycleNotificationUrl,
      clientState: clientStateFor(this.options.stateSigningKey, tenantId, userId),
      expirationDateTime: expiresAt,
    });
    await this.records.put(tenantId, { userId, subscriptionId: created.id, expiresAt: created.expirationDateTime });
  }

  #expiry(): Date {
    return new Date(this.options.now().getTime() + (this.options.lifetimeInMs ?? 3 * DAY));
  }
}
