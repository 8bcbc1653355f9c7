import type { ItemDefinition } from "@azure/cosmos";
import { ConflictError } from "../../../shared/errors.js";
import type { Tenant } from "../../../shared/domain/tenant.js";
import type { ListOptions, MutateOptions, Mutation, Page, TenantRepository, Versioned } from "../../ports.js";
import type { CosmosStore } from "./cosmosStore.js";
import { createVersioned, type DocumentMapping, tenantQuery, isStatus, mutateDocument, readVersioned, withoutSystemProperties } from "./documents.js";

const TENANT_DOCUMENT_ID = "tenant";

const tenantMapping: DocumentMapping<Tenant> = {
  toDocument: (tenant) => ({ ...tenant, id: TENANT_DOCUMENT_ID, type: "tenant" }),
  fromDocument: (document) => {
    const { id, type, ...tenant } = withoutSystemProperties(document);
    return tenant as unknown as Tenant;
  },
};

interface TenantKeyDocument extends ItemDefinition {
  id: string;
  tenantId: string;
  status: "active" | "retired";
  reservedAt: string;
}

export class CosmosTenantRepository implements TenantRepository {
  readonly #store: CosmosStore;

  constructor(store: CosmosStore) {
    this.#store = store;
  }

  async reserveTenantKey(digits: string, tenantId: string): Promise<boolean> {
    const document: TenantKeyDocument = { id: digits, tenantId, status: "active", reservedAt: new Date().toISOString() };
    try {
      await this.#store.tenantKeys.items.create(document);
      return true;
    } catch (e) {
      if (isStatus(e, 409)) return false;
      throw e;
    }
  }

  async releaseTenantKey(digits: string): Promise<void> {
    try {
      await this.#store.tenantKeys.item(digits, digits).delete();
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }

  async retireTenantKey(digits: string): Promise<void> {
    try {
      await this.#store.tenantKeys.item(digits, digits).patch([{ op: "set", path: "/status", value: "retired" }]);
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }

  async create(tenant: Tenant): Promise<Versioned<Tenant>> {
    try {
      return await createVersioned(this.#store.tenants, tenant, tenantMapping);
    } catch (e) {
      if (isStatus(e, 409)) throw new ConflictError(`tenant ${tenant.tenantId} exists already`);
      throw e;
    }
  }

  get(tenantId: string): Promise<Versioned<Tenant> | undefined> {
    return readVersioned(this.#store.tenants, TENANT_DOCUMENT_ID, tenantId, tenantMapping);
  }

  async findTenantIdByKeyDigits(digits: string): Promise<string | undefined> {
    try {
      const { resource } = await this.#store.tenantKeys.item(digits, digits).read<TenantKeyDocument>();
      return resource?.status === "active" ? resource.tenantId : undefined;
    } catch (e) {
      if (isStatus(e, 404)) return undefined;
      throw e;
    }
  }

  async list(options: ListOptions = {}): Promise<Page<Tenant>> {
    // The one cross-partition query: an operator listing all tenants, not a call path.
    const iterator = this.#store.tenants.items.query<ItemDefinition>(
      { query: "SELECT * FROM c WHERE c.type = 'tenant' ORDER BY c.createdAt" },
      {
        maxItemCount: options.maxItemCount ?? 100,
        ...(options.continuationToken ? { continuationToken: options.continuationToken } : {}),
        ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
      },
    );
    const page = await iterator.fetchNext();
    return { items: page.resources.map(tenantMapping.fromDocument), continuationToken: page.continuationToken };
  }

  update(tenantId: string, mutation: Mutation<Tenant>, options: MutateOptions = {}): Promise<Versioned<Tenant>> {
    return mutateDocument(this.#store.tenants, TENANT_DOCUMENT_ID, tenantId, tenantMapping, mutation, {
      ...options,
      notFoundMessage: `tenant ${tenantId} does not exist`,
    });
  }

  async remove(tenantId: string): Promise<void> {
    const { resources } = await this.#store.tenants.items
      .query<{ id: string }>(tenantQuery("SELECT c.id FROM c WHERE c.tenantId = @tenantId", tenantId), { partitionKey: tenantId })
      .fetchAll();
    // Children first, the tenant document last: if this stops half-way the tenant
    // still exists and a repeated remove finishes the job.
    const children = resources.filter((r) => r.id !== TENANT_DOCUMENT_ID);
    await Promise.all(children.map((r) => this.#deleteIgnoringMissing(r.id, tenantId)));
    await this.#deleteIgnoringMissing(TENANT_DOCUMENT_ID, tenantId);
  }

  async #deleteIgnoringMissing(id: string, tenantId: string): Promise<void> {
    try {
      await this.#store.tenants.item(id, tenantId).delete();
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }
}
