import { describe, expect, it } from 'vitest';
import {
  applyReadings,
  newDeviceState,
  nextStaleDeadlineMs,
  readFields,
  sweepDevice,
} from '../../../../functions/hot/engine.js';
import type { ApplyStats, DeviceHotState, HotReading, Transition } from '../../../../functions/hot/engine.js';
import { parseRules } from '../../../../functions/hot/rules.js';
import type { RuleSet } from '../../../../functions/hot/rules.js';
import { alertDocument, webhookBody } from '../../../../functions/hot/alerts.js';

const T0 = Date.parse('2026-11-23T10:00:00.000Z');

function rules(list: unknown[]): RuleSet {
  const result = parseRules({ rules: list });
  if (!result.ok) throw new Error(result.issues.map((i) => i.message).join('; '));
  return result.ruleSet;
}

/** A reading with its JSON body; `run` reads the rule set's fields of it, as the processor does. */
type TestReading = Omit<HotReading, 'fields'> & { readonly body: unknown };

let seq = 0;
function reading(
  body: unknown,
  atMs: number,
  options: { deviceId?: string; partition?: string; sequenceNumber?: number; index?: number } = {},
): TestReading {
  const sequenceNumber = options.sequenceNumber ?? seq++;
  const partition = options.partition ?? '0';
  return {
    id: `${partition}-${sequenceNumber}-${options.index ?? 0}`,
    deviceId: options.deviceId ?? 'dev-1',
    partition,
    sequenceNumber,
    index: options.index ?? 0,
    enqueuedAtMs: atMs,
    body,
  };
}

function run(ruleSet: RuleSet, readings: TestReading[], state: DeviceHotState = newDeviceState('dev-1')) {
  const stats: ApplyStats = { applied: 0, duplicates: 0, late: 0 };
  const hot = readings.map(({ body, ...r }): HotReading => ({ ...r, fields: readFields(body, ruleSet) }));
  const result = applyReadings(state, hot, ruleSet, stats);
  return { ...result, stats };
}

const brief = (t: Transition) => [t.rule, t.state, t.value, t.at];

