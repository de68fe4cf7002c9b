// Every role assignment of the deployment, each commented with the role's name. Names are deterministic guids
// so a re-deployment finds the same assignments.
param functionPrincipalId string
@description('The deploying user or CI principal (azd AZURE_PRINCIPAL_ID); empty: no user assignments.')
param userPrincipalId string
@allowed(['User', 'ServicePrincipal'])
param userPrincipalType string
param hostStorageAccountName string
param coldStorageAccountName string
param coldContainerName string
param parquetContainerName string
param deadLetterContainerName string
param cosmosAccountName string
param keyVaultName string
param applicationInsightsName string
param eventHubNamespaceName string
param eventHubName string
@description('The user-assigned identity IoT Hub routes with (eventhubs.bicep).')
param routingIdentityPrincipalId string

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1' // Storage Blob Data Reader
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher
  eventHubsDataReceiver: 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde' // Azure Event Hubs Data Receiver
  eventHubsDataSender: '2b629674-e913-4c01-ae53-ef4638d8f975' // Azure Event Hubs Data Sender
}
// Cosmos DB data-plane roles (not Azure RBAC roles).
var cosmosDataContributorId = '00000000-0000-0000-0000-000000000002' // Cosmos DB Built-in Data Contributor
var cosmosDataReaderId = '00000000-0000-0000-0000-000000000001' // Cosmos DB Built-in Data Reader

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageAccountName
}

resource coldStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: coldStorageAccountName
}

resource coldBlob 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: coldStorage
  name: 'default'
}

resource coldContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: coldBlob
  name: coldContainerName
}

resource parquetContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: coldBlob
  name: parquetContainerName
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: coldBlob
  name: deadLetterContainerName
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: cosmosAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource eventHubNamespace 'Microsoft.EventHub/namespaces@2024-01-01' existing = {
  name: eventHubNamespaceName
}

resource eventHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' existing = {
  parent: eventHubNamespace
  name: eventHubName
}

// Azure Event Hubs Data Receiver on the one event hub: the triggers' identity-based connection
// (IOTHUB_EVENTS__fullyQualifiedNamespace). Receive only: it cannot send, and it reaches no device.
resource appEventHubReceive 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventHub.id, functionPrincipalId, roles.eventHubsDataReceiver)
  scope: eventHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataReceiver)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Azure Event Hubs Data Sender on the same event hub, for IoT Hub's routing identity. main.bicep creates the hub
// after this module: IoT Hub checks an identity-based endpoint's access when the route is saved.
resource routingEventHubSend 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventHub.id, routingIdentityPrincipalId, roles.eventHubsDataSender)
  scope: eventHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataSender)
    principalId: routingIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Owner on the host account: AzureWebJobsStorage__accountName (checkpoints, leases, host keys)
// and the Flex Consumption deployment package.
resource appHostStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, functionPrincipalId, roles.storageBlobDataOwner)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Contributor on the cold container only (COLD_STORAGE_ACCOUNT_URL + COLD_CONTAINER).
resource appColdContainer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(coldContainer.id, functionPrincipalId, roles.storageBlobDataContributor)
  scope: coldContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Contributor on the Parquet container only (COLD_PARQUET_CONTAINER: the compactor writes it).
resource appParquetContainer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(parquetContainer.id, functionPrincipalId, roles.storageBlobDataContributor)
  scope: parquetContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Contributor on the dead-letter container only (DEADLETTER_CONTAINER).
resource appDeadLetterContainer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterContainer.id, functionPrincipalId, roles.storageBlobDataContributor)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault Secrets User: resolve the Key Vault references (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, HOT_WEBHOOK_URL).
resource appVaultSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, functionPrincipalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Monitoring Metrics Publisher: send telemetry to Application Insights, whose local (key) auth is disabled.
resource appMonitoring 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, functionPrincipalId, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Cosmos DB Built-in Data Contributor (data plane, via sqlRoleAssignments): the warm path's bulk upserts.
resource appCosmosData 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: cosmos
  name: guid(cosmos.id, functionPrincipalId, cosmosDataContributorId)
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributorId}'
    principalId: functionPrincipalId
    scope: cosmos.id
  }
}

// The deploying user / CI principal: enough to run `iot-ingest query warm|cold` against the deployment, which
// only reads. Cosmos DB Built-in Data Reader (data plane).
resource userCosmosData 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = if (!empty(userPrincipalId)) {
  parent: cosmos
  name: guid(cosmos.id, userPrincipalId, cosmosDataReaderId)
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataReaderId}'
    principalId: userPrincipalId
    scope: cosmos.id
  }
}

// Storage Blob Data Reader on the cold account (query the cold path, read dead letters).
resource userColdStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(coldStorage.id, userPrincipalId, roles.storageBlobDataReader)
  scope: coldStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataReader)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}
