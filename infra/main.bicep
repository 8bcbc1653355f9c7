// OpenCVI: the control plane (Function App on Flex Consumption, Node 22, with Cosmos DB, Key
// Vault, Service Bus and Application Insights) and the media hosts (Debian VMs running SIP and
// rtpengine) it sends call events to over a Service Bus topic. Everything is reached with
// managed identities; no account keys, SAS keys or connection strings are issued.
targetScope = 'resourceGroup'

@description('Azure region for every resource. It must offer the Flex Consumption plan.')
param location string = resourceGroup().location

@description('Short prefix for resource names: 2-8 lowercase letters and digits.')
@minLength(2)
@maxLength(8)
param baseName string = 'cvi'

@description('Tags applied to every resource.')
param tags object = {}

@description('Cosmos DB database name (app setting COSMOS_DATABASE).')
param cosmosDatabaseName string = 'cvi'

@description('DNS name of the service, e.g. cvi.example.net; tenant keys are <digits>@t.<serviceDomain> (app setting SERVICE_DOMAIN).')
param serviceDomain string

@description('Provider name for our own tenant keys: 2-32 letters and digits, not a partner name (app setting SERVICE_PROVIDER_NAME).')
@minLength(2)
@maxLength(32)
param serviceProviderName string = 'OpenCVI'

@description('Issuer of admin API tokens (app setting ADMIN_AUTH_ISSUER). Defaults to the Entra ID v2.0 issuer of this tenant.')
param adminAuthIssuer string = '${environment().authentication.loginEndpoint}${subscription().tenantId}/v2.0'

@description('JWKS URI that admin API token signatures are checked against (app setting ADMIN_AUTH_JWKS_URI).')
param adminAuthJwksUri string = '${environment().authentication.loginEndpoint}${subscription().tenantId}/discovery/v2.0/keys'

@description('Audience of admin API tokens: the admin API app registration ID URI or client ID (app setting ADMIN_AUTH_AUDIENCE).')
param adminAuthAudience string

@description('App role an admin API token must carry (app setting ADMIN_AUTH_ROLE).')
param adminAuthRole string = 'CVI.Admin'

@description('App role media hosts\' managed identities hold to call the resolution and join API (app setting MEDIA_HOST_ROLE).')
param mediaHostRole string = 'CVI.MediaHost'

@description('The gateway\'s multi-tenant Entra application (bot) id that tenants consent to (app setting BOT_APP_ID).')
param botAppId string

@description('Public https base URL of the Function App as Graph and browsers reach it, e.g. a custom domain (app setting PUBLIC_BASE_URL). Empty: the default host name.')
param publicBaseUrl string = ''

@description('Most instances the Flex Consumption plan may scale out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each Flex Consumption instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Number of media host VMs; their ids are mh-0, mh-1, ... (MEDIA_HOST_ID), each with its own Service Bus subscription. Raise and redeploy to scale out.')
@minValue(0)
@maxValue(100)
param mediaHostCount int = 2

@description('VM size of the media hosts; it must support accelerated networking.')
param mediaHostVmSize string = 'Standard_F4s_v2'

@description('Admin user of the media host VMs (SSH key login only).')
param mediaHostAdminUsername string = 'azureuser'

@description('OpenSSH public key of the media hosts\' admin user.')
param mediaHostAdminSshPublicKeyData string

@description('Source (CIDR or service tag) allowed to SSH into the media hosts. Empty: SSH is closed.')
param mediaHostSshSourceAddressPrefix string = ''

@description('https URL of the media host package: a .tgz of the built repository (package.json, package-lock.json, dist/). Public, or an Azure Blob URL the media hosts\' identities can read; never a SAS URL.')
param mediaHostPackageUrl string

@description('Key Vault secret URI of the PEM certificate for SIP over TLS on the media hosts. Empty: SIP over UDP and TCP only.')
param sipTlsCertificateSecretUri string = ''

@description('On stop, how long a media host lets its calls go on before it ends them (DRAIN_GRACE_MS, in seconds here).')
@minValue(0)
@maxValue(86400)
param mediaHostDrainGraceSeconds int = 300

