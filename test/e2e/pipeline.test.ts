/**
 * The whole local pipeline, started from the test exactly as `npm start` starts it (startStack), on random
 * ports in a temp dir: K devices × M readings through both device paths (direct to the hub, and
 * Greengrass-style through the edge module) must land in Cosmos DB, the cold blobs and the IoT Analytics
 * emulator exactly once each by readingId; the Greengrass devices' statuses must all be success; the CLI
 * must answer `query warm` and `query cold` for a known device.
 */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connections } from '../../contracts/connections.js';
import { readConnections } from '../../contracts/connections.js';
import { startStack } from '../../devstack/orchestrator/stack.js';
import type { Stack } from '../../devstack/orchestrator/stack.js';
import type { Simulator } from '../../devstack/simulator/simulator.js';
import { coldContent, cosmosContent, iotAnalyticsContent } from '../../devstack/simulator/verify.js';
import { EXACT, describeComparison, tempDir, untilExact } from './helpers.js';

const exec = promisify(execFile);
const DEVICES = 4; // 2 direct, 2 through the edge module
const READINGS_PER_DEVICE = 40;
const SINK_TIMEOUT_MS = 45_000;

describe('the whole pipeline, device to every sink', () => {
  let dir: string;
  let stack: Stack;
  let simulator: Simulator;
  let connections: Connections;
  let sent: string[];
  const startedAt = new Date(Date.now() - 60_000);

  beforeAll(async () => {
    dir = await tempDir('pipeline');
    stack = await startStack({
      dir,
      devices: DEVICES,
      ratePerSecond: 160,
      edgeSettings: { PublishInterval: '1' },
      simulator: { readingsPerDevice: READINGS_PER_DEVICE, trackReadings: true },
    });
    expect(stack.unavailable).toEqual([]);
    simulator = stack.simulator as Simulator;
    await simulator.finished();
    sent = [...simulator.sent.keys()];
    connections = stack.connections;
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('publishes every reading on both paths without a send error', () => {
    const counters = simulator.counters();
    expect(counters).toMatchObject({ devicesDirect: 2, devicesGreengrass: 2, sendErrors: 0 });
    expect(counters.sentDirect).toBe(2 * READINGS_PER_DEVICE);
    expect(counters.sentGreengrass).toBe(2 * READINGS_PER_DEVICE);
    expect(new Set(sent).size).toBe(DEVICES * READINGS_PER_DEVICE);
  });

  it('writes connections.json with every component key and ready last', async () => {
    const file = await readConnections(dir);
    expect(Object.keys(file)).toEqual(
      expect.arrayContaining(['iotHub', 'edgeModule', 'storage', 'cosmos', 'iotAnalytics', 'devstack']),
    );
    expect(Object.keys(file).at(-1)).toBe('ready');
    expect(file.ready).toBe(true);
    expect(file.iotHub).toMatchObject({ hostName: 'localhost', partitionCount: 4 });
    expect(file.edgeModule?.mqttUrl).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
  });

  it('Cosmos DB holds exactly the sent readings, each once', async () => {
    const cosmos = connections.cosmos as Parameters<typeof cosmosContent>[0];
    const result = await untilExact(sent, () => cosmosContent(cosmos), SINK_TIMEOUT_MS);
    expect(describeComparison(result)).toEqual({ ...EXACT, sample: [] });
  }, 60_000);

  it('the cold blobs hold exactly the sent readings, each once', async () => {
    const storage = connections.storage as { connectionString: string; coldContainer: string };
    const result = await untilExact(
      sent,
      () => coldContent(storage.connectionString, storage.coldContainer),
      SINK_TIMEOUT_MS,
    );
    expect(describeComparison(result)).toEqual({ ...EXACT, sample: [] });
  }, 60_000);

  it('the IoT Analytics emulator holds exactly the sent readings, each once', async () => {
    const result = await untilExact(sent, () => iotAnalyticsContent(dir), SINK_TIMEOUT_MS);
    expect(describeComparison(result)).toEqual({ ...EXACT, sample: [] });
  }, 60_000);

  it('every Greengrass-style reading got a success status, each put with its own id', async () => {
    const deadline = Date.now() + 20_000;
    const greengrass = [...simulator.sent.values()].filter((r) => r.path === 'greengrass');
    while (simulator.counters().statusSuccess < greengrass.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const counters = simulator.counters();
    expect(counters.statusFail).toBe(0);
    expect(counters.statusSuccess).toBe(greengrass.length);
    const puts = greengrass.filter((r) => r.requestId !== undefined);
    expect(puts.length).toBe(READINGS_PER_DEVICE); // half of each device's readings are `put`
    for (const reading of puts)
      expect(simulator.statusById.get(reading.requestId as string)).toEqual({ status: 'success' });
  }, 30_000);

  it('the CLI answers query warm and query cold with a known device’s readings', async () => {
    const device = 'sim-direct-001';
    const expected = sent.filter((id) => id.startsWith(`${device}:`)).sort();
    const env = { ...process.env, IOT_INGEST_DEVSTACK_DIR: dir };
    const bin = path.resolve('cli/bin/iot-ingest.js');
    // Cosmos first (cold waits on the same data, already checked above).
    const warm = await exec(
      process.execPath,
      [
        bin,
        'query',
        'warm',
        "SELECT c.body.readingId AS readingId FROM c WHERE c.deviceId = @d AND c.type = 'reading'",
        '--param',
        `@d=${device}`,
        '--format',
        'jsonl',
      ],
      { env },
    );
    const warmIds = warm.stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { readingId: string }).readingId)
      .sort();
    expect(warmIds).toEqual(expected);
    const cold = await exec(
      process.execPath,
      [
        bin,
        'query',
        'cold',
        '--from',
        startedAt.toISOString(),
        '--to',
        new Date(Date.now() + 3_600_000).toISOString(),
        '--device',
        device,
        '--format',
        'jsonl',
        "SELECT json_extract_string(body, '$.readingId') AS readingId FROM telemetry",
      ],
      { env },
    );
    const coldIds = cold.stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { readingId: string }).readingId)
      .sort();
    expect(coldIds).toEqual(expected);
  }, 60_000);
});
