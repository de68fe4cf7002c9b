import { describe, expect, it } from 'vitest';
import { eventsFromTrigger } from '../../../functions/trigger.js';

describe('Event Hubs trigger (cardinality many) → events', () => {
  it('pairs each message with its metadata arrays and the partition context', () => {
    const events = eventsFromTrigger([Buffer.from('{"a":1}'), Buffer.from('x')], {
      partitionContext: { fullyQualifiedNamespace: 'localhost', eventHubName: 'hub', consumerGroup: 'warm', partitionId: '2' },
      systemPropertiesArray: [{ 'iothub-connection-device-id': 'd1' }, { 'iothub-connection-device-id': 'd2' }],
      propertiesArray: [{ channel: 'c' }, {}],
      enqueuedTimeUtcArray: ['2026-11-23T10:00:00.000Z', '2026-11-23T10:00:01Z'],
      sequenceNumberArray: [10, 11],
      offsetArray: ['100', '200'],
      partitionKeyArray: [null, null],
    });
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ partition: '2', sequenceNumber: 10, offset: '100', enqueuedTimeUtc: '2026-11-23T10:00:00.000Z', properties: { channel: 'c' } });
    expect(events[1]).toMatchObject({ sequenceNumber: 11, offset: '200', enqueuedTimeUtc: '2026-11-23T10:00:01.000Z', systemProperties: { 'iothub-connection-device-id': 'd2' } });
    expect(events[0]?.body).toBeInstanceOf(Uint8Array);
  });

  it('falls back to the system properties when the arrays are missing', () => {
    const [e] = eventsFromTrigger([{ a: 1 }], {
      partitionContext: { partitionId: '0' },
      systemPropertiesArray: [{ sequenceNumber: 5, offset: '9', enqueuedTimeUtc: '2026-01-01T00:00:00Z' }],
    });
    expect(e).toMatchObject({ sequenceNumber: 5, offset: '9', enqueuedTimeUtc: '2026-01-01T00:00:00.000Z', partition: '0', body: { a: 1 } });
  });

  it('refuses metadata without a partition id rather than guessing one (ids embed it)', () => {
    expect(() => eventsFromTrigger(['single'], undefined)).toThrow(/partitionContext.partitionId/);
    expect(() => eventsFromTrigger(['x'], { partitionContext: {} })).toThrow(/partitionContext.partitionId/);
  });
});
