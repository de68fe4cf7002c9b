// The reference architecture's business-process integration: a Logic App (Consumption) whose HTTP trigger takes
// the hot path's alerts, one POST per raised/resolved transition (body schema: alert-webhook.schema.json, the same
// as ALERT_WEBHOOK_SCHEMA in contracts/alerts.ts; schema validation on, so a wrong body is refused with 400). The
// workflow only accepts (202); add the actions that fit (email, Teams, a ticket) in the designer.
// The trigger URL carries a SAS signature, so it goes straight into Key Vault (secret `alert-webhook-url`) and the
// Function app reads it through a Key Vault reference (HOT_WEBHOOK_URL); it never appears in an output.
param location string
param tags object
param name string
param keyVaultName string

resource workflow 'Microsoft.Logic/workflows@2019-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    state: 'Enabled'
    definition: {
      '$schema': 'https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#'
      contentVersion: '1.0.0.0'
      triggers: {
        manual: {
          type: 'Request'
          kind: 'Http'
          operationOptions: 'EnableSchemaValidation'
          inputs: {
            method: 'POST'
            schema: loadJsonContent('alert-webhook.schema.json')
          }
        }
      }
      actions: {
        Accepted: {
          type: 'Response'
          kind: 'Http'
          runAfter: {}
          inputs: { statusCode: 202 }
        }
      }
      outputs: {}
    }
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource alertWebhookSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'alert-webhook-url'
  properties: {
    contentType: 'Logic App HTTP trigger URL (with its SAS signature)'
    value: listCallbackUrl('${workflow.id}/triggers/manual', '2019-05-01').value
  }
}

output name string = workflow.name
// Versionless: a regenerated trigger key is picked up on the app's next reference refresh.
output alertWebhookSecretUri string = alertWebhookSecret.properties.secretUri
