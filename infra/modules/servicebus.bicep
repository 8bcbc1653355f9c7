// Service Bus carrying control plane commands to the media-host VM pool.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Namespace name: 6-50 letters, digits and hyphens, starting with a letter, globally unique.')
@minLength(6)
@maxLength(50)
param name string

@description('Topic media hosts subscribe to for commands.')
param commandsTopicName string = 'media-host-commands'

// Standard is the cheapest tier with topics.
resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    minimumTlsVersion: '1.2'
    // No SAS keys: senders and receivers use managed identities.
    disableLocalAuth: true
  }
}

resource commandsTopic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = {
  parent: namespace
  name: commandsTopicName
  properties: {}
}

output name string = namespace.name
output endpoint string = namespace.properties.serviceBusEndpoint
output commandsTopicName string = commandsTopic.name
