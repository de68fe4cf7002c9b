import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { hourInRange, hourPrefix, hourWithin, parseTimeRange, prefixesFor } from '../../../cli/time-range.js';

const at = (iso: string): number => Date.parse(iso);

describe('cli/time-range', () => {
  it('parses ISO times with Z, offsets, no zone (UTC) and bare dates', () => {
    expect(parseTimeRange('2026-11-23T14:00:00Z', '2026-11-23T15:30:00.5+01:00')).toEqual({
      fromMs: at('2026-11-23T14:00:00Z'),
      toMs: at('2026-11-23T14:30:00.500Z'),
    });
    expect(parseTimeRange('2026-11-23T14:00', '2026-11-24')).toEqual({
      fromMs: at('2026-11-23T14:00:00Z'),
      toMs: at('2026-11-24T00:00:00Z'),
    });
  });

  it('refuses unparsable times, a reversed or empty range and an over-long one, naming the flag', () => {
    expect(() => parseTimeRange('yesterday', '2026-11-23')).toThrow("--from: 'yesterday' is not an ISO 8601 time");
    expect(() => parseTimeRange('2026-11-23', '2026-13-45')).toThrow("--to: '2026-13-45' is not a valid time");
    expect(() => parseTimeRange('2026-11-23T15:00Z', '2026-11-23T14:00Z')).toThrow('must be before --to');
    expect(() => parseTimeRange('2026-11-23', '2026-11-23')).toThrow('must be before --to');
    expect(() => parseTimeRange('2026-01-01', '2028-01-01')).toThrow('more than 366 days');
    expect(() => parseTimeRange(undefined, '2026-11-23')).toThrow('--from is required');
  });

  it('lists one prefix per day the range touches', () => {
    expect(prefixesFor(parseTimeRange('2026-11-23T22:30:00Z', '2026-11-25T01:00:00Z'))).toEqual([
      'year=2026/month=11/day=23/',
      'year=2026/month=11/day=24/',
      'year=2026/month=11/day=25/',
    ]);
    expect(prefixesFor(parseTimeRange('2026-12-31T23:00:00Z', '2026-12-31T23:00:01Z'))).toEqual(['year=2026/month=12/day=31/']);
    expect(prefixesFor(parseTimeRange('2026-11-23', '2026-11-24'))).toEqual(['year=2026/month=11/day=23/']);
  });

  it('property: an hour is kept exactly when it overlaps [from, to), needs no row filter exactly when inside it, and its day is listed', () => {
    const base = at('2026-01-01T00:00:00Z');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2_000 * 60 }),
        fc.integer({ min: 1, max: 5 * 24 * 60 }),
        fc.integer({ min: -48, max: 48 + 5 * 24 }),
        (fromMin, spanMin, hourOffset) => {
          const fromMs = base + fromMin * 60_000;
          const range = { fromMs, toMs: fromMs + spanMin * 60_000 };
          const hourMs = Math.floor(fromMs / 3_600_000) * 3_600_000 + hourOffset * 3_600_000;
          const overlaps = hourMs + 3_600_000 > range.fromMs && hourMs < range.toMs;
          expect(hourInRange(hourPrefix(hourMs), range)).toBe(overlaps);
          expect(hourWithin(hourPrefix(hourMs), range)).toBe(hourMs >= range.fromMs && hourMs + 3_600_000 <= range.toMs);
          if (overlaps) expect(prefixesFor(range).filter((p) => hourPrefix(hourMs).startsWith(p))).toHaveLength(1);
        },
      ),
    );
  });

  it('a prefix that is not an hour of the layout is never in range', () => {
    const range = parseTimeRange('2026-11-23', '2026-11-24');
    expect(hourInRange('year=2026/month=11/day=23/', range)).toBe(false);
    expect(hourInRange('year=2026/month=11/day=23/hour=xx/', range)).toBe(false);
    expect(hourWithin('year=2026/month=11/day=23/', range)).toBe(false);
  });
});
