/**
 * The warm writer's bulk upsert: chunks of at most 100 operations, throttled operations retried alone,
 * anything else fails the batch naming the document. `items.bulk` is scripted here (a pure unit test of
 * the retry logic: the local Cosmos server never throttles; the real path is covered in integration).
 */
import type { Container } from '@azure/cosmos';
import { describe, expect, it } from 'vitest';
import type { ReadingDocument } from '../../../functions/warmWriter.js';
import { upsertReadings } from '../../../functions/warmWriter.js';

function doc(i: number): ReadingDocument {
  return { id: `0-${i}-0`, pk: 'd:2026-11-23', type: 'reading', ttl: 60 } as unknown as ReadingDocument;
}

/** A container whose items.bulk answers each call with the statuses `answer` picks per document id. */
function scriptedContainer(answer: (id: string, call: number) => number) {
  const calls: string[][] = [];
  const container = {
    items: {
      bulk: async (operations: Array<{ resourceBody: { id: string } }>) => {
        const ids = operations.map((o) => o.resourceBody.id);
        calls.push(ids);
        return ids.map((id) => ({ statusCode: answer(id, calls.length) }));
      },
    },
  } as unknown as Container;
  return { container, calls };
}

describe('warm bulk upsert', () => {
  it('sends at most 100 operations per bulk request', async () => {
    const { container, calls } = scriptedContainer(() => 200);
    await upsertReadings(
      container,
      Array.from({ length: 250 }, (_, i) => doc(i)),
    );
    expect(calls.map((c) => c.length).sort((a, b) => a - b)).toEqual([50, 100, 100]);
  });

  it('retries only the throttled operations, until they succeed', async () => {
    const { container, calls } = scriptedContainer((id, call) => (id === '0-1-0' && call < 3 ? 429 : 201));
    await upsertReadings(container, [doc(0), doc(1), doc(2)]);
    expect(calls).toEqual([['0-0-0', '0-1-0', '0-2-0'], ['0-1-0'], ['0-1-0']]);
  });

  it('a non-retryable status fails the batch, naming the document and status', async () => {
    const { container } = scriptedContainer((id) => (id === '0-2-0' ? 400 : 200));
    await expect(upsertReadings(container, [doc(0), doc(1), doc(2)])).rejects.toThrow(
      /1 of 3 upserts failed; first: id 0-2-0 status 400/,
    );
  });

  it('an operation still throttled after the last attempt fails the batch', async () => {
    const { container, calls } = scriptedContainer(() => 429);
    await expect(upsertReadings(container, [doc(0)])).rejects.toThrow(/after 6 attempts; first: id 0-0-0 status 429/);
    expect(calls).toHaveLength(6);
  });
});