var prefix = toLower(baseName)
// Deterministic per resource group, so redeploying updates rather than duplicates.
var suffix = uniqueString(resourceGroup().id)
var names = {
  logAnalytics: 'log-${prefix}-${suffix}'
  appInsights: 'appi-${prefix}-${suffix}'
  storage: take('st${prefix}${suffix}', 24)
  cosmos: 'cosmos-${prefix}-${suffix}'
  keyVault: take('kv${prefix}${suffix}', 24)
  serviceBus: 'sb-${prefix}-${suffix}'
  plan: 'plan-${prefix}-${suffix}'
  functionApp: 'func-${prefix}-${suffix}'
}
// Media host ids: MEDIA_HOST_ID, the Service Bus subscription name, part of the VM names.
var mediaHostIds = [for i in range(0, mediaHostCount): 'mh-${i}']

module monitoring './modules/monitoring.bicep' = {
  name: '${deployment().name}-monitoring'
  params: {
    location: location
    tags: tags
    logAnalyticsName: names.logAnalytics
    appInsightsName: names.appInsights
  }
}

module storage './modules/storage.bicep' = {
  name: '${deployment().name}-storage'
  params: {
    location: location
    tags: tags
    name: names.storage
  }
}

module cosmos './modules/cosmos.bicep' = {
  name: '${deployment().name}-cosmos'
  params: {
    location: location
    tags: tags
    accountName: names.cosmos
    databaseName: cosmosDatabaseName
  }
}

module keyVault './modules/keyvault.bicep' = {
  name: '${deployment().name}-keyvault'
  params: {
    location: location
    tags: tags
    name: names.keyVault
  }
}

module serviceBus './modules/servicebus.bicep' = {
  name: '${deployment().name}-servicebus'
  params: {
    location: location
    tags: tags
    name: names.serviceBus
    mediaHostIds: mediaHostIds
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: names.plan
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: names.functionApp
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Flex Consumption takes runtime and deployment source from here, not from app settings.
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: storage.outputs.deploymentContainerUrl
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      // Names are the environment variables functions/config.ts reads. COSMOS_KEY is deliberately
      // absent: in Azure the Cosmos client authenticates with the managed identity.
      // FUNCTIONS_EXTENSION_VERSION and FUNCTIONS_WORKER_RUNTIME are absent too: Flex Consumption
      // deprecates them (the platform runs Functions v4; the runtime is set in functionAppConfig).
      appSettings: [
        {
          // Identity-based host storage; the account does not allow shared keys.
          name: 'AzureWebJobsStorage__accountName'
          value: storage.outputs.name
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: monitoring.outputs.connectionString
        }
        {
          // Send telemetry with the managed identity, since local auth is off on the component.
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'Authorization=AAD'
        }
        {
          name: 'COSMOS_ENDPOINT'
          value: cosmos.outputs.endpoint
        }
        {
          name: 'COSMOS_DATABASE'
          value: cosmos.outputs.databaseName
        }
        {
          name: 'SERVICE_DOMAIN'
          value: serviceDomain
        }
        {
          name: 'SERVICE_PROVIDER_NAME'
          value: serviceProviderName
        }
        {
          name: 'ADMIN_AUTH_ISSUER'
          value: adminAuthIssuer
        }
        {
          name: 'ADMIN_AUTH_JWKS_URI'
          value: adminAuthJwksUri
        }
        {
          name: 'ADMIN_AUTH_AUDIENCE'
          value: adminAuthAudience
        }
        {
          name: 'ADMIN_AUTH_ROLE'
          value: adminAuthRole
        }
        {
          name: 'MEDIA_HOST_ROLE'
          value: mediaHostRole
        }
        {
          name: 'PUBLIC_BASE_URL'
          value: empty(publicBaseUrl) ? 'https://${names.functionApp}.azurewebsites.net' : publicBaseUrl
        }
        {
          name: 'ENTRA_AUTHORITY_HOST'
          value: environment().authentication.loginEndpoint
        }
        {
          name: 'GRAPH_BASE_URL'
          value: environment().graph
        }
        {
          name: 'BOT_APP_ID'
          value: botAppId
        }
        {
          // Secrets stay in Key Vault; the app reads them through references with its managed identity.
          name: 'BOT_APP_CLIENT_SECRET'
          value: '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName=bot-app-client-secret)'
        }
        {
          name: 'STATE_SIGNING_KEY'
          value: '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName=state-signing-key)'
        }
        {
          name: 'CALL_NOTIFICATION_OPENID_CONFIG_URL'
          value: 'https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration'
        }
        {
          name: 'CALL_NOTIFICATION_ISSUERS'
          value: 'https://api.botframework.com,https://graph.microsoft.com'
        }
        {
          // Call events go to the media hosts over this topic, sent with the managed identity.
          name: 'SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE'
          value: serviceBus.outputs.fullyQualifiedNamespace
        }
        {
          name: 'SERVICE_BUS_TOPIC'
          value: serviceBus.outputs.commandsTopicName
        }
      ]
    }
  }
}

