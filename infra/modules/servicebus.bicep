// Service Bus carrying control plane commands to the media-host VMs: one topic, one
// subscription per media host (shared/bus/serviceBusMessageBus.ts is the client side).

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Namespace name: 6-50 letters, digits and hyphens, starting with a letter, globally unique.')
@minLength(6)
@maxLength(50)
param name string

@description('Topic media hosts subscribe to for commands (app setting and media host setting SERVICE_BUS_TOPIC).')
param commandsTopicName string = 'media-host-commands'

@description('Media host ids (MEDIA_HOST_ID): each gets a subscription of that name, receiving the messages whose application property `to` is the id.')
param mediaHostIds array

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
  properties: {
    // The control plane publishes a batch again after a partial failure: the topic drops the
    // repeats by message id. Service Bus sets this only when it creates the topic: a topic
    // deployed before without it must be deleted and recreated (see infra/README.md).
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
  }
}

// Not session-enabled: a session-enabled subscription would pin a receiver link per active
// call; the media host restores per-call order itself. The SDK adapter dead-letters on the
// last of maxDeliveryCount attempts, and renews locks while a handler runs.
resource hostSubscriptions 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = [
  for id in mediaHostIds: {
    parent: commandsTopic
    name: id
    properties: {
      requiresSession: false
      maxDeliveryCount: 10
      lockDuration: 'PT1M'
      deadLetteringOnMessageExpiration: true
      defaultMessageTimeToLive: 'PT1H'
    }
  }
]

// Each subscription's only rule. Service Bus gives every new subscription a rule named
// `$Default` with a true filter (every message on the topic), and adding a rule under another
// name leaves that one in place, so the subscription would still receive everything. The ARM
// way to replace it is to PUT the rule named `$Default` itself: rules are create-or-update, so
// this turns the true filter into the correlation filter (a plain child rule like `to-host`
// would need the true filter deleted out of band). The filter matches the application
// (user) property `to`, which the publisher sets: correlationFilter.properties, not
// correlationFilter.to, which is the AMQP system property.
// Between the subscription's creation and this rule, the true filter can let a few messages
// of other hosts in; a media host ignores (completes) events of calls it does not hold.
resource hostFilters 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2024-01-01' = [
  for (id, i) in mediaHostIds: {
    parent: hostSubscriptions[i]
    name: '$Default'
    properties: {
      filterType: 'CorrelationFilter'
      correlationFilter: {
        properties: {
          to: id
        }
      }
    }
  }
]

output name string = namespace.name
output endpoint string = namespace.properties.serviceBusEndpoint
// https://<name>.servicebus.windows.net:443/ -> <name>.servicebus.windows.net (also in other clouds).
output fullyQualifiedNamespace string = split(split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), '/')[0], ':')[0]
output commandsTopicName string = commandsTopic.name
output subscriptionNames array = [for (id, i) in mediaHostIds: hostSubscriptions[i].name]
output subscriptionIds array = [for (id, i) in mediaHostIds: hostSubscriptions[i].id]
