import { describe, expect, it } from 'vitest';
import { BatchAccumulator, receiveWaitMs } from '../../../devstack/functions-host/batching.js';

const settings = { maxEventBatchSize: 5, minEventBatchSize: 3, maxWaitTimeMs: 1000 };
const events = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('local host: batches as the Event Hubs extension forms them', () => {
  it('holds events until minEventBatchSize are waiting', () => {
    const batches = new BatchAccumulator<number>(settings);
    batches.add(events(0, 2), 0);
    expect(batches.take(10)).toBeUndefined();
    batches.add(events(2, 1), 20);
    expect(batches.take(20)).toEqual([0, 1, 2]);
    expect(batches.size).toBe(0);
  });

  it('never dispatches more than maxEventBatchSize; a full backlog goes out batch after batch', () => {
    const batches = new BatchAccumulator<number>(settings);
    batches.add(events(0, 12), 0);
    expect(batches.take(0)).toEqual([0, 1, 2, 3, 4]);
    expect(batches.take(0)).toEqual([5, 6, 7, 8, 9]);
    // Two left, below the minimum: they wait, counted from when they arrived.
    expect(batches.take(999)).toBeUndefined();
    expect(batches.take(1000)).toEqual([10, 11]);
  });

  it('dispatches a partial batch once the oldest held event has waited maxWaitTime', () => {
    const batches = new BatchAccumulator<number>(settings);
    batches.add([1], 100);
    expect(batches.dueInMs(600)).toBe(500);
    batches.add([2], 900);
    expect(batches.take(1099)).toBeUndefined();
    expect(batches.take(1100)).toEqual([1, 2]);
    expect(batches.dueInMs(1100)).toBeUndefined();
  });

  it('with minEventBatchSize 1 whatever has arrived goes at once', () => {
    const batches = new BatchAccumulator<number>({ ...settings, minEventBatchSize: 1 });
    batches.add([7], 0);
    expect(batches.take(0)).toEqual([7]);
  });

  it('a lost partition forgets what it held (the next owner reads it from the checkpoint)', () => {
    const batches = new BatchAccumulator<number>(settings);
    batches.add(events(0, 2), 0);
    batches.clear();
    expect(batches.take(10_000)).toBeUndefined();
  });

  it('the receive wait keeps a partial batch within a tenth of maxWaitTime, between 50 ms and 1 s', () => {
    expect(receiveWaitMs({ ...settings, maxWaitTimeMs: 20_000 })).toBe(1000);
    expect(receiveWaitMs({ ...settings, maxWaitTimeMs: 2000 })).toBe(200);
    expect(receiveWaitMs({ ...settings, maxWaitTimeMs: 100 })).toBe(50);
  });
});
