// The Event Hub the Functions read: IoT Hub routes every device/module message here (iothub.bicep), and the
// triggers read it with the Function app's managed identity (Azure Event Hubs Data Receiver, rbac.bicep).
//
// Why not the built-in endpoint: "The IoT Hub trigger doesn't support identity-based connections. If you need
// to use managed identities end-to-end, you can instead use IoT Hub Routing to send data to an event hub you
// control." (Azure Functions docs, IoT Hub trigger, section Connections). The built-in endpoint's namespace
// belongs to IoT Hub, so no role can be granted on it, and the least IoT Hub right that reads it
// (ServiceConnect) also sends cloud-to-device messages and calls direct methods. Here the triggers hold a
// receive-only role on one event hub, IoT Hub a send-only role on the same one, and no key exists at all
// (`disableLocalAuth`). The price is a Standard namespace (one throughput unit: 1 MB/s or 1,000 events/s in).
param location string
param tags object
param namespaceName string
@description('The identity IoT Hub routes with (a user-assigned identity, so its role exists before the hub does).')
param routingIdentityName string
param eventHubName string = 'telemetry'
@minValue(1)
@maxValue(32)
@description('Partitions of the event hub; fixed once it exists. Functions scale out per partition.')
param partitionCount int
@minValue(1)
@maxValue(7)
param retentionDays int
@minValue(1)
@maxValue(20)
@description('Throughput units (each: 1 MB/s or 1,000 events/s in, 2 MB/s out).')
param capacity int = 1

@description('One consumer group per Function (docs/contracts.md §6), each with its own checkpoints.')
param consumerGroups array = ['warm', 'cold', 'analytics', 'hot']

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: capacity
  }
  properties: {
    minimumTlsVersion: '1.2'
    // No shared access keys: IoT Hub sends and the Functions read with Microsoft Entra identities only.
    disableLocalAuth: true
    isAutoInflateEnabled: false
  }
}

resource eventHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: namespace
  name: eventHubName
  properties: {
    partitionCount: partitionCount
    messageRetentionInDays: retentionDays
  }
}

resource consumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = [
  for group in consumerGroups: {
    parent: eventHub
    name: group
    properties: {}
  }
]

resource routingIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: routingIdentityName
  location: location
  tags: tags
}

output namespaceName string = namespace.name
// `IOTHUB_EVENTS__fullyQualifiedNamespace`: the identity-based trigger connection.
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
// `%IOTHUB_EVENTHUB_NAME%` in the triggers.
output eventHubName string = eventHub.name
output consumerGroups array = consumerGroups
output routingIdentityId string = routingIdentity.id
output routingIdentityPrincipalId string = routingIdentity.properties.principalId
