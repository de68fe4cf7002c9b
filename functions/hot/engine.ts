/**
 * The hot path's rule engine for one device: readings (and the sweep timer's clock) in, a new state and the
 * alert transitions out. Pure: no I/O, no clock — time is the hub's `enqueuedAt`, or `nowMs` given by the
 * sweep.
 *
 * Invariants:
 * - Lifecycle per (rule, device): `raised` once when the condition starts to hold, `resolved` when it stops;
 *   nothing while it keeps holding (the active alert is in the state).
 * - Exactly once per reading: the state remembers the last applied position per partition
 *   (sequenceNumber, index), so a redelivered batch changes nothing and raises nothing.
 * - Deterministic: the same state and readings give the same state, transitions and alert ids; so two hosts
 *   racing over one device (a partition moving) compute the same alerts, and the etag on the state document
 *   decides which write counts.
 * - Windows are tumbling, per device, aligned to the epoch, by the hub's time (`enqueuedAt`, Stream
 *   Analytics' default without TIMESTAMP BY): a device's window closes when one of its readings falls in a
 *   later window, or when the sweep finds it over (plus a grace). A reading for a window already closed is
 *   late: counted, left out of the window.
 * - Stale: raised by the sweep when the newest reading is older than `staleSeconds`; resolved by the next
 *   reading. Devices are watched once they have sent one reading.
 * - Every transition is also queued in the state (`outbox`), so it is stored and delivered even if the
 *   host dies right after the state is written (alerts.ts, hotPath.ts).
 */
import type { AlertRuleKind, AlertState, AlertValue } from '@iot-ingest/contracts';
import { alertId } from './alert-id.js';
import { addToWindow, aggregate, compare, openWindow, windowStartMs } from './compare.js';
import type { OpenWindow, WindowAccumulator } from './compare.js';
import { lookupField } from './field.js';
import type { FieldPath, FieldValue } from './field.js';
import type { Rule, RuleSet, StaleRule, ThresholdRule, WindowRule } from './rules.js';
import { appliesTo } from './rules.js';

/** What the engine needs of a record (contracts/record.ts). */
export interface HotReading {
  /** The record id (the alert's `readingId`). */
  readonly id: string;
  readonly deviceId: string;
  readonly partition: string;
  readonly sequenceNumber: number;
  readonly index: number;
  readonly enqueuedAtMs: number;
  /**
   * The rule set's `fields` as found in the reading's body, in that order (`readFields`): undefined where
   * one is missing or not a number, string or boolean (a non-JSON payload has none; it takes part only in
   * stale rules). Read once per reading, before any await, so a batch in flight keeps no payloads.
   */
  readonly fields: readonly (FieldValue | undefined)[];
}

/** A body's values of the rule set's fields (what `HotReading.fields` holds). */
export function readFields(body: unknown, ruleSet: RuleSet): Array<FieldValue | undefined> {
  const values = new Array<FieldValue | undefined>(ruleSet.fields.length);
  for (let i = 0; i < values.length; i++) values[i] = lookupField(body, ruleSet.fields[i]!);
  return values;
}

/** Where a rule's field is in `HotReading.fields`. */
function fieldSlot(ruleSet: RuleSet, field: FieldPath): number {
  return ruleSet.fields.findIndex((f) => f.text === field.text);
}

/** A raised alert, kept while its condition holds. */
export interface ActiveAlert {
  readonly alertId: string;
  readonly kind: AlertRuleKind;
  readonly at: string;
  readonly value: AlertValue;
  readonly readingId: string | null;
}

export interface Transition {
  readonly alertId: string;
  readonly rule: string;
  readonly kind: AlertRuleKind;
  readonly deviceId: string;
  readonly state: AlertState;
  readonly at: string;
  readonly value: AlertValue;
  readonly readingId: string | null;
  /** For `resolved`: how it was raised (the alert document keeps both). */
  readonly raised: ActiveAlert;
}

/** A transition not yet stored as a document, or not yet delivered to the webhook. */
export interface OutboxEntry {
  readonly transition: Transition;
  readonly stored: boolean;
  /** Webhook attempts made so far. */
  readonly attempts: number;
  /** Epoch ms before which the sweep leaves it alone (the handler is delivering it). */
  readonly nextAttemptMs: number;
}

