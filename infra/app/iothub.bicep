// IoT Hub: device and module messages (plain readings and the edge module's batch envelopes) go to the built-in
// Event Hub-compatible endpoint `events`, read by the Functions through consumer groups `warm`, `cold`, `analytics`.
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
param consumerGroups array = ['warm', 'cold', 'analytics']

resource hub 'Microsoft.Devices/IotHubs@2023-06-30' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    capacity: capacity
  }
  properties: {
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
