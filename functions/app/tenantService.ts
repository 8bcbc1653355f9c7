import { isGuid } from "../../shared/domain/ids.js";
import { createTenant, parseNewTenant, type Tenant } from "../../shared/domain/tenant.js";
import { formatTenantKey, generateTenantKeyDigits, parseTenantKey, type RandomInt } from "../../shared/domain/tenantKey.js";
import { ConflictError, NotFoundError, ValidationError } from "../../shared/errors.js";
import type { ListOptions, Page, TenantRepository, Versioned } from "../ports.js";

export interface TenantServiceOptions {
  readonly serviceDomain: string;
  readonly randomInt: RandomInt;
  readonly now: () => Date;
}

// With 9e8 possible keys a collision is rare; a run of them means something is wrong.
const MAX_KEY_DRAWS = 20;

/** Onboarding and off-boarding tenants, and finding one by id or by tenant key. */
export class TenantService {
  readonly #repository: TenantRepository;
  readonly #options: TenantServiceOptions;

  constructor(repository: TenantRepository, options: TenantServiceOptions) {
    this.#repository = repository;
    this.#options = options;
  }

  /** Creates the tenant with a fresh, service-wide unique tenant key. */
  async add(input: unknown): Promise<Versioned<Tenant>> {
    const request = parseNewTenant(input);
    if (await this.#repository.get(request.tenantId)) throw new ConflictError(`tenant ${request.tenantId} exists already`);
    for (let draw = 0; draw < MAX_KEY_DRAWS; draw++) {
      const digits = generateTenantKeyDigits(this.#options.randomInt);
      if (!(await this.#repository.reserveTenantKey(digits, request.tenantId))) continue;
      const tenant = createTenant(request, formatTenantKey(digits, this.#options.serviceDomain), this.#options.now());
      try {
        return await this.#repository.create(tenant);
      } catch (e) {
        await this.#repository.releaseTenantKey(digits);
        throw e;
      }
    }
    throw new Error(`no free tenant key after ${MAX_KEY_DRAWS} draws`);
  }

  /** `reference` is the Entra tenant id or the tenant key. */
  async get(reference: string): Promise<Versioned<Tenant>> {
    const tenantId = await this.#resolve(reference);
    const tenant = tenantId === undefined ? undefined : await this.#repository.get(tenantId);
    if (!tenant) throw new NotFoundError(`tenant ${reference} does not exist`);
    return tenant;
  }

  /** Throws NotFoundError unless the tenant exists; for the use cases under a tenant. */
  async require(tenantId: string): Promise<Versioned<Tenant>> {
    if (!isGuid(tenantId))
      throw new ValidationError([{ field: "tenantId", message: "tenantId must be a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47" }]);
    const tenant = await this.#repository.get(tenantId.toLowerCase());
    if (!tenant) throw new NotFoundError(`tenant ${tenantId} does not exist`);
    return tenant;
  }

  list(options?: ListOptions): Promise<Page<Tenant>> {
    return this.#repository.list(options);
  }

  /** Removes the tenant and all it holds; its key is retired, never handed to another tenant. */
  async remove(reference: string): Promise<void> {
    const { value: tenant } = await this.get(reference);
    const key = parseTenantKey(tenant.tenantKey, this.#options.serviceDomain);
    if (key) await this.#repository.retireTenantKey(key.digits);
    await this.#repository.remove(tenant.tenantId);
  }

  async #resolve(reference: string): Promise<string | undefined> {
    const trimmed = reference.trim();
    if (isGuid(trimmed)) return trimmed.toLowerCase();
    const key = parseTenantKey(trimmed, this.#options.serviceDomain);
    if (key) return this.#repository.findTenantIdByKeyDigits(key.digits);
    throw new ValidationError([
      {
        field: "tenant",
        message: `tenant must be a tenant id (GUID) or a tenant key like 813878896@t.${this.#options.serviceDomain}`,
      },
    ]);
  }
}