/** One device's hot-path state: a JSON document (store.ts keeps it in Cosmos with an etag). */
export interface DeviceHotState {
  readonly deviceId: string;
  /** Per partition, the last applied position `[sequenceNumber, index]`. */
  readonly applied: Readonly<Record<string, readonly [number, number]>>;
  /** enqueuedAt (epoch ms) of the newest reading, null before the first. */
  readonly lastSeenMs: number | null;
  readonly lastReadingId: string | null;
  /** The open window of each window rule. */
  readonly windows: Readonly<Record<string, WindowAccumulator>>;
  /** Per window rule, the end of the last closed window (earlier readings are late). */
  readonly closedUntilMs: Readonly<Record<string, number>>;
  /** Raised alerts by rule id. */
  readonly active: Readonly<Record<string, ActiveAlert>>;
  readonly outbox: readonly OutboxEntry[];
}

export interface ApplyStats {
  applied: number;
  duplicates: number;
  late: number;
}

export interface EngineResult {
  readonly state: DeviceHotState;
  readonly transitions: readonly Transition[];
}

export interface SweepResult extends EngineResult {
  /** Whether the state changed (a window closed, an alert raised, a removed rule's state dropped). */
  readonly changed: boolean;
}

export function newDeviceState(deviceId: string): DeviceHotState {
  return {
    deviceId,
    applied: {},
    lastSeenMs: null,
    lastReadingId: null,
    windows: {},
    closedUntilMs: {},
    active: {},
    outbox: [],
  };
}

/**
 * A mutable copy, changed in place while one batch is applied: its positions and open windows are copies
 * too (updated per reading without allocating), so the state it came from is never changed.
 */
interface Working {
  deviceId: string;
  applied: Record<string, [number, number]>;
  lastSeenMs: number | null;
  lastReadingId: string | null;
  windows: Record<string, OpenWindow>;
  closedUntilMs: Record<string, number>;
  active: Record<string, ActiveAlert>;
  outbox: OutboxEntry[];
}

function working(state: DeviceHotState): Working {
  const applied: Record<string, [number, number]> = {};
  for (const [partition, [sequenceNumber, index]] of Object.entries(state.applied))
    applied[partition] = [sequenceNumber, index];
  const windows: Record<string, OpenWindow> = {};
  for (const [ruleId, open] of Object.entries(state.windows)) windows[ruleId] = { ...open };
  return {
    deviceId: state.deviceId,
    applied,
    lastSeenMs: state.lastSeenMs,
    lastReadingId: state.lastReadingId,
    windows,
    closedUntilMs: { ...state.closedUntilMs },
    active: { ...state.active },
    outbox: [...state.outbox],
  };
}

const iso = (ms: number): string => new Date(ms).toISOString();

class Transitions {
  readonly list: Transition[] = [];
  constructor(private readonly w: Working) {}

  raise(rule: Rule, start: string, at: string, value: AlertValue, readingId: string | null): void {
    const active: ActiveAlert = {
      alertId: alertId(rule.id, this.w.deviceId, start),
      kind: rule.kind,
      at,
      value,
      readingId,
    };
    this.w.active[rule.id] = active;
    this.push({ ...active, rule: rule.id, deviceId: this.w.deviceId, state: 'raised', raised: active });
  }

  resolve(ruleId: string, at: string, value: AlertValue, readingId: string | null): void {
    const active = this.w.active[ruleId];
    if (!active) return;
    delete this.w.active[ruleId];
    this.push({
      alertId: active.alertId,
      rule: ruleId,
      kind: active.kind,
      deviceId: this.w.deviceId,
      state: 'resolved',
      at,
      value,
      readingId,
      raised: active,
    });
  }

  active(ruleId: string): ActiveAlert | undefined {
    return this.w.active[ruleId];
  }

  private push(transition: Transition): void {
    this.list.push(transition);
    this.w.outbox.push({ transition, stored: false, attempts: 0, nextAttemptMs: 0 });
  }
}