describe('threshold rule', () => {
  const tooHot = rules([{ id: 'too-hot', field: 'temperatureC', op: '>', value: 30 }]);

  it('raises once when the condition starts, never again while it holds, and resolves when it ends', () => {
    const readings = [21, 31, 35, 33, 29, 22].map((t, i) => reading({ temperatureC: t }, T0 + i * 1000));
    const { transitions, state } = run(tooHot, readings);
    expect(transitions.map(brief)).toEqual([
      ['too-hot', 'raised', 31, '2026-11-23T10:00:01.000Z'],
      ['too-hot', 'resolved', 29, '2026-11-23T10:00:04.000Z'],
    ]);
    expect(transitions[0]!.readingId).toBe(readings[1]!.id);
    expect(transitions[1]!.alertId).toBe(transitions[0]!.alertId);
    expect(state.active).toEqual({});
  });

  it('still holding at the end of a batch raises nothing in the next batch', () => {
    const first = run(tooHot, [reading({ temperatureC: 40 }, T0)]);
    const second = run(
      tooHot,
      [reading({ temperatureC: 41 }, T0 + 1000), reading({ temperatureC: 45 }, T0 + 2000)],
      first.state,
    );
    expect(first.transitions.map((t) => t.state)).toEqual(['raised']);
    expect(second.transitions).toEqual([]);
  });

  it('a redelivered batch (same positions) changes nothing and raises nothing twice', () => {
    const batch = [
      reading({ temperatureC: 40 }, T0, { sequenceNumber: 10 }),
      reading({ temperatureC: 20 }, T0 + 1, { sequenceNumber: 11 }),
    ];
    const first = run(tooHot, batch);
    const again = run(tooHot, batch, first.state);
    expect(first.transitions).toHaveLength(2);
    expect(again.transitions).toEqual([]);
    expect(again.stats).toEqual({ applied: 0, duplicates: 2, late: 0 });
    expect(again.state).toEqual(first.state);
  });

  it('a reading without the field, or with a value of another type, takes no part', () => {
    const { transitions } = run(tooHot, [
      reading({ temperatureC: 40 }, T0),
      reading({ humidityPct: 50 }, T0 + 1),
      reading({ temperatureC: 'cold' }, T0 + 2),
      reading(undefined, T0 + 3),
    ]);
    expect(transitions.map((t) => t.state)).toEqual(['raised']);
  });

  it('the same stream gives the same alert ids and documents (deterministic)', () => {
    const make = () => [40, 20, 41].map((t, i) => reading({ temperatureC: t }, T0 + i, { sequenceNumber: 100 + i }));
    const a = run(tooHot, make()).transitions;
    const b = run(tooHot, make()).transitions;
    expect(a.map((t) => t.alertId)).toEqual(b.map((t) => t.alertId));
    expect(new Set(a.map((t) => t.alertId)).size).toBe(2);
    expect(a.map(alertDocument)).toEqual(b.map(alertDocument));
  });

  it('== and != compare strings and booleans', () => {
    const ruleSet = rules([{ id: 'fault', field: 'mode', op: '==', value: 'fault' }]);
    const { transitions } = run(ruleSet, [
      reading({ mode: 'run' }, T0),
      reading({ mode: 'fault' }, T0 + 1),
      reading({ mode: 'run' }, T0 + 2),
    ]);
    expect(transitions.map(brief)).toEqual([
      ['fault', 'raised', 'fault', '2026-11-23T10:00:00.001Z'],
      ['fault', 'resolved', 'run', '2026-11-23T10:00:00.002Z'],
    ]);
  });
});

describe('what the engine takes of a reading', () => {
  it('each distinct field once, shared by the rules that read it, and nothing else of the body', () => {
    const ruleSet = rules([
      { id: 'hot', field: 't', op: '>', value: 30 },
      { id: 'avg', field: 't', op: '>', value: 25, window: { seconds: 10, agg: 'avg' } },
      { id: 'mode', field: 'state.mode', op: '==', value: 'fault' },
      { id: 'silent', staleSeconds: 60 },
    ]);
    expect(ruleSet.fields.map((f) => f.text)).toEqual(['t', 'state.mode']);
    expect(readFields({ t: 31, state: { mode: 'run' }, payload: 'x'.repeat(1000) }, ruleSet)).toEqual([31, 'run']);
    expect(readFields({ t: { nested: 1 } }, ruleSet)).toEqual([undefined, undefined]);
    expect(readFields(undefined, ruleSet)).toEqual([undefined, undefined]);
  });
});

