/**
 * The cold path's time range: `--from`/`--to` as a half-open UTC interval [from, to), and the blob
 * prefixes that cover it in the Hive-style layout `year=YYYY/month=MM/day=DD/hour=HH/` (contracts §5,
 * hour of `enqueuedAt`): each day touched is one listing, and the hours of it outside the range are left
 * out before anything is read.
 */
export interface TimeRange {
  fromMs: number;
  toMs: number;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Upper bound on a query's span, so a typo (year 2206) cannot list for hours. */
export const MAX_RANGE_DAYS = 366;

function parseInstant(raw: string, flag: string): number {
  // Full ISO 8601 date or date-time; a time without an offset is read as UTC (the layout is UTC).
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(raw)) {
    throw new Error(`${flag}: '${raw}' is not an ISO 8601 time (e.g. 2026-11-23T14:00:00Z)`);
  }
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/.test(raw) && raw.length > 10;
  const ms = Date.parse(hasZone || raw.length === 10 ? raw : `${raw.replace(' ', 'T')}Z`);
  if (Number.isNaN(ms)) throw new Error(`${flag}: '${raw}' is not a valid time`);
  return ms;
}

export function parseTimeRange(from: string | undefined, to: string | undefined): TimeRange {
  if (!from) throw new Error('--from is required (ISO 8601 time, e.g. 2026-11-23T14:00:00Z)');
  if (!to) throw new Error('--to is required (ISO 8601 time, e.g. 2026-11-23T15:00:00Z)');
  const fromMs = parseInstant(from, '--from');
  const toMs = parseInstant(to, '--to');
  if (fromMs >= toMs) throw new Error(`--from (${from}) must be before --to (${to})`);
  if (toMs - fromMs > MAX_RANGE_DAYS * DAY_MS) {
    throw new Error(`--from/--to: the range spans more than ${MAX_RANGE_DAYS} days; narrow it`);
  }
  return { fromMs, toMs };
}

const pad = (n: number): string => String(n).padStart(2, '0');

export function dayPrefix(ms: number): string {
  const d = new Date(ms);
  return `year=${d.getUTCFullYear()}/month=${pad(d.getUTCMonth() + 1)}/day=${pad(d.getUTCDate())}/`;
}

export function hourPrefix(ms: number): string {
  return `${dayPrefix(ms)}hour=${pad(new Date(ms).getUTCHours())}/`;
}

/**
 * The day prefixes whose blobs may hold records with enqueuedAt in [from, to): one listing per day (a day
 * of the layout holds at most 24 objects per partition, one page); hours outside the range are left out
 * by `hourInRange` before anything is downloaded.
 */
export function prefixesFor(range: TimeRange): string[] {
  const prefixes: string[] = [];
  for (let t = Math.floor(range.fromMs / DAY_MS) * DAY_MS; t < range.toMs; t += DAY_MS) prefixes.push(dayPrefix(t));
  return prefixes;
}

/** Whether the hour a `year=YYYY/month=MM/day=DD/hour=HH/` prefix names overlaps [from, to). */
export function hourInRange(prefix: string, range: TimeRange): boolean {
  const startMs = hourStartOf(prefix);
  return startMs !== undefined && startMs + HOUR_MS > range.fromMs && startMs < range.toMs;
}

function hourStartOf(prefix: string): number | undefined {
  const match = /^year=(\d{4})\/month=(\d{2})\/day=(\d{2})\/hour=(\d{2})\/$/.exec(prefix);
  return match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]), Number(match[4])) : undefined;
}

/** Whether the whole hour a `year=…/hour=HH/` prefix names lies inside [from, to) (no row needs the range filter). */
export function hourWithin(prefix: string, range: TimeRange): boolean {
  const startMs = hourStartOf(prefix);
  return startMs !== undefined && startMs >= range.fromMs && startMs + HOUR_MS <= range.toMs;
}
