/**
 * npm run bench:hub — the IoT Hub emulator's ingest rate and end-to-end latency, next to a bare aedes
 * TLS broker measured in the same run.
 *
 * Workload: N real `azure-iot-device` clients (MQTT, QoS 1), each keeping WINDOW sends in flight, send
 * 1 KB messages (a JSON body carrying its send time, padded to 1024 bytes; a string body, because the
 * SDK JSON-stringifies every message into a debug line and a Buffer body costs it 1024 numbers).
 * Servers run in a CHILD process each, so the clients (in this process) do not share their CPU.
 * - baseline: the clients against a bare aedes TLS broker (no auth, no log, nobody subscribed), run
 *   before and after the hub and averaged.
 * - hub, phase "ingest": the same against the emulator (SAS auth, property bag, durable log with
 *   group-commit fsync, PUBACK after the append), nobody reading: the headline rate, compared with the
 *   baseline under the same conditions.
 * - hub, phase "loaded": the same while one EventHubConsumerClient per partition (in this process) reads
 *   every event; on 2 cores the consumers and the AMQP side compete with ingest, so this rate is lower.
 * - hub, phase "latency": paced at half the loaded rate, send → consumer time per event (p50/p99).
 * Every event of the loaded and latency phases must arrive exactly once, or the exit code is 1.
 * Ingest msg/s = messages / (last PUBACK − first send).
 *
 * Env: BENCH_HUB_DEVICES (10), BENCH_HUB_MESSAGES per device (3000), BENCH_HUB_WINDOW (32),
 * BENCH_HUB_PARTITIONS (4), BENCH_HUB_FSYNC_MS (the log's group-commit interval, default the log's),
 * BENCH_HUB_PROFILE_DIR (CPU-profile the server children there), BENCH_HUB_VERBOSE.
 * Last line: `hub: <N> msg/s, <r>x of bare aedes (<M> msg/s), p50 <a> ms, p99 <b> ms`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import { EventHubConsumerClient } from '@azure/event-hubs';
import type { Subscription } from '@azure/event-hubs';
import iotDevice from 'azure-iot-device';
import iotDeviceMqtt from 'azure-iot-device-mqtt';
import pino from 'pino';
import { ensureDevstackCertificates } from '../devstack/certs.js';
import { startIotHub } from '../devstack/iothub/emulator.js';
import { updateRegistry, withDevice } from '../contracts/registry.js';

// azure-iot-device is CommonJS; under tsx its named exports are only reachable through the default.
const { Client, Message } = iotDevice;
const { Mqtt } = iotDeviceMqtt;

const DEVICES = Number(process.env.BENCH_HUB_DEVICES ?? 10);
const MESSAGES_PER_DEVICE = Number(process.env.BENCH_HUB_MESSAGES ?? 3000);
const WINDOW = Number(process.env.BENCH_HUB_WINDOW ?? 32);
const PARTITIONS = Number(process.env.BENCH_HUB_PARTITIONS ?? 4);
const WARMUP_PER_DEVICE = 100;
/** Length of the paced latency phase. */
const LATENCY_SECONDS = 3;
const BODY_BYTES = 1024;
const DRAIN_TIMEOUT_MS = 60_000;

const nowMs = (): number => performance.timeOrigin + performance.now();
const progress = (text: string): void => {
  if (process.env.BENCH_HUB_VERBOSE) process.stderr.write(`[bench:hub] ${text}\n`);
};

interface Ready {
  mqttPort: number;
  eventHubsConnectionString?: string;
  keys: string[];
}

// ---- child roles ---------------------------------------------------------------------------------

