// Cosmos DB (NoSQL API) for the control plane. Containers must match CONTAINERS in
// functions/adapters/cosmos/cosmosStore.ts (test/infra/bicep.test.ts checks this).

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Cosmos DB account name: 3-44 lowercase letters, digits and hyphens, globally unique.')
@minLength(3)
@maxLength(44)
param accountName string

@description('SQL database name.')
param databaseName string

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    // Traffic is low and bursty (admin calls, call setup), so pay per request.
    capabilities: [
      {
        name: 'EnableServerless'
      }
    ]
    // No account keys: only Entra identities with a data-plane role can read or write.
    disableLocalAuth: true
    // Databases and containers change only through ARM (this template), never through the data plane.
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

resource tenants 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'tenants'
  properties: {
    resource: {
      id: 'tenants'
      partitionKey: {
        paths: [
          '/tenantId'
        ]
        kind: 'Hash'
        version: 2
      }
    }
  }
}

// id = the tenant key's digits: a dialed key resolves with one point read, and the digits are unique service-wide.
resource tenantKeys 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'tenantKeys'
  properties: {
    resource: {
      id: 'tenantKeys'
      partitionKey: {
        paths: [
          '/id'
        ]
        kind: 'Hash'
        version: 2
      }
    }
  }
}

// id = the VTC conference ID: a dialed ID resolves with one point read, and IDs are unique among active meetings.
resource meetings 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'meetings'
  properties: {
    resource: {
      id: 'meetings'
      partitionKey: {
        paths: [
          '/id'
        ]
        kind: 'Hash'
        version: 2
      }
    }
  }
}

// id = the Graph call id: every call notification is a point read and a conditional write on one record.
resource callSessions 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'callSessions'
  properties: {
    resource: {
      id: 'callSessions'
      partitionKey: {
        paths: [
          '/id'
        ]
        kind: 'Hash'
        version: 2
      }
    }
  }
}

// Call history: a summary of each ended call under the UTC day it started (/day), written with
// the record's end. A history page reads one day partition at a time, newest first, over a
// window of at most 31 days: bounded, never a scan of every call ever made.
resource callHistory 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'callHistory'
  properties: {
    resource: {
      id: 'callHistory'
      partitionKey: {
        paths: [
          '/day'
        ]
        kind: 'Hash'
        version: 2
      }
    }
  }
}

// The media host registry: one document per host (id = host id) under its pool, leases renewed
// every 2 s. TTL is on without a default expiry (-1): documents live until they say otherwise,
// and a dead host's carries its own ttl (a day), after which Cosmos DB removes it.
resource hosts 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'hosts'
  properties: {
    resource: {
      id: 'hosts'
      partitionKey: {
        paths: [
          '/pool'
        ]
        kind: 'Hash'
        version: 2
      }
      defaultTtl: -1
    }
  }
}

output accountName string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
