// The Function app: Flex Consumption (FC1, Linux), Node.js 22, system-assigned managed identity.
// The code is this repository's root (host.json, package.json "main": dist/functions/index.js), deployed by
// `azd deploy` into the deployment container of the host storage account, which the app reads with its identity.
// App settings are written separately by appsettings.bicep, after rbac.bicep has granted the identity its roles.
param location string
param tags object
param name string
param planName string
@description('azure.yaml service name; azd finds the app by the azd-service-name tag.')
param serviceName string
param hostStorageAccountName string
param deploymentContainerName string
param maximumInstanceCount int
param instanceMemoryMB int

module plan 'br/public:avm/res/web/serverfarm:0.7.0' = {
  name: 'flex-plan'
  params: {
    name: planName
    location: location
    tags: tags
    skuName: 'FC1'
    reserved: true
    zoneRedundant: false
  }
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageAccountName
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.outputs.resourceId
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

output name string = app.name
output principalId string = app.identity.principalId
output uri string = 'https://${app.properties.defaultHostName}'
