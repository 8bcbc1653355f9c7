// Data-plane grant for one media host's system-assigned identity: receive from its own
// Service Bus subscription, nothing else. A separate module (one per host) so the principal
// ID is a parameter here and seeds the role assignment name, as in function-access.bicep:
// a VM recreated under the same name gets a new identity, and with it a new assignment
// instead of a conflicting update of the old one.

@description('Object ID of the media host VM system-assigned identity.')
param principalId string

@description('Service Bus namespace of the media-host command topic.')
param serviceBusNamespaceName string

@description('Topic the control plane sends media-host commands to.')
param commandsTopicName string

@description('The media host\'s subscription on the topic (named by its MEDIA_HOST_ID).')
param subscriptionName string

// Built-in role definition ID: Azure Service Bus Data Receiver.
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'

resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource commandsTopic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' existing = {
  parent: serviceBus
  name: commandsTopicName
}

resource hostSubscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' existing = {
  parent: commandsTopic
  name: subscriptionName
}

// Receive (peek-lock, complete, abandon, dead-letter) on this host's subscription only: a
// host cannot read another host's commands, nor send.
resource receiverAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostSubscription.id, principalId, serviceBusDataReceiver)
  scope: hostSubscription
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
