import { describe, expect, it } from 'vitest';
import type { Reading } from '../../../functions/record.js';
import { ResendFilter } from '../../../functions/resend.js';

const reading = (id: string, sequenceNumber: number, index = 0): Reading => ({
  record: { id, deviceId: 'd', channel: null, ts: 'x', enqueuedAt: 'x', partition: '0', sequenceNumber, index, properties: {} },
  payload: new Uint8Array(0),
});
const ids = (r: { readings: Reading[] }) => r.readings.map((x) => x.record.id);

describe('re-sent edge readings', () => {
  it('a later event carrying readings an earlier, finished batch wrote is dropped; a replay of the same events is not', () => {
    const filter = new ResendFilter();
    expect(ids(filter.filter('f/0', 10, 10, [reading('g:o:1', 10), reading('g:o:2', 10, 1)]))).toEqual(['g:o:1', 'g:o:2']);
    // The host replays the same batch (it failed): written again in full.
    expect(ids(filter.filter('f/0', 10, 10, [reading('g:o:1', 10), reading('g:o:2', 10, 1)]))).toEqual(['g:o:1', 'g:o:2']);
    // The next batch: the module re-sent reading 2 in event 11, with a new one.
    const next = filter.filter('f/0', 11, 11, [reading('g:o:2', 11), reading('g:o:3', 11, 1)]);
    expect(ids(next)).toEqual(['g:o:3']);
    expect(next.resent).toBe(1);
  });

  it('plain readings (position ids) and other partitions are never filtered', () => {
    const filter = new ResendFilter();
    filter.filter('f/0', 1, 1, [reading('0-1-0', 1), reading('g:o:1', 1)]);
    expect(ids(filter.filter('f/0', 2, 2, [reading('0-2-0', 2)]))).toEqual(['0-2-0']);
    expect(ids(filter.filter('f/1', 5, 5, [reading('g:o:1', 5)]))).toEqual(['g:o:1']);
  });

  it('remembers at most its capacity', () => {
    const filter = new ResendFilter(2);
    filter.filter('f/0', 1, 1, [reading('a:o:1', 1), reading('a:o:2', 1), reading('a:o:3', 1)]);
    filter.filter('f/0', 2, 2, []);
    expect(ids(filter.filter('f/0', 3, 3, [reading('a:o:1', 3), reading('a:o:3', 3)]))).toEqual(['a:o:1']);
  });
});
