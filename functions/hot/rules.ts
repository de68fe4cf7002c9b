/**
 * The hot path's rules file (README "Hot path"), parsed and validated in one pass. Pure.
 *
 * `{"rules":[…]}`, each rule one of:
 * - threshold: `{"id","field","op","value"}` — a reading whose `field` compares true raises;
 * - window:    `{"id","field","op","value","window":{"seconds","agg"}}` — a tumbling window's aggregate;
 * - stale:     `{"id","staleSeconds"}` — a device that sent nothing for that long (raised by the sweep timer);
 * all with optional `deviceIds` (only those devices) and `description`.
 *
 * Every problem is reported at once, each naming its place (`rules[2].op: …`), so a user fixes the file in
 * one go; a file with any problem yields no rules at all (a half-loaded rule set would alert wrongly).
 */
import type { FieldPath } from './field.js';
import { parseFieldPath } from './field.js';

export const COMPARISON_OPS = ['>', '>=', '<', '<=', '==', '!='] as const;
export type ComparisonOp = (typeof COMPARISON_OPS)[number];
export const AGGREGATES = ['avg', 'min', 'max', 'count'] as const;
export type Aggregate = (typeof AGGREGATES)[number];

/** Rule ids become part of alert ids and Cosmos ids: a short, plain alphabet. */
const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Bounds the work per reading and the size of a device's state document. */
export const MAX_RULES = 100;
/** One day: a tumbling window's state lives in a device's state document until it closes. */
const MAX_WINDOW_SECONDS = 86_400;
/** Thirty days. */
const MAX_STALE_SECONDS = 30 * 86_400;
const MAX_DEVICE_IDS = 10_000;

interface RuleBase {
  readonly id: string;
  readonly description?: string;
  /** Only these devices; undefined = every device. */
  readonly deviceIds?: ReadonlySet<string>;
}

export interface ThresholdRule extends RuleBase {
  readonly kind: 'threshold';
  readonly field: FieldPath;
  readonly op: ComparisonOp;
  /** Numbers compare with every op; a string or boolean only with `==` / `!=`. */
  readonly value: number | string | boolean;
}

export interface WindowRule extends RuleBase {
  readonly kind: 'window';
  readonly field: FieldPath;
  readonly op: ComparisonOp;
  readonly value: number;
  readonly windowMs: number;
  readonly agg: Aggregate;
}

export interface StaleRule extends RuleBase {
  readonly kind: 'stale';
  readonly staleMs: number;
}

export type Rule = ThresholdRule | WindowRule | StaleRule;

export interface RuleSet {
  readonly rules: readonly Rule[];
  readonly thresholds: readonly ThresholdRule[];
  readonly windows: readonly WindowRule[];
  readonly stale: readonly StaleRule[];
  /** The distinct field paths the rules read: what the engine takes of a reading's body (`readFields`). */
  readonly fields: readonly FieldPath[];
}

export interface RuleIssue {
  /** Where: `rules[1].window.agg`, or `(file)` for the whole file. */
  readonly path: string;
  readonly message: string;
}

export type RulesResult = { ok: true; ruleSet: RuleSet } | { ok: false; issues: RuleIssue[] };

export const EMPTY_RULE_SET: RuleSet = ruleSetOf([]);

export function ruleSetOf(rules: readonly Rule[]): RuleSet {
  return Object.freeze({
    rules,
    thresholds: rules.filter((r): r is ThresholdRule => r.kind === 'threshold'),
    windows: rules.filter((r): r is WindowRule => r.kind === 'window'),
    stale: rules.filter((r): r is StaleRule => r.kind === 'stale'),
    fields: [...new Map(rules.flatMap((r) => (r.kind === 'stale' ? [] : [[r.field.text, r.field] as const]))).values()],
  });
}

export function appliesTo(rule: Rule, deviceId: string): boolean {
  return rule.deviceIds === undefined || rule.deviceIds.has(deviceId);
}

/** Parse the file's text (`source` names it in the error). */
export function parseRulesText(text: string, source: string): RulesResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, issues: [{ path: '(file)', message: `${source} is not JSON: ${(err as Error).message}` }] };
  }
  return parseRules(value);
}

const TOP_KEYS = new Set(['rules', 'description', '$schema']);
const RULE_KEYS = new Set(['id', 'description', 'field', 'op', 'value', 'window', 'staleSeconds', 'deviceIds']);
const WINDOW_KEYS = new Set(['seconds', 'agg']);