async function serveHub(dir: string): Promise<void> {
  const hub = await startIotHub({
    dir,
    mqttPort: 0,
    amqpPort: 0,
    partitionCount: PARTITIONS,
    ...(process.env.BENCH_HUB_FSYNC_MS ? { fsyncIntervalMs: Number(process.env.BENCH_HUB_FSYNC_MS) } : {}),
    logger: pino({ level: 'warn' }),
  });
  const keys: string[] = [];
  for (let i = 0; i < DEVICES; i++) keys.push((await hub.registry.addDevice(`bench-${i}`)).primaryKey);
  const ready: Ready = {
    mqttPort: hub.connection.mqttPort,
    eventHubsConnectionString: hub.connection.eventHubsConnectionString,
    keys,
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  await untilTerminated();
  await hub.stop();
}

async function serveBare(dir: string): Promise<void> {
  const certs = await ensureDevstackCertificates(dir);
  const broker = await Aedes.createBroker({ maxClientsIdLength: 257 });
  const server = createServer({ key: certs.serverKey, cert: certs.serverCert }, (socket) => broker.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // The bare broker accepts any credentials; the keys only make the SDK's connection strings valid.
  const keys = await updateRegistry(path.join(dir, 'iothub', 'registry.json'), (data) => {
    let next = data;
    const made: string[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const r = withDevice(next, `bench-${i}`, { nowIso: new Date().toISOString() });
      next = r.data;
      made.push(r.device.primaryKey);
    }
    return { data: next, result: made };
  });
  const ready: Ready = { mqttPort: (server.address() as AddressInfo).port, keys };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  await untilTerminated();
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    broker.close();
  });
}

function untilTerminated(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.stdin.once('end', () => resolve());
    process.stdin.resume();
  });
}

// ---- parent --------------------------------------------------------------------------------------

/** A fresh state dir holding the run's certificates (so the parent's CA verifies the child's server). */
async function stateDir(prefix: string, certDir: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  await cp(path.join(certDir, 'certs'), path.join(dir, 'certs'), { recursive: true });
  return dir;
}

