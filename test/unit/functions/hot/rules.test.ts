import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseRules, parseRulesText } from '../../../../functions/hot/rules.js';
import { lookupField, parseFieldPath } from '../../../../functions/hot/field.js';
import { compare } from '../../../../functions/hot/compare.js';

const ISSUE_EXAMPLE = {
  rules: [
    { id: 'too-hot', field: 'temperatureC', op: '>', value: 30 },
    { id: 'avg-hot', field: 'temperatureC', op: '>', value: 25, window: { seconds: 60, agg: 'avg' } },
    { id: 'silent', staleSeconds: 120 },
  ],
};

function messages(value: unknown): string[] {
  const result = parseRules(value);
  return result.ok ? [] : result.issues.map((i) => i.message);
}

describe('rules file', () => {
  it("the issue's example parses into a threshold, a window and a stale rule", () => {
    const result = parseRules(ISSUE_EXAMPLE);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.ruleSet.thresholds.map((r) => r.id)).toEqual(['too-hot']);
    expect(result.ruleSet.windows).toMatchObject([{ id: 'avg-hot', windowMs: 60_000, agg: 'avg', op: '>', value: 25 }]);
    expect(result.ruleSet.stale).toMatchObject([{ id: 'silent', staleMs: 120_000 }]);
  });

  it('the committed hot-rules.json is valid', () => {
    const result = parseRulesText(readFileSync('hot-rules.json', 'utf8'), 'hot-rules.json');
    expect(result.ok ? [] : result.issues).toEqual([]);
  });

  it('every error in the file is named at once, each with its place', () => {
    const found = messages({
      rules: [
        { id: 'a', field: 'x', op: '=>', value: 1 },
        { id: 'a', field: 'x..y', op: '>', value: 'hot' },
        { id: 'w', field: 'x', op: '>', value: 1, window: { seconds: 0, agg: 'median' } },
        { id: 's', staleSeconds: -5, field: 'x' },
        { id: 'bad id!', field: 'x', op: '<', value: true },
        { id: 'k', field: 'x', op: '==', value: 1, colour: 'red' },
      ],
    });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^rules\[0\]\.op: must be one of > >= < <= == !=, got "=>"/),
        expect.stringMatching(/^rules\[1\]\.id: 'a' is already the id of rules\[0\]/),
        expect.stringMatching(/^rules\[1\]\.field: 'x\.\.y' has an empty segment/),
        expect.stringMatching(/^rules\[2\]\.window\.seconds: must be a whole number/),
        expect.stringMatching(/^rules\[2\]\.window\.agg: must be one of avg min max count, got "median"/),
        expect.stringMatching(/^rules\[3\]\.field: a stale rule/),
        expect.stringMatching(/^rules\[3\]\.staleSeconds: must be a whole number of seconds/),
        expect.stringMatching(/^rules\[4\]\.id: must be 1–64 of/),
        expect.stringMatching(/^rules\[5\]\.colour: unknown key/),
      ]),
    );
    expect(found.length).toBeGreaterThanOrEqual(9);
  });

  it('an ordering op needs a number; strings and booleans compare only with == and !=', () => {
    expect(messages({ rules: [{ id: 'a', field: 'x', op: '>', value: 'hot' }] })).toEqual([
      expect.stringMatching(/rules\[0\]\.value: > compares numbers/),
    ]);
    expect(
      messages({
        rules: [
          { id: 'a', field: 'mode', op: '==', value: 'fault' },
          { id: 'b', field: 'door', op: '!=', value: false },
        ],
      }),
    ).toEqual([]);
  });

  it('a window compares its aggregate with a number only', () => {
    expect(
      messages({ rules: [{ id: 'a', field: 'x', op: '==', value: 'on', window: { seconds: 5, agg: 'count' } }] }),
    ).toEqual([
      expect.stringMatching(/rules\[0\]\.value: must be a number \(it is compared with the window's aggregate\)/),
    ]);
  });

  it('deviceIds must be a non-empty list of distinct ids', () => {
    expect(messages({ rules: [{ id: 'a', staleSeconds: 5, deviceIds: [] }] })).toEqual([
      expect.stringMatching(/rules\[0\]\.deviceIds: must be a non-empty array/),
    ]);
    expect(messages({ rules: [{ id: 'a', staleSeconds: 5, deviceIds: ['d1', 'd1', 3] }] })).toEqual([
      expect.stringMatching(/rules\[0\]\.deviceIds\[1\]: 'd1' is listed twice/),
      expect.stringMatching(/rules\[0\]\.deviceIds\[2\]: must be a non-empty string/),
    ]);
  });

  it('a file that is not JSON, or has no rules array, is one clear error', () => {
    const notJson = parseRulesText('{"rules": [', 'hot-rules.json');
    expect(notJson.ok ? [] : notJson.issues.map((i) => i.message)).toEqual([
      expect.stringMatching(/^hot-rules\.json is not JSON/),
    ]);
    expect(messages({ rule: [] })).toEqual([
      'rule: unknown key (expected "rules")',
      'rules: must be an array of rules',
    ]);
    expect(messages([])).toEqual(['the rules file must be a JSON object {"rules":[…]}']);
  });
});

describe('dotted field paths', () => {
  const path = (text: string) => {
    const parsed = parseFieldPath(text);
    if (!parsed.ok) throw new Error(parsed.reason);
    return parsed.path;
  };

  it('a dotted path follows objects, and a numeric segment indexes an array', () => {
    const body = { engine: { rpm: 1200, axes: [0.1, 0.7] }, ok: true, mode: 'run' };
    expect(lookupField(body, path('engine.rpm'))).toBe(1200);
    expect(lookupField(body, path('engine.axes.1'))).toBe(0.7);
    expect(lookupField(body, path('ok'))).toBe(true);
    expect(lookupField(body, path('mode'))).toBe('run');
  });

  it('a path that finds nothing, an object, or the prototype chain yields nothing', () => {
    const body = { engine: { rpm: 1200 }, list: [1] };
    expect(lookupField(body, path('engine'))).toBeUndefined();
    expect(lookupField(body, path('engine.torque'))).toBeUndefined();
    expect(lookupField(body, path('list.x'))).toBeUndefined();
    expect(lookupField(body, path('constructor'))).toBeUndefined();
    expect(lookupField(body, path('engine.rpm.value'))).toBeUndefined();
    expect(lookupField(undefined, path('engine'))).toBeUndefined();
    expect(lookupField('text', path('length'))).toBeUndefined();
  });
});

describe('thresholds', () => {
  it('each op compares numbers as written', () => {
    expect([
      compare(31, '>', 30),
      compare(30, '>', 30),
      compare(30, '>=', 30),
      compare(29, '<', 30),
      compare(30, '<=', 30),
      compare(30, '==', 30),
      compare(30, '!=', 30),
    ]).toEqual([true, false, true, true, true, true, false]);
  });

  it('values of different types are not comparable (no answer, not false)', () => {
    expect(compare('31', '>', 30)).toBeUndefined();
    expect(compare(1, '==', true)).toBeUndefined();
    expect(compare('on', '==', 'on')).toBe(true);
  });
});
