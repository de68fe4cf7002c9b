// Log Analytics workspace + workspace-based Application Insights (Azure Verified Modules, pinned).
// Local (key) authentication for ingestion is off: the Function app sends telemetry with its managed identity
// (Monitoring Metrics Publisher, granted in rbac.bicep; APPLICATIONINSIGHTS_AUTHENTICATION_STRING in appsettings.bicep).
param location string
param tags object
param logAnalyticsName string
param applicationInsightsName string

@description('Days the workspace keeps logs (30: within the retention included in the ingestion price).')
param retentionDays int = 30

module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.16.1' = {
  name: 'log-analytics'
  params: {
    name: logAnalyticsName
    location: location
    tags: tags
    dataRetention: retentionDays
  }
}

module applicationInsights 'br/public:avm/res/insights/component:0.8.0' = {
  name: 'application-insights'
  params: {
    name: applicationInsightsName
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    disableLocalAuth: true
  }
}

output logAnalyticsName string = logAnalytics.outputs.name
output logAnalyticsResourceId string = logAnalytics.outputs.resourceId
// The workspace (customer) id, not a key: the optional IoT Edge metrics collector needs it.
output logAnalyticsCustomerId string = logAnalytics.outputs.logAnalyticsWorkspaceId
output applicationInsightsName string = applicationInsights.outputs.name
output applicationInsightsConnectionString string = applicationInsights.outputs.connectionString
