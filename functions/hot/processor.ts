/**
 * The hot path's I/O around the pure engine, one per worker runtime, shared by the `hotPath` trigger and
 * the `hotSweep` timer: states cached with their etags, loaded and saved per batch, the outbox stored as
 * alert documents and delivered to the webhook.
 *
 * Order of effects (what makes a crash at any point harmless):
 * 1. state saved with its new transitions in the outbox, each leased for OUTBOX_LEASE_MS so the sweep on
 *    another host leaves them to us, together with their alert documents (one transactional batch per
 *    device with new alerts, one bulk request for the other devices) — conditional on the etag (conflict:
 *    re-read, re-apply; the positions skip what the other writer already applied, and the losing write
 *    stored no alert);
 * 2. webhook POSTs, a few quick attempts;
 * 3. what they did to the outbox (delivered: gone; failed: its next attempt time) goes with the device's
 *    next state write — the next batch's, or any other write this processor makes — and a timer writes it
 *    after OUTBOX_WRITE_DELAY_MS if none came, so a batch with alerts costs no request more than one without.
 * Dying after 1 leaves the deliveries in the stored outbox (the sweep does them after the lease); after
 * 2, before 3 is written, at worst a notification is delivered twice (same `x-iot-ingest-alert-id`).
 * Nothing raises twice.
 *
 * Per batch the work is in memory: the records are read into HotReadings (the rules' fields only) before
 * the first await, the engine applies each device's readings to its cached state in one pass, and one
 * round of writes stores the result.
 */
import type { Logger } from 'pino';
import type { TelemetryRecord } from '@iot-ingest/contracts';
import { transitionKey, webhookBody } from './alerts.js';
import type { HotSettings } from './config.js';
import type { RuleSet } from './rules.js';
import { applyReadings, newDeviceState, nextStaleDeadlineMs, readFields, sweepDevice } from './engine.js';
import type { ApplyStats, DeviceHotState, HotReading, OutboxEntry, Transition } from './engine.js';
import type { HotStore, StoredState } from './store.js';
import { nextRetryDelayMs, postWithRetry } from './webhook.js';
import type { DeliveryResult } from './webhook.js';

/** How long a fresh outbox entry belongs to the host that wrote it before the sweep may take it over. */
export const OUTBOX_LEASE_MS = 30_000;
/** How long delivered outbox entries wait for a state write to carry them before one is made for them. */
export const OUTBOX_WRITE_DELAY_MS = 1_000;
/** Conditional-write rounds per batch before it fails (and the host retries the batch). */
const MAX_SAVE_ROUNDS = 6;
/** Devices whose outbox is delivered at once (each device's own entries stay in order). */
const DELIVERY_CONCURRENCY = 8;

export interface HotCounters {
  alertsRaised: number;
  alertsResolved: number;
  webhookDelivered: number;
  webhookFailed: number;
  lateReadings: number;
}

export interface BatchResult extends ApplyStats {
  readonly devices: number;
  readonly transitions: number;
  readonly conflicts: number;
}

export interface HotProcessorOptions {
  readonly settings: HotSettings;
  readonly store: HotStore;
  readonly counters: HotCounters;
  readonly now?: () => number;
  /** Inline webhook backoff (tests shorten it). */
  readonly inlineBackoffMs?: readonly number[];
  /** OUTBOX_WRITE_DELAY_MS unless given (tests lengthen it). */
  readonly outboxWriteDelayMs?: number;
}

