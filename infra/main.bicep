// iot-ingest, cloud side: IoT Hub → Functions (warm/cold/analytics/hot) → Cosmos DB, Blob Storage, AWS IoT Analytics,
// and alerts to a Logic App.
// IoT Hub routes the telemetry to an event hub of our own, read with managed identity (app/eventhubs.bicep).
// Subscription-scoped root in the Azure Developer CLI layout: `azd up` creates the resource group and everything in it.
// Names come from abbreviations.json + resourceToken; a non-empty *Name parameter overrides a generated name.
// One module per concern in app/; every role assignment is made in app/rbac.bicep; the Function app's settings are
// written by app/appsettings.bicep only after the roles exist (so Key Vault references resolve on first start).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; hashed into resource names and written to the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Region for every resource. It must offer Flex Consumption and IoT Hub.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of the deploying user or service principal; given data-plane read access (Cosmos DB Built-in Data Reader, Storage Blob Data Reader on the cold account) so the CLI can query. Empty: none.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal'])
param principalType string = 'User'

param resourceGroupName string = ''
param functionAppName string = ''
param iotHubName string = ''
param cosmosAccountName string = ''
param keyVaultName string = ''
param containerRegistryName string = ''

// ---- IoT Hub
@allowed(['F1', 'S1', 'S2', 'S3'])
@description('IoT Hub tier. IoT Edge needs module twins, so the Basic tiers (B1–B3) are not offered; F1 allows 2 partitions only.')
param iotHubSkuName string = 'S1'

@minValue(1)
@description('IoT Hub units (each S1 unit: 400,000 messages of 4 KB per day).')
param iotHubCapacity int = 1

@minValue(2)
@maxValue(32)
@description('Partitions of the built-in Event Hub-compatible endpoint (only the fallback route uses it); fixed once the hub exists.')
param iotHubPartitionCount int = 4

@minValue(1)
@maxValue(7)
param iotHubRetentionDays int = 1

// ---- The event hub the Functions read (IoT Hub routes every message to it)
@minValue(1)
@maxValue(32)
@description('Partitions of the event hub the Functions read; fixed once it exists. Functions scale out per partition.')
param eventHubPartitionCount int = 4

@minValue(1)
@maxValue(7)
param eventHubRetentionDays int = 1

@minValue(1)
@maxValue(20)
@description('Event Hubs throughput units (each: 1 MB/s or 1,000 events/s in).')
param eventHubCapacity int = 1

// ---- Cosmos DB (warm path)
@description('Serverless (pay per request, the default) or provisioned autoscale throughput.')
param cosmosServerless bool = true

@minValue(1000)
@description('Autoscale maximum RU/s on the container when cosmosServerless is false.')
param cosmosAutoscaleMaxThroughput int = 1000

@description('Default time-to-live of warm-path documents, seconds (30 days). -1: never expire.')
param cosmosDefaultTtlSeconds int = 2592000

param cosmosDatabaseName string = 'iot-ingest'
param cosmosContainerName string = 'telemetry'
@description('The hot path\'s container (alerts and per-device rule state).')
param cosmosAlertsContainerName string = 'alerts'

// ---- Blob Storage (cold path)
param coldContainerName string = 'telemetry'
@description('Blob container for the hourly Parquet copy of the cold path')
param parquetContainerName string = 'telemetry-parquet'
param deadLetterContainerName string = 'analytics-deadletter'

@minValue(1)
@description('Cold-path blobs move to the Cool tier this many days after they were written.')
param coolAfterDays int = 30

@minValue(1)
@description('Cold-path blobs move to the Archive tier this many days after they were written.')
param archiveAfterDays int = 180

// ---- Functions
@minValue(40)
@maxValue(1000)
param functionsMaximumInstanceCount int = 100

@allowed([512, 2048, 4096])
param functionsInstanceMemoryMB int = 2048

// ---- The analytics forwarder: AWS IoT Analytics client and the connector's queue/batch parameters.
@description('AWS region of the IoT Analytics channels.')
param awsRegion string = 'us-east-1'

@secure()
@minLength(1)
@description('AWS access key id for BatchPutMessage; stored in Key Vault, read through a Key Vault reference.')
param awsAccessKeyId string

@secure()
@minLength(1)
@description('AWS secret access key for BatchPutMessage; stored in Key Vault, read through a Key Vault reference.')
param awsSecretAccessKey string

@description('IotAnalyticsDefaultChannelName: the channel for records that name none.')
param iotAnalyticsDefaultChannelName string = 'iot_ingest'

@description('MemorySize (KB): the forwarder\'s budget for queued payload bytes per worker.')
param memorySizeKb string = '65536'

