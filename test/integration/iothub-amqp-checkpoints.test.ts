/**
 * `@azure/eventhubs-checkpointstore-blob` on Azurite against the emulator's Event Hubs endpoint: load
 * balancing between consumers of one group, and resuming from checkpoints.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ContainerClient } from '@azure/storage-blob';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import {
  earliestEventPosition,
  EventHubConsumerClient,
  EventHubProducerClient,
  type CheckpointStore,
  type ReceivedEventData,
  type Subscription,
  type SubscriptionEventHandlers,
} from '@azure/event-hubs';
import { openPartitionedLog } from '../../devstack/iothub/log/index.js';
import { startEventHubsEndpoint, type EventHubsEndpoint } from '../../devstack/iothub/amqp/index.js';
import { startStorage, type StorageServer } from '../../devstack/storage/index.js';
import type { PartitionedLog } from '../../devstack/iothub/log-types.js';

const HUB = 'iot-hub-checkpoints';
const PARTITION_IDS = ['0', '1', '2', '3'];
const quiet = pino({ level: 'silent' });
const noRetry = { maxRetries: 0, timeoutInMs: 5000 };
// Fast load balancing so a test sees claims and steals within seconds (defaults are 10 s / 60 s).
const loadBalancingOptions = { strategy: 'greedy' as const, updateIntervalInMs: 300, partitionOwnershipExpirationIntervalInMs: 5000 };

interface Body {
  p: string;
  n: number;
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('iothub amqp endpoint with the blob checkpoint store on Azurite', () => {
  let dir: string;
  let storage: StorageServer;
  let log: PartitionedLog;
  let endpoint: EventHubsEndpoint;
  let producer: EventHubProducerClient;
  const clients: { close(): Promise<void> }[] = [];
  const subscriptions: Subscription[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iothub-amqp-checkpoints-'));
    storage = await startStorage({ dir, port: 0 });
    log = await openPartitionedLog({ dir: path.join(dir, 'log'), partitionCount: PARTITION_IDS.length, logger: quiet });
    endpoint = await startEventHubsEndpoint({
      log,
      host: '127.0.0.1',
      port: 0,
      eventHubName: HUB,
      consumerGroups: ['$Default', 'warm', 'cold'],
      sasKeyName: 'service',
      sasKey: 'checkpoint-test-key',
      logger: quiet,
    });
    producer = new EventHubProducerClient(endpoint.connectionString, { retryOptions: noRetry });
  });

  afterEach(async () => {
    for (const subscription of subscriptions.splice(0)) await subscription.close().catch(() => undefined);
    for (const client of clients.splice(0)) await client.close().catch(() => undefined);
  });

  afterAll(async () => {
    await producer?.close();
    await endpoint?.stop();
    await log?.close();
    await storage?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function checkpointStore(container: string): Promise<CheckpointStore> {
    const client = new ContainerClient(storage.connection.connectionString, container);
    await client.createIfNotExists();
    return new BlobCheckpointStore(client);
  }

  async function send(n0: number, count: number): Promise<void> {
    for (const p of PARTITION_IDS) {
      const events = Array.from({ length: count }, (_, i) => ({ body: { p, n: n0 + i } satisfies Body }));
      await producer.sendBatch(events, { partitionId: p });
    }
  }

  function consumer(group: string, store: CheckpointStore): EventHubConsumerClient {
    const client = new EventHubConsumerClient(group, endpoint.connectionString, store, {
      retryOptions: noRetry,
      loadBalancingOptions,
    });
    clients.push(client);
    return client;
  }

  function subscribe(client: EventHubConsumerClient, handlers: SubscriptionEventHandlers): void {
    subscriptions.push(client.subscribe(handlers, { startPosition: earliestEventPosition, maxBatchSize: 5, maxWaitTimeInSeconds: 1 }));
  }

  async function owners(store: CheckpointStore, client: EventHubConsumerClient, group: string): Promise<Map<string, string[]>> {
    const byOwner = new Map<string, string[]>();
    const now = Date.now();
    for (const ownership of await store.listOwnership(client.fullyQualifiedNamespace, HUB, group)) {
      // An ownership older than the expiry interval (or relinquished, ownerId '') no longer counts.
      if (!ownership.ownerId || now - (ownership.lastModifiedTimeInMs ?? 0) > loadBalancingOptions.partitionOwnershipExpirationIntervalInMs) continue;
      byOwner.set(ownership.ownerId, [...(byOwner.get(ownership.ownerId) ?? []), ownership.partitionId].sort());
    }
    return byOwner;
  }

  it('two consumers of one group split the partitions and together read every event once', async () => {
    const store = await checkpointStore('checkpoints-split');
    await send(0, 10);
    const seen = new Map<string, Body[]>([
      ['a', []],
      ['b', []],
    ]);
    const stolen: string[] = [];
    const handlers = (name: string): SubscriptionEventHandlers => ({
      processEvents: async (events: ReceivedEventData[], context) => {
        seen.get(name)?.push(...events.map((event) => event.body as Body));
        const last = events.at(-1);
        if (last) await context.updateCheckpoint(last);
      },
      processError: async (error, context) => {
        if ((error as { code?: string }).code === 'ReceiverDisconnectedError') stolen.push(`${name}:${context.partitionId}`);
      },
    });
    const a = consumer('warm', store);
    subscribe(a, handlers('a'));
    await waitFor(() => (seen.get('a')?.length ?? 0) >= 40, 'consumer a to read the first 40 events');

    const b = consumer('warm', store);
    subscribe(b, handlers('b'));
    await waitFor(async () => {
      const split = await owners(store, a, 'warm');
      return split.size === 2 && [...split.values()].every((partitions) => partitions.length === 2);
    }, 'the two consumers to own two partitions each');
    const split = await owners(store, a, 'warm');
    expect(new Set([...split.values()].flat())).toEqual(new Set(PARTITION_IDS));
    // b's receivers (owner level 0, as with every checkpoint store) take over by disconnecting a's.
    await waitFor(() => stolen.length >= 2, "a's receivers on the claimed partitions to be disconnected");
    expect(stolen.every((entry) => entry.startsWith('a:'))).toBe(true);

    await send(10, 10);
    const all = (): Body[] => [...(seen.get('a') ?? []), ...(seen.get('b') ?? [])];
    await waitFor(() => all().filter((body) => body.n >= 10).length >= 40, 'the second 40 events');
    await new Promise((resolve) => setTimeout(resolve, 500)); // room for a duplicate to show up
    const second = all().filter((body) => body.n >= 10);
    expect(second).toHaveLength(40);
    for (const p of PARTITION_IDS) {
      expect(second.filter((body) => body.p === p).map((body) => body.n)).toEqual(Array.from({ length: 10 }, (_, i) => 10 + i));
    }
    expect(seen.get('b')?.length).toBeGreaterThanOrEqual(20);
    expect(new Set(seen.get('b')?.filter((body) => body.n >= 10).map((body) => body.p)).size).toBe(2);
  });

  it('a restarted consumer resumes from its checkpoints: no gaps, repeats only after the last checkpoint', async () => {
    const store = await checkpointStore('checkpoints-resume');
    const base = 100;
    await send(base, 20);
    const firstRun = new Map<string, number[]>(PARTITION_IDS.map((p) => [p, []]));
    const checkpointed = new Map<string, number>();
    const first = consumer('cold', store);
    subscribe(first, {
      processEvents: async (events, context) => {
        const bodies = events.map((event) => event.body as Body).filter((body) => body.n >= base);
        firstRun.get(context.partitionId)?.push(...bodies.map((body) => body.n));
        const last = events.at(-1);
        // Checkpoint only batches that end before n = base + 15: the rest is the uncheckpointed tail.
        if (last && (last.body as Body).n < base + 15) {
          await context.updateCheckpoint(last);
          checkpointed.set(context.partitionId, (last.body as Body).n);
        }
      },
      processError: async () => undefined,
    });
    await waitFor(() => [...firstRun.values()].every((ns) => ns.length >= 20), 'the first run to read 20 events per partition');
    await subscriptions.pop()?.close();
    await first.close();

    await send(base + 20, 5);
    const secondRun = new Map<string, number[]>(PARTITION_IDS.map((p) => [p, []]));
    const second = consumer('cold', store);
    subscribe(second, {
      processEvents: async (events, context) => {
        secondRun.get(context.partitionId)?.push(...events.map((event) => (event.body as Body).n));
        const last = events.at(-1);
        if (last) await context.updateCheckpoint(last);
      },
      processError: async () => undefined,
    });
    await waitFor(() => [...secondRun.values()].every((ns) => ns.at(-1) === base + 24), 'the second run to reach the newest events');
    for (const p of PARTITION_IDS) {
      const resumeAt = (checkpointed.get(p) ?? Number.NaN) + 1;
      expect(resumeAt).toBeGreaterThan(base);
      expect(resumeAt).toBeLessThanOrEqual(base + 15);
      expect(secondRun.get(p)).toEqual(Array.from({ length: base + 25 - resumeAt }, (_, i) => resumeAt + i));
    }
  });
});
