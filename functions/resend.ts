/**
 * Re-sent edge readings (docs/contracts.md §5): an edge module that died after IoT Hub accepted an
 * envelope but before its store recorded that sends the same readings again as a new event. Their ids
 * repeat (`{gatewayId}:{origin}:{n}`), so Cosmos upserts them harmlessly; the cold files and IoT Analytics
 * would add them again. This window remembers, per function and partition, the envelope readings already
 * written by an earlier event, and drops a later event's copy of them.
 *
 * Success is read from the host's progress: a partition's batches arrive one after another, and the next
 * batch starts past the last one only once that one succeeded (or was given up). Until then the last
 * batch's ids are pending, so a replay of the same events (same sequence numbers) is written in full.
 * The window lives in the worker's memory (bounded): after a worker restart or a partition moving to
 * another worker, a re-send can still be written twice under the same id — de-duplicate on `id`.
 */
import type { Reading } from './record.js';

/** Envelope readings remembered per function and partition. */
export const RESEND_WINDOW = 100_000;

interface PartitionWindow {
  /** id → sequence number of the event that carried it, oldest first. */
  readonly written: Map<string, number>;
  pending: { readonly last: number; readonly ids: ReadonlyArray<readonly [string, number]> } | undefined;
}

export class ResendFilter {
  private readonly partitions = new Map<string, PartitionWindow>();

  constructor(private readonly capacity = RESEND_WINDOW) {}

  /** The readings to write (copies of readings an earlier event carried are dropped), and how many were dropped. */
  filter(key: string, first: number, last: number, readings: readonly Reading[]): { readings: Reading[]; resent: number } {
    let window = this.partitions.get(key);
    if (!window) {
      window = { written: new Map(), pending: undefined };
      this.partitions.set(key, window);
    }
    // The previous batch is done once the host has moved past it.
    if (window.pending && first > window.pending.last) {
      for (const [id, seq] of window.pending.ids) this.remember(window, id, seq);
      window.pending = undefined;
    }
    const kept: Reading[] = [];
    const ids: Array<readonly [string, number]> = [];
    let resent = 0;
    for (const reading of readings) {
      const { id, sequenceNumber, partition, index } = reading.record;
      // Only edge readings have ids that can repeat in another event.
      if (id === `${partition}-${sequenceNumber}-${index}`) {
        kept.push(reading);
        continue;
      }
      const earlier = window.written.get(id);
      if (earlier !== undefined && earlier !== sequenceNumber) {
        resent++;
        continue;
      }
      kept.push(reading);
      ids.push([id, sequenceNumber]);
    }
    window.pending = { last: Math.max(last, window.pending?.last ?? -1), ids: window.pending ? [...window.pending.ids, ...ids] : ids };
    return { readings: kept, resent };
  }

  private remember(window: PartitionWindow, id: string, seq: number): void {
    window.written.delete(id);
    window.written.set(id, seq);
    if (window.written.size > this.capacity) {
      const oldest = window.written.keys().next().value as string;
      window.written.delete(oldest);
    }
  }
}
