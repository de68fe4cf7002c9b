/**
 * Records from batch/v2 envelopes (contracts §4–5): the leaf's identity, ids that survive a re-send,
 * trust by module identity, and the input limits checked before anything is parsed.
 */
import { describe, expect, it } from 'vitest';
import { envelopeRecordId, latestDocumentId } from '../../../contracts/record.js';
import { MAX_EVENT_BYTES, MAX_JSON_DEPTH, toReadings } from '../../../functions/record.js';
import type { TelemetryEvent } from '../../../functions/record.js';
import { isNewer, latestOrderingTime, toLatestDocument } from '../../../functions/warmWriter.js';

const ENQUEUED = '2026-11-23T10:15:30.000Z';
const ORIGIN = '3f9c0a7d12e4b856';
const options = { defaultChannel: 'default_ch', trustedModules: new Set(['iotIngest']) };
const FROM_MODULE = { 'iothub-connection-device-id': 'edge-1', 'iothub-connection-module-id': 'iotIngest' };
const V2 = { 'iot-ingest-schema': 'batch/v2', channel: 'temps' };

function event(body: unknown, overrides: Partial<TelemetryEvent> = {}): TelemetryEvent {
  return {
    body,
    properties: V2,
    systemProperties: FROM_MODULE,
    partition: '2',
    sequenceNumber: 500,
    offset: '500',
    enqueuedTimeUtc: ENQUEUED,
    ...overrides,
  };
}
const v2 = (messages: unknown[], extra: Record<string, unknown> = {}) =>
  Buffer.from(JSON.stringify({ v: 2, channel: 'temps', origin: ORIGIN, messages, ...extra }));

describe('batch/v2 records', () => {
  it('deviceId is the leaf that published, gatewayId the edge device, moduleId ours; id = {gateway}:{origin}:{n}', () => {
    const { readings, malformed } = toReadings(
      event(v2([{ n: 41, id: 'r1', requestId: 'r1', acceptedAt: 1, d: 0, json: { t: 1 } }, { n: 42, id: 'x', acceptedAt: 1, sourceModule: 'opcua', base64: 'AQI=' }], { devices: ['sensor-17'] })),
      options,
    );
    expect(malformed).toEqual([]);
    expect(readings[0]?.record).toMatchObject({ id: `edge-1:${ORIGIN}:41`, deviceId: 'sensor-17', gatewayId: 'edge-1', moduleId: 'iotIngest', requestId: 'r1', body: { t: 1 }, index: 0 });
    expect(readings[1]?.record).toMatchObject({ id: `edge-1:${ORIGIN}:42`, deviceId: 'edge-1', gatewayId: 'edge-1', sourceModule: 'opcua', bodyBase64: 'AQI=' });
    expect(readings[0]?.record).not.toHaveProperty('sourceModule');
  });

  it('a re-sent reading gets the same id whatever event, position and batch carry it', () => {
    const first = toReadings(event(v2([{ n: 7, id: 'a', acceptedAt: 1, d: 0, json: 1 }, { n: 8, id: 'b', acceptedAt: 1, d: 0, json: 2 }], { devices: ['d'] })), options);
    const again = toReadings(event(v2([{ n: 8, id: 'b', acceptedAt: 1, d: 0, json: 2 }], { devices: ['d'] }), { sequenceNumber: 977, partition: '2' }), options);
    expect(again.readings[0]?.record.id).toBe(first.readings[1]?.record.id);
  });

  it('JSON stays JSON: jsonText lands as body and the forwarder gets its exact bytes', () => {
    const { readings } = toReadings(event(v2([{ n: 1, id: 'a', acceptedAt: 1, jsonText: '{"temp": 23.33}' }])), options);
    expect(readings[0]?.record.body).toEqual({ temp: 23.33 });
    expect(readings[0]?.record).not.toHaveProperty('bodyBase64');
    expect(Buffer.from(readings[0]!.payload).toString()).toBe('{"temp": 23.33}');
  });

  it('a base64 put message: the record keeps the string as bodyBase64, the forwarder sends its characters', () => {
    const { readings } = toReadings(event(v2([{ n: 1, id: 'a', acceptedAt: 1, base64Message: 'aGk=' }])), options);
    expect(readings[0]?.record.bodyBase64).toBe('aGk=');
    expect(Buffer.from(readings[0]!.payload).toString()).toBe('aGk=');
  });

  it('bad entries: a repeated n, two payloads, a bad origin, a d outside devices', () => {
    const outside = toReadings(event(v2([{ n: 1, id: 'a', d: 1, json: 1 }], { devices: ['only'] })), options);
    expect(outside.malformed[0]?.entries?.[0]?.reason).toMatch(/^d is not a position/);
    expect(toReadings(event(v2([], { devices: [5] })), options).malformed[0]?.reason).toMatch(/devices/);
    const { readings, malformed } = toReadings(
      event(v2([{ n: 1, id: 'a', acceptedAt: 1, json: 1 }, { n: 1, id: 'b', acceptedAt: 1, json: 2 }, { n: 2, id: 'c', acceptedAt: 1, json: 1, base64: 'AA==' }, { n: -1, id: 'd', json: 1 }])),
      options,
    );
    expect(readings).toHaveLength(1);
    expect(malformed[0]?.entries?.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(toReadings(event(v2([], { origin: 'XYZ' })), options).malformed[0]?.reason).toMatch(/origin/);
  });
});

describe('envelopes are trusted only from module identities of ours', () => {
  const body = v2([{ n: 1, id: 'a', acceptedAt: 1, d: 0, json: { t: 99 } }, { n: 2, id: 'b', acceptedAt: 1, json: 2 }], { devices: ['victim'] });

  it('a plain device that sends an envelope-shaped body with the schema property gets one reading', () => {
    const { readings, malformed } = toReadings(event(body, { systemProperties: { 'iothub-connection-device-id': 'mallory' } }), options);
    expect(malformed).toEqual([]);
    expect(readings).toHaveLength(1);
    expect(readings[0]?.record).toMatchObject({ id: '2-500-0', deviceId: 'mallory', index: 0 });
    expect(readings[0]?.record).not.toHaveProperty('gatewayId');
    expect((readings[0]?.record.body as { messages: unknown[] }).messages).toHaveLength(2);
  });

  it('a module identity not listed in EDGE_MODULE_IDS is not trusted either', () => {
    const { readings } = toReadings(event(body, { systemProperties: { 'iothub-connection-device-id': 'edge-1', 'iothub-connection-module-id': 'other' } }), options);
    expect(readings).toHaveLength(1);
    expect(readings[0]?.record).toMatchObject({ deviceId: 'edge-1', moduleId: 'other' });
  });
});

describe('input limits before parsing', () => {
  it(`JSON nested deeper than ${MAX_JSON_DEPTH} levels is dead-lettered, never thrown`, () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const plain = toReadings(event(Buffer.from(deep), { properties: {}, systemProperties: { 'iothub-connection-device-id': 'd' } }), options);
    expect(plain.readings).toEqual([]);
    expect(plain.malformed[0]?.reason).toMatch(/deeper than 64/);
    const inEnvelope = toReadings(event(Buffer.from(`{"v":2,"channel":"x","origin":"${ORIGIN}","messages":[{"n":1,"id":"a","json":${'['.repeat(70)}${']'.repeat(70)}}]}`)), options);
    expect(inEnvelope.malformed[0]?.reason).toMatch(/deeper than 64/);
    const inText = toReadings(event(v2([{ n: 1, id: 'a', jsonText: '['.repeat(70) + ']'.repeat(70) }])), options);
    expect(inText.malformed[0]?.entries?.[0]?.reason).toMatch(/deeper than 64/);
    const hostParsed = toReadings(event(JSON.parse('['.repeat(60) + ']'.repeat(60)) as unknown, { properties: {} }), options);
    expect(hostParsed.readings).toHaveLength(1);
  });

  it(`a body over ${MAX_EVENT_BYTES} bytes is dead-lettered`, () => {
    const { malformed } = toReadings(event(Buffer.alloc(MAX_EVENT_BYTES + 1, 0x41), { properties: {} }), options);
    expect(malformed[0]?.reason).toMatch(/262144/);
  });

  it('many bad entries cost the body once, not once per entry', () => {
    const body = v2(Array.from({ length: 2000 }, () => ({ n: 'bad' })));
    const { malformed } = toReadings(event(body), options);
    expect(malformed).toHaveLength(1);
    expect(malformed[0]?.entries).toHaveLength(2000);
    expect(JSON.stringify(malformed).length).toBeLessThan(body.length * 2 + 2000 * 60);
  });
});

