import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ReceivedEventData } from '@azure/event-hubs';
import { toTriggerInput, workerValue } from '../../../devstack/functions-host/trigger-input.js';
import { parseHostJson, timeSpanToMs } from '../../../devstack/functions-host/host-json.js';
import { durationToMs, mayRetry, retryDelayMs } from '../../../devstack/functions-host/retry.js';
import { settingsFromConnections } from '../../../devstack/functions-host/settings.js';
import { eventsFromTrigger } from '../../../functions/trigger.js';

function received(seq: number, body: unknown, extra: Partial<ReceivedEventData> = {}): ReceivedEventData {
  return {
    body,
    properties: { Channel: 'temps', nested: { Inner: 1 } },
    enqueuedTimeUtc: new Date(Date.UTC(2026, 10, 23, 10, 0, seq)),
    partitionKey: null,
    offset: String(seq * 100),
    sequenceNumber: seq,
    systemProperties: { 'iothub-connection-device-id': 'dev-1', messageId: `m${seq}`, contentType: 'application/json', userId: Buffer.from('u') },
    getRawAmqpMessage: () => {
      throw new Error('unused');
    },
    ...extra,
  };
}

const partition = { fullyQualifiedNamespace: 'localhost', eventHubName: 'hub', consumerGroup: 'warm', partitionId: '3' };

describe('local host: trigger argument and metadata shape', () => {
  it('binary functions get Buffers; others get JSON-parsed values or the raw string', () => {
    const events = [received(1, Buffer.from('{"a":1}')), received(2, Buffer.from('plain'))];
    expect(toTriggerInput(events, partition, 'binary').messages).toEqual([Buffer.from('{"a":1}'), Buffer.from('plain')]);
    expect(toTriggerInput(events, partition, undefined).messages).toEqual([{ a: 1 }, 'plain']);
  });

  it('metadata arrays as the host gives them: ISO strings, string offsets, .NET system property names, keys lower-camel-cased', () => {
    const { triggerMetadata } = toTriggerInput([received(1, Buffer.from('1')), received(2, Buffer.from('2'))], partition, 'binary');
    expect(triggerMetadata.partitionContext).toEqual(partition);
    expect(triggerMetadata.enqueuedTimeUtcArray).toEqual(['2026-11-23T10:00:01.000Z', '2026-11-23T10:00:02.000Z']);
    expect(triggerMetadata.sequenceNumberArray).toEqual([1, 2]);
    expect(triggerMetadata.offsetArray).toEqual(['100', '200']);
    expect(triggerMetadata.partitionKeyArray).toEqual([null, null]);
    expect((triggerMetadata.propertiesArray as unknown[])[0]).toEqual({ channel: 'temps', nested: { inner: 1 } });
    const system = (triggerMetadata.systemPropertiesArray as Record<string, unknown>[])[1];
    expect(system).toMatchObject({
      'iothub-connection-device-id': 'dev-1',
      'message-id': 'm2',
      'content-type': 'application/json',
      'user-id': 'dQ==',
      'x-opt-sequence-number': 2,
      sequenceNumber: 2,
      offset: '200',
      enqueuedTimeUtc: '2026-11-23T10:00:02.000Z',
    });
  });

  it('the functions read back exactly what the host delivers', () => {
    const { messages, triggerMetadata } = toTriggerInput([received(7, Buffer.from('x'))], partition, 'binary');
    expect(eventsFromTrigger(messages, triggerMetadata)).toEqual([
      expect.objectContaining({ partition: '3', sequenceNumber: 7, offset: '700', enqueuedTimeUtc: '2026-11-23T10:00:07.000Z', properties: { channel: 'temps', nested: { inner: 1 } } }),
    ]);
  });

  it('lower-cases only the first letter of each key, at every depth, after serialising Buffers and Dates', () => {
    expect(workerValue({ AbC: [{ DeF: 1 }], 'x-Y': 2 })).toEqual({ abC: [{ deF: 1 }], 'x-Y': 2 });
    expect(workerValue({ Raw: Buffer.from('hi'), At: new Date('2026-11-23T10:00:00Z'), N: null })).toEqual({ raw: 'aGk=', at: '2026-11-23T10:00:00.000Z', n: null });
  });
});

