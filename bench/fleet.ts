/**
 * `npm run bench:fleet` (`-- --devices 2000`, or BENCH_FLEET_DEVICES / BENCH_FLEET_SECONDS): a fleet of
 * Greengrass-style devices at once against one edge module with persistence on.
 *
 * Each device is a real MQTT client (MQTT.js) with its own connection, subscribed to the status topic,
 * publishing one put (QoS 1, unique id) per second for 30 s, rotating over 10 channels, and reading its
 * own statuses. The module runs in its own process, as deployed (MemorySize 32 MB as in the manifest and
 * its heap limit, batches of 100, persistence in a temporary directory, the IoT Hub sink into an
 * in-process stand-in for edgeHub that acknowledges at once), so its peak RSS and CPU are its own.
 *
 * PublishInterval is 0 by default (BENCH_FLEET_PUBLISH_INTERVAL): at the connector's default of 1 s a
 * channel sends one batch of at most 100 per interval, so 10 channels carry at most 1,000 puts/s, which
 * is the whole load of 1,000 devices; the queueing that bound causes is the connector's, not the module's.
 * At 0 the latency goal is also the strictest (p99 <= 1 s).
 *
 * Goals (issue 16): every put answered (>= 99.9 %, none missing after a grace period), status p99 <=
 * PublishInterval + 1 s, peak RSS <= 2 × MemorySize + 150 MB. The last line is the contract:
 * `fleet: <N> devices, <P> puts, <A>% answered, status p99 <L> ms, peak RSS <M> MB, CPU <C>% of one core`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { fakeModuleClient, heapLimitMb, startModule } from './edge-harness.js';
import type { Upstream } from './edge-harness.js';

const SELF = fileURLToPath(import.meta.url);
const STATUS_TOPIC = 'iotanalytics/messages/put/status';
const CHANNELS = 10;
const MEMORY_KB = 32 * 1024;
/** Seconds; 0 sends as soon as a channel can (see above). */
const PUBLISH_INTERVAL_S = Number(process.env.BENCH_FLEET_PUBLISH_INTERVAL ?? 0);
const GRACE_MS = 15_000;
const CONNECT_CONCURRENCY = 100;

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function positiveInteger(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: '${text}' must be a whole number >= 1`);
  return n;
}

type ToModule = { type: 'start' } | { type: 'stop' };
type FromModule =
  | { type: 'ready'; url: string }
  | { type: 'report'; peakRssMb: number; cpuPercent: number; upstream: Upstream; accepted: number; refused: number };

/** Module child: the module as deployed, sampling its own RSS and CPU. */
async function moduleMain(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-fleet-'));
  const upstream: Upstream = { messages: 0, readings: 0, units: 0, bytes: 0 };
  const module = await startModule(
    {
      MemorySize: String(MEMORY_KB),
      PublishInterval: String(PUBLISH_INTERVAL_S),
      IotAnalyticsBatchSizePerChannel: '100',
      // BENCH_FLEET_PERSISTENCE=0 (a diagnostic, not the measurement): memory only, to see what the disk costs.
      ...(process.env.BENCH_FLEET_PERSISTENCE === '0' ? {} : { PERSISTENCE_DIR: dir }),
    },
    fakeModuleClient(upstream),
  );
  let peak = process.memoryUsage.rss();
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 250);
  let cpuAtStart = process.cpuUsage();
  let startedAt = performance.now();
  const send = (message: FromModule) => process.send?.(message);
  process.on('message', (message: ToModule) => {
    if (message.type === 'start') {
      // The peak counts from start-up (the connections' cost included); CPU from the first put.
      cpuAtStart = process.cpuUsage();
      startedAt = performance.now();
      return;
    }
    clearInterval(sampler);
    const cpu = process.cpuUsage(cpuAtStart);
    const wallUs = (performance.now() - startedAt) * 1000;
    const stats = module.engine.stats();
    send({ type: 'report', peakRssMb: peak / 2 ** 20, cpuPercent: ((cpu.user + cpu.system) / wallUs) * 100, upstream, accepted: stats.accepted, refused: stats.refused });
    void module
      .stop()
      .then(() => rm(dir, { recursive: true, force: true }))
      .then(() => process.exit(0));
  });
  send({ type: 'ready', url: module.mqtt.url });
}

function startModuleProcess(): { child: ChildProcess; next: <T extends FromModule['type']>(type: T) => Promise<Extract<FromModule, { type: T }>> } {
  // As deployed: the heap limit of edge-module/README.md for this MemorySize.
  // BENCH_FLEET_NODE_FLAGS: extra Node.js flags for the module process, e.g. '--cpu-prof --cpu-prof-dir=/tmp/p'.
  const profile = (process.env.BENCH_FLEET_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
  const child = spawn(process.execPath, [`--max-old-space-size=${heapLimitMb(MEMORY_KB)}`, ...profile, '--import', 'tsx', SELF, '--module'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = <T extends FromModule['type']>(type: T) =>
    new Promise<Extract<FromModule, { type: T }>>((resolve, reject) => {
      const onMessage = (message: FromModule) => {
        if (message.type !== type) return;
        child.off('message', onMessage);
        resolve(message as Extract<FromModule, { type: T }>);
      };
      child.on('message', onMessage);
      child.once('exit', (code, signal) => reject(new Error(`the module process exited (code ${code}, signal ${signal}) before '${type}'`)));
    });
  // A send to a module process that already died fails asynchronously: the 'exit' above reports it.
  child.on('error', () => undefined);
  return { child, next };
}

interface Device {
  readonly id: string;
  readonly client: MqttClient;
  readonly sent: Map<string, number>;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

async function main(): Promise<void> {
  const devices = positiveInteger('--devices', argValue('--devices') ?? process.env.BENCH_FLEET_DEVICES, 1000);
  const seconds = positiveInteger('BENCH_FLEET_SECONDS', process.env.BENCH_FLEET_SECONDS, 30);
  const module = startModuleProcess();
  const { url } = await module.next('ready');

  const latencies: number[] = [];
  let answered = 0;
  let failed = 0;
  let unexpected = 0;
  const fleet: Device[] = [];
  const connectStartedAt = performance.now();
  for (let first = 0; first < devices; first += CONNECT_CONCURRENCY) {
    const batch = Array.from({ length: Math.min(CONNECT_CONCURRENCY, devices - first) }, async (_, k) => {
      const id = `fleet-${first + k}`;
      const client = await mqtt.connectAsync(url, { clientId: id, reconnectPeriod: 0, keepalive: 60 });
      const device: Device = { id, client, sent: new Map() };
      client.on('message', (_topic, payload) => {
        const status = JSON.parse(payload.toString('utf8')) as { response: { status: string }; id?: string };
        const sentAt = status.id === undefined ? undefined : device.sent.get(status.id);
        if (sentAt === undefined) return void (unexpected += 1);
        device.sent.delete(status.id as string);
        latencies.push(performance.now() - sentAt);
        answered += 1;
        if (status.response.status !== 'success') failed += 1;
      });
      await client.subscribeAsync(STATUS_TOPIC, { qos: 1 });
      return device;
    });
    fleet.push(...(await Promise.all(batch)));
  }
  process.stdout.write(`  ${devices} devices connected and subscribed in ${((performance.now() - connectStartedAt) / 1000).toFixed(1)} s\n`);

  module.child.send({ type: 'start' } satisfies ToModule);
  const devicesCpuAtStart = process.cpuUsage();
  let puts = 0;
  let publishErrors = 0;
  const startedAt = performance.now();
  // Each device publishes once a second, the fleet spread evenly over the second.
  await Promise.all(
    fleet.map(
      (device, i) =>
        new Promise<void>((resolve) => {
          let k = 0;
          const publishOne = () => {
            const id = `${device.id}-${k}`;
            const reading = JSON.stringify({ deviceId: device.id, seq: k, ts: Date.now(), temp: 20 + ((i * 7 + k) % 50) / 10 });
            device.sent.set(id, performance.now());
            puts += 1;
            device.client.publish(`iotanalytics/channels/line_${(i + k) % CHANNELS}/messages/put`, JSON.stringify({ request: { message: reading }, id }), { qos: 1 }, (err) => {
              if (err) publishErrors += 1;
            });
            k += 1;
            if (k >= seconds) return resolve();
            setTimeout(publishOne, startedAt + (i / devices) * 1000 + k * 1000 - performance.now());
          };
          setTimeout(publishOne, (i / devices) * 1000);
        }),
    ),
  );
  const publishedAt = performance.now();
  const devicesCpu = process.cpuUsage(devicesCpuAtStart);
  const devicesCpuPercent = ((devicesCpu.user + devicesCpu.system) / ((publishedAt - startedAt) * 1000)) * 100;
  while (answered < puts && performance.now() - publishedAt < GRACE_MS) await new Promise((r) => setTimeout(r, 50));
  const report = await (async () => {
    const reported = module.next('report');
    module.child.send({ type: 'stop' } satisfies ToModule);
    return reported;
  })();
  await Promise.all(fleet.map((d) => d.client.endAsync(true).catch(() => undefined)));
  await new Promise((resolve) => (module.child.exitCode !== null ? resolve(undefined) : module.child.once('exit', resolve)));

  latencies.sort((a, b) => a - b);
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  const missing = puts - answered;
  const answeredPercent = (answered / puts) * 100;
  const rssBudgetMb = (2 * MEMORY_KB) / 1024 + 150;
  const latencyBudgetMs = PUBLISH_INTERVAL_S * 1000 + 1000;
  process.stdout.write(
    `  ${puts} puts in ${((publishedAt - startedAt) / 1000).toFixed(1)} s; ${answered} statuses (${failed} fail), ${missing} missing after ${GRACE_MS / 1000} s, ${unexpected} not this device's; ` +
      `p50 ${p50.toFixed(0)} ms; module accepted ${report.accepted}, refused ${report.refused}, sent upstream ${report.upstream.readings}; publish errors ${publishErrors}; ` +
      `the devices' process used ${devicesCpuPercent.toFixed(0)}% of one core; PublishInterval ${PUBLISH_INTERVAL_S} s\n`,
  );
  const met = (ok: boolean) => (ok ? 'met' : 'MISSED');
  process.stdout.write(
    `  goals: answered >= 99.9 % and none missing (${met(answeredPercent >= 99.9 && missing === 0)}), p99 <= ${latencyBudgetMs} ms (${met(p99 <= latencyBudgetMs)}), ` +
      `peak RSS <= 2 x MemorySize + 150 MB = ${rssBudgetMb} MB (${met(report.peakRssMb <= rssBudgetMb)})\n`,
  );
  process.stdout.write(
    `fleet: ${devices} devices, ${puts} puts, ${answeredPercent.toFixed(2)}% answered, status p99 ${p99.toFixed(0)} ms, peak RSS ${report.peakRssMb.toFixed(0)} MB, CPU ${report.cpuPercent.toFixed(0)}% of one core\n`,
  );
}

if (process.argv[2] === '--module') {
  moduleMain().catch((err: unknown) => {
    process.stderr.write(`fleet module: ${(err as Error).stack}\n`);
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench:fleet failed: ${(err as Error).stack}\n`);
      process.exit(1);
    },
  );
}
