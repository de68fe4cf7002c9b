/**
 * Restart mid-stream with edge persistence on: the stack is stopped while devices are publishing and the
 * edge module still holds queued readings, then started again on the same state. The Cosmos server
 * starts empty (memory only), so the warm path is rebuilt from the hub's durable log; every reading sent
 * before and after the restart must then be in Cosmos exactly once, none missing.
 */
import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { startStack } from '../../devstack/orchestrator/stack.js';
import type { Stack } from '../../devstack/orchestrator/stack.js';
import type { Simulator } from '../../devstack/simulator/simulator.js';
import { cosmosContent } from '../../devstack/simulator/verify.js';
import { EXACT, describeComparison, tempDir, untilExact } from './helpers.js';

const DEVICES = 4;
const RATE_PER_SECOND = 200;

describe('restarting the stack mid-stream', () => {
  let dir: string | undefined;
  const stacks: Stack[] = [];
  afterAll(async () => {
    for (const stack of stacks) await stack.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('still holds every reading in Cosmos exactly once, nothing missing', async () => {
    dir = await tempDir('restart');
    // A long PublishInterval keeps readings queued in the edge module when the stack stops.
    const common = {
      dir,
      devices: DEVICES,
      ratePerSecond: RATE_PER_SECOND,
      edgePersistence: true,
      edgeSettings: { PublishInterval: '3' },
    };

    const first = await startStack({ ...common, simulator: { trackReadings: true } });
    stacks.push(first);
    const firstSimulator = first.simulator as Simulator;
    while (firstSimulator.sent.size < 300) await new Promise((resolve) => setTimeout(resolve, 50));
    const edgeQueued = (await first.status()).components.edge?.queued ?? 0;
    await first.stop(); // the simulator stops first, then the edge module (persisting its queue), …
    const firstCounters = firstSimulator.counters();
    expect(firstCounters.sendErrors).toBe(0);
    const sentBefore = [...firstSimulator.sent.keys()];
    const nextSeq = firstSimulator.nextSeq();

    const second = await startStack({
      ...common,
      simulator: { trackReadings: true, readingsPerDevice: 25, firstSeq: nextSeq },
    });
    stacks.push(second);
    const secondSimulator = second.simulator as Simulator;
    await secondSimulator.finished();
    expect(secondSimulator.counters().sendErrors).toBe(0);
    const sentAfter = [...secondSimulator.sent.keys()];
    expect(sentAfter.length).toBe(DEVICES * 25);

    const all = [...sentBefore, ...sentAfter];
    expect(new Set(all).size).toBe(all.length);
    const cosmos = second.connections.cosmos as Parameters<typeof cosmosContent>[0];
    const result = await untilExact(all, () => cosmosContent(cosmos), 60_000);
    expect(describeComparison(result)).toEqual({ ...EXACT, sample: [] });
    // The restart really was mid-stream: the edge module held readings when it stopped.
    expect(edgeQueued).toBeGreaterThan(0);
  }, 150_000);
});
