import { type Container, CosmosClient, type Database } from "@azure/cosmos";
import { DefaultAzureCredential } from "@azure/identity";
import { isStatus } from "./documents.js";

/**
 * The containers and their partition keys, chosen for the access paths:
 * - `tenants` (/tenantId) holds everything that belongs to one tenant — the tenant,
 *   its providers, its grants — so every per-tenant read is a point read or a
 *   single-partition query.
 * - `tenantKeys` (/id = the key's digits) maps a dialed tenant key to its tenant with
 *   one point read, and makes the digits unique service-wide (an id exists once).
 * - `meetings` (/id = the VTC conference ID) maps a dialed ID to its meeting with one
 *   point read, and makes IDs unique among the service's meetings.
 * - `callSessions` (/id = the Graph call id): each call notification is one point read
 *   and one conditional write.
 * - `callHistory` (/day = the UTC day a call started): a summary of each ended call,
 *   written with the record's end, so history pages are single-partition queries over a
 *   bounded window of days rather than a scan of every call ever made.
 * - `hosts` (/pool): the media hosts' leases, one small partition per pool, so the reaper
 *   and the edge read the whole pool with one single-partition query.
 * infra/modules/cosmos.bicep declares the same containers (a test keeps them in step).
 */
export const CONTAINERS = {
  tenants: { id: "tenants", partitionKeyPath: "/tenantId" },
  tenantKeys: { id: "tenantKeys", partitionKeyPath: "/id" },
  meetings: { id: "meetings", partitionKeyPath: "/id" },
  callSessions: { id: "callSessions", partitionKeyPath: "/id" },
  callHistory: { id: "callHistory", partitionKeyPath: "/day" },
  hosts: { id: "hosts", partitionKeyPath: "/pool" },
} as const;

export interface OpenCosmosStoreOptions {
  readonly endpoint: string;
  /** Account key; absent in Azure, where the Function App's managed identity is used. */
  readonly key?: string | undefined;
  readonly databaseId: string;
}

export interface CosmosStore {
  readonly client: CosmosClient;
  readonly tenants: Container;
  readonly tenantKeys: Container;
  readonly meetings: Container;
  readonly callSessions: Container;
  readonly callHistory: Container;
  readonly hosts: Container;
}

export async function openCosmosStore(options: OpenCosmosStoreOptions): Promise<CosmosStore> {
  const client = options.key
    ? new CosmosClient({ endpoint: options.endpoint, key: options.key })
    : new CosmosClient({ endpoint: options.endpoint, aadCredentials: new DefaultAzureCredential() });
  const database = await ensureDatabase(client, options.databaseId);
  const [tenants, tenantKeys, meetings, callSessions, callHistory, hosts] = await Promise.all(
    [CONTAINERS.tenants, CONTAINERS.tenantKeys, CONTAINERS.meetings, CONTAINERS.callSessions, CONTAINERS.callHistory, CONTAINERS.hosts].map((spec) =>
      ensureContainer(database, spec),
    ),
  );
  return {
    client,
    tenants: tenants!,
    tenantKeys: tenantKeys!,
    meetings: meetings!,
    callSessions: callSessions!,
    callHistory: callHistory!,
    hosts: hosts!,
  };
}

// Read first, create only when missing: with Entra auth the data-plane role may read
// but not create databases/containers, and in Azure Bicep has created them already.
async function ensureDatabase(client: CosmosClient, id: string): Promise<Database> {
  const database = client.database(id);
  try {
    await database.read();
  } catch (e) {
    if (!isStatus(e, 404)) throw e;
    await client.databases.createIfNotExists({ id });
  }
  return database;
}

async function ensureContainer(database: Database, spec: { id: string; partitionKeyPath: string }): Promise<Container> {
  const container = database.container(spec.id);
  try {
    await container.read();
  } catch (e) {
    if (!isStatus(e, 404)) throw e;
    await database.containers.createIfNotExists({ id: spec.id, partitionKey: { paths: [spec.partitionKeyPath] } });
  }
  return container;
}
