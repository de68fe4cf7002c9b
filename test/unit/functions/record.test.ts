import { describe, expect, it } from 'vitest';
import { readingTimestamp, toReadings, toReadingsAll } from '../../../functions/record.js';
import type { TelemetryEvent } from '../../../functions/record.js';

const ENQUEUED = '2026-11-23T10:15:30.000Z';

function event(body: unknown, overrides: Partial<TelemetryEvent> = {}): TelemetryEvent {
  return {
    body,
    properties: {},
    systemProperties: { 'iothub-connection-device-id': 'dev-1' },
    partition: '3',
    sequenceNumber: 42,
    offset: '4096',
    enqueuedTimeUtc: ENQUEUED,
    ...overrides,
  };
}

const bytes = (text: string): Uint8Array => Buffer.from(text, 'utf8');
const options = { defaultChannel: 'default_ch', trustedModules: new Set(['iot-ingest']) };
/** System properties of an event our edge module sent (a trusted module identity). */
const FROM_MODULE = { 'iothub-connection-device-id': 'dev-1', 'iothub-connection-module-id': 'iot-ingest' };
const V1 = { 'iot-ingest-schema': 'batch/v1' };

function envelope(messages: unknown[], channel = 'temps'): Uint8Array {
  return bytes(JSON.stringify({ v: 1, channel, messages }));
}

