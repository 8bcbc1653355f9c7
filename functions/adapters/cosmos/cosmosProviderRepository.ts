import type { ItemDefinition } from "@azure/cosmos";
import { ConflictError, NotFoundError, PreconditionFailedError } from "../../../shared/errors.js";
import type { VideoInteropServiceProvider } from "../../../shared/domain/provider.js";
import type { MutateOptions, Mutation, ProviderRepository, Versioned } from "../../ports.js";
import type { CosmosStore } from "./cosmosStore.js";
import {
  createVersioned,
  type DocumentMapping,
  tenantQuery,
  httpEtag,
  isStatus,
  mutateDocument,
  readVersioned,
  withoutSystemProperties,
} from "./documents.js";

const documentId = (identity: string) => `provider:${identity.toLowerCase()}`;

function mappingFor(tenantId: string): DocumentMapping<VideoInteropServiceProvider> {
  return {
    toDocument: (provider) => ({ ...provider, id: documentId(provider.identity), tenantId, type: "provider" }),
    fromDocument: (document) => {
      const { id, type, tenantId: _tenant, ...provider } = withoutSystemProperties(document);
      return provider as unknown as VideoInteropServiceProvider;
    },
  };
}

/** Providers live in their tenant's partition of the `tenants` container. */
export class CosmosProviderRepository implements ProviderRepository {
  readonly #store: CosmosStore;

  constructor(store: CosmosStore) {
    this.#store = store;
  }

  async create(tenantId: string, provider: VideoInteropServiceProvider): Promise<Versioned<VideoInteropServiceProvider>> {
    try {
      return await createVersioned(this.#store.tenants, provider, mappingFor(tenantId));
    } catch (e) {
      if (isStatus(e, 409)) throw new ConflictError(`provider ${provider.identity} exists already for tenant ${tenantId}; use set to change it`);
      throw e;
    }
  }

  get(tenantId: string, identity: string): Promise<Versioned<VideoInteropServiceProvider> | undefined> {
    return readVersioned(this.#store.tenants, documentId(identity), tenantId, mappingFor(tenantId));
  }

  async list(tenantId: string): Promise<Versioned<VideoInteropServiceProvider>[]> {
    const mapping = mappingFor(tenantId);
    const { resources } = await this.#store.tenants.items
      .query<ItemDefinition>(tenantQuery("SELECT * FROM c WHERE c.tenantId = @tenantId AND c.type = 'provider' ORDER BY c.identity", tenantId), {
        partitionKey: tenantId,
      })
      .fetchAll();
    return resources.map((r) => ({ value: mapping.fromDocument(r), etag: httpEtag(r) }));
  }

  update(
    tenantId: string,
    identity: string,
    mutation: Mutation<VideoInteropServiceProvider>,
    options: MutateOptions = {},
  ): Promise<Versioned<VideoInteropServiceProvider>> {
    return mutateDocument(this.#store.tenants, documentId(identity), tenantId, mappingFor(tenantId), mutation, {
      ...options,
      notFoundMessage: `provider ${identity} does not exist for tenant ${tenantId}`,
    });
  }

  async remove(tenantId: string, identity: string, options: MutateOptions = {}): Promise<void> {
    const notFound = () => new NotFoundError(`provider ${identity} does not exist for tenant ${tenantId}`);
    const stale = () => new PreconditionFailedError("the provider has changed since it was read (ETag mismatch); read it again and retry");
    let condition: string | undefined;
    if (options.ifMatch !== undefined) {
      const current = await readVersioned(this.#store.tenants, documentId(identity), tenantId, mappingFor(tenantId));
      if (!current) throw notFound();
      if (options.ifMatch !== current.etag) throw stale();
      condition = current.rawEtag;
    }
    try {
      await this.#store.tenants
        .item(documentId(identity), tenantId)
        .delete(condition === undefined ? {} : { accessCondition: { type: "IfMatch", condition } });
    } catch (e) {
      if (isStatus(e, 404)) throw notFound();
      if (isStatus(e, 412)) throw stale();
      throw e;
    }
  }
}
