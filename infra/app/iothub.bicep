// IoT Hub: device and module messages (plain readings and the edge module's batch envelopes) are routed to
// our own event hub (eventhubs.bicep), which the Functions read with their managed identity through consumer
// groups `warm`, `cold`, `analytics`, `hot`. IoT Hub sends there with a user-assigned identity holding only
// Azure Event Hubs Data Sender on that event hub (rbac.bicep), so no connection string or key is involved.
param location string
param tags object
param name string
@description('F1, S1, S2 or S3 (IoT Edge needs a Standard or Free hub).')
param skuName string
param capacity int
@description('Partitions of the built-in endpoint; cannot be changed after creation.')
param partitionCount int
param retentionDays int

@description('The user-assigned identity IoT Hub routes with; it must already hold Azure Event Hubs Data Sender on the event hub.')
param routingIdentityId string
@description('The event hub namespace the telemetry is routed to (eventhubs.bicep).')
param eventHubNamespaceName string
param eventHubName string

resource hub 'Microsoft.Devices/IotHubs@2023-06-30' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    capacity: capacity
  }
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${routingIdentityId}': {}
    }
  }
  properties: {
    // Clients below TLS 1.2 are refused (devices, modules and service clients alike).
    minTlsVersion: '1.2'
    // The hub's default policies, unchanged: operators and `az iot` use them. No policy exists for the Function
    // app: it never connects to IoT Hub (it reads our event hub).
    authorizationPolicies: [
      {
        keyName: 'iothubowner'
        rights: 'RegistryWrite, ServiceConnect, DeviceConnect'
      }
      {
        keyName: 'service'
        rights: 'ServiceConnect'
      }
      {
        keyName: 'device'
        rights: 'DeviceConnect'
      }
      {
        keyName: 'registryRead'
        rights: 'RegistryRead'
      }
      {
        keyName: 'registryReadWrite'
        rights: 'RegistryWrite'
      }
    ]
    eventHubEndpoints: {
      events: {
        retentionTimeInDays: retentionDays
        // The free tier allows exactly 2 partitions.
        partitionCount: skuName == 'F1' ? 2 : partitionCount
      }
    }
    routing: {
      endpoints: {
        eventHubs: [
          {
            name: 'telemetry'
            authenticationType: 'identityBased'
            identity: {
              userAssignedIdentity: routingIdentityId
            }
            endpointUri: 'sb://${eventHubNamespaceName}.servicebus.windows.net'
            entityPath: eventHubName
            subscriptionId: subscription().subscriptionId
            resourceGroup: resourceGroup().name
          }
        ]
        serviceBusQueues: []
        serviceBusTopics: []
        storageContainers: []
      }
      // Every device/module message goes to our event hub. A route to a custom endpoint takes messages away
      // from the built-in `events` endpoint, so `az iot hub monitor-events` shows nothing: operators read the
      // event hub instead (docs/deploy.md, "Watching the stream").
      routes: [
        {
          name: 'telemetry-to-eventhub'
          source: 'DeviceMessages'
          condition: 'true'
          endpointNames: ['telemetry']
          isEnabled: true
        }
      ]
      // Fallback stays on: a message no route matches (none today) still reaches `events`, never nowhere.
      fallbackRoute: {
        name: '$fallback'
        source: 'DeviceMessages'
        condition: 'true'
        endpointNames: ['events']
        isEnabled: true
      }
    }
    // SAS keys stay enabled: devices and the edge module authenticate with them.
    disableLocalAuth: false
  }
}

output name string = hub.name
output resourceId string = hub.id
output hostName string = hub.properties.hostName