/** Apply a device's readings, in partition order. Readings of other devices are ignored. */
export function applyReadings(
  state: DeviceHotState,
  readings: readonly HotReading[],
  ruleSet: RuleSet,
  stats?: ApplyStats,
): EngineResult {
  const w = working(state);
  const out = new Transitions(w);
  const first = readings.find((r) => r.deviceId === w.deviceId);
  if (first) reconcile(w, ruleSet, out, iso(first.enqueuedAtMs));
  const thresholds = ruleSet.thresholds
    .filter((r) => appliesTo(r, w.deviceId))
    .map((rule) => ({ rule, field: fieldSlot(ruleSet, rule.field) }));
  const stale = ruleSet.stale.filter((r) => appliesTo(r, w.deviceId));
  // Each window rule's open window and closed-until, taken out of the state once and put back at the end.
  const slots: WindowSlot[] = ruleSet.windows
    .filter((r) => appliesTo(r, w.deviceId))
    .map((rule) => ({
      rule,
      field: fieldSlot(ruleSet, rule.field),
      open: w.windows[rule.id],
      closedUntilMs: w.closedUntilMs[rule.id] ?? Number.NEGATIVE_INFINITY,
    }));

  for (const reading of readings) {
    if (reading.deviceId !== w.deviceId) continue;
    const last = w.applied[reading.partition];
    if (
      last &&
      (reading.sequenceNumber < last[0] || (reading.sequenceNumber === last[0] && reading.index <= last[1]))
    ) {
      if (stats) stats.duplicates++;
      continue;
    }
    if (last) {
      last[0] = reading.sequenceNumber;
      last[1] = reading.index;
    } else w.applied[reading.partition] = [reading.sequenceNumber, reading.index];
    if (stats) stats.applied++;
    // The reading's time as ISO only when a transition needs it (most readings change no alert).
    const atMs = reading.enqueuedAtMs;

    // A reading ends every silence.
    const previousSeenMs = w.lastSeenMs;
    for (const rule of stale) {
      if (w.active[rule.id]) {
        const gapSeconds = previousSeenMs === null ? null : Math.floor((atMs - previousSeenMs) / 1000);
        out.resolve(rule.id, iso(atMs), gapSeconds, reading.id);
      }
    }
    if (w.lastSeenMs === null || atMs >= w.lastSeenMs) {
      w.lastSeenMs = atMs;
      w.lastReadingId = reading.id;
    }

    for (const slot of slots) {
      const { rule } = slot;
      const start = windowStartMs(atMs, rule.windowMs);
      const open = slot.open;
      if (open && start > open.startMs) {
        slot.open = undefined;
        slot.closedUntilMs = open.startMs + rule.windowMs;
        evaluateClosedWindow(rule, open, out);
      }
      if (start < slot.closedUntilMs || (open && start < open.startMs)) {
        if (stats) stats.late++;
        continue;
      }
      const value = reading.fields[slot.field];
      if (typeof value !== 'number') continue;
      if (slot.open) addToWindow(slot.open, value, reading.id);
      else slot.open = openWindow(start, value, reading.id);
    }

    for (const { rule, field } of thresholds) {
      const value = reading.fields[field];
      if (value === undefined) continue;
      const holds = compare(value, rule.op, rule.value);
      if (holds === undefined) continue;
      const active = w.active[rule.id];
      if (holds && !active) out.raise(rule, reading.id, iso(atMs), value, reading.id);
      else if (!holds && active) out.resolve(rule.id, iso(atMs), value, reading.id);
    }
  }
  for (const { rule, open, closedUntilMs } of slots) {
    if (open) w.windows[rule.id] = open;
    else delete w.windows[rule.id];
    if (closedUntilMs !== Number.NEGATIVE_INFINITY) w.closedUntilMs[rule.id] = closedUntilMs;
  }
  return { state: w, transitions: out.list };
}

/** A window rule while one batch is applied. */
interface WindowSlot {
  readonly rule: WindowRule;
  /** Its field's place in `HotReading.fields`. */
  readonly field: number;
  open: OpenWindow | undefined;
  closedUntilMs: number;
}

