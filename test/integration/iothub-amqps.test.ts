/**
 * AMQPS on the hub emulator: TLS with the devstack CA beside the plain emulator port, for clients
 * without an emulator mode. The server certificate is checked as a client checks it (SAN localhost and
 * 127.0.0.1); `@azure/event-hubs` without `UseDevelopmentEmulator` reads device telemetry and sends
 * through it; without the CA the same client is refused at the TLS handshake.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import pino from 'pino';
import { Message } from 'azure-iot-device';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIotHub } from '../../devstack/iothub/emulator.js';
import type { IotHub } from '../../devstack/iothub/emulator.js';
import { openDeviceClient } from './iothub-helpers.js';

const run = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, '..', '..');
const CLIENT = path.join(REPO, 'test/integration/clients/eventhubs-amqps.ts');

let dir: string;
let hub: IotHub;
let ca: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'iothub-amqps-'));
  hub = await startIotHub({ dir, mqttPort: 0, amqpPort: 0, amqpsPort: 0, logger: pino({ level: 'silent' }) });
  ca = await readFile(hub.connection.caCertPath, 'utf8');
});

afterAll(async () => {
  await hub?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The hub's Event Hub-compatible string as the real service gives it: a namespace host, TLS, no emulator flag. */
function serviceConnectionString(): string {
  const key = /SharedAccessKey=([^;]+)/.exec(hub.connection.eventHubsConnectionString)?.[1] ?? '';
  return `Endpoint=sb://iot-ingest-hub.servicebus.windows.net/;SharedAccessKeyName=service;SharedAccessKey=${key};EntityPath=${hub.connection.eventHubName}`;
}

async function runClient(env: Record<string, string>, expectEvents: number): Promise<Record<string, unknown>> {
  const { NODE_EXTRA_CA_CERTS: _inherited, ...parentEnv } = process.env;
  const result = await run(process.execPath, ['--import', 'tsx', CLIENT], {
    cwd: REPO,
    env: { ...parentEnv, EXPECT_EVENTS: String(expectEvents), ...env },
    timeout: 60_000,
  }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  return JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
}

function handshake(host: string, servername: string | undefined): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host, port: hub.connection.amqpsPort, ca, ...(servername ? { servername } : {}) },
      () => {
        const certificate = socket.getPeerCertificate();
        socket.end();
        resolve(certificate);
      },
    );
    socket.once('error', reject);
  });
}

describe('AMQPS on the IoT Hub emulator', () => {
  it('listens with TLS beside the plain port, its certificate valid for localhost and 127.0.0.1 under the devstack CA', async () => {
    expect(hub.connection.amqpsPort).toBeGreaterThan(0);
    expect(hub.connection.amqpsPort).not.toBe(hub.connection.amqpPort);
    for (const [host, servername] of [
      ['localhost', 'localhost'],
      ['127.0.0.1', undefined],
    ] as const) {
      const certificate = await handshake(host, servername);
      expect(certificate.subjectaltname).toContain('DNS:localhost');
      expect(certificate.subjectaltname).toContain('IP Address:127.0.0.1');
    }
  });

  it('serves @azure/event-hubs without emulator mode (customEndpointAddress, the CA trusted for that client only): device telemetry in, events out', async () => {
    const device = await openDeviceClient((await hub.registry.addDevice('amqps-dev')).connectionString, ca);
    try {
      const message = new Message('{"from":"device"}');
      message.properties.add('run', 'amqps');
      await device.sendEvent(message);
    } finally {
      await device.close();
    }
    const outcome = await runClient(
      {
        NODE_EXTRA_CA_CERTS: hub.connection.caCertPath,
        EVENTHUBS_CONNECTION_STRING: serviceConnectionString(),
        CUSTOM_ENDPOINT_ADDRESS: `amqps://localhost:${hub.connection.amqpsPort}`,
        RUN_MARKER: 'amqps',
      },
      3,
    );
    expect(outcome.error).toBeUndefined();
    expect(outcome.partitionIds).toEqual(['0', '1', '2', '3']);
    const received = outcome.received as { body: unknown; deviceId: unknown }[];
    expect(received.map((event) => event.body).sort()).toEqual(['one', 'two', { from: 'device' }].sort());
    expect(received.filter((event) => event.deviceId === 'amqps-dev')).toHaveLength(1);
  });

  it('refuses the same client at the TLS handshake when it does not trust the devstack CA', async () => {
    const outcome = await runClient(
      {
        EVENTHUBS_CONNECTION_STRING: serviceConnectionString(),
        CUSTOM_ENDPOINT_ADDRESS: `amqps://localhost:${hub.connection.amqpsPort}`,
        RUN_MARKER: 'untrusted',
      },
      2,
    );
    expect(outcome.error).toMatchObject({
      message: expect.stringMatching(/self[- ]signed certificate|unable to verify/i),
    });
  });
});