describe('window rule (tumbling, per device)', () => {
  const windowRule = (agg: string, op: string, value: number) =>
    rules([{ id: `w-${agg}`, field: 't', op, value, window: { seconds: 10, agg } }]);
  // Two windows: [10:00:00, 10:00:10) and [10:00:10, 10:00:20), closed by a reading at 10:00:20.
  const stream = () => [
    reading({ t: 20 }, T0 + 1000),
    reading({ t: 30 }, T0 + 5000),
    reading({ t: 40 }, T0 + 9000),
    reading({ t: 10 }, T0 + 11_000),
    reading({ t: 12 }, T0 + 12_000),
    reading({ other: 1 }, T0 + 20_000),
  ];

  it('avg: the window closes when a reading falls in a later one; raised at the window end with the average', () => {
    const { transitions } = run(windowRule('avg', '>', 25), stream());
    expect(transitions.map(brief)).toEqual([
      ['w-avg', 'raised', 30, '2026-11-23T10:00:10.000Z'],
      ['w-avg', 'resolved', 11, '2026-11-23T10:00:20.000Z'],
    ]);
    expect(transitions[0]!.alertId).toBe('w-avg:dev-1:2026-11-23T10:00:00.000Z');
  });

  it('min, max and count aggregate the window', () => {
    expect(run(windowRule('min', '<', 15), stream()).transitions.map(brief)).toEqual([
      ['w-min', 'raised', 10, '2026-11-23T10:00:20.000Z'],
    ]);
    expect(run(windowRule('max', '>=', 40), stream()).transitions.map(brief)).toEqual([
      ['w-max', 'raised', 40, '2026-11-23T10:00:10.000Z'],
      ['w-max', 'resolved', 12, '2026-11-23T10:00:20.000Z'],
    ]);
    expect(run(windowRule('count', '>', 2), stream()).transitions.map(brief)).toEqual([
      ['w-count', 'raised', 3, '2026-11-23T10:00:10.000Z'],
      ['w-count', 'resolved', 2, '2026-11-23T10:00:20.000Z'],
    ]);
  });

  it('an open window survives between batches (it is state), and closes in a later batch', () => {
    const ruleSet = windowRule('avg', '>', 25);
    const all = stream();
    const first = run(ruleSet, all.slice(0, 2));
    const second = run(ruleSet, all.slice(2), first.state);
    expect(first.transitions).toEqual([]);
    expect(first.state.windows['w-avg']).toMatchObject({ count: 2, sum: 50 });
    expect(second.transitions.map(brief)).toEqual(run(ruleSet, stream()).transitions.map(brief));
  });

  it('applying a batch leaves the state it started from as it was (a conflict re-applies to a fresh copy)', () => {
    const ruleSet = windowRule('avg', '>', 25);
    const all = stream();
    const first = run(ruleSet, all.slice(0, 2));
    const before = structuredClone(first.state);
    run(ruleSet, all.slice(2, 3), first.state);
    run(ruleSet, all.slice(2), first.state);
    expect(first.state).toEqual(before);
  });

  it('a late reading (for a window already closed) is counted and left out', () => {
    const ruleSet = windowRule('count', '>', 100);
    const { state, stats } = run(ruleSet, [
      reading({ t: 1 }, T0 + 11_000),
      reading({ t: 1 }, T0 + 21_000),
      reading({ t: 1 }, T0 + 12_000),
    ]);
    expect(stats.late).toBe(1);
    expect(state.windows['w-count']).toMatchObject({ startMs: T0 + 20_000, count: 1 });
  });

  it('the sweep closes a window over for longer than the grace (a device that went quiet)', () => {
    const ruleSet = windowRule('avg', '>', 25);
    const { state } = run(ruleSet, [reading({ t: 50 }, T0 + 1000)]);
    expect(sweepDevice(state, ruleSet, T0 + 10_000 + 4_999, 5_000).transitions).toEqual([]);
    const swept = sweepDevice(state, ruleSet, T0 + 15_000, 5_000);
    expect(swept.transitions.map(brief)).toEqual([['w-avg', 'raised', 50, '2026-11-23T10:00:10.000Z']]);
    expect(swept.state.windows).toEqual({});
  });
});

describe('stale rule (the sweep timer)', () => {
  const silent = rules([{ id: 'silent', staleSeconds: 120 }]);

  it('the sweep raises once per silence; the next reading resolves it with the gap in seconds', () => {
    const { state } = run(silent, [reading({}, T0)]);
    expect(nextStaleDeadlineMs(state, silent)).toBe(T0 + 120_000);
    expect(sweepDevice(state, silent, T0 + 119_999, 0).transitions).toEqual([]);
    const raised = sweepDevice(state, silent, T0 + 125_000, 0);
    expect(raised.transitions.map(brief)).toEqual([['silent', 'raised', 125, '2026-11-23T10:02:00.000Z']]);
    expect(raised.transitions[0]!.alertId).toBe('silent:dev-1:silent-since-2026-11-23T10:00:00.000Z');
    // The sweep runs again: the same silence raises nothing more.
    expect(sweepDevice(raised.state, silent, T0 + 300_000, 0).transitions).toEqual([]);
    const back = run(silent, [reading({}, T0 + 400_000)], raised.state);
    expect(back.transitions.map(brief)).toEqual([['silent', 'resolved', 400, '2026-11-23T10:06:40.000Z']]);
    expect(back.transitions[0]!.alertId).toBe(raised.transitions[0]!.alertId);
  });

  it('a device never seen is not watched', () => {
    expect(sweepDevice(newDeviceState('dev-1'), silent, T0, 0).transitions).toEqual([]);
  });
});