/**
 * The sweep timer's view of a device at `nowMs` (wall clock, same clock as the hub's enqueuedAt): stale
 * deadlines passed, and windows over for longer than `windowGraceMs` (a device that stopped mid-window).
 */
export function sweepDevice(
  state: DeviceHotState,
  ruleSet: RuleSet,
  nowMs: number,
  windowGraceMs: number,
): SweepResult {
  const w = working(state);
  const out = new Transitions(w);
  reconcile(w, ruleSet, out, iso(nowMs));
  for (const rule of ruleSet.windows) {
    const open = w.windows[rule.id];
    if (open && appliesTo(rule, w.deviceId) && nowMs >= open.startMs + rule.windowMs + windowGraceMs)
      closeWindow(w, rule, out);
  }
  if (w.lastSeenMs !== null) {
    for (const rule of ruleSet.stale) {
      if (!appliesTo(rule, w.deviceId) || w.active[rule.id]) continue;
      const deadlineMs = w.lastSeenMs + rule.staleMs;
      if (nowMs >= deadlineMs) {
        // Keyed by the last reading's time: the same silence is the same alert, however often the sweep runs.
        out.raise(
          rule,
          `silent-since-${iso(w.lastSeenMs)}`,
          iso(deadlineMs),
          Math.floor((nowMs - w.lastSeenMs) / 1000),
          w.lastReadingId,
        );
      }
    }
  }
  const changed =
    out.list.length > 0 ||
    Object.keys(w.windows).length !== Object.keys(state.windows).length ||
    Object.keys(w.closedUntilMs).length !== Object.keys(state.closedUntilMs).length;
  return { state: w, transitions: out.list, changed };
}

/** When the sweep should look at this device next for stale rules (epoch ms), or null. */
export function nextStaleDeadlineMs(state: DeviceHotState, ruleSet: RuleSet): number | null {
  if (state.lastSeenMs === null) return null;
  let next: number | null = null;
  for (const rule of ruleSet.stale) {
    if (!appliesTo(rule, state.deviceId) || state.active[rule.id]) continue;
    const deadline = state.lastSeenMs + rule.staleMs;
    if (next === null || deadline < next) next = deadline;
  }
  return next;
}

function closeWindow(w: Working, rule: WindowRule, out: Transitions): void {
  const open = w.windows[rule.id];
  if (!open) return;
  delete w.windows[rule.id];
  w.closedUntilMs[rule.id] = open.startMs + rule.windowMs;
  evaluateClosedWindow(rule, open, out);
}

/** A window that just closed: its aggregate raises or resolves the rule's alert. */
function evaluateClosedWindow(rule: WindowRule, open: WindowAccumulator, out: Transitions): void {
  const endMs = open.startMs + rule.windowMs;
  const value = aggregate(open, rule.agg);
  const holds = compare(value, rule.op, rule.value) === true;
  const active = out.active(rule.id);
  if (holds && !active) out.raise(rule, iso(open.startMs), iso(endMs), value, open.lastReadingId);
  else if (!holds && active) out.resolve(rule.id, iso(endMs), value, open.lastReadingId);
}

/**
 * Rules change between deployments: state of a rule that is gone (or no longer covers this device) is
 * dropped, and its open alert resolved with a null value, so nothing stays raised forever.
 */
function reconcile(w: Working, ruleSet: RuleSet, out: Transitions, atIso: string): void {
  const current = new Map<string, Rule>(ruleSet.rules.filter((r) => appliesTo(r, w.deviceId)).map((r) => [r.id, r]));
  for (const ruleId of Object.keys(w.windows)) {
    if (current.get(ruleId)?.kind !== 'window') delete w.windows[ruleId];
  }
  for (const ruleId of Object.keys(w.closedUntilMs)) {
    if (current.get(ruleId)?.kind !== 'window') delete w.closedUntilMs[ruleId];
  }
  for (const [ruleId, active] of Object.entries(w.active)) {
    if (current.get(ruleId)?.kind !== active.kind) out.resolve(ruleId, atIso, null, null);
  }
}

export type { StaleRule, ThresholdRule, WindowRule };
