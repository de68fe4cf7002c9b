// IoT Hub: device and module messages (plain readings and the edge module's batch envelopes) go to the built-in
// Event Hub-compatible endpoint `events`, read by the Functions through consumer groups `warm`, `cold`, `analytics`, `hot`.
param location string
param tags object
param name string
@description('F1, S1, S2 or S3 (IoT Edge needs a Standard or Free hub).')
param skuName string
param capacity int
@description('Partitions of the built-in endpoint; cannot be changed after creation.')
param partitionCount int
param retentionDays int

@description('One consumer group per Function (docs/contracts.md §6), each with its own checkpoints.')
param consumerGroups array = ['warm', 'cold', 'analytics', 'hot']

@description('The shared access policy the Function triggers read the built-in endpoint with (keyvault.bicep).')
param functionsPolicyName string = 'iot-ingest-functions'

resource hub 'Microsoft.Devices/IotHubs@2023-06-30' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    capacity: capacity
  }
  properties: {
    // Clients below TLS 1.2 are refused (devices, modules and service clients alike).
    minTlsVersion: '1.2'
    // The hub's default policies, unchanged (operators and `az iot` use them), plus one for the Function
    // triggers alone: ServiceConnect, the least right that reads the built-in endpoint, and a key no other
    // client holds, so it can be rotated or revoked without touching anyone else. (ServiceConnect also lets
    // its holder send cloud-to-device messages and call direct methods; IoT Hub has no narrower right for
    // the built-in endpoint. Fully read-only needs routing to an Event Hub of our own with the Azure Event
    // Hubs Data Receiver role: docs/deploy.md, "Identity".)
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
      {
        keyName: functionsPolicyName
        rights: 'ServiceConnect'
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
      // No custom endpoints: everything stays on the built-in endpoint.
      endpoints: {
        eventHubs: []
        serviceBusQueues: []
        serviceBusTopics: []
        storageContainers: []
      }
      // An explicit route sends every device/module message to the built-in endpoint. It is stated rather than
      // left to the fallback route so that adding another route later does not silently take `events` away.
      routes: [
        {
          name: 'telemetry-to-events'
          source: 'DeviceMessages'
          condition: 'true'
          endpointNames: ['events']
          isEnabled: true
        }
      ]
      // Fallback stays on: anything no route matches still reaches `events`.
      fallbackRoute: {
        name: '$fallback'
        source: 'DeviceMessages'
        condition: 'true'
        endpointNames: ['events']
        isEnabled: true
      }
    }
    // SAS keys stay enabled: devices and the Functions trigger (see keyvault.bicep) authenticate with them.
    disableLocalAuth: false
  }
}

resource consumerGroup 'Microsoft.Devices/IotHubs/eventHubEndpoints/ConsumerGroups@2023-06-30' = [
  for group in consumerGroups: {
    name: '${hub.name}/events/${group}'
    properties: { name: group }
  }
]

output name string = hub.name
output resourceId string = hub.id
output hostName string = hub.properties.hostName
// The Event Hub-compatible name (`%IOTHUB_EVENTHUB_NAME%` in the triggers).
output eventHubName string = hub.properties.eventHubEndpoints.events.path
output consumerGroups array = consumerGroups
output functionsPolicyName string = functionsPolicyName