@description('PublishInterval (s). 0: an invocation\'s events are already a batch, send at once.')
param publishIntervalSeconds string = '0'

@description('IotAnalyticsBatchSizePerChannel, 1–100 (BatchPutMessage\'s maximum is 100).')
param iotAnalyticsBatchSizePerChannel string = '100'

param iotAnalyticsQueueSizePerChannel string = '2048'

@allowed(['DROP_NEWEST', 'DROP_OLDEST'])
param iotAnalyticsQueueDropBehavior string = 'DROP_NEWEST'

param iotAnalyticsMaxActiveChannels string = '50'

@description('ANALYTICS_FORWARD_BUDGET_SECONDS: how long the forwarder keeps sending one invocation\'s readings before dead-lettering the rest; below the host\'s functionTimeout.')
param analyticsForwardBudgetSeconds string = '120'

@allowed(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
param functionsLogLevel string = 'info'

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var appName = !empty(functionAppName) ? functionAppName : '${abbrs.webSitesFunctions}${resourceToken}'
// Flex Consumption keeps the deployed package in a blob container of the host storage account.
var deploymentContainerName = 'app-package-${take(resourceToken, 13)}'

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    hostStorageAccountName: '${abbrs.storageStorageAccounts}${resourceToken}'
    coldStorageAccountName: '${abbrs.storageStorageAccounts}cold${resourceToken}'
    deploymentContainerName: deploymentContainerName
    coldContainerName: coldContainerName
    parquetContainerName: parquetContainerName
    deadLetterContainerName: deadLetterContainerName
    coolAfterDays: coolAfterDays
    archiveAfterDays: archiveAfterDays
  }
}

module cosmos 'app/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    location: location
    tags: tags
    accountName: !empty(cosmosAccountName) ? cosmosAccountName : '${abbrs.documentDBDatabaseAccounts}${resourceToken}'
    databaseName: cosmosDatabaseName
    containerName: cosmosContainerName
    alertsContainerName: cosmosAlertsContainerName
    defaultTtlSeconds: cosmosDefaultTtlSeconds
    serverless: cosmosServerless
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
  }
}

module eventhubs 'app/eventhubs.bicep' = {
  name: 'eventhubs'
  scope: rg
  params: {
    location: location
    tags: tags
    namespaceName: '${abbrs.eventHubNamespaces}${resourceToken}'
    routingIdentityName: '${abbrs.managedIdentityUserAssignedIdentities}iothub-${resourceToken}'
    partitionCount: eventHubPartitionCount
    retentionDays: eventHubRetentionDays
    capacity: eventHubCapacity
  }
}

module iothub 'app/iothub.bicep' = {
  name: 'iothub'
  scope: rg
  // The routing identity must hold Azure Event Hubs Data Sender before the hub saves its route.
  dependsOn: [rbac]
  params: {
    location: location
    tags: tags
    name: !empty(iotHubName) ? iotHubName : '${abbrs.devicesIotHubs}${resourceToken}'
    skuName: iotHubSkuName
    capacity: iotHubCapacity
    partitionCount: iotHubPartitionCount
    retentionDays: iotHubRetentionDays
    routingIdentityId: eventhubs.outputs.routingIdentityId
    eventHubNamespaceName: eventhubs.outputs.namespaceName
    eventHubName: eventhubs.outputs.eventHubName
  }
}

module keyvault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    location: location
    tags: tags
    name: !empty(keyVaultName) ? keyVaultName : '${abbrs.keyVaultVaults}${resourceToken}'
    awsAccessKeyId: awsAccessKeyId
    awsSecretAccessKey: awsSecretAccessKey
  }
}

// The hot path's alerts go to this Logic App's HTTP trigger (its URL stored in Key Vault by the module).
module logicapp 'app/logicapp.bicep' = {
  name: 'logicapp'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.logicWorkflows}${resourceToken}'
    keyVaultName: keyvault.outputs.name
  }
}

module registry 'app/registry.bicep' = {
  name: 'registry'
  scope: rg
  params: {
    location: location
    tags: tags
    name: !empty(containerRegistryName) ? containerRegistryName : '${abbrs.containerRegistryRegistries}${resourceToken}'
  }
}

