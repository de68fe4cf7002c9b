/**
 * Fuzz of the functions' input path (issue 12 item 8): 10,000 generated events of each kind — plain
 * device messages, batch/v2 and batch/v1 envelopes from our module, and forged envelopes from devices and
 * foreign modules — mixing good input with deep nesting, oversize bodies, truncated envelopes, wrong
 * types, non-UTF-8 bytes and bad entries. They go through the three real handlers (warmPath, coldPath,
 * analyticsForwarder) with the trigger's real argument shape, against Azurite, the Cosmos DB server and
 * the IoT Analytics emulator. Every invocation must succeed, every good reading must be written exactly
 * once to Cosmos, the cold store and IoT Analytics, and every bad input must be dead-lettered once with
 * a reason (the good entries of a partly bad envelope are still written).
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { CosmosClient } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import azureFunctions from '@azure/functions';
import type { ReceivedEventData } from '@azure/event-hubs';
import { envelopeRecordId } from '../../contracts/record.js';
import { loadFunctionsConfig } from '../../functions/config.js';
import { createRuntime } from '../../functions/clients.js';
import type { Runtime } from '../../functions/clients.js';
import { createWarmPathHandler } from '../../functions/warmPath.js';
import { createColdPathHandler } from '../../functions/coldPath.js';
import { createAnalyticsForwarderHandler } from '../../functions/analyticsForwarder.js';
import type { MalformedEvent } from '../../functions/record.js';
import { functionsLogger } from '../../functions/log.js';
import { toTriggerInput } from '../../devstack/functions-host/trigger-input.js';
import { seededRandom } from '../../devstack/random.js';
import { listBlobNames, readColdBlob, readJsonBlob, receivedEvent, startBackends, storedMessages } from './functions-helpers.js';
import type { Backends } from './functions-helpers.js';

const { InvocationContext } = azureFunctions;
type InvocationContext = InstanceType<typeof InvocationContext>;

const EVENTS_PER_KIND = 10_000;
const EVENTS_PER_INVOCATION = 100;
const CHANNEL = 'fuzz';
const ORIGIN = 'f0e1d2c3b4a59687';
const GATEWAY = 'fuzz-edge';
const ENQUEUED = new Date('2026-11-23T10:30:00.000Z');

/** What one generated event must lead to. */
interface Expectation {
  /** Record ids that must be written (once each). */
  readonly good: string[];
  /** Dead-lettered: with these bad envelope entries (empty: the whole event). */
  readonly badEntries?: number[];
}

interface Generated {
  readonly event: ReceivedEventData;
  readonly expect: Expectation;
}

type Kind = 'plain' | 'v2' | 'v1' | 'forged';
const PARTITIONS: Record<Kind, string> = { plain: '0', v2: '1', v1: '2', forged: '3' };

