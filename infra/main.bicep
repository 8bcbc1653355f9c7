// OpenCVI: the control plane (Function App on Flex Consumption, Node 22, with Cosmos DB, Key
// Vault, Service Bus and Application Insights), the SIP edge devices dial (Kamailio on a scale
// set behind a Standard Load Balancer) and the pool of media hosts behind it (a scale set that
// autoscales on its load), which get their calls' events from the control plane over one
// session-enabled Service Bus queue. Everything is reached with managed identities; no account
// keys, SAS keys or connection strings are issued.
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

@description('Issuer of admin API tokens (app setting ADMIN_AUTH_ISSUER). Defaults to the Entra ID v2.0 issuer of this tenant; with its tenant id replaced by an onboarded tenant\'s, it is the issuer that tenant\'s admins\' tokens are accepted from.')
param adminAuthIssuer string = '${environment().authentication.loginEndpoint}${subscription().tenantId}/v2.0'

@description('JWKS URI that admin API token signatures are checked against (app setting ADMIN_AUTH_JWKS_URI).')
param adminAuthJwksUri string = '${environment().authentication.loginEndpoint}${subscription().tenantId}/discovery/v2.0/keys'

@description('Audience of admin API tokens: the admin API app registration ID URI or client ID (app setting ADMIN_AUTH_AUDIENCE).')
param adminAuthAudience string

@description('App role an admin API token must carry (app setting ADMIN_AUTH_ROLE).')
param adminAuthRole string = 'CVI.Admin'

@description('App role of a tenant\'s own admin, signing in from their onboarded tenant: held to that tenant (app setting TENANT_ADMIN_ROLE).')
param tenantAdminRole string = 'CVI.TenantAdmin'

@description('App role media hosts\' managed identities hold to call the resolution and join API (app setting MEDIA_HOST_ROLE).')
param mediaHostRole string = 'CVI.MediaHost'

@description('App role the SIP edges\' managed identity holds to read the pool\'s hosts (app setting EDGE_ROLE).')
param edgeRole string = 'CVI.Edge'

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

@description('Availability zones the edges, the media hosts and the edge\'s public IP are spread over; [] in a region without zones.')
param zones array = [
  '1'
  '2'
  '3'
]

@description('Address space of the virtual network of the edges and the media hosts.')
param vnetAddressPrefix string = '10.60.0.0/16'

@description('Subnet of the media hosts, inside vnetAddressPrefix (a /24 holds 251 hosts).')
param mediaHostSubnetAddressPrefix string = '10.60.0.0/24'

@description('Subnet of the SIP edges, inside vnetAddressPrefix: the media hosts take SIP from it only and trust it as their proxies.')
param edgeSubnetAddressPrefix string = '10.60.1.0/24'

@description('Admin user of the edge and media host VMs (SSH key login only).')
param adminUsername string = 'azureuser'

@description('OpenSSH public key of the VMs\' admin user.')
param adminSshPublicKeyData string

@description('Source (CIDR or service tag) allowed to SSH into the media hosts (at their public IPs) and the edges (from inside the virtual network). Empty: SSH is closed.')
param sshSourceAddressPrefix string = ''

@description('https URL of the package the edges and media hosts install: a .tgz of the built repository (package.json, package-lock.json, dist/, edge/kamailio.cfg). Public, or an Azure Blob URL their identities can read; never a SAS URL.')
param packageUrl string

@description('Key Vault secret URI of the PEM certificate for SIP over TLS on the edges and the media hosts (and the meeting leg\'s HTTPS). Empty: SIP over UDP and TCP only.')
param sipTlsCertificateSecretUri string = ''

@description('false: deploy everything, the edges\' and media hosts\' identities included, but start no instance (both scale sets at 0, autoscale off). For a first deployment, so that the app roles are granted before any instance asks for a token (infra/README.md).')
param startInstances bool = true

@description('Number of SIP edges (active/active behind the load balancer).')
@minValue(1)
@maxValue(10)
param edgeCount int = 2

@description('VM size of the edges; it must support accelerated networking.')
param edgeVmSize string = 'Standard_F2s_v2'

@description('VM size of the media hosts; it must support accelerated networking.')
param mediaHostVmSize string = 'Standard_F4s_v2'

@description('Fewest media hosts: autoscale never goes below, and a new pool starts with this many.')
@minValue(1)
@maxValue(200)
param mediaHostMinCount int = 2

@description('Most media hosts autoscale may run.')
@minValue(1)
@maxValue(200)
param mediaHostMaxCount int = 10

@description('Media hosts this deployment sets (autoscale then moves the count between min and max); 0: mediaHostMinCount. On a pool that has scaled out, pass its current count so that the deployment removes no host.')
@minValue(0)
@maxValue(200)
param mediaHostInstanceCount int = 0

@description('Calls one media host takes at most (MAX_CALLS).')
@minValue(1)
@maxValue(100000)
param mediaHostMaxCalls int = 60

@description('On stop or scale-in, how long a media host lets its calls go on before it ends them (DRAIN_GRACE_MS, in seconds here). A scale-in waits 15 minutes at most.')
@minValue(0)
@maxValue(86400)
param mediaHostDrainGraceSeconds int = 300

@description('Region of the portal\'s static web app (Static Web Apps regions: westus2, centralus, eastus2, westeurope, eastasia).')
param portalLocation string = 'westeurope'

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
  portal: 'stapp-${prefix}-${suffix}'
}

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
  }
}

