import { describe, expect, it } from 'vitest';
import {
  CONNECTOR_DEFAULTS,
  CONNECTOR_PARAMETERS,
  ConfigError,
  isValidChannelName,
  loadConnectorConfig,
  parseConnectorConfig,
} from '../../../batching/config.js';

describe('connector parameters', () => {
  it('uses the connector defaults when only MemorySize is given', () => {
    const config = loadConnectorConfig({ MemorySize: '65535' });
    expect(config).toEqual({
      memorySizeBytes: 65535 * 1024,
      publishRegion: '',
      publishIntervalMs: 1000,
      maxActiveChannels: 50,
      dropBehavior: 'DROP_NEWEST',
      queueSizePerChannel: 2048,
      batchSizePerChannel: 5,
      defaultChannelName: undefined,
      isolationMode: 'GreengrassContainer',
      retryTimeoutMs: 7_200_000,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("parses the manual's create-connector example", () => {
    const config = loadConnectorConfig({
      MemorySize: '65535',
      PublishRegion: 'us-west-1',
      PublishInterval: '2',
      IotAnalyticsMaxActiveChannels: '25',
      IotAnalyticsQueueDropBehavior: 'DROP_OLDEST',
      IotAnalyticsQueueSizePerChannel: '1028',
      IotAnalyticsBatchSizePerChannel: '5',
      IotAnalyticsDefaultChannelName: 'my_channel',
    });
    expect(config.publishRegion).toBe('us-west-1');
    expect(config.publishIntervalMs).toBe(2000);
    expect(config.maxActiveChannels).toBe(25);
    expect(config.dropBehavior).toBe('DROP_OLDEST');
    expect(config.queueSizePerChannel).toBe(1028);
    expect(config.defaultChannelName).toBe('my_channel');
  });

  it('MemorySize is required', () => {
    const result = parseConnectorConfig({});
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.map((i) => i.message)).toEqual(['MemorySize: missing is required']);
  });

  it('an empty value means the default where the pattern allows ^$', () => {
    const config = loadConnectorConfig({
      MemorySize: '1',
      PublishInterval: '',
      IotAnalyticsMaxActiveChannels: '',
      IotAnalyticsQueueSizePerChannel: '',
      IotAnalyticsBatchSizePerChannel: '',
      IotAnalyticsDefaultChannelName: '',
    });
    expect(config.publishIntervalMs).toBe(1000);
    expect(config.maxActiveChannels).toBe(50);
    expect(config.queueSizePerChannel).toBe(2048);
    expect(config.batchSizePerChannel).toBe(5);
    expect(config.defaultChannelName).toBeUndefined();
  });

  it('reports every bad parameter at once, naming the parameter, the value and the rule', () => {
    const result = parseConnectorConfig({
      MemorySize: '12k',
      PublishRegion: 'mars',
      PublishInterval: '-1',
      IotAnalyticsMaxActiveChannels: '0',
      IotAnalyticsQueueDropBehavior: 'DROP_RANDOM',
      IotAnalyticsQueueSizePerChannel: '0',
      IotAnalyticsBatchSizePerChannel: '0',
      IotAnalyticsDefaultChannelName: 'bad-name',
      IsolationMode: 'Docker',
      RetryTimeoutSeconds: '0',
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => i.parameter)).toEqual([...CONNECTOR_PARAMETERS]);
    const memory = result.issues[0]!;
    expect(memory).toEqual({
      parameter: 'MemorySize',
      value: '12k',
      rule: '^[0-9]+$ (required, KB)',
      message: "MemorySize: '12k' does not match ^[0-9]+$ (required, KB)",
    });
    expect(result.issues.find((i) => i.parameter === 'IotAnalyticsBatchSizePerChannel')!.message).toBe(
      "IotAnalyticsBatchSizePerChannel: '0' does not match ^$|^[1-9][0-9]*$, at most 100",
    );
  });

  it('IotAnalyticsBatchSizePerChannel above 100 is refused (BatchPutMessage limit)', () => {
    expect(loadConnectorConfig({ MemorySize: '1', IotAnalyticsBatchSizePerChannel: '100' }).batchSizePerChannel).toBe(
      100,
    );
    expect(() => loadConnectorConfig({ MemorySize: '1', IotAnalyticsBatchSizePerChannel: '101' })).toThrow(
      /IotAnalyticsBatchSizePerChannel: '101' is above 100 \(BatchPutMessage takes at most 100 messages\)/,
    );
  });

  it('loadConnectorConfig throws a ConfigError carrying every issue', () => {
    try {
      loadConnectorConfig({ MemorySize: 'x', PublishInterval: 'y' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues).toHaveLength(2);
      expect((err as ConfigError).message).toContain('MemorySize');
      expect((err as ConfigError).message).toContain('PublishInterval');
    }
  });

  it('numbers beyond 2^53 are refused instead of silently rounded', () => {
    expect(() => loadConnectorConfig({ MemorySize: '99999999999999999999' })).toThrow(
      /MemorySize: '99999999999999999999' is too large/,
    );
  });

  it('PublishRegion must match the whole value', () => {
    expect(loadConnectorConfig({ MemorySize: '1', PublishRegion: 'eu-central-1' }).publishRegion).toBe('eu-central-1');
    expect(() => loadConnectorConfig({ MemorySize: '1', PublishRegion: 'xus-west-1junk' })).toThrow(/PublishRegion/);
  });

  it("the default channel uses IoT Analytics' channel rule, not the manual's one-character typo", () => {
    expect(
      loadConnectorConfig({ MemorySize: '1', IotAnalyticsDefaultChannelName: 'my_channel_2' }).defaultChannelName,
    ).toBe('my_channel_2');
    for (const bad of ['__private', 'has space', 'dash-ed', 'x'.repeat(129)]) {
      expect(() => loadConnectorConfig({ MemorySize: '1', IotAnalyticsDefaultChannelName: bad })).toThrow(
        /IotAnalyticsDefaultChannelName/,
      );
    }
  });

  it('channel names: 1-128 of [a-zA-Z0-9_], not starting with __', () => {
    expect(isValidChannelName('a')).toBe(true);
    expect(isValidChannelName('_a')).toBe(true);
    expect(isValidChannelName('x'.repeat(128))).toBe(true);
    expect(isValidChannelName('')).toBe(false);
    expect(isValidChannelName('__a')).toBe(false);
    expect(isValidChannelName('x'.repeat(129))).toBe(false);
    expect(isValidChannelName('a/b')).toBe(false);
  });

  it('IsolationMode is accepted for compatibility', () => {
    expect(loadConnectorConfig({ MemorySize: '1', IsolationMode: 'NoContainer' }).isolationMode).toBe('NoContainer');
    expect(CONNECTOR_DEFAULTS.IsolationMode).toBe('GreengrassContainer');
  });
});
