// Cosmos DB for NoSQL, the warm path: database `iot-ingest`, container `telemetry`, partition key `/pk`
// (`{deviceId}:{yyyy-MM-dd}` for readings, `latest:{deviceId}` for the per-device latest document), default TTL.
// Keys are disabled: the Function app (and the deploying user, for the CLI) use Microsoft Entra data-plane roles
// (Cosmos DB Built-in Data Contributor, assigned in rbac.bicep).
param location string
param tags object
param accountName string
param databaseName string
param containerName string
@description('The hot path\'s container: alert documents and per-device rule state, partition key /pk (= deviceId).')
param alertsContainerName string
@description('Seconds; -1 = documents never expire unless they set their own ttl.')
param defaultTtlSeconds int
@description('Serverless (pay per RU consumed) or provisioned autoscale throughput on the container.')
param serverless bool
param autoscaleMaxThroughput int

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: { defaultConsistencyLevel: 'Session' }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    disableLocalAuth: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
    capabilities: serverless ? [{ name: 'EnableServerless' }] : []
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: { id: databaseName }
  }
}

// Readings are written once and queried by device and time range, by `type` (the per-device `latest`
// documents) and by channel. Only the fields those queries filter or sort on are indexed; payload bodies are not,
// which keeps the write cost of a reading low (ad hoc queries on body fields still run, as scans).
resource container 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: containerName
  properties: {
    options: serverless ? {} : { autoscaleSettings: { maxThroughput: autoscaleMaxThroughput } }
    resource: {
      id: containerName
      partitionKey: {
        paths: ['/pk']
        kind: 'Hash'
        version: 2
      }
      defaultTtl: defaultTtlSeconds
      indexingPolicy: {
        automatic: true
        indexingMode: 'consistent'
        includedPaths: [
          { path: '/pk/?' }
          { path: '/type/?' }
          { path: '/deviceId/?' }
          { path: '/moduleId/?' }
          { path: '/channel/?' }
          { path: '/requestId/?' }
          { path: '/ts/?' }
          { path: '/enqueuedAt/?' }
        ]
        excludedPaths: [
          { path: '/*' }
          { path: '/"_etag"/?' }
        ]
        compositeIndexes: [
          [
            { path: '/deviceId', order: 'ascending' }
            { path: '/ts', order: 'descending' }
          ]
          [
            { path: '/type', order: 'ascending' }
            { path: '/ts', order: 'descending' }
          ]
          [
            { path: '/channel', order: 'ascending' }
            { path: '/ts', order: 'descending' }
          ]
        ]
      }
    }
  }
}

// The hot path: one alert document per (rule, device) episode and one `hot-state` document per device (windows,
// open alerts, the outbox), read and replaced with etag checks. Nothing expires: alerts are the record of what
// happened, and a state document must outlive any silence (the stale rule watches for it).
resource alertsContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: alertsContainerName
  properties: {
    options: serverless ? {} : { autoscaleSettings: { maxThroughput: autoscaleMaxThroughput } }
    resource: {
      id: alertsContainerName
      partitionKey: {
        paths: ['/pk']
        kind: 'Hash'
        version: 2
      }
      indexingPolicy: {
        automatic: true
        indexingMode: 'consistent'
        includedPaths: [
          { path: '/type/?' }
          { path: '/state/?' }
          { path: '/at/?' }
          { path: '/deviceId/?' }
          { path: '/rule/?' }
          { path: '/nextDueMs/?' }
        ]
        excludedPaths: [
          { path: '/*' }
          { path: '/"_etag"/?' }
        ]
      }
    }
  }
}

output accountName string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
output containerName string = container.name
output alertsContainerName string = alertsContainer.name
