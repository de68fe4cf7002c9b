/**
 * The hot path against the real Cosmos DB server and a real HTTP receiver (the devstack's alert webhook,
 * a Logic Apps trigger stand-in): the hotPath handler called with the trigger's real argument shape, the
 * hotSweep handler, and the processor with a clock of its own where time must pass.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import azureFunctions from '@azure/functions';
import type { ReceivedEventData } from '@azure/event-hubs';
import type { AlertDocument } from '@iot-ingest/contracts';
import { loadFunctionsConfig } from '../../functions/config.js';
import { createRuntime } from '../../functions/clients.js';
import type { Runtime } from '../../functions/clients.js';
import { createHotPathHandler } from '../../functions/hotPath.js';
import { createHotSweepHandler } from '../../functions/hotSweep.js';
import { HotProcessor } from '../../functions/hot/processor.js';
import { HotStore } from '../../functions/hot/store.js';
import type { StateDocument } from '../../functions/hot/store.js';
import { functionsLogger } from '../../functions/log.js';
import { toTriggerInput } from '../../devstack/functions-host/trigger-input.js';
import { startWebhookReceiver } from '../../devstack/webhook/index.js';
import type { WebhookReceiver } from '../../devstack/webhook/index.js';
import { queryAll, receivedEvent, startBackends, waitFor } from './functions-helpers.js';
import type { Backends } from './functions-helpers.js';

const { InvocationContext } = azureFunctions;
type InvocationContext = InstanceType<typeof InvocationContext>;

const RULES = {
  rules: [
    { id: 'too-hot', field: 'temperatureC', op: '>', value: 30 },
    { id: 'avg-hot', field: 'temperatureC', op: '>', value: 25, window: { seconds: 10, agg: 'avg' } },
    { id: 'silent', staleSeconds: 1, deviceIds: ['dev-silent'] },
  ],
};

function invoke(
  handler: (m: unknown, c: InvocationContext) => unknown,
  events: ReceivedEventData[],
  partitionId = '1',
): Promise<unknown> {
  const partition = { fullyQualifiedNamespace: 'localhost', eventHubName: 'hub', consumerGroup: 'hot', partitionId };
  const { messages, triggerMetadata } = toTriggerInput(events, partition, 'binary');
  return Promise.resolve(
    handler(
      messages,
      new InvocationContext({
        invocationId: 'inv',
        functionName: 'hotPath',
        triggerMetadata,
        logHandler: () => undefined,
      }),
    ),
  );
}

const timer = {
  isPastDue: false,
  schedule: { adjustForDST: false },
  scheduleStatus: { last: '', next: '', lastUpdated: '' },
};
function sweepWith(runtime: Runtime): Promise<void> {
  return createHotSweepHandler(runtime)(
    timer,
    new InvocationContext({ invocationId: 'sweep', functionName: 'hotSweep', logHandler: () => undefined }),
  );
}

let nextSeq = 1000;
function events(deviceId: string, temperatures: number[], startMs: number, stepMs = 1000): ReceivedEventData[] {
  return temperatures.map((temperatureC, i) =>
    receivedEvent({
      body: Buffer.from(JSON.stringify({ temperatureC })),
      sequenceNumber: nextSeq++,
      deviceId,
      enqueuedTimeUtc: new Date(startMs + i * stepMs),
    }),
  );
}

describe('hotPath and hotSweep against the Cosmos DB server and an HTTP webhook receiver', () => {
  let backends: Backends;
  let receiver: WebhookReceiver;
  let settings: Record<string, string>;
  const runtimes: Runtime[] = [];
  const newRuntime = (extra: Record<string, string> = {}): Runtime => {
    const runtime = createRuntime(loadFunctionsConfig({ ...settings, ...extra }));
    runtimes.push(runtime);
    return runtime;
  };
  const alerts = (deviceId: string) =>
    queryAll<AlertDocument>(
      backends.cosmosContainer().database.container('alerts'),
      "SELECT * FROM c WHERE c.type = 'alert' AND c.deviceId = @d ORDER BY c.at",
      [{ name: '@d', value: deviceId }],
    );
  const delivered = (deviceId: string) => receiver.received().filter((r) => r.body.deviceId === deviceId);

  beforeAll(async () => {
    backends = await startBackends(['telemetry']);
    receiver = await startWebhookReceiver();
    await backends
      .cosmosContainer()
      .database.containers.createIfNotExists({ id: 'alerts', partitionKey: { paths: ['/pk'] } });
    settings = {
      ...backends.settings,
      IOTHUB_EVENTS: 'Endpoint=sb://localhost;EntityPath=hub',
      HOT_RULES: JSON.stringify(RULES),
      HOT_WEBHOOK_URL: receiver.connection.url,
      HOT_WINDOW_GRACE_SECONDS: '0',
    };
  });

  beforeEach(() => receiver.failNext(0, 500));

  afterAll(async () => {
    await Promise.all(runtimes.map((r) => r.close()));
    await receiver?.stop();
    await backends?.stop();
  });

  it('a threshold alert is stored once and POSTed once per transition with the Logic Apps body, however often the batch is redelivered', async () => {
    const runtime = newRuntime();
    const handler = createHotPathHandler(runtime);
    const batch = events('dev-a', [20, 31, 33, 29], Date.parse('2026-11-23T10:00:00Z'));
    await invoke(handler, batch);
    await invoke(handler, batch); // redelivered: same positions
    // And by a host that restarted (no cache): the stored positions still recognise it.
    await invoke(createHotPathHandler(newRuntime()), batch);

    const docs = await alerts('dev-a');
    expect(docs.filter((d) => d.rule === 'too-hot')).toMatchObject([
      {
        state: 'resolved',
        value: 31,
        at: '2026-11-23T10:00:01.000Z',
        resolvedValue: 29,
        resolvedAt: '2026-11-23T10:00:03.000Z',
        readingId: `1-${batch[1]!.sequenceNumber}-0`,
      },
    ]);
    const bodies = delivered('dev-a').filter((r) => r.body.rule === 'too-hot');
    expect(bodies.map((r) => r.body)).toEqual([
      {
        rule: 'too-hot',
        deviceId: 'dev-a',
        state: 'raised',
        value: 31,
        at: '2026-11-23T10:00:01.000Z',
        readingId: `1-${batch[1]!.sequenceNumber}-0`,
      },
      {
        rule: 'too-hot',
        deviceId: 'dev-a',
        state: 'resolved',
        value: 29,
        at: '2026-11-23T10:00:03.000Z',
        readingId: `1-${batch[3]!.sequenceNumber}-0`,
      },
    ]);
    expect(bodies.map((r) => r.key)).toEqual([`${docs[0]!.id}/raised`, `${docs[0]!.id}/resolved`]);
    expect(runtime.counters).toMatchObject({ alertsRaised: 1, alertsResolved: 1, webhookDelivered: 2 });
  });

  it('an open window survives a restart: a new host continues it from Cosmos and raises what one uninterrupted host would', async () => {
    const t0 = Date.parse('2026-11-23T11:00:00Z');
    // Window [11:00:00, 11:00:10): 24, 28, 30 → avg 27.33 > 25; closed by the reading at 11:00:12.
    const first = newRuntime();
    await invoke(createHotPathHandler(first), events('dev-w', [24, 28], t0, 3000));
    await first.close();
    const second = newRuntime();
    await invoke(createHotPathHandler(second), [
      ...events('dev-w', [30], t0 + 6000),
      ...events('dev-w', [20], t0 + 12_000),
    ]);

    const docs = (await alerts('dev-w')).filter((d) => d.rule === 'avg-hot');
    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({
      kind: 'window',
      state: 'raised',
      at: '2026-11-23T11:00:10.000Z',
      id: 'avg-hot:dev-w:2026-11-23T11:00:00.000Z',
    });
    expect(docs[0]!.value).toBeCloseTo((24 + 28 + 30) / 3, 10);
    expect(delivered('dev-w').map((r) => [r.body.rule, r.body.state])).toEqual([['avg-hot', 'raised']]);
  });

  it('two hosts over one device at once (a partition moving): the etag decides and no alert is doubled', async () => {
    const a = newRuntime();
    const b = newRuntime();
    const t0 = Date.parse('2026-11-23T12:00:00Z');
    const batch = events('dev-m', [20, 35, 36, 22, 40], t0);
    await Promise.all([invoke(createHotPathHandler(a), batch), invoke(createHotPathHandler(b), batch)]);
    const more = events('dev-m', [21], t0 + 5000);
    await Promise.all([invoke(createHotPathHandler(a), more), invoke(createHotPathHandler(b), more)]);

    const docs = (await alerts('dev-m')).filter((d) => d.rule === 'too-hot');
    expect(docs.map((d) => [d.state, d.value, d.resolvedValue])).toEqual([
      ['resolved', 35, 22],
      ['resolved', 40, 21],
    ]);
    const keys = delivered('dev-m').map((r) => r.key);
    expect(keys).toHaveLength(4);
    expect(new Set(keys).size).toBe(4);
    // What was delivered leaves the stored outbox with the device's next state write, or within
    // OUTBOX_WRITE_DELAY_MS when none comes (this is the device's last batch).
    const storedOutbox = async () =>
      (
        await backends
          .cosmosContainer()
          .database.container('alerts')
          .item('hot-state:dev-m', 'dev-m')
          .read<StateDocument>()
      ).resource?.outbox;
    await waitFor(async () => (await storedOutbox())?.length === 0, 5000, 'the delivered alerts to leave the outbox');
    expect(await storedOutbox()).toEqual([]);
  });

  it('the sweep raises a stale alert once per silence and the next reading resolves it', async () => {
    const runtime = newRuntime();
    const lastMs = Date.now();
    await invoke(createHotPathHandler(runtime), events('dev-silent', [20], lastMs));
    await sweepWith(runtime); // not yet silent for 1 s
    expect(await alerts('dev-silent')).toEqual([]);
    await new Promise((r) => setTimeout(r, 1100));
    await sweepWith(runtime);
    await sweepWith(runtime); // the same silence: nothing more
    const raised = await alerts('dev-silent');
    expect(raised).toMatchObject([
      { rule: 'silent', kind: 'stale', state: 'raised', at: new Date(lastMs + 1000).toISOString() },
    ]);
    await invoke(createHotPathHandler(runtime), events('dev-silent', [21], Date.now()));
    expect(await alerts('dev-silent')).toMatchObject([{ id: raised[0]!.id, state: 'resolved' }]);
    expect(delivered('dev-silent').map((r) => r.body.state)).toEqual(['raised', 'resolved']);
  });

  it('a webhook that fails twice is retried with backoff inside the invocation', async () => {
    receiver.failNext(2, 503);
    const before = receiver.counters().injectedFailures;
    await invoke(createHotPathHandler(newRuntime()), events('dev-r', [50], Date.parse('2026-11-23T13:00:00Z')));
    expect(receiver.counters().injectedFailures - before).toBe(2);
    expect(delivered('dev-r').map((r) => r.body.state)).toEqual(['raised']);
  });

  it('a webhook down for longer is retried by the sweep later, in order, and a refusal marks the alert webhook: failed', async () => {
    const runtime = newRuntime();
    let nowMs = Date.now();
    const processor = new HotProcessor({
      settings: runtime.config.hot,
      store: new HotStore(() => runtime.alertsContainer()),
      counters: runtime.counters,
      now: () => nowMs,
      inlineBackoffMs: [],
    });
    const t0 = Date.now();
    receiver.failNext(1, 500);
    await processor.processRecords(recordsOf(events('dev-d', [50, 20], t0)), functionsLogger);
    expect(delivered('dev-d')).toEqual([]);
    // Both still wait in the outbox; the raised one blocks the resolved one.
    nowMs += 60_000;
    await processor.sweep(functionsLogger);
    expect(
      delivered('dev-d')
        .filter((r) => r.body.rule === 'too-hot')
        .map((r) => r.body.state),
    ).toEqual(['raised', 'resolved']);

    receiver.failNext(1, 400);
    await processor.processRecords(recordsOf(events('dev-d', [60], nowMs)), functionsLogger);
    await waitFor(
      async () => (await alerts('dev-d')).some((d) => d.webhook === 'failed'),
      5000,
      'the refused alert marked webhook: failed',
    );
    expect(runtime.counters.webhookFailed).toBe(1);
  });

  it('a batch with alerts costs one round of writes: what its POSTs did to the outbox goes with the next batch', async () => {
    const runtime = newRuntime();
    const store = new CountingStore(() => runtime.alertsContainer());
    const processor = new HotProcessor({
      settings: runtime.config.hot,
      store,
      counters: runtime.counters,
      outboxWriteDelayMs: 60_000, // the timer stays out of this
    });
    const stored = async () =>
      (await runtime.alertsContainer().item('hot-state:dev-o', 'dev-o').read<StateDocument>()).resource!;
    const t0 = Date.parse('2026-11-23T14:00:00Z');
    await processor.processRecords(recordsOf(events('dev-o', [20, 35], t0)), functionsLogger);
    expect(store.saves).toBe(1);
    expect(delivered('dev-o').map((r) => r.body.state)).toEqual(['raised']);
    // Delivered, but the stored outbox still lists it (leased to this host) until the next write.
    expect((await stored()).outbox.map((e) => e.transition.state)).toEqual(['raised']);

    await processor.processRecords(recordsOf(events('dev-o', [36], t0 + 2000)), functionsLogger);
    expect(store.saves).toBe(2);
    expect((await stored()).outbox).toEqual([]);
    expect(await alerts('dev-o')).toMatchObject([{ rule: 'too-hot', state: 'raised', value: 35 }]);
  });

  it('an empty rule set leaves the hot path idle', async () => {
    const runtime = newRuntime({ HOT_RULES: '{"rules":[]}' });
    await invoke(createHotPathHandler(runtime), events('dev-idle', [99], Date.now()));
    expect(await alerts('dev-idle')).toEqual([]);
  });
});

/** The store, counting its state writes (each is one round of Cosmos requests). */
class CountingStore extends HotStore {
  saves = 0;
  override save(...args: Parameters<HotStore['save']>): ReturnType<HotStore['save']> {
    this.saves++;
    return super.save(...args);
  }
}

/** Records as the trigger's reader makes them (one per plain message). */
function recordsOf(list: ReceivedEventData[]) {
  return list.map((e) => ({
    id: `1-${e.sequenceNumber}-0`,
    deviceId: String(e.systemProperties!['iothub-connection-device-id']),
    channel: null,
    ts: e.enqueuedTimeUtc.toISOString(),
    enqueuedAt: e.enqueuedTimeUtc.toISOString(),
    partition: '1',
    sequenceNumber: e.sequenceNumber,
    index: 0,
    properties: {},
    body: JSON.parse((e.body as Buffer).toString('utf8')) as unknown,
  }));
}
