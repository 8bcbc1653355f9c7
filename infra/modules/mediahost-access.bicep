// Azure grants for the media hosts' identity (one user-assigned identity, shared by every
// instance of the scale set): receive from the call events queue, and read the resource group
// (an instance reads its own public IP address at boot, which IMDS does not report for
// Standard SKU addresses). A separate module so the principal ID is a parameter here and seeds
// the role assignment names, as in function-access.bicep.

@description('Object ID (principal ID) of the media hosts\' user-assigned identity.')
param principalId string

@description('Service Bus namespace of the call events queue.')
param serviceBusNamespaceName string

@description('The session-enabled queue of call events; each host holds its own session in it.')
param eventsQueueName string

// Built-in role definition IDs.
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
var reader = 'acdd72a7-3c88-4ab5-a4d4-cf8d6f2c4b4f'

resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource eventsQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: serviceBus
  name: eventsQueueName
}

// Listen only (accept its session, complete, abandon, dead-letter): no Send, no Manage. A
// session is no security boundary, so any host could accept another's session; the hosts
// share one identity anyway, and only the control plane's identity can send.
resource receiverAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsQueue.id, principalId, serviceBusDataReceiver)
  scope: eventsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Read-only Azure Resource Manager access to this resource group: opencvi-instance-env finds
// the instance's network interface and public IP address (SIP_ADVERTISED_HOST) through it.
// Instances come and go with the scale set, so the scope is the group that holds their NICs
// and addresses. Reader shows no data-plane content and no keys.
resource readerAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, reader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