export class HotProcessor {
  private readonly cache = new Map<string, StoredState>();
  /**
   * What deliveries did to each device's outbox (by transition key: null = done, else the entry's new
   * attempt count and time), not yet written. Every write of the device's state carries them (the next
   * batch's, another invocation's, the sweep's); a timer writes what is still waiting after
   * OUTBOX_WRITE_DELAY_MS. So a batch with alerts costs no extra request after its POSTs.
   */
  private readonly outboxUpdates = new Map<string, Map<string, OutboxEntry | null>>();
  /** Devices an invocation of this processor is applying readings to (the timer leaves them alone). */
  private readonly inFlight = new Map<string, number>();
  private outboxTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly options: HotProcessorOptions) {
    this.now = options.now ?? Date.now;
  }

  get hasRules(): boolean {
    return this.options.settings.ruleSet.rules.length > 0;
  }

  /**
   * One trigger batch's records (any devices, partition order). Throws only if Cosmos fails: the host then
   * replays the batch. The records are grouped before anything is awaited, so only what the rules read is
   * kept while Cosmos and the webhook answer (four partitions in flight would otherwise keep four batches
   * of records alive, and the garbage collector copies them over and over).
   */
  processRecords(records: readonly TelemetryRecord[], log: Logger): Promise<BatchResult> {
    if (!this.hasRules || records.length === 0)
      return Promise.resolve({ applied: 0, duplicates: 0, late: 0, devices: 0, transitions: 0, conflicts: 0 });
    return this.processReadings(readingsByDevice(records, this.options.settings.ruleSet), log);
  }

  private async processReadings(byDevice: Map<string, HotReading[]>, log: Logger): Promise<BatchResult> {
    // Devices of other batches with outbox updates waiting go along in this batch's write (same request).
    const carried = [...this.outboxUpdates.keys()].filter(
      (d) => !byDevice.has(d) && !this.inFlight.has(d) && this.cache.has(d),
    );
    const claimed = [...byDevice.keys(), ...carried];
    for (const d of claimed) this.inFlight.set(d, (this.inFlight.get(d) ?? 0) + 1);
    try {
      return await this.applyAndSave(byDevice, carried, log);
    } finally {
      for (const d of claimed) {
        const n = this.inFlight.get(d)! - 1;
        if (n === 0) this.inFlight.delete(d);
        else this.inFlight.set(d, n);
      }
    }
  }

  private async applyAndSave(
    byDevice: Map<string, HotReading[]>,
    carried: readonly string[],
    log: Logger,
  ): Promise<BatchResult> {
    const stats: ApplyStats = { applied: 0, duplicates: 0, late: 0 };
    const devices = byDevice.size;
    const { ruleSet } = this.options.settings;
    let conflicts = 0;
    const mine: Transition[] = [];
    let pending = [...byDevice.keys(), ...carried];
    for (let round = 1; pending.length > 0; round++) {
      if (round > MAX_SAVE_ROUNDS)
        throw new Error(
          `hot path: the state of ${pending.length} device(s) kept changing under this batch (e.g. '${pending[0]}')`,
        );
      const current = await this.states(pending);
      const writes: Array<{
        deviceId: string;
        state: DeviceHotState;
        etag: string | undefined;
        alerts: readonly Transition[];
        stats: ApplyStats;
      }> = [];
      for (const deviceId of pending) {
        const stored = current.get(deviceId)!;
        const readings = byDevice.get(deviceId);
        const deviceStats: ApplyStats = { applied: 0, duplicates: 0, late: 0 };
        if (!readings) {
          // Carried along: only its outbox updates are written.
          writes.push({ deviceId, state: stored.state, etag: stored.etag, alerts: [], stats: deviceStats });
          continue;
        }
        const result = applyReadings(stored.state, readings, ruleSet, deviceStats);
        if (deviceStats.applied === 0) {
          addStats(stats, deviceStats); // a redelivery: nothing to write
          continue;
        }
        writes.push({
          deviceId,
          state: leaseNew(result.state, this.now()),
          etag: stored.etag,
          alerts: result.transitions,
          stats: deviceStats,
        });
      }
      const outcomes = await this.saveAll(writes);
      const retry: string[] = [];
      writes.forEach((w, i) => {
        if (!outcomes[i]!.ok) return void retry.push(w.deviceId);
        byDevice.delete(w.deviceId); // applied and stored: its readings are no longer needed
        mine.push(...w.alerts);
        addStats(stats, w.stats);
      });
      if (retry.length > 0)
        log.debug({ devices: retry.length, round }, 'hot state changed under this batch; re-reading');
      conflicts += retry.length;
      pending = retry;
    }
    this.options.counters.lateReadings += stats.late;
    this.count(mine);
    const chosen = new Set(mine);
    await this.flush([...new Set(mine.map((t) => t.deviceId))], (entry) => chosen.has(entry.transition), log);
    return { ...stats, devices, transitions: mine.length, conflicts };
  }

  /**
   * The timer's pass at `nowMs`: stale devices, windows a device stopped feeding, and deliveries due for
   * a retry. A device changed meanwhile by its partition's owner is left to the next sweep.
   */
  async sweep(log: Logger): Promise<{ devices: number; transitions: number; delivered: number }> {
    const nowMs = this.now();
    const due = await this.options.store.dueStates(nowMs);
    const { ruleSet, windowGraceMs } = this.options.settings;
    const writes: Array<{
      deviceId: string;
      state: DeviceHotState;
      etag: string | undefined;
      alerts: readonly Transition[];
    }> = [];
    const unchanged: string[] = [];
    for (const found of due) {
      const deviceId = found.state.deviceId;
      // What this host delivered and has not written yet is not due again.
      const stored = { state: withOutboxUpdates(found.state, this.outboxUpdates.get(deviceId)), etag: found.etag };
      const result = sweepDevice(stored.state, ruleSet, nowMs, windowGraceMs);
      if (result.changed)
        writes.push({ deviceId, state: leaseNew(result.state, nowMs), etag: stored.etag, alerts: result.transitions });
      else {
        // Only a delivery is due: work from the stored document as it is.
        this.cache.set(deviceId, stored);
        unchanged.push(deviceId);
      }
    }
    const outcomes = await this.saveAll(writes);
    const saved = writes.filter((_, i) => outcomes[i]!.ok);
    const transitions = saved.flatMap((w) => w.alerts);
    this.count(transitions);
    const fresh = new Set(transitions);
    const before = this.options.counters.webhookDelivered;
    await this.flush(
      [...saved.map((w) => w.deviceId), ...unchanged],
      (entry) => fresh.has(entry.transition) || entry.nextAttemptMs <= nowMs,
      log,
    );
    await this.writeOutboxUpdates();
    return {
      devices: saved.length,
      transitions: transitions.length,
      delivered: this.options.counters.webhookDelivered - before,
    };
  }

  /** States for the devices: from the cache, the rest with one bulk read. */
  private async states(deviceIds: readonly string[]): Promise<Map<string, StoredState>> {
    const out = new Map<string, StoredState>();
    const missing: string[] = [];
    for (const deviceId of deviceIds) {
      const cached = this.cache.get(deviceId);
      if (cached) out.set(deviceId, cached);
      else missing.push(deviceId);
    }
    const loaded = await this.options.store.load(missing, newDeviceState);
    for (const [deviceId, stored] of loaded) {
      this.cache.set(deviceId, stored);
      out.set(deviceId, stored);
    }
    return out;
  }

  /**
   * Conditional writes, each carrying the device's waiting outbox updates; the cache follows what was
   * written, and forgets what another writer changed (the updates then wait for the next write).
   */
  private async saveAll(
    entries: ReadonlyArray<{
      deviceId: string;
      state: DeviceHotState;
      etag: string | undefined;
      alerts?: readonly Transition[];
    }>,
  ): Promise<Array<{ ok: boolean }>> {
    const { ruleSet, windowGraceMs } = this.options.settings;
    const carried = entries.map((e) => [...(this.outboxUpdates.get(e.deviceId)?.keys() ?? [])]);
    const states = entries.map((e) => withOutboxUpdates(e.state, this.outboxUpdates.get(e.deviceId)));
    const outcomes = await this.options.store.save(
      entries.map((e, i) => ({
        state: states[i]!,
        etag: e.etag,
        nextDueMs: nextDueMs(states[i]!, ruleSet, windowGraceMs),
        ...(e.alerts ? { alerts: e.alerts } : {}),
      })),
    );
    outcomes.forEach((outcome, i) => {
      const { deviceId } = entries[i]!;
      if (!outcome.ok) return void this.cache.delete(deviceId);
      this.cache.set(deviceId, { state: states[i]!, etag: outcome.etag });
      const updates = this.outboxUpdates.get(deviceId);
      if (!updates) return;
      for (const key of carried[i]!) updates.delete(key);
      if (updates.size === 0) this.outboxUpdates.delete(deviceId);
    });
    return outcomes;
  }

  /** Write the outbox updates still waiting (devices no invocation is working on). */
  private async writeOutboxUpdates(): Promise<void> {
    const deviceIds = [...this.outboxUpdates.keys()].filter((d) => !this.inFlight.has(d));
    if (deviceIds.length === 0) return;
    const current = await this.states(deviceIds);
    await this.saveAll(
      deviceIds.map((deviceId) => ({
        deviceId,
        state: current.get(deviceId)!.state,
        etag: current.get(deviceId)!.etag,
      })),
    );
  }

  private scheduleOutboxWrite(log: Logger): void {
    if (this.outboxTimer || this.outboxUpdates.size === 0) return;
    this.outboxTimer = setTimeout(() => {
      this.outboxTimer = undefined;
      this.writeOutboxUpdates().then(
        () => this.scheduleOutboxWrite(log), // devices that were in flight are written next time
        // Harmless: the updates wait for the device's next write or the sweep's; at worst the sweep repeats
        // a delivery after its lease (same x-iot-ingest-alert-id).
        (err: unknown) => log.debug({ err: (err as Error).message }, 'hot outbox updates not written; they wait'),
      );
    }, this.options.outboxWriteDelayMs ?? OUTBOX_WRITE_DELAY_MS);
    this.outboxTimer.unref();
  }

  /** Store and deliver the chosen outbox entries of these devices; what is left of each outbox waits for the next write. */
  private async flush(
    deviceIds: readonly string[],
    chosen: (entry: OutboxEntry) => boolean,
    log: Logger,
  ): Promise<void> {
    const work = deviceIds
      .map((deviceId) => {
        const cached = this.cache.get(deviceId);
        const updates = this.outboxUpdates.get(deviceId);
        return { deviceId, stored: cached && { ...cached, state: withOutboxUpdates(cached.state, updates) } };
      })
      .filter(
        (w): w is { deviceId: string; stored: StoredState } =>
          w.stored !== undefined && w.stored.state.outbox.some(chosen),
      );
    if (work.length === 0) return;
    const toStore = work.flatMap((w) =>
      w.stored.state.outbox.filter((e) => chosen(e) && !e.stored).map((e) => e.transition),
    );
    await this.options.store.storeAlerts(toStore);

    const failed: Transition[] = [];
    const nextOutboxes = new Map<string, OutboxEntry[]>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < work.length) {
        const { deviceId, stored } = work[next++]!;
        nextOutboxes.set(deviceId, await this.deliver(stored.state.outbox, chosen, failed, log));
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELIVERY_CONCURRENCY, work.length) }, worker));
    if (failed.length > 0)
      await this.options.store
        .markWebhookFailed(failed)
        .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not mark alerts webhook: failed'));

    // What the deliveries did to each outbox goes with the device's next state write (or the timer's); a
    // conflict then means another writer took the device over and will deliver what its copy still lists
    // (at worst a repeat the receiver recognises by its header).
    for (const { deviceId, stored } of work) {
      const remaining = new Map(nextOutboxes.get(deviceId)!.map((e) => [transitionKey(e.transition), e]));
      let updates = this.outboxUpdates.get(deviceId);
      for (const entry of stored.state.outbox) {
        const key = transitionKey(entry.transition);
        const next = remaining.get(key) ?? null;
        if (next === entry) continue;
        if (!updates) this.outboxUpdates.set(deviceId, (updates = new Map()));
        updates.set(key, next);
      }
    }
    this.scheduleOutboxWrite(log);
  }

  /** One device's outbox, in order: what remains after delivering the chosen entries. */
  private async deliver(
    outbox: readonly OutboxEntry[],
    chosen: (entry: OutboxEntry) => boolean,
    failed: Transition[],
    log: Logger,
  ): Promise<OutboxEntry[]> {
    const { webhookUrl, webhookTimeoutMs, webhookMaxAttempts } = this.options.settings;
    const remaining: OutboxEntry[] = [];
    let blocked = false; // a later notification of a device never overtakes an earlier one
    for (const entry of outbox) {
      if (!chosen(entry) || blocked) {
        // Still waiting (its own retry time, or behind one that is): it stays, and so does all after it.
        remaining.push(entry.stored || !chosen(entry) ? entry : { ...entry, stored: true });
        blocked = true;
        continue;
      }
      if (webhookUrl === undefined) continue; // stored; no webhook configured
      const t = entry.transition;
      const result: DeliveryResult = await postWithRetry(
        { url: webhookUrl, timeoutMs: webhookTimeoutMs },
        webhookBody(t),
        transitionKey(t),
        this.options.inlineBackoffMs,
      );
      if (result.kind === 'delivered') {
        this.options.counters.webhookDelivered++;
        continue;
      }
      const attempts = entry.attempts + 1;
      if (result.kind === 'refused' || attempts >= webhookMaxAttempts) {
        this.options.counters.webhookFailed++;
        failed.push(t);
        log.error(
          { alertId: t.alertId, state: t.state, attempts, reason: result.reason },
          'alert webhook notification given up',
        );
        continue;
      }
      blocked = true;
      log.warn(
        { alertId: t.alertId, state: t.state, attempts, reason: result.reason },
        'alert webhook not reached; the sweep retries',
      );
      remaining.push({ ...entry, stored: true, attempts, nextAttemptMs: this.now() + nextRetryDelayMs(attempts) });
    }
    return remaining;
  }

  /** Forget cached states (tests: a host that restarts; another host took the partition). */
  forgetCache(): void {
    this.cache.clear();
    this.outboxUpdates.clear();
    clearTimeout(this.outboxTimer);
    this.outboxTimer = undefined;
  }

  private count(transitions: readonly Transition[]): void {
    for (const t of transitions) {
      if (t.state === 'raised') this.options.counters.alertsRaised++;
      else this.options.counters.alertsResolved++;
    }
  }
}

