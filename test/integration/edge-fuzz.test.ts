/**
 * Fuzz: 10,000 generated (mostly malformed) inputs on each MQTT input path. The module never crashes
 * or stalls, and every input gets exactly one status.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeModule } from '../../edge-module/app.js';
import { connectDevice, startBatchPutEndpoint, startModule } from './edge-helpers.js';
import type { BatchPutEndpoint } from './edge-helpers.js';

const RUNS = 10_000;
const SEED = 20261123;

// Topic-safe text (MQTT forbids wildcards in PUBLISH topics; aedes would drop the connection).
const topicText = fc.string({ unit: fc.constantFrom(...'abcXYZ019_-. é/'.split('')), maxLength: 140 });
const oversize = fc.constant(Buffer.alloc(131_073, 0x61));
const bytes = fc.oneof(
  { weight: 20, arbitrary: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: oversize },
);
const putBody = fc.oneof(
  fc.string().map((s) => Buffer.from(s)),
  bytes,
  fc.json().map((s) => Buffer.from(s)),
  fc.record({ request: fc.anything(), id: fc.anything() }, { requiredKeys: [] }).map((o) => Buffer.from(JSON.stringify(o) ?? 'null')),
  fc.record({ request: fc.record({ message: fc.oneof(fc.string(), fc.base64String(), fc.json(), fc.integer()) }), id: fc.oneof(fc.string({ maxLength: 140 }), fc.integer()) }).map((o) =>
    Buffer.from(JSON.stringify(o)),
  ),
);

const sample = <T>(arb: fc.Arbitrary<T>, seedOffset: number): T[] => fc.sample(arb, { numRuns: RUNS, seed: SEED + seedOffset });

let endpoint: BatchPutEndpoint;
let module: EdgeModule;

beforeAll(async () => {
  endpoint = await startBatchPutEndpoint();
  module = await startModule(
    {
      SINK: 'iotanalytics',
      AWS_REGION: 'us-east-1',
      MemorySize: '262144',
      PublishInterval: '0',
      IotAnalyticsBatchSizePerChannel: '100',
      IotAnalyticsQueueSizePerChannel: '100000',
      IotAnalyticsMaxActiveChannels: '1000',
      IotAnalyticsDefaultChannelName: 'fuzz_default',
      MQTT_DEFAULT_CHANNEL_TOPICS: '#',
    },
    { iotAnalytics: endpoint.client() },
  );
});

afterAll(async () => {
  await module?.stop();
  await endpoint?.close();
});

const paths: [string, () => [string, Buffer][]][] = [
  ['put', () => sample(fc.tuple(topicText.filter((t) => !t.includes('/')), putBody), 1).map(([ch, body]) => [`iotanalytics/channels/${ch}/messages/put`, body])],
  ['binary/put', () => sample(fc.tuple(topicText.filter((t) => !t.includes('/')), bytes), 2).map(([ch, body]) => [`iotanalytics/channels/${ch}/messages/binary/put`, body])],
  [
    'any other topic',
    () =>
      sample(fc.tuple(topicText.filter((t) => t.length > 0 && t !== 'iotanalytics/messages/put/status'), bytes), 3).map(([topic, body]) => [topic, body]),
  ],
];

describe('fuzz over MQTT: no crash, every input answered', () => {
  for (const [name, generate] of paths) {
    it(`${RUNS} generated inputs on ${name} each get exactly one status`, async () => {
      const inputs = generate();
      const device = await connectDevice(module.mqtt.url);
      await Promise.all(inputs.map(([topic, body]) => device.client.publishAsync(topic, body, { qos: 1 })));
      const statuses = await device.waitFor(RUNS, 50_000);
      expect(statuses).toHaveLength(RUNS);
      for (const s of statuses) expect(JSON.parse(s)).toHaveProperty('response.status');
      // Still serving afterwards.
      await device.client.publishAsync('iotanalytics/channels/after/messages/put', '{"request":{"message":"{}"},"id":"alive"}', { qos: 1 });
      expect((await device.waitFor(RUNS + 1)).at(-1)).toBe('{"response":{"status":"success"},"id":"alive"}');
      await device.client.endAsync();
    });
  }
});
