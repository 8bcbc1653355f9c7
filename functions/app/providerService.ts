import {
  applyProviderChanges,
  canonicalProviderName,
  checkProviderBelongsToTenant,
  compileFilter,
  createProvider,
  parseNewProvider,
  parseProviderChanges,
  type ProviderNaming,
  type VideoInteropServiceProvider,
} from "../../shared/domain/provider.js";
import { NotFoundError } from "../../shared/errors.js";
import type { MutateOptions, ProviderRepository, Versioned } from "../ports.js";
import type { TenantService } from "./tenantService.js";

/** `New/Set/Get/Remove-CsVideoInteropServiceProvider`, per tenant. */
export class ProviderService {
  readonly #repository: ProviderRepository;
  readonly #tenants: TenantService;
  readonly #naming: ProviderNaming;
  readonly #now: () => Date;

  /** Told after every provider change, so that cached decisions about the tenant's organizers are dropped. */
  readonly #onChange: (tenantId: string) => void;

  constructor(
    repository: ProviderRepository,
    tenants: TenantService,
    naming: ProviderNaming,
    now: () => Date,
    onChange: (tenantId: string) => void = () => {},
  ) {
    this.#onChange = onChange;
    this.#repository = repository;
    this.#tenants = tenants;
    this.#naming = naming;
    this.#now = now;
  }

  async create(tenantId: string, input: unknown): Promise<Versioned<VideoInteropServiceProvider>> {
    const { value: tenant } = await this.#tenants.require(tenantId);
    const request = parseNewProvider(input, this.#naming);
    checkProviderBelongsToTenant(request, tenant.tenantKey, this.#naming);
    const created = await this.#repository.create(tenant.tenantId, createProvider(request, this.#now()));
    this.#onChange(tenant.tenantId);
    return created;
  }

  async set(tenantId: string, identity: string, input: unknown, options: MutateOptions = {}): Promise<Versioned<VideoInteropServiceProvider>> {
    const { value: tenant } = await this.#tenants.require(tenantId);
    const name = this.#knownName(identity, tenant.tenantId);
    const changes = parseProviderChanges(input, name, this.#naming);
    if (changes.tenantKey !== undefined)
      checkProviderBelongsToTenant({ identity: name, tenantKey: changes.tenantKey }, tenant.tenantKey, this.#naming);
    const updated = await this.#repository.update(tenant.tenantId, name, (current) => applyProviderChanges(current, changes, this.#now()), options);
    this.#onChange(tenant.tenantId);
    return updated;
  }

  async get(tenantId: string, identity: string): Promise<Versioned<VideoInteropServiceProvider>> {
    const { value: tenant } = await this.#tenants.require(tenantId);
    const name = this.#knownName(identity, tenant.tenantId);
    const provider = await this.#repository.get(tenant.tenantId, name);
    if (!provider) throw new NotFoundError(`provider ${name} does not exist for tenant ${tenant.tenantId}`);
    return provider;
  }

  /** `Get-CsVideoInteropServiceProvider -Filter`: a regex over the identities. */
  async list(tenantId: string, filter?: string): Promise<Versioned<VideoInteropServiceProvider>[]> {
    const pattern = compileFilter(filter);
    const { value: tenant } = await this.#tenants.require(tenantId);
    const providers = await this.#repository.list(tenant.tenantId);
    return pattern ? providers.filter((p) => pattern.test(p.value.identity)) : providers;
  }

  async remove(tenantId: string, identity: string, options: MutateOptions = {}): Promise<void> {
    const { value: tenant } = await this.#tenants.require(tenantId);
    await this.#repository.remove(tenant.tenantId, this.#knownName(identity, tenant.tenantId), options);
    this.#onChange(tenant.tenantId);
  }

  // An identity that is no provider name at all cannot exist: 404, as for any missing provider.
  #knownName(identity: string, tenantId: string): string {
    const name = canonicalProviderName(identity, this.#naming);
    if (name === undefined) throw new NotFoundError(`provider ${identity.slice(0, 64)} does not exist for tenant ${tenantId}`);
    return name;
  }
}
