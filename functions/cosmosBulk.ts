/**
 * Cosmos DB bulk requests with per-operation retry: `items.bulk` sends each chunk of up to 100 operations
 * at once and reports a status per operation; throttled or transient ones (408, 429, 449, 503, and 424 for
 * the ones a failed neighbour held back) are sent again with exponential backoff. Every other status is
 * the caller's to interpret (404, 409, 412 mean something to the writer), in input order.
 */
import type { Container, OperationInput, OperationResponse } from '@azure/cosmos';

/** Cosmos DB takes at most 100 operations per bulk request and partition key range. */
const BULK_CHUNK = 100;
/** Bulk requests in flight at once per call. */
const BULK_CONCURRENCY = 4;
const RETRYABLE_STATUSES = new Set([408, 429, 449, 503, 424]);
const MAX_ATTEMPTS = 6;
const BACKOFF_MS = 100;

/** The final response of each operation, in order (status 0: no response at all), and the attempts it took. */
export async function bulkWithRetry(
  container: Container,
  operations: readonly OperationInput[],
): Promise<{ responses: OperationResponse[]; attempts: number }> {
  const results = new Array<OperationResponse>(operations.length);
  let pending = operations.map((_, i) => i);
  let attempts = 0;
  for (let attempt = 1; pending.length > 0; attempt++) {
    attempts = attempt;
    const responses = await bulkOnce(
      container,
      pending.map((i) => operations[i]!),
    );
    const retry: number[] = [];
    responses.forEach((response, k) => {
      const i = pending[k]!;
      results[i] = response;
      if (RETRYABLE_STATUSES.has(response.statusCode) && attempt < MAX_ATTEMPTS) retry.push(i);
    });
    if (retry.length > 0) await new Promise((r) => setTimeout(r, BACKOFF_MS * 2 ** (attempt - 1)));
    pending = retry;
  }
  return { responses: results, attempts };
}

async function bulkOnce(container: Container, operations: readonly OperationInput[]): Promise<OperationResponse[]> {
  const responses = new Array<OperationResponse>(operations.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < operations.length) {
      const start = next;
      next += BULK_CHUNK;
      const chunk = operations.slice(start, start + BULK_CHUNK);
      const answered = await container.items.bulk([...chunk], { continueOnError: true });
      chunk.forEach((_, i) => (responses[start + i] = answered[i] ?? { statusCode: 0, requestCharge: 0 }));
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(BULK_CONCURRENCY, Math.ceil(operations.length / BULK_CHUNK)) }, worker),
  );
  return responses;
}
