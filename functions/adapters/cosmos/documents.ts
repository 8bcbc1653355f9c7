import { setTimeout as delay } from "node:timers/promises";
import type { Container, ItemDefinition, SqlQuerySpec } from "@azure/cosmos";
import { NotFoundError, PreconditionFailedError } from "../../../shared/errors.js";
import type { MutateOptions, Mutation, Versioned } from "../../ports.js";

/** How a repository maps its domain value to a stored document and back. */
export interface DocumentMapping<T> {
  readonly toDocument: (value: T) => ItemDefinition & { id: string };
  readonly fromDocument: (document: ItemDefinition) => T;
}

export function isStatus(error: unknown, status: number): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === status;
}

/**
 * The ETag as HTTP writes it (a quoted string). Azure Cosmos DB's `_etag` is quoted
 * already; the local emulator's is not. Callers compare and echo this form only.
 */
export function httpEtag(document: ItemDefinition): string {
  const raw = String(document._etag);
  return raw.startsWith('"') ? raw : `"${raw}"`;
}

function versioned<T>(document: ItemDefinition, mapping: DocumentMapping<T>): Versioned<T> & { readonly rawEtag: string } {
  return { value: mapping.fromDocument(document), etag: httpEtag(document), rawEtag: String(document._etag) };
}

export async function readVersioned<T>(
  container: Container,
  id: string,
  partitionKey: string,
  mapping: DocumentMapping<T>,
): Promise<(Versioned<T> & { readonly rawEtag: string }) | undefined> {
  try {
    const { resource } = await container.item(id, partitionKey).read<ItemDefinition>();
    if (!resource) return undefined;
    return versioned(resource, mapping);
  } catch (e) {
    if (isStatus(e, 404)) return undefined;
    throw e;
  }
}

/** Creates the document; a 409 (the id exists) propagates for the caller to name. */
export async function createVersioned<T>(
  container: Container,
  value: T,
  mapping: DocumentMapping<T>,
): Promise<Versioned<T> & { readonly rawEtag: string }> {
  const { resource } = await container.items.create(mapping.toDocument(value));
  if (!resource) throw new Error("Cosmos DB returned no document on create");
  return versioned(resource, mapping);
}

const MAX_ATTEMPTS = 30;

export interface MutateDocumentOptions<T> extends MutateOptions {
  /** The value to mutate when the document does not exist yet; without it a missing document is a NotFoundError. */
  readonly initial?: () => T;
  readonly notFoundMessage: string;
  /**
   * Runs after the mutation and before its result is written (again on a retry): a side
   * effect that must have happened whenever the write is durable, e.g. a hand-off on
   * the bus that the stored value then records as done. If it throws, nothing is written.
   */
  readonly beforeWrite?: (next: T, current: T) => Promise<void>;
  /**
   * A version of the document seen earlier (e.g. by this instance's last write): the
   * first attempt starts from it instead of reading. If it is stale the replace fails
   * on its ETag and the loop reads afresh, so it only ever saves a read.
   */
  readonly basis?: Versioned<T> & { readonly rawEtag: string };
}

/**
 * Optimistic concurrency: read, apply the pure mutation, replace only if the ETag is
 * unchanged. On a lost race the mutation runs again on fresh state, so concurrent
 * writers never lose each other's changes. With a caller's `ifMatch`, a stale copy is
 * reported instead (PreconditionFailedError), since the caller decided on old data.
 */
export async function mutateDocument<T>(
  container: Container,
  id: string,
  partitionKey: string,
  mapping: DocumentMapping<T>,
  mutation: Mutation<T>,
  options: MutateDocumentOptions<T>,
): Promise<Versioned<T> & { readonly rawEtag: string }> {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    options.abortSignal?.throwIfAborted();
    const current = attempt === 1 && options.basis ? options.basis : await readVersioned(container, id, partitionKey, mapping);
    if (current === undefined) {
      if (!options.initial || options.ifMatch !== undefined) throw new NotFoundError(options.notFoundMessage);
      try {
        return await createVersioned(container, mutation(options.initial()), mapping);
      } catch (e) {
        if (!isStatus(e, 409)) throw e;
        continue; // someone created it first: mutate theirs
      }
    }
    if (options.ifMatch !== undefined && options.ifMatch !== current.etag) {
      throw new PreconditionFailedError("the resource has changed since it was read (ETag mismatch); read it again and retry");
    }
    const next = mutation(current.value);
    // A mutation that returns its input unchanged means "nothing to do": no write, no new version.
    if (next === current.value) return current;
    await options.beforeWrite?.(next, current.value);
    try {
      const { resource } = await container
        .item(id, partitionKey)
        .replace(mapping.toDocument(next), { accessCondition: { type: "IfMatch", condition: current.rawEtag } });
      if (!resource) throw new Error("Cosmos DB returned no document on replace");
      return versioned(resource, mapping);
    } catch (e) {
      if (isStatus(e, 404)) throw new NotFoundError(options.notFoundMessage);
      if (!isStatus(e, 412)) throw e;
      if (options.ifMatch !== undefined) {
        throw new PreconditionFailedError("the resource has changed since it was read (ETag mismatch); read it again and retry");
      }
      // A stale basis is no race: read at once. Otherwise back off a little (jittered, growing) and redo on fresh state.
      if (!(attempt === 1 && options.basis)) await delay(Math.random() * Math.min(200, 5 * 2 ** attempt));
    }
  }
  throw new PreconditionFailedError("the resource is being changed by many writers at once; retry the request");
}

/** Strips Cosmos DB's system properties so they never leak into domain values or API answers. */
export function withoutSystemProperties(document: ItemDefinition): Record<string, unknown> {
  const { _rid, _self, _etag, _attachments, _ts, ...rest } = document as Record<string, unknown>;
  return rest;
}

/**
 * A query within one tenant's partition. The partitionKey option alone scopes it in
 * Azure; the explicit filter says so in the query too, and keeps tenants apart on
 * the embedded emulator, which ignores that option.
 */
export function tenantQuery(query: string, tenantId: string): SqlQuerySpec {
  return { query, parameters: [{ name: "@tenantId", value: tenantId }] };
}
