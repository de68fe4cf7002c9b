/**
 * The composed IoT Hub emulator end to end: REAL azure-iot-device clients publish over MQTT/TLS, REAL
 * EventHubConsumerClients read the Event Hubs-compatible endpoint; the durable log in between. Random
 * ports, a fresh temp state dir, everything stopped in afterAll.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { EventHubConsumerClient, earliestEventPosition } from '@azure/event-hubs';
import type { ReceivedEventData } from '@azure/event-hubs';
import { Message } from 'azure-iot-device';
import type { Client, ModuleClient } from 'azure-iot-device';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeConnection } from '../../contracts/connections.js';
import { startIotHub } from '../../devstack/iothub/emulator.js';
import type { IotHub } from '../../devstack/iothub/emulator.js';
import { eventually, openDeviceClient, openModuleClient } from './iothub-helpers.js';

const run = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, '..', '..');
const GROUPS = ['$Default', 'warm', 'cold', 'analytics'] as const;

let dir: string;
let hub: IotHub;
let ca: string;
const closers: (() => Promise<unknown>)[] = [];
/** The partition each received event was read from. */
const partitionOf = new WeakMap<ReceivedEventData, string>();

function start(): Promise<IotHub> {
  return startIotHub({ dir, mqttPort: 0, amqpPort: 0, partitionCount: 4, logger: pino({ level: 'silent' }) });
}

/** Reads every partition of `group` from the start until `count` events with `marker` arrived. */
async function readAll(group: string, marker: string, count: number): Promise<ReceivedEventData[]> {
  const consumer = new EventHubConsumerClient(group, hub.connection.eventHubsConnectionString);
  const received: ReceivedEventData[] = [];
  const subscription = consumer.subscribe(
    {
      processEvents: async (events, context) => {
        for (const event of events) {
          if (event.properties?.run !== marker) continue;
          partitionOf.set(event, context.partitionId);
          received.push(event);
        }
      },
      processError: async () => undefined,
    },
    { startPosition: earliestEventPosition, maxWaitTimeInSeconds: 1, maxBatchSize: 100 },
  );
  try {
    await eventually(() => received.length >= count, 30_000, `${count} events on ${group}`);
    // Give duplicates, if any, a moment to show up.
    await new Promise((resolve) => setTimeout(resolve, 300));
    return received;
  } finally {
    await subscription.close();
    await consumer.close();
  }
}

function bodyText(event: ReceivedEventData): string {
  return Buffer.isBuffer(event.body) ? event.body.toString('utf8') : JSON.stringify(event.body);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'iothub-e2e-'));
  hub = await start();
  ca = await readFile(hub.connection.caCertPath, 'utf8');
});

