// Two storage accounts, both without shared keys (Microsoft Entra only), public blob access off, TLS 1.2+:
// - host: the Functions host's own storage (AzureWebJobsStorage: Event Hubs checkpoints, leases) and the Flex
//   Consumption deployment package container;
// - cold: the cold path (`telemetry`, gzip JSON Lines) and the forwarder's dead letters (`analytics-deadletter`),
//   with a lifecycle policy that tiers cold-path blobs to Cool, then Archive.
// Separate accounts keep the app's data-plane rights narrow: Owner on host, Contributor on two cold containers.
param location string
param tags object
param hostStorageAccountName string
param coldStorageAccountName string
param deploymentContainerName string
param coldContainerName string
param parquetContainerName string
param deadLetterContainerName string
param coolAfterDays int
param archiveAfterDays int

var commonProperties = {
  minimumTlsVersion: 'TLS1_2'
  supportsHttpsTrafficOnly: true
  allowBlobPublicAccess: false
  allowSharedKeyAccess: false
  defaultToOAuthAuthentication: true
  publicNetworkAccess: 'Enabled'
  accessTier: 'Hot'
  networkAcls: {
    defaultAction: 'Allow'
    bypass: 'AzureServices'
  }
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: hostStorageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: commonProperties
}

resource hostBlob 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: hostStorage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: hostBlob
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

resource coldStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: coldStorageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  // LRS: the Archive tier is not available on ZRS/GZRS accounts.
  sku: { name: 'Standard_LRS' }
  properties: commonProperties
}

resource coldBlob 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: coldStorage
  name: 'default'
}

resource coldContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: coldBlob
  name: coldContainerName
  properties: { publicAccess: 'None' }
}

// The hourly Parquet copy (coldCompactor): what analysts read, so it is not tiered to Archive.
resource parquetContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: coldBlob
  name: parquetContainerName
  properties: { publicAccess: 'None' }
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: coldBlob
  name: deadLetterContainerName
  properties: { publicAccess: 'None' }
}

// Cold-path blobs are written once and read rarely: Cool after coolAfterDays, Archive after archiveAfterDays
// (days since the blob was written). Dead letters stay Hot: they are meant to be inspected and replayed.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: coldStorage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'cold-path-tiering'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: ['blockBlob']
              prefixMatch: ['${coldContainerName}/']
            }
            actions: {
              baseBlob: {
                tierToCool: { daysAfterModificationGreaterThan: coolAfterDays }
                tierToArchive: { daysAfterModificationGreaterThan: archiveAfterDays }
              }
            }
          }
        }
      ]
    }
  }
  dependsOn: [coldContainer]
}

output hostStorageAccountName string = hostStorage.name
output hostBlobEndpoint string = hostStorage.properties.primaryEndpoints.blob
output coldStorageAccountName string = coldStorage.name
output coldBlobEndpoint string = coldStorage.properties.primaryEndpoints.blob
output coldContainerName string = coldContainer.name
output deadLetterContainerName string = deadLetterContainer.name
