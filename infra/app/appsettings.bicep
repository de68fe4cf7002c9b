// Every app setting the Functions read (docs/contracts.md §6, functions/config.ts), written in one place after
// rbac.bicep: Key Vault references are resolved when settings change, so the identity must already hold
// Key Vault Secrets User. This resource replaces the whole settings collection: every setting is listed here.
// Left out on purpose (local-only, see test/static/infra.test.ts): COSMOS_KEY, COSMOS_CA_CERT_PATH,
// COLD_STORAGE_CONNECTION_STRING, AWS_ENDPOINT_URL_IOTANALYTICS, IOTHUB_EVENTS (the local hub emulator's connection string).
// Flex Consumption sets the runtime in functionAppConfig, so FUNCTIONS_WORKER_RUNTIME/EXTENSION_VERSION are absent.
param functionAppName string
param hostStorageAccountName string
param applicationInsightsConnectionString string
param eventHubFullyQualifiedNamespace string
param eventHubName string
param cosmosEndpoint string
param cosmosDatabaseName string
param cosmosContainerName string
param cosmosDefaultTtlSeconds int
param coldStorageAccountUrl string
param coldContainerName string
param parquetContainerName string
param deadLetterContainerName string
param awsRegion string
param awsAccessKeyIdSecretUri string
param awsSecretAccessKeySecretUri string
param iotAnalyticsDefaultChannelName string
param memorySizeKb string
param publishIntervalSeconds string
param iotAnalyticsBatchSizePerChannel string
param iotAnalyticsQueueSizePerChannel string
param iotAnalyticsQueueDropBehavior string
param iotAnalyticsMaxActiveChannels string
param analyticsForwardBudgetSeconds string
param logLevel string
@description('The hot path\'s rules (the JSON text of the repository\'s hot-rules.json).')
param hotRules string
param cosmosAlertsContainerName string
param alertWebhookSecretUri string

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'appsettings'
  properties: {
    // The host's own storage, identity-based (system-assigned identity: no __credential/__clientId needed).
    AzureWebJobsStorage__accountName: hostStorageAccountName
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'

    // Triggers: connection 'IOTHUB_EVENTS', eventHubName '%IOTHUB_EVENTHUB_NAME%', identity-based: our event hub
    // that IoT Hub routes to, read with the system-assigned identity (eventhubs.bicep says why).
    IOTHUB_EVENTS__fullyQualifiedNamespace: eventHubFullyQualifiedNamespace
    IOTHUB_EVENTHUB_NAME: eventHubName

    // Warm path: no COSMOS_KEY, so the client uses the managed identity.
    COSMOS_ENDPOINT: cosmosEndpoint
    COSMOS_DATABASE: cosmosDatabaseName
    COSMOS_CONTAINER: cosmosContainerName
    COSMOS_DEFAULT_TTL_SECONDS: string(cosmosDefaultTtlSeconds)

    // Cold path and dead letters: account URL + managed identity.
    COLD_STORAGE_ACCOUNT_URL: coldStorageAccountUrl
    COLD_CONTAINER: coldContainerName
    COLD_PARQUET_CONTAINER: parquetContainerName
    COLD_COMPACT_GRACE_MINUTES: '10'
    DEADLETTER_CONTAINER: deadLetterContainerName

    // Analytics forwarder: AWS IoT Analytics client (credentials from Key Vault) and the connector's parameters.
    AWS_REGION: awsRegion
    AWS_ACCESS_KEY_ID: '@Microsoft.KeyVault(SecretUri=${awsAccessKeyIdSecretUri})'
    AWS_SECRET_ACCESS_KEY: '@Microsoft.KeyVault(SecretUri=${awsSecretAccessKeySecretUri})'
    IotAnalyticsDefaultChannelName: iotAnalyticsDefaultChannelName
    MemorySize: memorySizeKb
    PublishInterval: publishIntervalSeconds
    IotAnalyticsBatchSizePerChannel: iotAnalyticsBatchSizePerChannel
    IotAnalyticsQueueSizePerChannel: iotAnalyticsQueueSizePerChannel
    IotAnalyticsQueueDropBehavior: iotAnalyticsQueueDropBehavior
    IotAnalyticsMaxActiveChannels: iotAnalyticsMaxActiveChannels
    ANALYTICS_FORWARD_BUDGET_SECONDS: analyticsForwardBudgetSeconds

    // Hot path: the rules, the alerts container, and the Logic App trigger URL (a secret: Key Vault).
    HOT_RULES: hotRules
    COSMOS_ALERTS_CONTAINER: cosmosAlertsContainerName
    HOT_WEBHOOK_URL: '@Microsoft.KeyVault(SecretUri=${alertWebhookSecretUri})'
    // Batch envelopes are read only from this module identity (the deployment manifest's module name).
    EDGE_MODULE_IDS: 'iotIngest'

    IOT_INGEST_LOG_LEVEL: logLevel
  }
}