afterAll(async () => {
  await Promise.allSettled(closers.map((close) => close()));
  await hub?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function device(deviceId: string): Promise<Client> {
  const added = await hub.registry.addDevice(deviceId);
  const client = await openDeviceClient(added.connectionString, ca);
  closers.push(() => client.close());
  return client;
}

async function module(deviceId: string, moduleId: string): Promise<ModuleClient> {
  if (!hub.registry.list().some((d) => d.deviceId === deviceId)) await hub.registry.addDevice(deviceId, { edge: true });
  const added = await hub.registry.addModule(deviceId, moduleId);
  const client = await openModuleClient(added.connectionString, ca);
  closers.push(() => client.close());
  return client;
}

describe('IoT Hub emulator end to end', () => {
  it('delivers device and module telemetry to all four consumer groups exactly once, in per-device order, with IoT Hub annotations', async () => {
    const a = await device('e2e-a');
    const b = await device('e2e-b');
    const m = await module('e2e-edge', 'e2e-mod');
    const PER_DEVICE = 15;
    for (let i = 0; i < PER_DEVICE; i++) {
      for (const [client, name] of [
        [a, 'e2e-a'],
        [b, 'e2e-b'],
      ] as const) {
        const message = new Message(JSON.stringify({ device: name, i }));
        message.messageId = `${name}-${i}`;
        message.correlationId = 'corr';
        message.contentType = 'application/json';
        message.contentEncoding = 'utf-8';
        message.properties.add('run', 'telemetry');
        message.properties.add('kind', 'reading');
        await client.sendEvent(message);
      }
    }
    const output = new Message('{"batch":true}');
    output.properties.add('run', 'telemetry');
    output.properties.add('channel', 'ch1');
    await m.sendOutputEvent('upstream', output);
    const total = 2 * PER_DEVICE + 1;

    for (const group of GROUPS) {
      const events = await readAll(group, 'telemetry', total);
      expect(events).toHaveLength(total);
      for (const name of ['e2e-a', 'e2e-b']) {
        const mine = events.filter((e) => e.systemProperties?.['iothub-connection-device-id'] === name);
        expect(mine.map((e) => (JSON.parse(bodyText(e)) as { i: number }).i)).toEqual([...Array(PER_DEVICE).keys()]);
        expect(new Set(mine.map((e) => partitionOf.get(e))).size).toBe(1);
      }
      const first = events.find((e) => e.messageId === 'e2e-a-0');
      expect(first).toBeDefined();
      expect(first?.systemProperties?.['iothub-message-source']).toBe('Telemetry');
      expect(first?.systemProperties?.['iothub-connection-module-id']).toBeUndefined();
      expect(first?.systemProperties?.['iothub-enqueuedtime']).toBeDefined();
      expect(first?.contentType).toBe('application/json');
      expect(first?.correlationId).toBe('corr');
      expect(first?.properties).toMatchObject({ run: 'telemetry', kind: 'reading' });
      const fromModule = events.find((e) => e.systemProperties?.['iothub-connection-module-id'] === 'e2e-mod');
      expect(fromModule?.systemProperties?.['iothub-connection-device-id']).toBe('e2e-edge');
      expect(fromModule?.properties).toMatchObject({ channel: 'ch1' });
      expect(bodyText(fromModule as ReceivedEventData)).toBe('{"batch":true}');
      const ids = events.map((e) => `${e.systemProperties?.['iothub-connection-device-id']}#${e.sequenceNumber}`);
      expect(new Set(ids).size).toBe(total);
    }
  });

  it('keeps serving others while refusing a bad key and an oversize message', async () => {
    const good = await device('e2e-good');
    const victim = await hub.registry.addDevice('e2e-victim');
    const wrongKey = victim.connectionString.replace(
      /SharedAccessKey=[^;]+/,
      `SharedAccessKey=${Buffer.alloc(32, 3).toString('base64')}`,
    );
    await expect(openDeviceClient(wrongKey, ca)).rejects.toMatchObject({ name: 'UnauthorizedError' });
    const big = await device('e2e-big');
    const oversize = new Message(Buffer.alloc(256 * 1024, 1));
    oversize.properties.add('run', 'refusals');
    void big.sendEvent(oversize).catch(() => undefined);
    await eventually(() => hub.metrics().oversizeMessages >= 1, 10_000, 'oversize refusal');
    const ok = new Message('fine');
    ok.properties.add('run', 'refusals');
    await good.sendEvent(ok);
    const events = await readAll('warm', 'refusals', 1);
    expect(events.map((e) => e.systemProperties?.['iothub-connection-device-id'])).toEqual(['e2e-good']);
    expect(hub.metrics().connectsRefused['bad-signature']).toBeGreaterThanOrEqual(1);
    await big.close().catch(() => undefined);
  });

  it('delivers module inputs and twin desired/reported through the composed emulator', async () => {
    const client = await module('e2e-edge', 'e2e-twin');
    const inputs: string[] = [];
    client.on('inputMessage', (input, msg) => {
      inputs.push(`${input}:${msg.getBytes().toString()}`);
      void client.complete(msg).catch(() => undefined);
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await hub.sendToModuleInput('e2e-edge', 'e2e-twin', 'put', 'hello');
    await eventually(() => inputs.includes('put:hello'), 5000, 'module input');
    await hub.updateDesired('e2e-edge', 'e2e-twin', { PublishInterval: '2' });
    const twin = await client.getTwin();
    expect(twin.properties.desired.PublishInterval).toBe('2');
    await new Promise<void>((resolve, reject) =>
      twin.properties.reported.update({ ok: true }, (err?: Error) => (err ? reject(err) : resolve())),
    );
    expect(hub.getTwin('e2e-edge', 'e2e-twin').reported).toMatchObject({ ok: true });
  });

  it('`iot-ingest devices add` prints a connection string that connects; `devices remove` drops the live connection', async () => {
    await mergeConnection('iotHub', hub.connection, dir);
    const env = { ...process.env, IOT_INGEST_DEVSTACK_DIR: dir };
    const { stdout } = await run(process.execPath, ['cli/bin/iot-ingest.js', 'devices', 'add', 'cli-dev'], {
      cwd: REPO,
      env,
    });
    const lines = stdout.split('\n').filter((line) => line.length > 0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`^HostName=localhost:${hub.connection.mqttPort};DeviceId=cli-dev;SharedAccessKey=[A-Za-z0-9+/=]{44}$`),
    );
    const client = await openDeviceClient(lines[0] ?? '', ca);
    closers.push(() => client.close());
    const message = new Message('from the cli device');
    message.properties.add('run', 'cli');
    await client.sendEvent(message);
    expect((await readAll('cold', 'cli', 1))[0]?.systemProperties?.['iothub-connection-device-id']).toBe('cli-dev');

    const listed = await run(process.execPath, ['cli/bin/iot-ingest.js', 'devices', 'list', '--json'], { cwd: REPO, env });
    expect((JSON.parse(listed.stdout) as { deviceId: string }[]).map((d) => d.deviceId)).toContain('cli-dev');

    const revokedBefore = hub.metrics().connectionsRevoked;
    await run(process.execPath, ['cli/bin/iot-ingest.js', 'devices', 'remove', 'cli-dev'], { cwd: REPO, env });
    await eventually(() => hub.metrics().connectionsRevoked > revokedBefore, 5000, 'connection revoked');
    await expect(openDeviceClient(lines[0] ?? '', ca)).rejects.toMatchObject({ name: 'UnauthorizedError' });
  });

  it('after a restart, acknowledged events, identities, twins and the service key are all still there', async () => {
    const client = await device('e2e-restart');
    const message = new Message('before restart');
    message.properties.add('run', 'restart');
    await client.sendEvent(message);
    await client.close();
    await hub.updateDesired('e2e-restart', undefined, { keep: 'me' });
    const before = hub.connection;
    await hub.stop();
    hub = await start();
    expect(hub.connection.eventHubsConnectionString.replace(/:\d+/, '')).toBe(
      before.eventHubsConnectionString.replace(/:\d+/, ''),
    );
    expect(hub.getTwin('e2e-restart').desired).toMatchObject({ keep: 'me' });
    const events = await readAll('analytics', 'restart', 1);
    expect(bodyText(events[0] as ReceivedEventData)).toBe('before restart');
    const again = await openDeviceClient(hub.registry.connectionString('e2e-restart'), ca);
    closers.push(() => again.close());
    const after = new Message('after restart');
    after.properties.add('run', 'restart');
    await again.sendEvent(after);
    expect((await readAll('analytics', 'restart', 2)).map(bodyText)).toEqual(['before restart', 'after restart']);
  });
});

describe('npm run hub (devstack/iothub/main.ts)', () => {
  it('prints its endpoints without keys, merges iotHub into connections.json, and removes it on SIGTERM', async () => {
    const { spawn } = await import('node:child_process');
    const stateDir = await mkdtemp(path.join(os.tmpdir(), 'iothub-main-'));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'devstack/iothub/main.ts', '--mqtt-port', '0', '--amqp-port', '0', '--amqps-port', '0', '--dir', stateDir],
      { cwd: REPO, env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await eventually(() => stdout.includes('iothub: registry'), 30_000, 'the hub to print its endpoints');
      const connections = JSON.parse(await readFile(path.join(stateDir, 'connections.json'), 'utf8')) as {
        iotHub?: Record<string, unknown>;
      };
      const iotHub = connections.iotHub ?? {};
      expect(iotHub).toMatchObject({ hostName: 'localhost', partitionCount: 4, eventHubName: 'iot-ingest-hub' });
      expect(iotHub.mqttPort).toBeGreaterThan(0);
      expect(iotHub.amqpsPort).toBeGreaterThan(0);
      expect(iotHub.caCertPath).toBe(path.join(stateDir, 'certs', 'ca.pem'));
      expect(String(iotHub.eventHubsConnectionString)).toMatch(
        /^Endpoint=sb:\/\/localhost:\d+;SharedAccessKeyName=service;SharedAccessKey=[^;]+;EntityPath=iot-ingest-hub;UseDevelopmentEmulator=true$/,
      );
      const key = /SharedAccessKey=([^;]+)/.exec(String(iotHub.eventHubsConnectionString))?.[1] ?? '';
      expect(stdout).toContain(`mqtts://localhost:${String(iotHub.mqttPort)}`);
      expect(stdout).toContain(`amqps://localhost:${String(iotHub.amqpsPort)}`);
      expect(stdout).not.toContain(key);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const after = JSON.parse(await readFile(path.join(stateDir, 'connections.json'), 'utf8')) as object;
      expect(after).not.toHaveProperty('iotHub');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
