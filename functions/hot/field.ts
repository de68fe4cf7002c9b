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

/** The numeric value at `path` (windows aggregate numbers only). */
export function lookupNumber(body: unknown, path: FieldPath): number | undefined {
  const value = lookupField(body, path);
  return typeof value === 'number' ? value : undefined;
}

/**
 * What the rules read of `body`, and nothing else: an object in which `lookupField(result, p)` equals
 * `lookupField(body, p)` for each of `paths` (an array on the way becomes an object with the index as key,
 * which the lookup reads alike). The hot path keeps readings across its awaits; cut down like this, a
 * batch in flight holds a few numbers per reading instead of whole payloads.
 */
export function projectFields(body: unknown, paths: readonly FieldPath[]): Record<string, unknown> {
  const projection: Record<string, unknown> = {};
  for (const path of paths) {
    const value = lookupField(body, path);
    if (value === undefined) continue;
    let node = projection;
    const last = path.segments.length - 1;
    for (let i = 0; i < last; i++) {
      const segment = path.segments[i]!;
      let next = Object.hasOwn(node, segment) ? node[segment] : undefined;
      if (next === undefined) setOwn(node, segment, (next = {}));
      node = next as Record<string, unknown>;
    }
    setOwn(node, path.segments[last]!, value);
  }
  return projection;
}

/** An own data property, even for `__proto__` (a plain assignment would set the prototype). */
function setOwn(node: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(node, key, { value, writable: true, enumerable: true, configurable: true });
  else node[key] = value;
}