export function parseRules(value: unknown): RulesResult {
  const issues: RuleIssue[] = [];
  const issue = (path: string, message: string): void => void issues.push({ path, message: `${path}: ${message}` });
  if (!isObject(value))
    return { ok: false, issues: [{ path: '(file)', message: 'the rules file must be a JSON object {"rules":[…]}' }] };
  for (const key of Object.keys(value)) if (!TOP_KEYS.has(key)) issue(key, `unknown key (expected "rules")`);
  const list = value.rules;
  if (!Array.isArray(list)) {
    issue('rules', 'must be an array of rules');
    return { ok: false, issues };
  }
  if (list.length > MAX_RULES) issue('rules', `${list.length} rules; at most ${MAX_RULES}`);

  const rules: Rule[] = [];
  const seen = new Map<string, number>();
  list.forEach((raw: unknown, i) => {
    const at = `rules[${i}]`;
    if (!isObject(raw)) return issue(at, 'must be an object');
    for (const key of Object.keys(raw)) if (!RULE_KEYS.has(key)) issue(`${at}.${key}`, 'unknown key');

    const id = raw.id;
    if (typeof id !== 'string' || !RULE_ID.test(id)) {
      issue(`${at}.id`, `must be 1–64 of A-Z a-z 0-9 _ . - (starting with a letter or digit), got ${show(id)}`);
    } else if (seen.has(id)) {
      issue(`${at}.id`, `'${id}' is already the id of rules[${seen.get(id)}]`);
    } else {
      seen.set(id, i);
    }
    const description = raw.description;
    if (description !== undefined && typeof description !== 'string') issue(`${at}.description`, 'must be a string');
    const deviceIds = parseDeviceIds(raw.deviceIds, `${at}.deviceIds`, issue);
    const base = {
      id: typeof id === 'string' ? id : '',
      ...(typeof description === 'string' ? { description } : {}),
      ...(deviceIds ? { deviceIds } : {}),
    };

    if (raw.staleSeconds !== undefined) {
      for (const key of ['field', 'op', 'value', 'window'] as const) {
        if (raw[key] !== undefined)
          issue(`${at}.${key}`, 'a stale rule (staleSeconds) has no field, op, value or window');
      }
      const seconds = raw.staleSeconds;
      if (!isWholeNumber(seconds) || seconds < 1 || seconds > MAX_STALE_SECONDS) {
        issue(
          `${at}.staleSeconds`,
          `must be a whole number of seconds from 1 to ${MAX_STALE_SECONDS}, got ${show(seconds)}`,
        );
        return;
      }
      rules.push({ ...base, kind: 'stale', staleMs: seconds * 1000 });
      return;
    }

    let field: FieldPath | undefined;
    if (raw.field === undefined)
      issue(`${at}.field`, 'is required (a dotted path into the reading, e.g. "temperatureC"), or give staleSeconds');
    else {
      const parsed =
        typeof raw.field === 'string'
          ? parseFieldPath(raw.field)
          : { ok: false as const, reason: `must be a string, got ${show(raw.field)}` };
      if (parsed.ok) field = parsed.path;
      else issue(`${at}.field`, parsed.reason);
    }
    const op = raw.op;
    const opOk = typeof op === 'string' && (COMPARISON_OPS as readonly string[]).includes(op);
    if (!opOk) issue(`${at}.op`, `must be one of ${COMPARISON_OPS.join(' ')}, got ${show(op)}`);
    const threshold = raw.value;
    const ordering = opOk && op !== '==' && op !== '!=';

    if (raw.window !== undefined) {
      const window = raw.window;
      let windowMs: number | undefined;
      let agg: Aggregate | undefined;
      if (!isObject(window)) issue(`${at}.window`, 'must be an object {"seconds":…, "agg":…}');
      else {
        for (const key of Object.keys(window)) if (!WINDOW_KEYS.has(key)) issue(`${at}.window.${key}`, 'unknown key');
        if (!isWholeNumber(window.seconds) || window.seconds < 1 || window.seconds > MAX_WINDOW_SECONDS) {
          issue(
            `${at}.window.seconds`,
            `must be a whole number of seconds from 1 to ${MAX_WINDOW_SECONDS}, got ${show(window.seconds)}`,
          );
        } else windowMs = window.seconds * 1000;
        if (typeof window.agg !== 'string' || !(AGGREGATES as readonly string[]).includes(window.agg)) {
          issue(`${at}.window.agg`, `must be one of ${AGGREGATES.join(' ')}, got ${show(window.agg)}`);
        } else agg = window.agg as Aggregate;
      }
      if (typeof threshold !== 'number' || !Number.isFinite(threshold)) {
        issue(`${at}.value`, `must be a number (it is compared with the window's aggregate), got ${show(threshold)}`);
        return;
      }
      if (field && opOk && windowMs !== undefined && agg) {
        rules.push({ ...base, kind: 'window', field, op: op as ComparisonOp, value: threshold, windowMs, agg });
      }
      return;
    }

    const numeric = typeof threshold === 'number' && Number.isFinite(threshold);
    const equality = typeof threshold === 'string' || typeof threshold === 'boolean';
    if (!numeric && !equality) {
      issue(`${at}.value`, `must be a number (or, with == and !=, a string or boolean), got ${show(threshold)}`);
      return;
    }
    if (ordering && !numeric) {
      issue(`${at}.value`, `${op} compares numbers; got ${show(threshold)} (use == or != for strings and booleans)`);
      return;
    }
    if (field && opOk)
      rules.push({
        ...base,
        kind: 'threshold',
        field,
        op: op as ComparisonOp,
        value: threshold as number | string | boolean,
      });
  });

  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, ruleSet: ruleSetOf(rules) };
}

function parseDeviceIds(
  value: unknown,
  at: string,
  issue: (path: string, message: string) => void,
): ReadonlySet<string> | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0) {
    issue(at, 'must be a non-empty array of device ids (leave it out for every device)');
    return undefined;
  }
  if (value.length > MAX_DEVICE_IDS) issue(at, `${value.length} device ids; at most ${MAX_DEVICE_IDS}`);
  const ids = new Set<string>();
  value.forEach((id: unknown, i) => {
    if (typeof id !== 'string' || id === '') issue(`${at}[${i}]`, `must be a non-empty string, got ${show(id)}`);
    else if (ids.has(id)) issue(`${at}[${i}]`, `'${id}' is listed twice`);
    else ids.add(id);
  });
  return ids;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isWholeNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}

/** A value in an error message: JSON, cut short (a rules file is not secret, but may be long). */
function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}
