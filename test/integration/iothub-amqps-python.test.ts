/**
 * A second AMQP implementation through the hub emulator's AMQPS port: Python azure-eventhub 5.11
 * (Debian `python3-azure`, its default pure-Python AMQP stack) sends, reads device telemetry and reads
 * the hub's partitions, trusting the devstack CA with `connection_verify`; without the CA it is refused
 * at the TLS handshake. azure-eventhub 5.11 ignores the port in `Endpoint=` and always dials 5671, so
 * this test's hub listens on 5671 (waiting while another test holds it).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { Message } from 'azure-iot-device';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIotHub } from '../../devstack/iothub/emulator.js';
import type { IotHub } from '../../devstack/iothub/emulator.js';
import { openDeviceClient } from './iothub-helpers.js';

const run = promisify(execFile);
const CLIENT = path.resolve(import.meta.dirname, 'clients/eventhubs_python.py');
const PYTHON_AMQPS_PORT = 5671;

let dir: string;
let hub: IotHub;
let python: string;

/** The first Python that has azure.eventhub (Debian's is /usr/bin/python3; a pyenv shim may shadow it). */
async function findPython(): Promise<string> {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    try {
      await run(candidate, ['-c', 'import azure.eventhub']);
      return candidate;
    } catch {
      // next
    }
  }
  throw new Error(
    'Python azure-eventhub not found: install the Debian package python3-azure (apt-get install -y python3-azure)',
  );
}

async function startOnPythonPort(): Promise<IotHub> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await startIotHub({
        dir,
        mqttPort: 0,
        amqpPort: 0,
        amqpsPort: PYTHON_AMQPS_PORT,
        logger: pino({ level: 'silent' }),
      });
    } catch (error) {
      if (!String((error as Error).message).includes('EADDRINUSE') || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

beforeAll(async () => {
  python = await findPython();
  dir = await mkdtemp(path.join(os.tmpdir(), 'iothub-amqps-python-'));
  hub = await startOnPythonPort();
}, 90_000);

afterAll(async () => {
  await hub?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function connectionString(): string {
  const key = /SharedAccessKey=([^;]+)/.exec(hub.connection.eventHubsConnectionString)?.[1] ?? '';
  return `Endpoint=sb://localhost/;SharedAccessKeyName=service;SharedAccessKey=${key};EntityPath=${hub.connection.eventHubName}`;
}

async function runPython(env: Record<string, string>): Promise<Record<string, unknown>> {
  const result = await run(python, [CLIENT], { env: { ...process.env, ...env }, timeout: 90_000 }).catch(
    (error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }),
  );
  return JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
}

describe('Python azure-eventhub 5.11 against the hub emulator over AMQPS', () => {
  it('sends, reads device telemetry with its IoT Hub annotations, and lists the partitions', async () => {
    expect(hub.connection.amqpsPort).toBe(PYTHON_AMQPS_PORT);
    const ca = await readFile(hub.connection.caCertPath, 'utf8');
    const device = await openDeviceClient((await hub.registry.addDevice('py-dev')).connectionString, ca);
    try {
      const message = new Message('from-device');
      message.properties.add('run', 'python');
      await device.sendEvent(message);
    } finally {
      await device.close();
    }
    const outcome = await runPython({
      EVENTHUBS_CONNECTION_STRING: connectionString(),
      CA_FILE: hub.connection.caCertPath,
      RUN_MARKER: 'python',
      EXPECT_EVENTS: '3',
    });
    expect(outcome.error).toBeUndefined();
    expect(outcome.partitionIds).toEqual(['0', '1', '2', '3']);
    const received = outcome.received as { body: string; deviceId: string | null }[];
    expect(received.map((event) => event.body).sort()).toEqual(['from-device', 'py-one', 'py-two']);
    expect(received.find((event) => event.body === 'from-device')?.deviceId).toBe('py-dev');
  }, 120_000);

  it('is refused at the TLS handshake when it does not trust the devstack CA', async () => {
    const outcome = await runPython({ EVENTHUBS_CONNECTION_STRING: connectionString(), RUN_MARKER: 'untrusted' });
    expect(outcome.error).toMatchObject({
      message: expect.stringMatching(/certificate verify failed|self[- ]signed/i),
    });
  }, 120_000);
});