module network './modules/network.bicep' = {
  name: '${deployment().name}-network'
  params: {
    location: location
    tags: tags
    namePrefix: '${prefix}-${suffix}'
    vnetAddressPrefix: vnetAddressPrefix
    mediaHostSubnetAddressPrefix: mediaHostSubnetAddressPrefix
    edgeSubnetAddressPrefix: edgeSubnetAddressPrefix
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
          name: 'TENANT_ADMIN_ROLE'
          value: tenantAdminRole
        }
        {
          name: 'MEDIA_HOST_ROLE'
          value: mediaHostRole
        }
        {
          name: 'EDGE_ROLE'
          value: edgeRole
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
          // Call events go to the media hosts over this namespace's queue, with the managed identity.
          name: 'SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE'
          value: serviceBus.outputs.fullyQualifiedNamespace
        }
        {
          name: 'SERVICE_BUS_QUEUE'
          value: serviceBus.outputs.eventsQueueName
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
    eventsQueueName: serviceBus.outputs.eventsQueueName
  }
}

// The control plane's API as the edges and the media hosts reach it.
var controlPlaneUrl = 'https://${functionApp.properties.defaultHostName}/api'

module portal './modules/portal.bicep' = {
  name: '${deployment().name}-portal'
  params: {
    location: portalLocation
    tags: tags
    name: names.portal
    functionAppId: functionApp.id
    functionAppLocation: location
  }
}

module edge './modules/edge.bicep' = {
  name: '${deployment().name}-edge'
  params: {
    location: location
    tags: tags
    namePrefix: '${prefix}-${suffix}'
    zones: zones
    edgeCount: startInstances ? edgeCount : 0
    vmSize: edgeVmSize
    domainNameLabel: 'sip-${prefix}-${suffix}'
    adminUsername: adminUsername
    adminSshPublicKeyData: adminSshPublicKeyData
    sshSourceAddressPrefix: sshSourceAddressPrefix
    packageUrl: packageUrl
    controlPlaneUrl: controlPlaneUrl
    // The edges' tokens are for the admin API's app registration (role CVI.Edge).
    controlPlaneScope: '${adminAuthAudience}/.default'
    subnetId: network.outputs.edgeSubnetId
    mediaHostSubnetAddressPrefix: mediaHostSubnetAddressPrefix
    sipTlsCertificateSecretUri: sipTlsCertificateSecretUri
  }
}

module mediaHosts './modules/mediahosts.bicep' = {
  name: '${deployment().name}-mediahosts'
  params: {
    location: location
    tags: tags
    namePrefix: '${prefix}-${suffix}'
    zones: zones
    vmSize: mediaHostVmSize
    minCount: mediaHostMinCount
    maxCount: mediaHostMaxCount
    instanceCount: mediaHostInstanceCount
    startInstances: startInstances
    maxCalls: mediaHostMaxCalls
    adminUsername: adminUsername
    adminSshPublicKeyData: adminSshPublicKeyData
    sshSourceAddressPrefix: sshSourceAddressPrefix
    packageUrl: packageUrl
    controlPlaneUrl: controlPlaneUrl
    // The media hosts' tokens are for the admin API's app registration (role CVI.MediaHost).
    controlPlaneScope: '${adminAuthAudience}/.default'
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    // Module outputs, so the queue exists before its role assignment.
    serviceBusNamespaceName: serviceBus.outputs.name
    eventsQueueName: serviceBus.outputs.eventsQueueName
    serviceDomain: serviceDomain
    subnetId: network.outputs.mediaHostSubnetId
    // SIP only from the edges' subnet, which the hosts also trust as their proxies.
    edgeSubnetAddressPrefix: edgeSubnetAddressPrefix
    edgePublicIpAddress: edge.outputs.publicIpAddress
    edgeFqdn: edge.outputs.fqdn
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

@description('Service Bus namespace endpoint.')
output serviceBusEndpoint string = serviceBus.outputs.endpoint

@description('Service Bus namespace host (SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE of the Function App and the media hosts).')
output serviceBusFullyQualifiedNamespace string = serviceBus.outputs.fullyQualifiedNamespace

@description('The session-enabled queue of call events (SERVICE_BUS_QUEUE).')
output eventsQueueName string = serviceBus.outputs.eventsQueueName

@description('The edge\'s public IP address: what devices dial (point the service\'s DNS records at it).')
output edgePublicIp string = edge.outputs.publicIpAddress

@description('DNS name of the edge\'s public IP address.')
output edgeFqdn string = edge.outputs.fqdn

@description('Name of the edges\' scale set.')
output edgeScaleSetName string = edge.outputs.scaleSetName

@description('Name of the media hosts\' scale set.')
output mediaHostScaleSetName string = mediaHosts.outputs.scaleSetName

@description('Principal ID of the edges\' identity: assign it the CVI.Edge app role (infra/README.md).')
output edgePrincipalId string = edge.outputs.principalId

@description('Principal ID of the media hosts\' identity: assign it the CVI.MediaHost app role (infra/README.md).')
output mediaHostPrincipalId string = mediaHosts.outputs.principalId

@description('The web portal: https://<portalHostName>/ (its app registration\'s SPA redirect URI).')
output portalHostName string = portal.outputs.hostName