function addStats(into: ApplyStats, from: ApplyStats): void {
  into.applied += from.applied;
  into.duplicates += from.duplicates;
  into.late += from.late;
}

/** The state with the outbox updates applied (entries by transition key: removed, or replaced). */
function withOutboxUpdates(
  state: DeviceHotState,
  updates: ReadonlyMap<string, OutboxEntry | null> | undefined,
): DeviceHotState {
  if (!updates || updates.size === 0) return state;
  let changed = false;
  const outbox: OutboxEntry[] = [];
  for (const entry of state.outbox) {
    const update = updates.get(transitionKey(entry.transition));
    if (update === undefined) outbox.push(entry);
    else {
      changed = true;
      if (update !== null) outbox.push(update);
    }
  }
  return changed ? { ...state, outbox } : state;
}

/**
 * New outbox entries (attempt time 0) are written with their alert documents (stored) and get a lease: the
 * sweep leaves them to this host for a while.
 */
function leaseNew(state: DeviceHotState, nowMs: number): DeviceHotState {
  if (!state.outbox.some((e) => e.nextAttemptMs === 0)) return state;
  return {
    ...state,
    outbox: state.outbox.map((e) =>
      e.nextAttemptMs === 0 ? { ...e, stored: true, nextAttemptMs: nowMs + OUTBOX_LEASE_MS } : e,
    ),
  };
}

