import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { hourPrefix, parseTimeRange, prefixesFor } from '../../../cli/time-range.js';

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

  it('lists the hours of a partial day and one prefix per whole day', () => {
    expect(prefixesFor(parseTimeRange('2026-11-23T22:30:00Z', '2026-11-25T01:00:00Z'))).toEqual([
      'year=2026/month=11/day=23/hour=22/',
      'year=2026/month=11/day=23/hour=23/',
      'year=2026/month=11/day=24/',
      'year=2026/month=11/day=25/hour=00/',
    ]);
    expect(prefixesFor(parseTimeRange('2026-12-31T23:00:00Z', '2026-12-31T23:00:01Z'))).toEqual([
      'year=2026/month=12/day=31/hour=23/',
    ]);
  });

  it('property: every hour in [from, to) is covered by exactly one prefix and no prefix is outside', () => {
    const base = at('2026-01-01T00:00:00Z');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2_000 * 60 }),
        fc.integer({ min: 1, max: 5 * 24 * 60 }),
        (fromMin, spanMin) => {
          const fromMs = base + fromMin * 60_000;
          const toMs = fromMs + spanMin * 60_000;
          const prefixes = prefixesFor({ fromMs, toMs });
          const covering = (ms: number) => prefixes.filter((p) => hourPrefix(ms).startsWith(p));
          for (let h = Math.floor(fromMs / 3_600_000) * 3_600_000; h < toMs; h += 3_600_000) {
            expect(covering(h)).toHaveLength(1);
          }
          // nothing before the first hour or from the hour of `to` on (unless `to` is inside it)
          expect(covering(Math.floor(fromMs / 3_600_000) * 3_600_000 - 3_600_000)).toHaveLength(0);
          const afterLast = Math.ceil(toMs / 3_600_000) * 3_600_000;
          expect(covering(afterLast)).toHaveLength(0);
        },
      ),
    );
  });
});
