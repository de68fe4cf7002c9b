// Key Vault (RBAC mode) holding the Function app's only secrets, read through Key Vault references
// (`@Microsoft.KeyVault(SecretUri=…)`, appsettings.bicep) with the app's system-assigned identity
// (Key Vault Secrets User, rbac.bicep). No secret has a default value: the AWS keys are required @secure()
// parameters and the IoT Hub key is read from the hub at deployment time.
//
// Decision: the IoT Hub trigger connection (`IOTHUB_EVENTS`) is a connection string, not identity-based.
// Source: Azure Functions docs, "Azure IoT Hub trigger for Azure Functions", section Connections
// (https://learn.microsoft.com/azure/azure-functions/functions-bindings-event-iot-trigger#connections,
// MicrosoftDocs/azure-docs articles/azure-functions/functions-bindings-event-iot-trigger.md):
// "The IoT Hub trigger doesn't support identity-based connections. If you need to use managed identities
// end-to-end, you can instead use IoT Hub Routing to send data to an event hub you control."
// The built-in endpoint's Event Hubs namespace is owned by IoT Hub, so no RBAC role can be granted on it
// (also MicrosoftDocs/azure-docs#55813, #85268). We keep the built-in endpoint (no extra Event Hubs namespace
// to pay for) and read it with a policy of its own (iothub.bicep `functionsPolicyName`, ServiceConnect only).
// The connection string is namespace-level (no EntityPath); the triggers name the hub with %IOTHUB_EVENTHUB_NAME%.
param location string
param tags object
param name string
param iotHubName string

@secure()
param awsAccessKeyId string

@secure()
param awsSecretAccessKey string

@description('The IoT Hub shared access policy the Function triggers read the built-in endpoint with (iothub.bicep).')
param iotHubPolicyName string

resource hub 'Microsoft.Devices/IotHubs@2023-06-30' existing = {
  name: iotHubName
}

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

var iotHubPolicyKey = listKeys(resourceId('Microsoft.Devices/IotHubs/IotHubKeys', hub.name, iotHubPolicyName), '2023-06-30').primaryKey

resource iotHubEventsSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'iothub-events-connection'
  properties: {
    contentType: 'Event Hubs connection string (IoT Hub built-in endpoint, policy ${iotHubPolicyName})'
    value: 'Endpoint=${hub.properties.eventHubEndpoints.events.endpoint};SharedAccessKeyName=${iotHubPolicyName};SharedAccessKey=${iotHubPolicyKey}'
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
output iotHubEventsSecretUri string = iotHubEventsSecret.properties.secretUri
output awsAccessKeyIdSecretUri string = awsAccessKeyIdSecret.properties.secretUri
output awsSecretAccessKeySecretUri string = awsSecretAccessKeySecret.properties.secretUri