function generator(kind: Kind, seed: number) {
  const random = seededRandom(seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const partition = PARTITIONS[kind];
  let ordinal = 1;
  const leafNames = ['sensor-1', 'sensor/2', 'a?b#c', 'pump 7', 'ünï', '%41', 'x'.repeat(300)];

  const jsonValue = (depth = 0): unknown => {
    const r = int(depth > 4 ? 4 : 7);
    if (r === 0) return random() * 1000 - 500;
    if (r === 1) return pick(['', 'x', '"quoted"', '\u0000\u001f', '😀', 'line\nbreak']);
    if (r === 2) return pick([true, false, null]);
    if (r === 3) return { ts: pick(['2026-11-23T10:00:00Z', 1795428000, 'garbage', 9e300, -1, '99999999999999999']), t: random() };
    if (r === 4) return Array.from({ length: int(4) }, () => jsonValue(depth + 1));
    return Object.fromEntries(Array.from({ length: int(4) }, (_, i) => [`k${i}`, jsonValue(depth + 1)]));
  };
  const deep = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
  const nonUtf8 = () => Buffer.from([0xc3, 0x28, 0xff, 0xfe, ...Array.from({ length: int(40) }, () => int(256))]);
  const spaced = (v: unknown) => JSON.stringify(v, null, int(2) === 0 ? 1 : '\t');

  /** A good v2 entry: [entry, readings it yields]. */
  const goodV2Entry = (): Record<string, unknown> => {
    const n = ordinal++;
    const base: Record<string, unknown> = { n, id: `id-${n}`, acceptedAt: 1700000000000 + n };
    if (int(3) === 0) base.requestId = pick(['', 'r', 'x'.repeat(200), '\u0000']);
    const who = int(3);
    if (who === 0) base.d = int(leafNames.length);
    else if (who === 1) base.sourceModule = 'opcua';
    const body = int(4);
    if (body === 0) base.json = jsonValue();
    else if (body === 1) base.jsonText = spaced(jsonValue());
    else if (body === 2) base.base64 = nonUtf8().toString('base64');
    else base.base64Message = Buffer.from(`m${n}`).toString('base64');
    return base;
  };
  const badV2Entry = (): Record<string, unknown> =>
    pick<() => Record<string, unknown>>([
      () => ({ n: 'seven', id: 'x', json: 1 }),
      () => ({ n: ordinal++, id: 5, json: 1 }),
      () => ({ n: ordinal++, id: 'x', json: 1, base64: 'AA==' }),
      () => ({ n: ordinal++, id: 'x' }),
      () => ({ n: ordinal++, id: 'x', base64: 'not base64!' }),
      () => ({ n: ordinal++, id: 'x', jsonText: '{"a":' }),
      () => ({ n: ordinal++, id: 'x', jsonText: deep(70) }),
      () => ({ n: ordinal++, id: 'x', d: 99, json: 1 }),
      () => ({ n: -3, id: 'x', json: 1 }),
    ])();

  const envelopeEvent = (sequenceNumber: number, version: 1 | 2, moduleId: string, deviceId: string): Generated => {
    const properties = { 'iot-ingest-schema': version === 2 ? 'batch/v2' : 'batch/v1', channel: CHANNEL };
    const event = (body: Buffer, props: Record<string, unknown> = properties) =>
      receivedEvent({ body, sequenceNumber, deviceId, moduleId, enqueuedTimeUtc: ENQUEUED, properties: props });
    const r = int(20);
    if (r < 11) {
      // Good envelope, sometimes with bad entries among the good ones.
      const count = 1 + int(4);
      const entries: Record<string, unknown>[] = [];
      const good: string[] = [];
      const badEntries: number[] = [];
      for (let i = 0; i < count; i++) {
        const isBad = r >= 8 && int(2) === 0;
        if (isBad) {
          entries.push(version === 2 ? badV2Entry() : { id: 'x', json: 1, base64: 'AA==' });
          badEntries.push(i);
        } else if (version === 2) {
          const e = goodV2Entry();
          entries.push(e);
          good.push(envelopeRecordId(deviceId, ORIGIN, e.n as number));
        } else {
          entries.push(int(2) === 0 ? { id: `m${i}`, acceptedAt: 1, json: jsonValue() } : { id: `m${i}`, acceptedAt: 1, base64: nonUtf8().toString('base64') });
          good.push(`${partition}-${sequenceNumber}-${i}`);
        }
      }
      const body = version === 2 ? { v: 2, channel: CHANNEL, origin: ORIGIN, devices: leafNames, messages: entries } : { v: 1, channel: CHANNEL, messages: entries };
      return { event: event(Buffer.from(JSON.stringify(body))), expect: badEntries.length > 0 ? { good, badEntries } : { good } };
    }
    // Bad events: never a reading.
    const whole = JSON.stringify(version === 2 ? { v: 2, channel: CHANNEL, origin: ORIGIN, messages: [goodV2Entry()] } : { v: 1, channel: CHANNEL, messages: [{ id: 'm', json: 1 }] });
    const bad = pick<() => ReceivedEventData>([
      () => event(Buffer.from(whole.slice(0, 1 + int(whole.length - 2)))), // truncated
      () => event(nonUtf8()),
      () => event(Buffer.from(`{"v":${version},"channel":"${CHANNEL}","origin":"${ORIGIN}","messages":[{"n":1,"id":"a","json":${deep(65 + int(2000))}}]}`)),
      () => event(Buffer.from(JSON.stringify({ v: String(version), channel: CHANNEL, origin: ORIGIN, messages: [] }))),
      () => event(Buffer.from(JSON.stringify({ v: version, channel: 5, origin: ORIGIN, messages: [] }))),
      () => event(Buffer.from(JSON.stringify({ v: version, channel: CHANNEL, origin: ORIGIN, messages: {} }))),
      () => event(Buffer.from(JSON.stringify({ v: version, channel: CHANNEL, origin: ORIGIN, messages: Array.from({ length: 5001 }, () => 0) }))),
      () => event(Buffer.from(JSON.stringify([1, 2, 3]))),
      () => event(Buffer.from(whole), { ...properties, 'iot-ingest-schema': pick(['batch/v9', '', 'BATCH/V1']) }),
      () => event(int(10) === 0 ? Buffer.alloc(262_145 + int(1000), 0x20) : nonUtf8()),
      ...(version === 2 ? [() => event(Buffer.from(whole.replace(ORIGIN, pick(['ABC', '', 'f0e1d2c3b4a5968']))))] : []),
    ])();
    return { event: bad, expect: { good: [], badEntries: [] } };
  };

  return (sequenceNumber: number): Generated => {
    if (kind === 'v2') return envelopeEvent(sequenceNumber, 2, 'iotIngest', GATEWAY);
    if (kind === 'v1') return envelopeEvent(sequenceNumber, 1, 'iot-ingest', GATEWAY);
    const plainId = `${partition}-${sequenceNumber}-0`;
    if (kind === 'forged') {
      // A device, or a module not listed in EDGE_MODULE_IDS, sending envelope-shaped bodies.
      const sender = int(2) === 0 ? { deviceId: 'mallory' } : { deviceId: 'mallory-edge', moduleId: 'evil' };
      const body = JSON.stringify({ v: 2, channel: 'elsewhere', origin: ORIGIN, messages: Array.from({ length: 1 + int(50) }, () => goodV2Entry()) });
      const deepBody = int(10) === 0;
      const event = receivedEvent({
        body: Buffer.from(deepBody ? `{"v":2,"messages":${deep(65 + int(2000))}}` : body),
        sequenceNumber,
        enqueuedTimeUtc: ENQUEUED,
        properties: { 'iot-ingest-schema': pick(['batch/v2', 'batch/v1']) },
        ...sender,
      });
      return { event, expect: deepBody ? { good: [], badEntries: [] } : { good: [plainId] } };
    }
    const r = int(20);
    const device = `dev-${int(20)}`;
    const plain = (body: Buffer) => receivedEvent({ body, sequenceNumber, deviceId: device, enqueuedTimeUtc: ENQUEUED, properties: int(2) === 0 ? { channel: CHANNEL } : {} });
    if (r < 15) {
      const body = pick<() => Buffer>([
        () => Buffer.from(JSON.stringify(jsonValue())),
        () => Buffer.from(spaced(jsonValue())),
        () => nonUtf8(),
        () => Buffer.from('plain text, not JSON'),
        () => Buffer.from(deep(64)),
      ])();
      return { event: plain(body), expect: { good: [plainId] } };
    }
    // Deep nesting of every size up to 100,000 levels; a body over 256 KB now and then (each dead letter keeps it).
    const bad = pick<() => Buffer>([
      () => Buffer.from(deep(65 + int(int(10) === 0 ? 100_000 : 2_000))),
      () => Buffer.from(`{"a":${deep(70)}}`),
      () => (int(10) === 0 ? Buffer.alloc(262_145 + int(4000), 0x7b) : Buffer.from(`{"b":[${deep(65 + int(500))}]}`)),
    ]);
    return { event: plain(bad()), expect: { good: [], badEntries: [] } };
  };
}

describe(`fuzz: ${EVENTS_PER_KIND} events of each kind through the three handlers`, () => {
  let backends: Backends;
  let runtime: Runtime;
  const results: Record<string, string> = {};

  beforeAll(async () => {
    // Thousands of dead letters would each log a warning line; the assertions read the blobs instead.
    functionsLogger.level = 'error';
    backends = await startBackends([CHANNEL]);
    runtime = createRuntime(
      loadFunctionsConfig({ ...backends.settings, IOTHUB_EVENTS: 'Endpoint=sb://localhost;EntityPath=hub', IotAnalyticsDefaultChannelName: CHANNEL, ANALYTICS_FORWARD_BUDGET_SECONDS: '120' }),
    );
  }, 60_000);

  /** The verification queries scan tens of thousands of documents on the local server: a long timeout. */
  let patient: CosmosClient | undefined;
  const patientContainer = () => {
    const c = backends.cosmos.connection;
    patient ??= new CosmosClient({
      endpoint: c.endpoint,
      key: c.key,
      agent: new https.Agent({ ca: readFileSync(c.caCertPath) }),
      connectionPolicy: { enableEndpointDiscovery: false, requestTimeout: 600_000 },
    });
    return patient.database(c.database).container(c.container);
  };

  afterAll(async () => {
    patient?.dispose();
    // The counts the report quotes.
    console.log(`fuzz results: ${JSON.stringify(results)}`);
    await runtime?.close();
    await backends?.stop();
  });

  for (const [k, kind] of (['plain', 'v2', 'v1', 'forged'] as const).entries()) {
    it(`${kind}: 0 failed invocations, every good reading written once everywhere, every bad input dead-lettered with a reason`, async () => {
      const startedAt = Date.now();
      const partition = PARTITIONS[kind];
      const next = generator(kind, 1000 + k);
      const generated = Array.from({ length: EVENTS_PER_KIND }, (_, i) => next(10_000 + i));
      const handlers = [createWarmPathHandler(runtime), createColdPathHandler(runtime), createAnalyticsForwarderHandler(runtime)];
      // As the host's retry policy does: a failed invocation is run again with the same events (a few times).
      let failedInvocations = 0;
      const retriedErrors = new Map<string, number>();
      for (let start = 0; start < generated.length; start += EVENTS_PER_INVOCATION) {
        const events = generated.slice(start, start + EVENTS_PER_INVOCATION).map((g) => g.event);
        const { messages, triggerMetadata } = toTriggerInput(
          events,
          { fullyQualifiedNamespace: 'localhost', eventHubName: 'hub', consumerGroup: 'fuzz', partitionId: partition },
          'binary',
        );
        await Promise.all(
          handlers.map(async (handler, h) => {
            for (let attempt = 1; ; attempt++) {
              try {
                await handler(messages, new InvocationContext({ invocationId: `fuzz-${kind}-${start}-${h}-${attempt}`, functionName: 'fuzz', triggerMetadata, logHandler: () => undefined }));
                return;
              } catch (err) {
                const what = `${(err as Error).name}: ${(err as Error).message.slice(0, 120)}`;
                retriedErrors.set(what, (retriedErrors.get(what) ?? 0) + 1);
                if (attempt === 3) {
                  failedInvocations++;
                  return;
                }
              }
            }
          }),
        );
      }
      expect(failedInvocations, JSON.stringify([...retriedErrors])).toBe(0);
      // Only the local servers being slow on a busy machine may fail an attempt, never our own code.
      for (const what of retriedErrors.keys()) expect(what).toMatch(/Timeout|timed out|ETIMEDOUT|ECONNRESET|socket hang up|503|429/i);

      const expectedGood = generated.flatMap((g) => g.expect.good);
      const expectedBad = new Map(generated.filter((g) => g.expect.badEntries !== undefined).map((g) => [g.event.sequenceNumber, g.expect.badEntries as number[]]));
      expect(new Set(expectedGood).size).toBe(expectedGood.length);

      // Cosmos: exactly the good readings of this partition.
      // One large page: the local server re-runs the query for every continuation page.
      const { resources: ids } = await patientContainer()
        .items.query<string>({ query: "SELECT VALUE c.id FROM c WHERE c.type = 'reading' AND c.partition = @p", parameters: [{ name: '@p', value: partition }] }, { maxItemCount: 1_000_000 })
        .fetchAll();
      expect(ids.length).toBe(expectedGood.length);
      expect(new Set(ids)).toEqual(new Set(expectedGood));

      // Cold: each good reading on exactly one line.
      const cold = backends.blobs('telemetry');
      const coldIds: string[] = [];
      for (const name of await listBlobNames(cold)) {
        if (!new RegExp(`/p${partition}(-\\d+)?\\.jsonl\\.gz$`).test(name)) continue;
        for (const record of (await readColdBlob(cold, name)).records) coldIds.push(record.id);
      }
      expect(coldIds.length).toBe(expectedGood.length);
      expect(new Set(coldIds)).toEqual(new Set(expectedGood));

      // IoT Analytics: each good reading forwarded once (forged envelopes are one reading on the default channel).
      const goodSet = new Set(expectedGood);
      const forwarded = (await storedMessages(backends.iota, CHANNEL)).map((m) => m.messageId).filter((id) => goodSet.has(id) || id.startsWith(`${partition}-`));
      expect(new Set(forwarded)).toEqual(new Set(expectedGood));
      expect(forwarded.length).toBe(expectedGood.length);

      // Dead letters: one blob per bad event, a reason, the bad entries named.
      const dead = backends.blobs('analytics-deadletter');
      const names = await listBlobNames(dead, `malformed/p${partition}-`);
      expect(names.length).toBe(expectedBad.size);
      let withReason = 0;
      for (const name of names) {
        const letter = await readJsonBlob<{ items: MalformedEvent[] }>(dead, name);
        expect(letter.items).toHaveLength(1);
        const item = letter.items[0] as MalformedEvent;
        const bad = expectedBad.get(item.sequenceNumber);
        expect(bad, `${name} was not expected to be dead-lettered: ${item.reason}`).toBeDefined();
        if ((bad as number[]).length > 0) expect(item.entries?.map((e) => e.index)).toEqual(bad);
        else expect(item.entries).toBeUndefined();
        if (item.reason.length > 0 && Buffer.from(item.bodyBase64, 'base64').byteLength > 0) withReason++;
      }
      expect(withReason).toBe(expectedBad.size);
      const forwarderLetters = await listBlobNames(dead, 'forwarder/');
      expect(forwarderLetters).toEqual([]);
      results[kind] = `${Math.round((Date.now() - startedAt) / 1000)} s, ${EVENTS_PER_KIND} events: ${expectedGood.length} readings written (Cosmos ${ids.length}, cold ${coldIds.length}, IoT Analytics ${forwarded.length}), ${expectedBad.size} dead-lettered with a reason (${[...expectedBad.values()].filter((b) => b.length > 0).length} of them partly: good entries written), 0 failed invocations${retriedErrors.size > 0 ? ` (attempts retried as the host would: ${JSON.stringify([...retriedErrors])})` : ''}`;
      console.log(`fuzz ${kind}: ${results[kind]}`);
    }, 900_000);
  }
});