async function startChild(role: 'hub' | 'bare', dir: string): Promise<{ child: ChildProcess; ready: Ready }> {
  // BENCH_HUB_PROFILE_DIR: write a CPU profile of each server child there (node --cpu-prof).
  const profile = process.env.BENCH_HUB_PROFILE_DIR;
  const profileArgs = profile ? ['--cpu-prof', '--cpu-prof-dir', profile] : [];
  const child = spawn(process.execPath, [...profileArgs, '--import', 'tsx', fileURLToPath(import.meta.url)], {
    env: { ...process.env, BENCH_HUB_ROLE: role, BENCH_HUB_DIR: dir },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${role} server exited with code ${code} before it was ready`)));
    // Other lines (a component's own log) may come first: the ready line is the one with the keys.
    lines.on('line', (line) => {
      if (line.startsWith('{"mqttPort"')) resolve(JSON.parse(line) as Ready);
    });
  });
  return { child, ready };
}

async function stopChild(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

type Phase = 'warmup' | 'ingest' | 'probe' | 'latency' | 'loaded';

function body(deviceIndex: number, sequence: number, phase: Phase): string {
  const head = JSON.stringify({ t: nowMs(), d: deviceIndex, i: sequence, ph: phase, p: '' });
  return head.slice(0, -2) + '"'.padStart(BODY_BYTES - head.length + 1, 'x') + '}';
}

type DeviceClient = InstanceType<typeof Client>;

async function openClients(port: number, keys: readonly string[], ca: string): Promise<DeviceClient[]> {
  return Promise.all(
    keys.map(async (key, i) => {
      const client = Client.fromConnectionString(
        `HostName=localhost:${port};DeviceId=bench-${i};SharedAccessKey=${key}`,
        Mqtt,
      );
      await client.setOptions({ ca });
      await client.open();
      return client;
    }),
  );
}

/**
 * Every client sends `perDevice` messages with WINDOW in flight, as fast as PUBACKs allow or, with
 * `ratePerSecond` (all clients together), paced to that rate. Resolves with the elapsed ms.
 */
async function drive(
  clients: readonly DeviceClient[],
  perDevice: number,
  phase: Phase,
  ratePerSecond?: number,
): Promise<number> {
  const started = nowMs();
  const intervalMs = ratePerSecond ? (1000 * clients.length) / ratePerSecond : 0;
  await Promise.all(
    clients.map(async (client, deviceIndex) => {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < perDevice) {
          const sequence = next++;
          const dueMs = started + sequence * intervalMs - nowMs();
          if (dueMs > 0) await new Promise((resolve) => setTimeout(resolve, dueMs));
          await client.sendEvent(new Message(body(deviceIndex, sequence, phase)));
        }
      };
      await Promise.all(Array.from({ length: Math.min(WINDOW, perDevice) }, worker));
    }),
  );
  return nowMs() - started;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function runBaseline(ca: string, certDir: string): Promise<number> {
  const dir = await stateDir('bench-hub-bare-', certDir);
  const { child, ready } = await startChild('bare', dir);
  try {
    const clients = await openClients(ready.mqttPort, ready.keys, ca);
    await drive(clients, WARMUP_PER_DEVICE, 'warmup');
    const elapsedMs = await drive(clients, MESSAGES_PER_DEVICE, 'ingest');
    await Promise.all(clients.map((c) => c.close()));
    return (DEVICES * MESSAGES_PER_DEVICE * 1000) / elapsedMs;
  } finally {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  }
}

interface HubResult {
  /** Ingest with nobody reading (the same conditions as the baseline). */
  readonly ingestRate: number;
  /** Ingest while one consumer per partition reads everything. */
  readonly loadedRate: number;
  readonly latencyRate: number;
  readonly latenciesMs: number[];
  readonly missing: number;
  readonly duplicates: number;
}

/** One EventHubConsumerClient per partition, from `since`; counts every event by phase. */
function consume(connectionString: string, since: Date) {
  const consumers: EventHubConsumerClient[] = [];
  const subscriptions: Subscription[] = [];
  const seen = new Set<string>();
  const latenciesMs: number[] = [];
  const counts = new Map<Phase, number>();
  let duplicates = 0;
  for (let p = 0; p < PARTITIONS; p++) {
    const consumer = new EventHubConsumerClient('$Default', connectionString);
    consumers.push(consumer);
    subscriptions.push(
      consumer.subscribe(
        String(p),
        {
          processEvents: async (events) => {
            const receivedAt = nowMs();
            for (const event of events) {
              const text = Buffer.isBuffer(event.body) ? event.body.toString('utf8') : JSON.stringify(event.body);
              const { t, d, i, ph } = JSON.parse(text) as { t: number; d: number; i: number; ph: Phase };
              const key = `${ph}:${d}:${i}`;
              if (seen.has(key)) duplicates++;
              seen.add(key);
              counts.set(ph, (counts.get(ph) ?? 0) + 1);
              if (ph === 'latency') latenciesMs.push(receivedAt - t);
            }
          },
          processError: async (err) => {
            process.stderr.write(`consumer ${p}: ${err.message}\n`);
          },
        },
        { startPosition: { enqueuedOn: since }, maxBatchSize: 1000, maxWaitTimeInSeconds: 1 },
      ),
    );
  }
  return {
    latenciesMs,
    count: (phase: Phase) => counts.get(phase) ?? 0,
    duplicates: () => duplicates,
    async close(): Promise<void> {
      await Promise.all(subscriptions.map((s) => s.close()));
      await Promise.all(consumers.map((c) => c.close()));
    },
  };
}

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}

async function runHub(ca: string, certDir: string): Promise<HubResult> {
  const dir = await stateDir('bench-hub-', certDir);
  const { child, ready } = await startChild('hub', dir);
  let consumers: ReturnType<typeof consume> | undefined;
  try {
    const clients = await openClients(ready.mqttPort, ready.keys, ca);
    await drive(clients, WARMUP_PER_DEVICE, 'warmup');
    const ingestMs = await drive(clients, MESSAGES_PER_DEVICE, 'ingest');
    const ingestRate = (DEVICES * MESSAGES_PER_DEVICE * 1000) / ingestMs;
    progress(`ingest ${Math.round(ingestRate)} msg/s`);

    // Consumers start after the ingest phase; a probe per device proves every partition is attached.
    consumers = consume(ready.eventHubsConnectionString ?? '', new Date());
    const readers = consumers;
    await drive(clients, 1, 'probe');
    await until(() => readers.count('probe') >= DEVICES, DRAIN_TIMEOUT_MS);

    const loadedMs = await drive(clients, MESSAGES_PER_DEVICE, 'loaded');
    const loadedRate = (DEVICES * MESSAGES_PER_DEVICE * 1000) / loadedMs;
    await until(() => readers.count('loaded') >= DEVICES * MESSAGES_PER_DEVICE, DRAIN_TIMEOUT_MS);
    progress(`loaded ${Math.round(loadedRate)} msg/s`);

    // Latency at half the rate sustained while reading: end-to-end time without saturation queueing.
    const latencyRate = loadedRate / 2;
    const latencyPerDevice = Math.max(100, Math.round((latencyRate * LATENCY_SECONDS) / DEVICES));
    await drive(clients, latencyPerDevice, 'latency', latencyRate);
    await until(() => readers.count('latency') >= DEVICES * latencyPerDevice, DRAIN_TIMEOUT_MS);
    await Promise.all(clients.map((c) => c.close()));
    const missing =
      DEVICES * latencyPerDevice - readers.count('latency') + (DEVICES * MESSAGES_PER_DEVICE - readers.count('loaded'));
    return {
      ingestRate,
      loadedRate,
      latencyRate,
      latenciesMs: [...readers.latenciesMs].sort((a, b) => a - b),
      missing,
      duplicates: readers.duplicates(),
    };
  } finally {
    await consumers?.close();
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const role = process.env.BENCH_HUB_ROLE;
  const roleDir = process.env.BENCH_HUB_DIR ?? '';
  if (role === 'hub') return serveHub(roleDir);
  if (role === 'bare') return serveBare(roleDir);

  const certDir = await mkdtemp(path.join(os.tmpdir(), 'bench-hub-ca-'));
  try {
    const ca = (await ensureDevstackCertificates(certDir)).caCert;
    process.stdout.write(
      `bench:hub — ${DEVICES} devices × ${MESSAGES_PER_DEVICE} messages of ${BODY_BYTES} B, QoS 1, window ${WINDOW}, ${PARTITIONS} partitions\n`,
    );
    // The baseline runs before and after the hub and is averaged: this machine's load drifts.
    const bareBefore = await runBaseline(ca, certDir);
    const hub = await runHub(ca, certDir);
    const bareAfter = await runBaseline(ca, certDir);
    const bare = (bareBefore + bareAfter) / 2;
    process.stdout.write(
      `bare aedes TLS (no auth, no log, nobody reading): ${Math.round(bareBefore)} msg/s before, ${Math.round(bareAfter)} msg/s after the emulator\n`,
    );
    const p50 = percentile(hub.latenciesMs, 50);
    const p99 = percentile(hub.latenciesMs, 99);
    process.stdout.write(
      `emulator, nobody reading: ${Math.round(hub.ingestRate)} msg/s; with ${PARTITIONS} consumers reading: ${Math.round(hub.loadedRate)} msg/s\n`,
    );
    process.stdout.write(
      `end to end (device send → consumer) at ${Math.round(hub.latencyRate)} msg/s: ${hub.latenciesMs.length} events, p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; missing ${hub.missing}, duplicates ${hub.duplicates}\n`,
    );
    process.stdout.write(
      `hub: ${Math.round(hub.ingestRate)} msg/s, ${(hub.ingestRate / bare).toFixed(2)}x of bare aedes (${Math.round(bare)} msg/s), p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms\n`,
    );
    if (hub.missing > 0 || hub.duplicates > 0) process.exitCode = 1;
  } finally {
    await rm(certDir, { recursive: true, force: true });
  }
}

// Exit explicitly: the children hold stdin open to notice a parent that died.
main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    process.stderr.write(`bench:hub: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
