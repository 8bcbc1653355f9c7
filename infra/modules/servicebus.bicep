// Service Bus carrying call events from the control plane to the media hosts: one
// session-enabled queue, one session per media host, session id = host id
// (shared/bus/serviceBusMessageBus.ts is the client side).

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Namespace name: 6-50 letters, digits and hyphens, starting with a letter, globally unique.')
@minLength(6)
@maxLength(50)
param name string

@description('The queue of call events (app setting and media host setting SERVICE_BUS_QUEUE).')
param eventsQueueName string = 'media-host-events'

// Standard is the cheapest tier with sessions and duplicate detection.
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

// A media host holds the lock of its own session (acceptSession(queue, hostId)) for as long
// as it runs, so its calls' events reach it only, in order, however many hosts the pool has,
// and with Listen rights alone: no per-host subscription, no Manage rights. A host that dies
// stops renewing: its lock lapses within lockDuration and the control plane takes the session
// over to dead-letter what is left. Service Bus sets requiresSession (and duplicate detection)
// only when it creates a queue.
resource eventsQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: eventsQueueName
  properties: {
    requiresSession: true
    // The control plane publishes again after a partial failure: the queue drops the repeats
    // by message id (the call view's digest).
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    // The session lock too: a dead host's session is free again within 30 s.
    lockDuration: 'PT30S'
    // The adapter dead-letters on the last attempt itself, with the handler's error as reason.
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'PT1H'
  }
}

output name string = namespace.name
output endpoint string = namespace.properties.serviceBusEndpoint
// https://<name>.servicebus.windows.net:443/ -> <name>.servicebus.windows.net (also in other clouds).
output fullyQualifiedNamespace string = split(split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), '/')[0], ':')[0]
output eventsQueueName string = eventsQueue.name
