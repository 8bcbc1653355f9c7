import type { PolicyAssignments } from "../shared/domain/policy.js";
import type { VideoInteropServiceProvider } from "../shared/domain/provider.js";
import type { Tenant } from "../shared/domain/tenant.js";

/**
 * What the control plane's use cases need from storage. Cosmos DB implements these
 * (adapters/cosmos); the use cases never see a container, a partition key or an ETag
 * header, only `Versioned` values and the errors of shared/errors.ts.
 */

export interface Versioned<T> {
  readonly value: T;
  /** Opaque version; pass it back as `ifMatch` to update only that version. */
  readonly etag: string;
}

export interface MutateOptions {
  /** Update only if the stored version is still this one, else PreconditionFailedError. */
  readonly ifMatch?: string;
  readonly abortSignal?: AbortSignal;
}

/**
 * A pure change applied with optimistic concurrency: called with the current value
 * (again, on fresh state, if someone else wrote in between), returns the next value.
 */
export type Mutation<T> = (current: T) => T;

export interface Page<T> {
  readonly items: readonly T[];
  readonly continuationToken: string | undefined;
}

export interface ListOptions {
  readonly continuationToken?: string;
  readonly maxItemCount?: number;
  readonly abortSignal?: AbortSignal;
}

export interface TenantRepository {
  /** Claims the key digits service-wide; false when another tenant holds (or held) them. */
  reserveTenantKey(digits: string, tenantId: string): Promise<boolean>;
  /** Gives back a reservation whose tenant was never created. */
  releaseTenantKey(digits: string): Promise<void>;
  /** Marks the digits as never to be issued again (a retired tenant's devices may still dial them). */
  retireTenantKey(digits: string): Promise<void>;
  /** Throws ConflictError when the tenant exists. */
  create(tenant: Tenant): Promise<Versioned<Tenant>>;
  get(tenantId: string): Promise<Versioned<Tenant> | undefined>;
  /** The tenant currently holding the key digits, if any. */
  findTenantIdByKeyDigits(digits: string): Promise<string | undefined>;
  list(options?: ListOptions): Promise<Page<Tenant>>;
  update(tenantId: string, mutation: Mutation<Tenant>, options?: MutateOptions): Promise<Versioned<Tenant>>;
  /** Removes the tenant and everything stored under it (providers, grants). */
  remove(tenantId: string): Promise<void>;
}

export interface ProviderRepository {
  create(tenantId: string, provider: VideoInteropServiceProvider): Promise<Versioned<VideoInteropServiceProvider>>;
  get(tenantId: string, identity: string): Promise<Versioned<VideoInteropServiceProvider> | undefined>;
  list(tenantId: string): Promise<Versioned<VideoInteropServiceProvider>[]>;
  update(
    tenantId: string,
    identity: string,
    mutation: Mutation<VideoInteropServiceProvider>,
    options?: MutateOptions,
  ): Promise<Versioned<VideoInteropServiceProvider>>;
  /** Throws NotFoundError when there is no such provider. */
  remove(tenantId: string, identity: string, options?: MutateOptions): Promise<void>;
}

export interface UserPolicyGrant {
  readonly userId: string;
  readonly policyName: string;
  readonly grantedAt: string;
}

export interface PolicyAssignmentRepository {
  /** The tenant-wide and group grants; the built-in defaults when none were made. */
  getAssignments(tenantId: string): Promise<Versioned<PolicyAssignments>>;
  updateAssignments(tenantId: string, mutation: Mutation<PolicyAssignments>, options?: MutateOptions): Promise<Versioned<PolicyAssignments>>;
  getUserGrant(tenantId: string, userId: string): Promise<UserPolicyGrant | undefined>;
  setUserGrant(tenantId: string, grant: UserPolicyGrant): Promise<void>;
  /** Idempotent: removing a grant that is not there is not an error. */
  removeUserGrant(tenantId: string, userId: string): Promise<void>;
  listUserGrants(tenantId: string, options?: ListOptions): Promise<Page<UserPolicyGrant>>;
}
