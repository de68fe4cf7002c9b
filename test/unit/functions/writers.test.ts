import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { blockId, coldObjectName, encodeBlock, groupByObject, hourPrefix, planBlocks, rangeOfBlockId, rolloverOf } from '../../../cold/layout.js';
import type { TelemetryRecord } from '../../../functions/record.js';
import { isNewer, newestPerDevice, partitionKeyFor, toLatestDocument, toReadingDocument } from '../../../functions/warmWriter.js';

function record(overrides: Partial<TelemetryRecord>): TelemetryRecord {
  return {
    id: '0-1-0',
    deviceId: 'd1',
    channel: 'c',
    ts: '2026-11-23T10:00:00.000Z',
    enqueuedAt: '2026-11-23T10:00:00.000Z',
    partition: '0',
    sequenceNumber: 1,
    index: 0,
    properties: {},
    body: { a: 1 },
    ...overrides,
  };
}

describe('warm path documents', () => {
  it('pk is {deviceId}:{yyyy-MM-dd of enqueuedAt, UTC} and readings carry the configured ttl', () => {
    expect(partitionKeyFor('dev-7', '2026-11-23T23:59:59.999Z')).toBe('dev-7:2026-11-23');
    const doc = toReadingDocument(record({ deviceId: 'dev-7', enqueuedAt: '2026-11-24T00:00:00.000Z' }), 86400);
    expect(doc).toMatchObject({ id: '0-1-0', type: 'reading', pk: 'dev-7:2026-11-24', ttl: 86400, body: { a: 1 } });
  });

  it('the latest document has id and pk latest:{deviceId}, never expires and names its reading', () => {
    expect(toLatestDocument(record({ id: '0-9-2' }))).toMatchObject({ id: 'latest:d1', pk: 'latest:d1', type: 'latest', readingId: '0-9-2', ttl: -1 });
  });

  it('newer means a later reading timestamp, then a later position in the partition', () => {
    const a = record({ ts: '2026-11-23T10:00:01.000Z', sequenceNumber: 1 });
    const b = record({ ts: '2026-11-23T10:00:00.000Z', sequenceNumber: 5 });
    expect(isNewer(a, b)).toBe(true);
    expect(isNewer(b, a)).toBe(false);
    expect(isNewer(record({ sequenceNumber: 2 }), record({ sequenceNumber: 1 }))).toBe(true);
    expect(isNewer(record({ index: 3 }), record({ index: 2 }))).toBe(true);
    expect(isNewer(record({}), record({}))).toBe(false);
  });

  it('picks the newest record per device in a batch', () => {
    const newest = newestPerDevice([
      record({ deviceId: 'a', id: 'a1', ts: '2026-01-01T00:00:02Z', enqueuedAt: '2026-01-01T00:00:05.000Z' }),
      record({ deviceId: 'b', id: 'b1' }),
      record({ deviceId: 'a', id: 'a2', ts: '2026-01-01T00:00:01Z', enqueuedAt: '2026-01-01T00:00:05.000Z', sequenceNumber: 9 }),
    ]);
    expect(newest.map((r) => r.id).sort()).toEqual(['a1', 'b1']);
  });
});

describe('cold path layout', () => {
  it('one object per (hour, partition) named year=/month=/day=/hour=/p{partition}.jsonl.gz, then -1, -2 on rollover', () => {
    const groups = groupByObject([
      record({ id: '1-10-0', partition: '1', sequenceNumber: 10, enqueuedAt: '2026-11-23T09:59:59.000Z' }),
      record({ id: '1-11-0', partition: '1', sequenceNumber: 11, enqueuedAt: '2026-11-23T10:00:00.000Z' }),
      record({ id: '1-11-1', partition: '1', sequenceNumber: 11, index: 1, enqueuedAt: '2026-11-23T10:00:00.000Z' }),
      record({ id: '1-14-0', partition: '1', sequenceNumber: 14, enqueuedAt: '2026-11-23T10:30:00.000Z' }),
    ]);
    expect(groups.map((g) => [coldObjectName(g.prefix, g.partition, 0), g.records.length])).toEqual([
      ['year=2026/month=11/day=23/hour=09/p1.jsonl.gz', 1],
      ['year=2026/month=11/day=23/hour=10/p1.jsonl.gz', 3],
    ]);
    expect(hourPrefix('2027-01-02T03:04:05Z')).toBe('year=2027/month=01/day=02/hour=03/');
    expect(coldObjectName('year=2027/month=01/day=02/hour=03/', '3', 2)).toBe('year=2027/month=01/day=02/hour=03/p3-2.jsonl.gz');
  });

  it('a rollover number belongs only to its own partition (p1 never matches p10)', () => {
    const prefix = 'year=2026/month=11/day=23/hour=10/';
    expect(rolloverOf(`${prefix}p1.jsonl.gz`, prefix, '1')).toBe(0);
    expect(rolloverOf(`${prefix}p1-3.jsonl.gz`, prefix, '1')).toBe(3);
    expect(rolloverOf(`${prefix}p10.jsonl.gz`, prefix, '1')).toBeUndefined();
    expect(rolloverOf(`${prefix}p1.parquet`, prefix, '1')).toBeUndefined();
  });

  it('a block id is the sequence range it holds, the same length for every range', () => {
    const id = blockId({ first: 7, last: 123_456_789_012 });
    expect(rangeOfBlockId(id)).toEqual({ first: 7, last: 123_456_789_012 });
    expect(blockId({ first: 0, last: 0 })).toHaveLength(id.length);
    expect(rangeOfBlockId(Buffer.from('someone-else').toString('base64'))).toBeUndefined();
  });

  it('records a committed block already holds are left out, however the redelivered batch was split', () => {
    const records = [100, 101, 102, 150, 151, 199, 200, 201].map((seq) => record({ id: `0-${seq}-0`, sequenceNumber: seq }));
    const blocks = planBlocks(records, [
      { first: 90, last: 101 },
      { first: 150, last: 199 },
    ]);
    expect(blocks.map((b) => [b.range, b.records.map((r) => r.sequenceNumber)])).toEqual([
      [{ first: 102, last: 102 }, [102]],
      [{ first: 200, last: 201 }, [200, 201]],
    ]);
    expect(planBlocks(records, [{ first: 0, last: 1000 }])).toEqual([]);
    expect(planBlocks(records, []).map((b) => b.range)).toEqual([{ first: 100, last: 201 }]);
  });

  it('a block is a gzip member of JSON Lines, one record per line, and the same records give the same bytes', () => {
    const records = [record({ id: 'x' }), record({ id: 'y', bodyBase64: 'aGk=', body: undefined })];
    const encoded = encodeBlock(records);
    const lines = gunzipSync(encoded).toString('utf8').trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as TelemetryRecord).id)).toEqual(['x', 'y']);
    expect(encodeBlock(records).equals(encoded)).toBe(true);
    // Two members concatenated are one gzip stream holding both.
    expect(gunzipSync(Buffer.concat([encoded, encodeBlock([record({ id: 'z' })])])).toString('utf8').trimEnd().split('\n')).toHaveLength(3);
  });
});