describe('deviceIds scope', () => {
  it('a rule with deviceIds evaluates only those devices', () => {
    const ruleSet = rules([{ id: 'hot-001', field: 't', op: '>', value: 30, deviceIds: ['dev-1'] }]);
    const other = run(ruleSet, [reading({ t: 50 }, T0, { deviceId: 'dev-2' })], newDeviceState('dev-2'));
    const listed = run(ruleSet, [reading({ t: 50 }, T0)]);
    expect(other.transitions).toEqual([]);
    expect(listed.transitions.map((t) => t.state)).toEqual(['raised']);
  });
});

describe('alert lifecycle across rule changes and the outbox', () => {
  it('every transition is queued in the outbox, not yet stored or delivered', () => {
    const ruleSet = rules([{ id: 'too-hot', field: 't', op: '>', value: 30 }]);
    const { state, transitions } = run(ruleSet, [reading({ t: 40 }, T0), reading({ t: 20 }, T0 + 1)]);
    expect(state.outbox.map((e) => [e.transition, e.stored, e.attempts])).toEqual(
      transitions.map((t) => [t, false, 0]),
    );
  });

  it('a rule removed from the file resolves its open alert with a null value', () => {
    const before = rules([{ id: 'too-hot', field: 't', op: '>', value: 30 }]);
    const after = rules([{ id: 'other', field: 't', op: '<', value: -100 }]);
    const { state } = run(before, [reading({ t: 40 }, T0)]);
    const { transitions } = run(after, [reading({ t: 41 }, T0 + 1000)], state);
    expect(transitions.map(brief)).toEqual([['too-hot', 'resolved', null, '2026-11-23T10:00:01.000Z']]);
  });

  it('the webhook body has exactly rule, deviceId, state, value, at, readingId', () => {
    const ruleSet = rules([{ id: 'too-hot', field: 't', op: '>', value: 30 }]);
    const [raised] = run(ruleSet, [reading({ t: 40 }, T0, { sequenceNumber: 7 })]).transitions;
    expect(webhookBody(raised!)).toEqual({
      rule: 'too-hot',
      deviceId: 'dev-1',
      state: 'raised',
      value: 40,
      at: '2026-11-23T10:00:00.000Z',
      readingId: '0-7-0',
    });
  });

  it('a resolved alert document keeps how it was raised', () => {
    const ruleSet = rules([{ id: 'too-hot', field: 't', op: '>', value: 30 }]);
    const [, resolved] = run(ruleSet, [
      reading({ t: 40 }, T0, { sequenceNumber: 1 }),
      reading({ t: 20 }, T0 + 5, { sequenceNumber: 2 }),
    ]).transitions;
    expect(alertDocument(resolved!)).toEqual({
      id: 'too-hot:dev-1:0-1-0',
      pk: 'dev-1',
      type: 'alert',
      rule: 'too-hot',
      kind: 'threshold',
      deviceId: 'dev-1',
      state: 'resolved',
      at: '2026-11-23T10:00:00.000Z',
      value: 40,
      readingId: '0-1-0',
      resolvedAt: '2026-11-23T10:00:00.005Z',
      resolvedValue: 20,
      resolvedReadingId: '0-2-0',
    });
  });
});