module functions 'app/functions.bicep' = {
  name: 'functions'
  scope: rg
  params: {
    location: location
    tags: tags
    name: appName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    serviceName: 'functions'
    hostStorageAccountName: storage.outputs.hostStorageAccountName
    deploymentContainerName: deploymentContainerName
    maximumInstanceCount: functionsMaximumInstanceCount
    instanceMemoryMB: functionsInstanceMemoryMB
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    functionPrincipalId: functions.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
    hostStorageAccountName: storage.outputs.hostStorageAccountName
    coldStorageAccountName: storage.outputs.coldStorageAccountName
    coldContainerName: coldContainerName
    parquetContainerName: parquetContainerName
    deadLetterContainerName: deadLetterContainerName
    cosmosAccountName: cosmos.outputs.accountName
    keyVaultName: keyvault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    eventHubNamespaceName: eventhubs.outputs.namespaceName
    eventHubName: eventhubs.outputs.eventHubName
    routingIdentityPrincipalId: eventhubs.outputs.routingIdentityPrincipalId
  }
}

module appsettings 'app/appsettings.bicep' = {
  name: 'appsettings'
  scope: rg
  // Key Vault references are resolved when the settings are written; the app may read the vault only after rbac.
  dependsOn: [rbac]
  params: {
    functionAppName: functions.outputs.name
    hostStorageAccountName: storage.outputs.hostStorageAccountName
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    eventHubFullyQualifiedNamespace: eventhubs.outputs.fullyQualifiedNamespace
    eventHubName: eventhubs.outputs.eventHubName
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmos.outputs.databaseName
    cosmosContainerName: cosmos.outputs.containerName
    cosmosDefaultTtlSeconds: cosmosDefaultTtlSeconds
    coldStorageAccountUrl: storage.outputs.coldBlobEndpoint
    coldContainerName: coldContainerName
    parquetContainerName: parquetContainerName
    deadLetterContainerName: deadLetterContainerName
    awsRegion: awsRegion
    awsAccessKeyIdSecretUri: keyvault.outputs.awsAccessKeyIdSecretUri
    awsSecretAccessKeySecretUri: keyvault.outputs.awsSecretAccessKeySecretUri
    iotAnalyticsDefaultChannelName: iotAnalyticsDefaultChannelName
    memorySizeKb: memorySizeKb
    publishIntervalSeconds: publishIntervalSeconds
    iotAnalyticsBatchSizePerChannel: iotAnalyticsBatchSizePerChannel
    iotAnalyticsQueueSizePerChannel: iotAnalyticsQueueSizePerChannel
    iotAnalyticsQueueDropBehavior: iotAnalyticsQueueDropBehavior
    iotAnalyticsMaxActiveChannels: iotAnalyticsMaxActiveChannels
    analyticsForwardBudgetSeconds: analyticsForwardBudgetSeconds
    logLevel: functionsLogLevel
    hotRules: loadTextContent('../hot-rules.json')
    cosmosAlertsContainerName: cosmos.outputs.alertsContainerName
    alertWebhookSecretUri: logicapp.outputs.alertWebhookSecretUri
  }
}

// Outputs become azd environment values (`azd env get-values`); the deploy workflow and docs/deploy.md read them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functions.outputs.name
output SERVICE_FUNCTIONS_NAME string = functions.outputs.name
output SERVICE_FUNCTIONS_URI string = functions.outputs.uri
output IOTHUB_NAME string = iothub.outputs.name
output IOTHUB_HOSTNAME string = iothub.outputs.hostName
output IOTHUB_RESOURCE_ID string = iothub.outputs.resourceId
// The event hub the Functions read (IoT Hub routes to it); `IOTHUB_EVENTHUB_NAME` is the triggers' setting name.
output IOTHUB_EVENTHUB_NAME string = eventhubs.outputs.eventHubName
output EVENTHUB_NAMESPACE string = eventhubs.outputs.fullyQualifiedNamespace
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = cosmos.outputs.databaseName
output COSMOS_CONTAINER string = cosmos.outputs.containerName
output COSMOS_ALERTS_CONTAINER string = cosmos.outputs.alertsContainerName
output ALERT_LOGIC_APP_NAME string = logicapp.outputs.name
output COLD_STORAGE_ACCOUNT_URL string = storage.outputs.coldBlobEndpoint
// The CLI's name for the cold account (`iot-ingest query cold` after `eval "$(azd env get-values)"`).
output AZURE_STORAGE_ACCOUNT_URL string = storage.outputs.coldBlobEndpoint
output COLD_CONTAINER string = coldContainerName
output COLD_PARQUET_CONTAINER string = parquetContainerName
output DEADLETTER_CONTAINER string = deadLetterContainerName
output AZURE_KEY_VAULT_NAME string = keyvault.outputs.name
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_LOG_ANALYTICS_WORKSPACE_ID string = monitoring.outputs.logAnalyticsCustomerId
output AZURE_LOG_ANALYTICS_WORKSPACE_NAME string = monitoring.outputs.logAnalyticsName
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output IOTANALYTICS_DEFAULT_CHANNEL string = iotAnalyticsDefaultChannelName
