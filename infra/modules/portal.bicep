// The web portal (portal/): its static files on Azure Static Web Apps, with the Function App
// linked as its backend, so the app calls the admin API at /api on its own origin (no CORS),
// as the local stack serves it. Static Web Apps rather than the Function App serving files:
// a CDN-backed host for static files with its own TLS and custom domains, and the Functions
// keep only the API. The files and /config.json are uploaded after deployment (infra/README.md).

@description('Azure region of the static web app (Static Web Apps runs in a few regions; its content is global).')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Static web app name.')
param name string

@description('Resource id of the Function App the portal calls at /api (its linked backend).')
param functionAppId string

@description('Region of that Function App.')
param functionAppLocation string

// Standard: linked backends (Free has none).
resource portal 'Microsoft.Web/staticSites@2023-12-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    // The files come from the deployment step, not from a repository the service pulls.
    provider: 'None'
    stagingEnvironmentPolicy: 'Disabled'
    allowConfigFileUpdates: true
  }
}

resource api 'Microsoft.Web/staticSites/linkedBackends@2023-12-01' = {
  parent: portal
  name: 'admin-api'
  properties: {
    backendResourceId: functionAppId
    region: functionAppLocation
  }
}

@description('Where the portal is: https://<this>/ (and its sign-in redirect URI).')
output hostName string = portal.properties.defaultHostname

output name string = portal.name
