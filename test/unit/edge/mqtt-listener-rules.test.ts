/**
 * The listener's pure rules: its settings (every limit has a default, is documented and is refused by
 * name when invalid), topic filters as a Greengrass subscription table uses them, keepalive bounds and
 * each client's share.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULTS, parseEdgeConfig } from '../../../edge-module/config.js';
import { boundedKeepalive } from '../../../edge-module/inputs/mqtt/limits.js';
import { ClientShares, ShareTicket } from '../../../edge-module/inputs/mqtt/shares.js';
import { topicFilterProblem, TopicFilterSet, topicMatches } from '../../../edge-module/inputs/mqtt/topics.js';
import { edgeEnvironmentNames, read } from '../../static/sources.js';

const LIMITS = [
  'MQTT_MAX_PACKET_BYTES',
  'MQTT_MAX_CONNECTIONS',
  'MQTT_MAX_CLIENT_ID_LENGTH',
  'MQTT_CONNECT_TIMEOUT_SECONDS',
  'MQTT_KEEPALIVE_MIN_SECONDS',
  'MQTT_KEEPALIVE_MAX_SECONDS',
  'MQTT_MAX_INFLIGHT_QOS2',
  'MQTT_MAX_INFLIGHT_STATUSES',
  'MQTT_MAX_OUTGOING_BYTES',
  'MQTT_MAX_QUEUED_STATUSES',
  'MQTT_OFFLINE_SESSION_SECONDS',
  'MQTT_MAX_PENDING_WRITES',
  'MQTT_CLIENT_MAX_CHANNELS',
  'MQTT_CLIENT_MEMORY_PERCENT',
  'MQTT_CLIENT_DISK_PERCENT',
];

describe('listener settings', () => {
  it('every MQTT_* setting config.ts reads is documented with its default in edge-module/README.md', () => {
    const readme = read('edge-module/README.md');
    const names = [...edgeEnvironmentNames()].filter((n) => n.startsWith('MQTT_') && n !== 'MQTT_USERNAME' && n !== 'MQTT_PASSWORD');
    expect(names).toEqual(expect.arrayContaining(LIMITS));
    for (const name of names) expect(readme, name).toMatch(new RegExp(`\\| [^|]*\`${name}\``));
    const limits = parseEdgeConfig({ MemorySize: '64' });
    expect(limits.ok && limits.config.mqtt.limits).toEqual({
      maxPacketBytes: DEFAULTS.mqtt.maxPacketBytes,
      maxConnections: 2500,
      maxClientIdLength: 128,
      connectTimeoutMs: 10_000,
      keepaliveMinSeconds: 30,
      keepaliveMaxSeconds: 1200,
      maxInflightQos2: 100,
      maxInflightStatuses: 100,
      maxOutgoingBytes: 262_144,
      maxQueuedStatuses: 1000,
      offlineSessionMs: 3_600_000,
      maxPendingWrites: 5000,
      clientMaxChannels: 25,
      clientMemoryPercent: 50,
      clientDiskPercent: 50,
    });
  });

  it('an invalid limit is refused at start, each one naming its setting', () => {
    const r = parseEdgeConfig({ MemorySize: '64', ...Object.fromEntries(LIMITS.map((n) => [n, 'lots'])) });
    expect(r.ok ? [] : r.issues.map((i) => i.parameter).sort()).toEqual([...LIMITS].sort());
    const percent = parseEdgeConfig({ MemorySize: '64', MQTT_CLIENT_MEMORY_PERCENT: '150' });
    expect(percent.ok ? '' : percent.issues[0]?.message).toBe("MQTT_CLIENT_MEMORY_PERCENT: '150' is out of range (an integer percent 1..100)");
    const keepalive = parseEdgeConfig({ MemorySize: '64', MQTT_KEEPALIVE_MIN_SECONDS: '60', MQTT_KEEPALIVE_MAX_SECONDS: '30' });
    expect(keepalive.ok ? [] : keepalive.issues.map((i) => i.parameter)).toEqual(['MQTT_KEEPALIVE_MIN_SECONDS']);
  });

  it('MQTT_DEFAULT_CHANNEL_TOPICS is a comma-separated list of valid topic filters', () => {
    const ok = parseEdgeConfig({ MemorySize: '64', MQTT_DEFAULT_CHANNEL_TOPICS: ' sensors/+/telemetry , plant/# ' });
    expect(ok.ok && ok.config.mqtt.defaultChannelTopics).toEqual(['sensors/+/telemetry', 'plant/#']);
    const bad = parseEdgeConfig({ MemorySize: '64', MQTT_DEFAULT_CHANNEL_TOPICS: 'a/#/b,$SYS/#,x+' });
    expect(bad.ok ? [] : bad.issues.map((i) => i.message)).toEqual([
      "MQTT_DEFAULT_CHANNEL_TOPICS: 'a/#/b' uses '#' other than as the whole last level",
      "MQTT_DEFAULT_CHANNEL_TOPICS: '$SYS/#' starts with '$' (reserved for the broker)",
      "MQTT_DEFAULT_CHANNEL_TOPICS: 'x+' uses '+' other than as a whole level",
    ]);
  });
});

describe('topic filters, as a Greengrass subscription table uses them', () => {
  it("'+' matches one whole level, '#' the rest including the parent, exact topics only themselves", () => {
    expect(topicMatches('sensors/+/telemetry', 'sensors/s1/telemetry')).toBe(true);
    expect(topicMatches('sensors/+/telemetry', 'sensors/s1/x/telemetry')).toBe(false);
    expect(topicMatches('sensors/+/telemetry', 'sensors//telemetry')).toBe(true);
    expect(topicMatches('plant/#', 'plant')).toBe(true);
    expect(topicMatches('plant/#', 'plant/a/b/c')).toBe(true);
    expect(topicMatches('plant/#', 'plants/a')).toBe(false);
    expect(topicMatches('#', 'anything/at/all')).toBe(true);
    expect(topicMatches('a/b', 'a/b/c')).toBe(false);
    const set = new TopicFilterSet(['exact/topic', 'sensors/+/t']);
    expect([set.matches('exact/topic'), set.matches('sensors/x/t'), set.matches('exact')]).toEqual([true, true, false]);
    expect(new TopicFilterSet([]).matches('anything')).toBe(false);
    expect(topicFilterProblem('x'.repeat(257))).toContain('256 bytes');
  });
});

describe('keepalive bounds', () => {
  it('the enforced keepalive is the requested one held within [min, max]; 0 (none) is the max', () => {
    expect([0, 1, 30, 600, 1200, 65535].map((k) => boundedKeepalive(k, 30, 1200))).toEqual([1200, 30, 30, 600, 1200, 1200]);
  });
});

describe("each client's share", () => {
  it('channels, memory and disk are bounded per client and come back on release', () => {
    const shares = new ClientShares(() => ({ maxChannels: 2, memoryBytes: 100, diskBytes: 300 }));
    const a1 = shares.reserve('a', 'c1', 40, 100);
    const a2 = shares.reserve('a', 'c2', 40, 100);
    expect(shares.reserve('a', 'c3', 1, 1)).toMatchObject({ rule: 'client_channels', code: 'TooManyChannelsException' });
    expect(shares.reserve('a', 'c1', 30, 1)).toMatchObject({ rule: 'client_memory', code: 'MemoryLimitExceededException' });
    expect(shares.reserve('a', 'c1', 1, 150)).toMatchObject({ rule: 'client_disk', code: 'StorageFullException' });
    expect(shares.reserve('b', 'c3', 100, 300)).toBeInstanceOf(ShareTicket);
    shares.release(a1 as ShareTicket);
    expect(shares.held('a')).toEqual({ bytes: 40, diskBytes: 100, channels: 1 });
    expect(shares.reserve('a', 'c3', 60, 200)).toBeInstanceOf(ShareTicket);
    shares.release(a2 as ShareTicket);
    expect(shares.held('a')).toEqual({ bytes: 60, diskBytes: 200, channels: 1 });
  });

  it('without persistence there is no disk share', () => {
    const shares = new ClientShares(() => ({ maxChannels: 5, memoryBytes: 1000, diskBytes: undefined }));
    expect(shares.reserve('a', 'c', 10, 1_000_000)).toBeInstanceOf(ShareTicket);
  });
});