/** When the sweep next has work for this device: an outbox retry, a window to close, a stale deadline. */
export function nextDueMs(
  state: DeviceHotState,
  ruleSet: HotSettings['ruleSet'],
  windowGraceMs: number,
): number | null {
  const candidates: number[] = state.outbox.map((e) => e.nextAttemptMs);
  for (const rule of ruleSet.windows) {
    const open = state.windows[rule.id];
    if (open) candidates.push(open.startMs + rule.windowMs + windowGraceMs);
  }
  const stale = nextStaleDeadlineMs(state, ruleSet);
  if (stale !== null) candidates.push(stale);
  return candidates.length === 0 ? null : Math.min(...candidates);
}

/**
 * The records as the engine reads them (each body's values of the rules' fields, not the body), per device
 * in partition order; a record that cannot be placed in time is left out.
 */
export function readingsByDevice(records: readonly TelemetryRecord[], ruleSet: RuleSet): Map<string, HotReading[]> {
  const byDevice = new Map<string, HotReading[]>();
  // The readings of one event (an envelope's) share its enqueuedAt: parse each time once.
  let lastIso: string | undefined;
  let lastMs = Number.NaN;
  for (const record of records) {
    if (record.enqueuedAt !== lastIso) {
      lastIso = record.enqueuedAt;
      lastMs = Date.parse(lastIso);
    }
    if (!Number.isFinite(lastMs)) continue;
    const reading = toHotReading(record, lastMs, ruleSet);
    let list = byDevice.get(reading.deviceId);
    if (!list) byDevice.set(reading.deviceId, (list = []));
    list.push(reading);
  }
  return byDevice;
}

/** A record as the engine reads it. */
function toHotReading(record: TelemetryRecord, enqueuedAtMs: number, ruleSet: RuleSet): HotReading {
  return {
    id: record.id,
    deviceId: record.deviceId,
    partition: record.partition,
    sequenceNumber: record.sequenceNumber,
    index: record.index,
    enqueuedAtMs,
    fields: readFields(record.body, ruleSet),
  };
}
