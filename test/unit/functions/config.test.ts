import { describe, expect, it } from 'vitest';
import { FunctionsConfigError, loadFunctionsConfig, parseFunctionsConfig } from '../../../functions/config.js';

const LOCAL = {
  IOTHUB_EVENTS: 'Endpoint=sb://localhost:5671;SharedAccessKeyName=service;SharedAccessKey=c2VjcmV0;EntityPath=hub1;UseDevelopmentEmulator=true',
  COSMOS_ENDPOINT: 'https://127.0.0.1:8081/',
  COSMOS_KEY: 'a2V5',
  COSMOS_CA_CERT_PATH: '/tmp/ca.pem',
  COLD_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  AWS_ENDPOINT_URL_IOTANALYTICS: 'http://127.0.0.1:9000',
  IotAnalyticsDefaultChannelName: 'telemetry',
};

function issuesOf(settings: Record<string, string | undefined>): string[] {
  const result = parseFunctionsConfig(settings);
  return result.ok ? [] : result.issues.map((i) => i.setting);
}

describe('Function app settings', () => {
  it('local settings parse with the documented defaults', () => {
    const config = loadFunctionsConfig(LOCAL);
    expect(config.eventHub.eventHubName).toBe('hub1');
    expect(config.cosmos).toMatchObject({ database: 'iot-ingest', container: 'telemetry', defaultTtlSeconds: 2592000, key: 'a2V5', caCertPath: '/tmp/ca.pem' });
    expect(config.storage).toMatchObject({ coldContainer: 'telemetry', deadLetterContainer: 'analytics-deadletter' });
    expect(config.analytics).toMatchObject({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9000', forwardBudgetMs: 120_000 });
    expect(config.analytics.connector).toMatchObject({ batchSizePerChannel: 100, publishIntervalMs: 0, defaultChannelName: 'telemetry' });
    expect(Object.isFrozen(config.cosmos)).toBe(true);
  });

  it('endpoints only (managed identity) are valid: no COSMOS_KEY, an account URL, no AWS endpoint', () => {
    const config = loadFunctionsConfig({
      IOTHUB_EVENTS__fullyQualifiedNamespace: 'ihsuprodxx.servicebus.windows.net',
      IOTHUB_EVENTHUB_NAME: 'iothub-ehub-x',
      COSMOS_ENDPOINT: 'https://acct.documents.azure.com:443/',
      COLD_STORAGE_ACCOUNT_URL: 'https://acct.blob.core.windows.net',
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIA',
      AWS_SECRET_ACCESS_KEY: 'x',
    });
    expect(config.cosmos.key).toBeUndefined();
    expect(config.storage).toMatchObject({ connectionString: undefined, accountUrl: 'https://acct.blob.core.windows.net' });
    expect(config.eventHub.eventHubName).toBe('iothub-ehub-x');
  });

  it('every missing required setting is named at once', () => {
    expect(issuesOf({})).toEqual(['IOTHUB_EVENTS', 'IOTHUB_EVENTHUB_NAME', 'COSMOS_ENDPOINT', 'COLD_STORAGE_CONNECTION_STRING', 'AWS_REGION']);
  });

  it('bad values are refused with the setting in the message, never echoing a secret', () => {
    const err = (() => {
      try {
        loadFunctionsConfig({ ...LOCAL, IOTHUB_EVENTS: 'HostName=x;SharedAccessKey=TOPSECRET', IOTHUB_EVENTHUB_NAME: 'hub', COSMOS_DEFAULT_TTL_SECONDS: '0', COLD_CONTAINER: 'A' });
      } catch (e) {
        return e as FunctionsConfigError;
      }
      throw new Error('no error');
    })();
    expect(err).toBeInstanceOf(FunctionsConfigError);
    expect(err.issues.map((i) => i.setting)).toEqual(['IOTHUB_EVENTS', 'COSMOS_DEFAULT_TTL_SECONDS', 'COLD_CONTAINER']);
    expect(err.message).toContain("COSMOS_DEFAULT_TTL_SECONDS must be a positive whole number of seconds or -1 (never expire), got '0'");
    expect(err.message).not.toContain('TOPSECRET');
  });

  it('connector parameters are validated with their own names', () => {
    expect(issuesOf({ ...LOCAL, IotAnalyticsBatchSizePerChannel: '101', IotAnalyticsQueueDropBehavior: 'DROP_ALL' })).toEqual([
      'IotAnalyticsQueueDropBehavior',
      'IotAnalyticsBatchSizePerChannel',
    ]);
  });

  it('a local AWS endpoint without explicit credentials is refused (the default chain would probe a non-loopback address)', () => {
    expect(issuesOf({ ...LOCAL, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined })).toEqual(['AWS_ACCESS_KEY_ID']);
    expect(issuesOf({ ...LOCAL, AWS_SECRET_ACCESS_KEY: '' })).toEqual(['AWS_SECRET_ACCESS_KEY']);
  });

  it('a non-URL endpoint names the setting', () => {
    expect(issuesOf({ ...LOCAL, COSMOS_ENDPOINT: 'localhost:8081' })).toEqual(['COSMOS_ENDPOINT']);
    expect(issuesOf({ ...LOCAL, ANALYTICS_FORWARD_BUDGET_SECONDS: '0' })).toEqual(['ANALYTICS_FORWARD_BUDGET_SECONDS']);
  });
});

describe('EDGE_MODULE_IDS (contracts §6)', () => {
  const trusted = (value: string | undefined) => {
    const result = parseFunctionsConfig({ ...LOCAL, EDGE_MODULE_IDS: value });
    return result.ok ? result.config.edge.trustedModules : result.issues.map((i) => i.setting);
  };
  it("defaults to this project's module names, takes a list, and '-' trusts none", () => {
    expect(trusted(undefined)).toEqual(['iotIngest', 'iot-ingest']);
    expect(trusted(' a , b ')).toEqual(['a', 'b']);
    expect(trusted('-')).toEqual([]);
  });
  it('a value that is not a list of module ids is an error naming the setting', () => {
    expect(trusted('bad id/with slash')).toEqual(['EDGE_MODULE_IDS']);
    expect(trusted(',')).toEqual(['EDGE_MODULE_IDS']);
  });
});
