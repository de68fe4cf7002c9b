// Azure Container Registry for the IoT Edge module image (`iot-ingest-edge`, amd64 and arm64v8 tags), pushed by
// .github/workflows/deploy.yml. The admin user stays off: the workflow pushes with its Entra identity and
// edge devices pull with a repository-scoped token (docs/deploy.md), referenced from the deployment manifest.
param location string
param tags object
param name string

@allowed(['Basic', 'Standard', 'Premium'])
param skuName string = 'Basic'

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: skuName }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
  }
}

output name string = registry.name
output loginServer string = registry.properties.loginServer
