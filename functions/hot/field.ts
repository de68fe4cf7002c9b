/**
 * Dotted paths into a reading's JSON body (`temperatureC`, `sensors.engine.rpm`, `axes.0`). Pure.
 *
 * Only own properties are followed (never the prototype chain: `constructor` or `__proto__` find nothing),
 * and a numeric segment indexes an array. A path that finds nothing, or finds an object, yields undefined:
 * the reading does not take part in that rule.
 */

export interface FieldPath {
  /** As written in the rules file. */
  readonly text: string;
  readonly segments: readonly string[];
}

/** Deep enough for real payloads; a longer path is a mistake. */
const MAX_SEGMENTS = 16;

export function parseFieldPath(text: string): { ok: true; path: FieldPath } | { ok: false; reason: string } {
  if (text === '') return { ok: false, reason: 'must not be empty' };
  const segments = text.split('.');
  if (segments.some((s) => s === ''))
    return { ok: false, reason: `'${text}' has an empty segment (two dots, or a dot at an end)` };
  if (segments.length > MAX_SEGMENTS)
    return { ok: false, reason: `'${text}' has ${segments.length} segments; at most ${MAX_SEGMENTS}` };
  return { ok: true, path: Object.freeze({ text, segments: Object.freeze(segments) }) };
}

export type FieldValue = number | string | boolean;

/** The value at `path` in `body`, when it is a number, string or boolean; else undefined. */
export function lookupField(body: unknown, path: FieldPath): FieldValue | undefined {
  let current: unknown = body;
  for (const segment of path.segments) {
    if (Array.isArray(current)) {
      if (!/^(0|[1-9][0-9]*)$/.test(segment)) return undefined;
      current = current[Number(segment)];
    } else if (current !== null && typeof current === 'object') {
      if (!Object.hasOwn(current, segment)) return undefined;
      current = (current as Record<string, unknown>)[segment];
    } else {
      return undefined;
    }
  }
  if (typeof current === 'number') return Number.isFinite(current) ? current : undefined;
  if (typeof current === 'string' || typeof current === 'boolean') return current;
  return undefined;
}