describe('record normalisation: batch/v1 envelopes (modules in the field)', () => {
  it('an envelope yields one record per message with index = position and id = partition-sequence-index', () => {
    const body = envelope([
      { id: 'm1', requestId: 'req1', acceptedAt: 1, json: { t: 21.5, ts: '2026-11-23T10:00:00Z' } },
      { id: 'm2', acceptedAt: 2, base64: Buffer.from([0, 1, 2, 255]).toString('base64') },
    ]);
    const { readings, malformed } = toReadings(
      event(body, { properties: { 'iot-ingest-schema': 'batch/v1', channel: 'temps' }, systemProperties: FROM_MODULE }),
      options,
    );
    expect(malformed).toEqual([]);
    expect(readings.map((r) => r.record.id)).toEqual(['3-42-0', '3-42-1']);
    expect(readings.map((r) => r.record.index)).toEqual([0, 1]);
    const [first, second] = readings;
    expect(first?.record).toMatchObject({
      deviceId: 'dev-1',
      gatewayId: 'dev-1',
      moduleId: 'iot-ingest',
      channel: 'temps',
      requestId: 'req1',
      ts: '2026-11-23T10:00:00.000Z',
      enqueuedAt: ENQUEUED,
      partition: '3',
      sequenceNumber: 42,
      body: { t: 21.5, ts: '2026-11-23T10:00:00Z' },
    });
    expect(first?.record).not.toHaveProperty('bodyBase64');
    expect(second?.record.bodyBase64).toBe('AAEC/w==');
    expect(second?.record).not.toHaveProperty('body');
    expect(second?.record.requestId).toBeUndefined();
    expect(second?.record.ts).toBe(ENQUEUED);
  });

  it('the original payload bytes are recoverable: json entries re-serialise, base64 entries decode', () => {
    const device = '{"a":1,"b":[true,null],"s":"x"}';
    const body = envelope([{ id: 'm', acceptedAt: 1, json: JSON.parse(device) }, { id: 'n', acceptedAt: 1, base64: 'aGk=' }]);
    const { readings } = toReadings(event(body, { properties: V1, systemProperties: FROM_MODULE }), options);
    expect(Buffer.from(readings[0]!.payload).toString('utf8')).toBe(device);
    expect(Buffer.from(readings[1]!.payload).toString('utf8')).toBe('hi');
  });

  it('without the schema property an envelope-shaped body is one reading, even from our module', () => {
    const { readings } = toReadings(event(envelope([{ id: 'm', acceptedAt: 1, json: 5 }]), { systemProperties: FROM_MODULE }), options);
    expect(readings).toHaveLength(1);
    expect(readings[0]?.record.body).toEqual({ v: 1, channel: 'temps', messages: [{ id: 'm', acceptedAt: 1, json: 5 }] });
    expect(readings[0]?.record.id).toBe('3-42-0');
  });

  it('channel: the message property wins over the envelope, the envelope over the default', () => {
    const from = (channel: string, properties: Record<string, unknown>) =>
      toReadings(event(envelope([{ id: 'm', acceptedAt: 1, json: 1 }], channel), { properties: { ...V1, ...properties }, systemProperties: FROM_MODULE }), options);
    expect(from('env_ch', { channel: 'prop_ch' }).readings[0]?.record.channel).toBe('prop_ch');
    expect(from('env_ch', {}).readings[0]?.record.channel).toBe('env_ch');
    expect(from('', {}).readings[0]?.record.channel).toBe('default_ch');
  });

  it('a malformed envelope is a dead-letter item with its position, never a throw', () => {
    const { readings, malformed } = toReadings(event(bytes('{"v":1,"channel":"x","messages":'), { properties: V1, systemProperties: FROM_MODULE }), options);
    expect(readings).toEqual([]);
    expect(malformed).toHaveLength(1);
    expect(malformed[0]).toMatchObject({ partition: '3', sequenceNumber: 42, offset: '4096', deviceId: 'dev-1', reason: 'envelope body is not JSON' });
    expect(Buffer.from(malformed[0]!.bodyBase64, 'base64').toString()).toBe('{"v":1,"channel":"x","messages":');
  });

  it('an envelope without a messages array, or with an unknown schema version, is malformed', () => {
    const noMessages = toReadings(event(bytes('{"v":1,"channel":"x"}'), { properties: V1, systemProperties: FROM_MODULE }), options);
    expect(noMessages.malformed[0]?.reason).toMatch(/not \{"v":1/);
    const unknown = toReadings(event(envelope([]), { properties: { 'iot-ingest-schema': 'batch/v9' }, systemProperties: FROM_MODULE }), options);
    expect(unknown.malformed[0]?.reason).toMatch(/batch\/v9/);
  });

  it('bad entries are dead-lettered once per event, naming each index, while the other entries become records', () => {
    const body = envelope([
      { id: 'ok', acceptedAt: 1, json: { a: 1 } },
      { id: 'both', acceptedAt: 1, json: 1, base64: 'aGk=' },
      { id: 'bad64', acceptedAt: 1, base64: '!!!' },
      'not an object',
      { id: 'ok2', acceptedAt: 1, base64: 'aGk=' },
    ]);
    const { readings, malformed } = toReadings(event(body, { properties: V1, systemProperties: FROM_MODULE }), options);
    expect(readings.map((r) => r.record.id)).toEqual(['3-42-0', '3-42-4']);
    expect(malformed).toHaveLength(1);
    expect(malformed[0]?.entries).toEqual([
      { index: 1, reason: 'needs exactly one of "json" and "base64"' },
      { index: 2, reason: '"base64" is not base64' },
      { index: 3, reason: 'not an object' },
    ]);
    expect(malformed[0]?.reason).toMatch(/^3 of 5 entries cannot be read/);
  });
});

describe('record normalisation: plain device messages', () => {
  it('a plain JSON message is one record with index 0, body kept as JSON and the exact bytes as payload', () => {
    const text = '{ "temperature": 21.5,\n  "time": 1795428000 }';
    const { readings } = toReadings(event(bytes(text), { properties: { channel: 'ch1' }, systemProperties: { 'iothub-connection-device-id': 'd', 'message-id': 'mid-1' } }), options);
    expect(readings).toHaveLength(1);
    const reading = readings[0]!;
    expect(reading.record).toMatchObject({ id: '3-42-0', index: 0, channel: 'ch1', requestId: 'mid-1', body: { temperature: 21.5, time: 1795428000 } });
    expect(reading.record.ts).toBe(new Date(1795428000 * 1000).toISOString());
    expect(Buffer.from(reading.payload).toString('utf8')).toBe(text);
  });

  it('a binary message becomes bodyBase64 and keeps its bytes', () => {
    const raw = Buffer.from([0xff, 0xfe, 0x00, 0x10]);
    const { readings } = toReadings(event(raw), options);
    expect(readings[0]?.record.bodyBase64).toBe(raw.toString('base64'));
    expect(readings[0]?.record).not.toHaveProperty('body');
    expect(Buffer.from(readings[0]!.payload)).toEqual(raw);
  });

  it('non-JSON text is base64 too', () => {
    const { readings } = toReadings(event(bytes('hello world')), options);
    expect(Buffer.from(readings[0]!.record.bodyBase64!, 'base64').toString()).toBe('hello world');
  });

  it('missing properties: unknown device, no module, default channel, ts = enqueuedAt', () => {
    const { readings } = toReadings(event(bytes('{"a":1}'), { systemProperties: {} }), options);
    expect(readings[0]?.record).toMatchObject({ deviceId: 'unknown', channel: 'default_ch', ts: ENQUEUED, properties: {} });
    expect(readings[0]?.record).not.toHaveProperty('moduleId');
    expect(readings[0]?.record).not.toHaveProperty('requestId');
  });

  it('no channel anywhere and no default → channel null', () => {
    const { readings } = toReadings(event(bytes('{"a":1}')), { defaultChannel: undefined, trustedModules: new Set() });
    expect(readings[0]?.record.channel).toBeNull();
  });

  it('a module identity is kept as moduleId (an untrusted one sends plain readings)', () => {
    const { readings } = toReadings(
      event(bytes('1'), { systemProperties: { 'iothub-connection-device-id': 'edge-1', 'iothub-connection-module-id': 'iot-ingest' } }),
      options,
    );
    expect(readings[0]?.record).toMatchObject({ deviceId: 'edge-1', moduleId: 'iot-ingest' });
  });

  it('host-parsed bodies (string trigger) are accepted as JSON values', () => {
    const { readings } = toReadings(event({ a: 1 }), options);
    expect(readings[0]?.record.body).toEqual({ a: 1 });
    const envelopeObject = toReadings(event({ v: 1, channel: 'c', messages: [{ id: 'x', acceptedAt: 1, json: 2 }] }, { properties: V1, systemProperties: FROM_MODULE }), options);
    expect(envelopeObject.readings[0]?.record).toMatchObject({ body: 2, channel: 'c' });
  });

  it('ids are deterministic: the same event gives the same records', () => {
    const e = event(envelope([{ id: 'a', acceptedAt: 1, json: 1 }, { id: 'b', acceptedAt: 1, json: 2 }]), { properties: V1, systemProperties: FROM_MODULE });
    expect(toReadings(e, options)).toEqual(toReadings(e, options));
  });

  it('a batch keeps event order', () => {
    const all = toReadingsAll(
      [event(bytes('1'), { sequenceNumber: 7 }), event(bytes('garbage{'), { sequenceNumber: 8, properties: V1, systemProperties: FROM_MODULE }), event(bytes('2'), { sequenceNumber: 9 })],
      options,
    );
    expect(all.readings.map((r) => r.record.id)).toEqual(['3-7-0', '3-9-0']);
    expect(all.malformed.map((m) => m.sequenceNumber)).toEqual([8]);
  });
});

describe('reading timestamps', () => {
  it('reads ts, timestamp or time as ISO, epoch seconds or epoch milliseconds', () => {
    expect(readingTimestamp({ ts: '2026-01-02T03:04:05Z' })).toBe('2026-01-02T03:04:05.000Z');
    expect(readingTimestamp({ timestamp: 1767323045 })).toBe('2026-01-02T03:04:05.000Z');
    expect(readingTimestamp({ time: 1767323045123 })).toBe('2026-01-02T03:04:05.123Z');
    expect(readingTimestamp({ ts: '1767323045' })).toBe('2026-01-02T03:04:05.000Z');
  });

  it('ignores unusable values', () => {
    expect(readingTimestamp({ ts: 'yesterday' })).toBeUndefined();
    expect(readingTimestamp({ ts: true })).toBeUndefined();
    expect(readingTimestamp([1, 2])).toBeUndefined();
    expect(readingTimestamp(5)).toBeUndefined();
  });
});