module functionAccess './modules/function-access.bicep' = {
  name: '${deployment().name}-function-access'
  params: {
    principalId: functionApp.identity.principalId
    storageAccountName: storage.outputs.name
    cosmosAccountName: cosmos.outputs.accountName
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    serviceBusNamespaceName: serviceBus.outputs.name
    commandsTopicName: serviceBus.outputs.commandsTopicName
  }
}

module mediaHosts './modules/mediahosts.bicep' = {
  name: '${deployment().name}-mediahosts'
  params: {
    location: location
    tags: tags
    namePrefix: '${prefix}-${suffix}'
    mediaHostIds: mediaHostIds
    vmSize: mediaHostVmSize
    adminUsername: mediaHostAdminUsername
    adminSshPublicKeyData: mediaHostAdminSshPublicKeyData
    sshSourceAddressPrefix: mediaHostSshSourceAddressPrefix
    mediaHostPackageUrl: mediaHostPackageUrl
    controlPlaneUrl: 'https://${functionApp.properties.defaultHostName}/api'
    // The media hosts' tokens are for the admin API's app registration (role CVI.MediaHost).
    controlPlaneScope: '${adminAuthAudience}/.default'
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    // Module outputs, so the subscriptions exist before their role assignments.
    serviceBusNamespaceName: serviceBus.outputs.name
    commandsTopicName: serviceBus.outputs.commandsTopicName
    serviceDomain: serviceDomain
    sipTlsCertificateSecretUri: sipTlsCertificateSecretUri
    drainGraceSeconds: mediaHostDrainGraceSeconds
  }
}

@description('Default host name of the Function App.')
output functionAppHostName string = functionApp.properties.defaultHostName

@description('Function App name, for code deployment.')
output functionAppName string = functionApp.name

@description('Cosmos DB account endpoint (the COSMOS_ENDPOINT app setting).')
output cosmosEndpoint string = cosmos.outputs.endpoint

@description('Key Vault URI, for @Microsoft.KeyVault(...) app setting references.')
output keyVaultUri string = keyVault.outputs.uri

@description('Service Bus namespace endpoint for the media-host command topic.')
output serviceBusEndpoint string = serviceBus.outputs.endpoint

@description('Service Bus namespace host (SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE of the Function App and the media hosts).')
output serviceBusFullyQualifiedNamespace string = serviceBus.outputs.fullyQualifiedNamespace

@description('Media host ids (MEDIA_HOST_ID), which are also their Service Bus subscription names.')
output mediaHostIds array = mediaHostIds

@description('Public IP of each media host, in mediaHostIds order: where devices send SIP and RTP.')
output mediaHostPublicIps array = mediaHosts.outputs.publicIpAddresses

@description('Principal ID of each media host identity, in mediaHostIds order: assign each the CVI.MediaHost app role (infra/README.md).')
output mediaHostPrincipalIds array = mediaHosts.outputs.principalIds

@description('Per media host: id, VM name, public IP and principal ID.')
output mediaHosts array = mediaHosts.outputs.hosts