describe('ids valid for Cosmos and BatchPutMessage', () => {
  it('escapes / \\ ? # % in the gateway and hashes what would exceed 128 characters', () => {
    expect(envelopeRecordId('gw/1?#\\%', ORIGIN, 5)).toBe(`gw%2F1%3F%23%5C%25:${ORIGIN}:5`);
    const long = envelopeRecordId('g'.repeat(200), ORIGIN, 5);
    expect(long.length).toBeLessThanOrEqual(128);
    expect(long).toMatch(/^~[A-Za-z0-9_-]{22}:/);
    expect(latestDocumentId('a/b')).toBe('latest:a%2Fb');
    expect(latestDocumentId('X')).toBe('latest:X');
    expect(latestDocumentId('x'.repeat(300)).length).toBeLessThanOrEqual(255);
  });
});

describe('latest cannot be pinned by a wrong clock', () => {
  const record = (ts: string, sequenceNumber: number) => ({ ts, enqueuedAt: ENQUEUED, sequenceNumber, index: 0 });
  it('a far-future ts counts as enqueuedAt + 5 minutes, a far-past one as enqueuedAt − 30 days', () => {
    expect(latestOrderingTime(record('2099-01-01T00:00:00Z', 1))).toBe(Date.parse(ENQUEUED) + 5 * 60_000);
    expect(latestOrderingTime(record('1970-01-01T00:00:00Z', 1))).toBe(Date.parse(ENQUEUED) - 30 * 24 * 3600_000);
    // A later honest reading (ts = now + 6 min of skew at a later event) beats the far-future one.
    const pinned = { ...record('2099-01-01T00:00:00Z', 1) };
    const later = { ts: '2026-11-23T10:30:00.000Z', enqueuedAt: '2026-11-23T10:30:00.000Z', sequenceNumber: 2, index: 0 };
    expect(isNewer(later, pinned)).toBe(true);
    // The record itself keeps what the device said.
    expect(toLatestDocument({ id: 'i', deviceId: 'd', channel: null, ts: '2099-01-01T00:00:00.000Z', enqueuedAt: ENQUEUED, partition: '0', sequenceNumber: 1, index: 0, properties: {} }).ts).toBe('2099-01-01T00:00:00.000Z');
  });
});
