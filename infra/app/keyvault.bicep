// Key Vault (RBAC mode) holding the Function app's only secrets, read through Key Vault references
// (`@Microsoft.KeyVault(SecretUri=…)`, appsettings.bicep) with the app's system-assigned identity
// (Key Vault Secrets User, rbac.bicep). No secret has a default value: the AWS keys are required @secure()
// parameters, and the Logic App's trigger URL is written by logicapp.bicep. The IoT Hub side needs no secret:
// the triggers read our event hub with the managed identity (eventhubs.bicep).
param location string
param tags object
param name string

@secure()
param awsAccessKeyId string

@secure()
param awsSecretAccessKey string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

resource awsAccessKeyIdSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'aws-access-key-id'
  properties: { value: awsAccessKeyId }
}

resource awsSecretAccessKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'aws-secret-access-key'
  properties: { value: awsSecretAccessKey }
}

output name string = vault.name
// Versionless secret URIs: the app picks up a rotated secret on its next reference refresh.
output awsAccessKeyIdSecretUri string = awsAccessKeyIdSecret.properties.secretUri
output awsSecretAccessKeySecretUri string = awsSecretAccessKeySecret.properties.secretUri