describe('local host: host.json', () => {
  it("reads the repository's host.json", () => {
    const settings = parseHostJson(JSON.parse(readFileSync('host.json', 'utf8')));
    expect(settings).toEqual({
      maxEventBatchSize: 1000,
      minEventBatchSize: 400,
      maxWaitTimeMs: 30_000,
      batchCheckpointFrequency: 1,
      prefetchCount: 2000,
      initialOffset: 'fromStart',
    });
  });

  it('errors name the setting', () => {
    expect(() => parseHostJson({ version: '1.0' })).toThrow(/host.json version/);
    expect(() => parseHostJson({ version: '2.0', extensions: { eventHubs: { maxEventBatchSize: 0 } } })).toThrow(/extensions.eventHubs.maxEventBatchSize/);
    expect(() => timeSpanToMs('5s', 'maxWaitTime')).toThrow(/maxWaitTime/);
    const hubs = (eventHubs: Record<string, unknown>) => ({ version: '2.0', extensions: { eventHubs } });
    expect(() => parseHostJson(hubs({ maxEventBatchSize: 10, minEventBatchSize: 11 }))).toThrow(/minEventBatchSize: 11 is larger than maxEventBatchSize/);
    expect(() => parseHostJson(hubs({ maxWaitTime: '00:10:01' }))).toThrow(/maxWaitTime/);
    expect(timeSpanToMs('00:01:02.5', 'x')).toBe(62_500);
  });
});

describe('local host: function retry policy', () => {
  const exponential = { strategy: 'exponentialBackoff' as const, maxRetryCount: 3, minimumInterval: { seconds: 1 }, maximumInterval: { seconds: 5 } };

  it('exponential backoff doubles from the minimum and stops at the maximum', () => {
    const mid = () => 0.5; // no jitter
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(exponential, n, mid))).toEqual([1000, 2000, 4000, 5000, 5000]);
    expect(retryDelayMs({ strategy: 'fixedDelay', maxRetryCount: 1, delayInterval: 250 }, 3)).toBe(250);
    expect(durationToMs({ minutes: 1, milliseconds: 5 })).toBe(60_005);
  });

  it('retries up to maxRetryCount, forever with -1, never without a policy', () => {
    expect([1, 2, 3, 4].map((n) => mayRetry(exponential, n))).toEqual([true, true, true, false]);
    expect(mayRetry({ ...exponential, maxRetryCount: -1 }, 1000)).toBe(true);
    expect(mayRetry(undefined, 1)).toBe(false);
  });
});

describe('local host: app settings from .devstack/connections.json', () => {
  it('maps each endpoint to its app setting; the environment wins; unrelated variables are ignored', () => {
    const settings = settingsFromConnections(
      {
        iotHub: { hostName: 'localhost', mqttPort: 1, caCertPath: '/ca', eventHubsConnectionString: 'Endpoint=sb://localhost:5671;EntityPath=hub', partitionCount: 4, eventHubName: 'hub' },
        storage: { connectionString: 'UseDevelopmentStorage=true', coldContainer: 'telemetry', deadLetterContainer: 'analytics-deadletter' },
        cosmos: { endpoint: 'https://127.0.0.1:1/', key: 'k', database: 'iot-ingest', container: 'telemetry', caCertPath: '/ca' },
        iotAnalytics: { endpoint: 'http://127.0.0.1:2', region: 'us-east-1' },
      },
      { COSMOS_DEFAULT_TTL_SECONDS: '60', IOTHUB_EVENTS: 'Endpoint=sb://real.servicebus.windows.net/;EntityPath=x', PATH: '/bin' },
    );
    expect(settings).toMatchObject({
      IOTHUB_EVENTS: 'Endpoint=sb://real.servicebus.windows.net/;EntityPath=x',
      IOTHUB_EVENTHUB_NAME: 'hub',
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      COLD_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
      COSMOS_CA_CERT_PATH: '/ca',
      COSMOS_DEFAULT_TTL_SECONDS: '60',
      AWS_ENDPOINT_URL_IOTANALYTICS: 'http://127.0.0.1:2',
      AWS_ACCESS_KEY_ID: 'devstack',
      IotAnalyticsDefaultChannelName: 'iot_ingest_default',
    });
    expect(settings).not.toHaveProperty('PATH');
  });
});
