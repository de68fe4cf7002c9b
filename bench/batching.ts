/**
 * npm run bench:batching — engine throughput next to a bare baseline measured in the same run.
 *
 * Workload: 200-byte messages round-robin over 50 channels with the connector's defaults (BatchSize 5,
 * QueueSize 2048), enqueue → tick → a sink that succeeds, until drained. The engine does everything it
 * does in production (validation, limits, ids, dedupe, statuses). The baseline is plain arrays: push,
 * then slice a batch of 5 per channel per tick, hand it to the same sink, no accounting.
 * Runs alternate (baseline, engine, baseline, …) and the median of each is reported, because this
 * machine is noisy.
 */
import { BatchingEngine } from '../batching/engine.js';
import { loadConnectorConfig } from '../batching/config.js';
import { DELIVERED } from '../batching/types.js';
import type { Batch, BatchOutcome } from '../batching/types.js';

const CHANNELS = 50;
const MESSAGE_BYTES = 200;
const BATCH_SIZE = 5;
const PER_CHANNEL_PER_ROUND = 2048; // the default queue size: fill every queue, then drain
const ROUNDS = 8;
const TOTAL = CHANNELS * PER_CHANNEL_PER_ROUND * ROUNDS;
const RUNS = 5;

const channels = Array.from({ length: CHANNELS }, (_, i) => `channel_${i}`);
const payload = new Uint8Array(MESSAGE_BYTES).fill(0x41);

// The same sink for both: it succeeds and touches the batch so the work is not optimised away.
let sunk = 0;
function sink(messages: readonly unknown[]): BatchOutcome {
  sunk += messages.length;
  return DELIVERED;
}

function runBaseline(): number {
  const queues: Array<Array<{ channel: string; payload: Uint8Array }>> = channels.map(() => []);
  const heads = new Array<number>(CHANNELS).fill(0);
  const start = process.hrtime.bigint();
  for (let round = 0; round < ROUNDS; round++) {
    // The same input as the engine gets: one message object per reading, as a caller builds it.
    for (let i = 0; i < PER_CHANNEL_PER_ROUND; i++) {
      for (let c = 0; c < CHANNELS; c++) queues[c]!.push({ channel: channels[c]!, payload });
    }
    let remaining = CHANNELS * PER_CHANNEL_PER_ROUND;
    while (remaining > 0) {
      for (let c = 0; c < CHANNELS; c++) {
        const q = queues[c]!;
        const head = heads[c]!;
        if (head >= q.length) continue;
        const batch = q.slice(head, head + BATCH_SIZE);
        heads[c] = head + batch.length;
        remaining -= batch.length;
        sink(batch);
      }
    }
    for (let c = 0; c < CHANNELS; c++) {
      queues[c] = [];
      heads[c] = 0;
    }
  }
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function runEngine(): number {
  const config = loadConnectorConfig({
    MemorySize: String(((TOTAL / ROUNDS) * MESSAGE_BYTES) / 1024 + 1024),
    PublishInterval: '1',
  });
  const engine = new BatchingEngine({ config });
  let now = 0;
  let statuses = 0;
  const start = process.hrtime.bigint();
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < PER_CHANNEL_PER_ROUND; i++) {
      for (let c = 0; c < CHANNELS; c++) {
        const result = engine.offer({ channel: channels[c]!, payload }, now);
        if (!result.accepted) throw new Error(`refused: ${JSON.stringify(result.statuses[0])}`);
      }
    }
    while (!engine.idle) {
      now += 1000; // one PublishInterval per tick
      const { batches } = engine.tick(now);
      for (const batch of batches as Batch[]) statuses += engine.complete(batch, sink(batch.messages), now).length;
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (statuses !== TOTAL) throw new Error(`expected ${TOTAL} statuses, got ${statuses}`);
  return seconds;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// Warm up both paths so the JIT has compiled them before timing.
runBaseline();
runEngine();
const baseline: number[] = [];
const engine: number[] = [];
for (let i = 0; i < RUNS; i++) {
  baseline.push(TOTAL / runBaseline());
  engine.push(TOTAL / runEngine());
}
const b = median(baseline);
const e = median(engine);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(
  `workload: ${fmt(TOTAL)} messages of ${MESSAGE_BYTES} B over ${CHANNELS} channels, batch ${BATCH_SIZE}, ${RUNS} runs each (median)`,
);
console.log(`bare baseline (arrays, push + slice): ${fmt(b)} msg/s`);
console.log(`engine (limits, ids, dedupe, statuses): ${fmt(e)} msg/s`);
console.log(`goal: >= 1,000,000 msg/s and >= 0.5x of bare baseline (sink saw ${fmt(sunk)} messages)`);
console.log(`batching: ${Math.round(e)} msg/s, ${(e / b).toFixed(2)}x of bare baseline`);
