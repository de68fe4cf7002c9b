/**
 * Local app settings: the devstack endpoints in `.devstack/connections.json` mapped to the Function app's
 * settings (contracts §6), with the process environment taking precedence (so any setting can be
 * overridden, and a real IoT Hub connection string can be used). Pure.
 */
import type { Connections } from '@iot-ingest/contracts';

/** The IoT Analytics emulator's default channel; the local default for IotAnalyticsDefaultChannelName. */
export const LOCAL_DEFAULT_CHANNEL = 'iot_ingest_default';

export function settingsFromConnections(connections: Connections, env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const settings: Record<string, string> = {};
  const set = (name: string, value: unknown): void => {
    if (typeof value === 'string' && value !== '') settings[name] = value;
    else if (typeof value === 'number') settings[name] = String(value);
  };
  const { iotHub, storage, cosmos, iotAnalytics, alertWebhook } = connections;
  if (iotHub) {
    set('IOTHUB_EVENTS', iotHub.eventHubsConnectionString);
    set('IOTHUB_EVENTHUB_NAME', iotHub.eventHubName);
  }
  if (storage) {
    set('AzureWebJobsStorage', storage.connectionString);
    set('COLD_STORAGE_CONNECTION_STRING', storage.connectionString);
    set('COLD_CONTAINER', storage.coldContainer);
    set('DEADLETTER_CONTAINER', storage.deadLetterContainer);
  }
  if (cosmos) {
    set('COSMOS_ENDPOINT', cosmos.endpoint);
    set('COSMOS_KEY', cosmos.key);
    set('COSMOS_DATABASE', cosmos.database);
    set('COSMOS_CONTAINER', cosmos.container);
    set('COSMOS_CA_CERT_PATH', cosmos.caCertPath);
  }
  if (iotAnalytics) {
    set('AWS_ENDPOINT_URL_IOTANALYTICS', iotAnalytics.endpoint);
    set('AWS_REGION', iotAnalytics.region);
    // The emulator ignores signatures; explicit dummies keep the SDK from probing instance metadata.
    set('AWS_ACCESS_KEY_ID', 'devstack');
    set('AWS_SECRET_ACCESS_KEY', 'devstack');
    set('IotAnalyticsDefaultChannelName', LOCAL_DEFAULT_CHANNEL);
  }
  if (alertWebhook) set('HOT_WEBHOOK_URL', alertWebhook.url);
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && value !== '' && isAppSetting(name)) settings[name] = value;
  }
  return settings;
}

const SETTING_NAMES = new Set([
  'IOTHUB_EVENTS',
  'IOTHUB_EVENTHUB_NAME',
  'AzureWebJobsStorage',
  'COSMOS_ENDPOINT',
  'COSMOS_KEY',
  'COSMOS_DATABASE',
  'COSMOS_CONTAINER',
  'COSMOS_DEFAULT_TTL_SECONDS',
  'COSMOS_CA_CERT_PATH',
  'COLD_STORAGE_CONNECTION_STRING',
  'COLD_STORAGE_ACCOUNT_URL',
  'COLD_CONTAINER',
  'COLD_PARQUET_CONTAINER',
  'COLD_COMPACT_GRACE_MINUTES',
  'DEADLETTER_CONTAINER',
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_ENDPOINT_URL_IOTANALYTICS',
  'ANALYTICS_FORWARD_BUDGET_SECONDS',
  'MemorySize',
  'PublishInterval',
  'IotAnalyticsDefaultChannelName',
  'IotAnalyticsBatchSizePerChannel',
  'IotAnalyticsQueueSizePerChannel',
  'IotAnalyticsQueueDropBehavior',
  'IotAnalyticsMaxActiveChannels',
  'HOT_RULES',
  'HOT_RULES_FILE',
  'HOT_WEBHOOK_URL',
  'HOT_WEBHOOK_TIMEOUT_SECONDS',
  'HOT_WEBHOOK_MAX_ATTEMPTS',
  'HOT_WINDOW_GRACE_SECONDS',
  'COSMOS_ALERTS_CONTAINER',
]);

function isAppSetting(name: string): boolean {
  return SETTING_NAMES.has(name) || name.startsWith('IOTHUB_EVENTS__') || name.startsWith('AzureWebJobsStorage__');
}
