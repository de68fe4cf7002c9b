/**
 * `npm run bench:edge`: the edge module measured against a peer in the same run.
 *
 * (1) MQTT ingest, QoS 0 and QoS 1. The same publisher (a child process, MQTT.js, pipelined) sends N
 *     put requests, in BENCH_EDGE_ROUNDS (3) alternating rounds per side; the medians are compared. Module: publisher → module → accepted by the engine and handed to the sink (an
 *     in-process ModuleClient that acknowledges at once), timed until the sink has every message.
 *     Peer: publisher → mosquitto → one subscriber that receives everything, timed until the last arrives.
 * (2) IoT Hub billing: readings of 80–400 bytes on 3 channels through the IoT Hub sink (BatchSize 100,
 *     PublishInterval 1 s); units = Σ ceil((body + properties) / 4096) over upstream messages, against the
 *     ideal ceil(Σ (body + properties) / 4096) for the same bytes.
 * (3) Memory: 10× MemorySize of readings published (QoS 1, DROP_OLDEST) while the upstream is stalled; peak
 *     RSS of a fresh module process, run as deployed (--max-old-space-size = 2 × MemorySize + 32 MB, see
 *     edge-module/README.md), against MemorySize + a fixed overhead of 160 MB (Node + tsx + the SDKs, aedes
 *     and socket buffers: about 107 MB idle here, the rest is garbage between collections).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { fakeModuleClient, heapLimitMb, startModule } from './edge-harness.js';
import type { Upstream } from './edge-harness.js';

const N = Number(process.env.BENCH_EDGE_MESSAGES ?? 50_000);
/** Rounds per QoS, module and mosquitto alternating; the medians are compared. */
const ROUNDS = Number(process.env.BENCH_EDGE_ROUNDS ?? 3);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
const MEMORY_KB = 16 * 1024;
const OVERHEAD_MB = 160;
const SELF = fileURLToPath(import.meta.url);

/** Publisher child: `--publish <url> <qos> <count> <payloadBytes> <topic>`; prints "done" when all are written/acked. */
async function publisherMain(args: string[]): Promise<void> {
  const [url, qosText, countText, sizeText, topic] = args as [string, string, string, string, string];
  const qos = Number(qosText) as 0 | 1;
  const count = Number(countText);
  const size = Number(sizeText);
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  const reading = JSON.stringify({ deviceId: 'bench', temp: 21.5, pad: 'x'.repeat(Math.max(0, size - 40)) });
  // Unique ids: the connector cancels a duplicate id within one batch.
  const prefix = `{"request":{"message":${JSON.stringify(reading)}},"id":"r`;
  let inFlight = 0;
  let sent = 0;
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => {
    const pump = () => {
      // Pipelined: keep up to 1000 unacknowledged (QoS 1) or let TCP backpressure pace QoS 0.
      while (sent < count && inFlight < 1000) {
        inFlight += 1;
        sent += 1;
        client.publish(topic, `${prefix}${sent}"}`, { qos }, () => {
          inFlight -= 1;
          if (sent === count && inFlight === 0) resolve();
          else if (inFlight < 500) pump();
        });
      }
    };
    pump();
  });
  process.stdout.write('done\n');
  await client.endAsync();
}

function spawnPublisher(url: string, qos: 0 | 1, count: number, size: number, topic: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', SELF, '--publish', url, String(qos), String(count), String(size), topic], { stdio: ['ignore', 'pipe', 'inherit'] });
}

/** Resolves with the time the child says it is connected and starts publishing (its start-up is not measured). */
function ready(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('ready')) resolve(performance.now());
    });
    child.once('exit', (code) => reject(new Error(`publisher exited with ${code} before it was ready`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function mosquittoBinary(): string {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']) {
    const candidate = path.join(dir, 'mosquitto');
    if (dir && existsSync(candidate)) return candidate;
  }
  process.stderr.write('mosquitto not found: installing the Debian package\n');
  const install = spawn('apt-get', ['install', '-y', 'mosquitto'], { stdio: 'inherit' });
  return new Promise<string>((resolve, reject) =>
    install.once('exit', (code) => (code === 0 ? resolve('/usr/sbin/mosquitto') : reject(new Error('apt-get install mosquitto failed')))),
  ) as unknown as string;
}

async function startMosquitto(dir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const binary = await Promise.resolve(mosquittoBinary());
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nmax_inflight_messages 0\nlog_dest none\n`);
  const child = spawn(binary, ['-c', conf], { stdio: 'ignore' });
  const url = `mqtt://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await exited(child);
    },
  };
}

const TOPIC = 'iotanalytics/channels/bench/messages/put';

/** Resolve when `count()` reaches `target`, or when it has not moved for `idleMs` after `finished`. */
async function settle(count: () => number, target: number, finished: () => boolean, idleMs = 1000): Promise<number> {
  let last = count();
  let lastAt = performance.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 2));
    const now = count();
    if (now !== last) {
      last = now;
      lastAt = performance.now();
    }
    if (now >= target || (finished() && performance.now() - lastAt > idleMs)) return lastAt;
  }
}

async function mosquittoRate(url: string, qos: 0 | 1): Promise<number> {
  const subscriber = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  await subscriber.subscribeAsync(TOPIC, { qos });
  let received = 0;
  subscriber.on('message', () => (received += 1));
  const publisher = spawnPublisher(url, qos, N, 100, TOPIC);
  const startedAt = await ready(publisher);
  let done = false;
  void exited(publisher).then(() => (done = true));
  const finishedAt = await settle(() => received, N, () => done);
  await exited(publisher);
  await subscriber.endAsync();
  if (received < N) process.stdout.write(`  note: the mosquitto subscriber got ${received} of ${N} (QoS ${qos})\n`);
  return (received / (finishedAt - startedAt)) * 1000;
}

async function moduleRate(qos: 0 | 1): Promise<number> {
  const upstream: Upstream = { messages: 0, readings: 0, units: 0, bytes: 0 };
  const module = await startModule(
    { MemorySize: '262144', PublishInterval: '0', IotAnalyticsBatchSizePerChannel: '100', IotAnalyticsQueueSizePerChannel: '1000000' },
    fakeModuleClient(upstream),
  );
  const publisher = spawnPublisher(module.mqtt.url, qos, N, 100, TOPIC);
  const startedAt = await ready(publisher);
  let done = false;
  void exited(publisher).then(() => (done = true));
  const finishedAt = await settle(() => upstream.readings, N, () => done);
  await exited(publisher);
  await module.stop();
  if (upstream.readings < N) process.stdout.write(`  note: the module's sink got ${upstream.readings} of ${N} (QoS ${qos})\n`);
  return (upstream.readings / (finishedAt - startedAt)) * 1000;
}

async function billing(): Promise<{ perThousand: number; ideal: number; ratio: number; unpacked: number }> {
  const upstream: Upstream = { messages: 0, readings: 0, units: 0, bytes: 0 };
  const module = await startModule(
    { MemorySize: '65536', PublishInterval: '1', IotAnalyticsBatchSizePerChannel: '100', IotAnalyticsQueueSizePerChannel: '100000' },
    fakeModuleClient(upstream),
  );
  const device = await mqtt.connectAsync(module.mqtt.url, { reconnectPeriod: 0 });
  const readings = 20_000;
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let plainUnits = 0;
  for (let i = 0; i < readings; i++) {
    const size = 80 + Math.floor(random() * 320);
    const reading = JSON.stringify({ deviceId: `dev${i % 20}`, ts: 1700000000000 + i, temp: +(20 + random() * 5).toFixed(2), pad: 'p'.repeat(Math.max(0, size - 70)) });
    plainUnits += Math.ceil(Buffer.byteLength(reading) / 4096);
    device.publish(`iotanalytics/channels/line${i % 3}/messages/put`, JSON.stringify({ request: { message: reading }, id: `r${i}` }), { qos: 0 });
    if (i % 200 === 199) await new Promise((r) => setTimeout(r, 10));
  }
  while (upstream.readings < readings) await new Promise((r) => setTimeout(r, 20));
  await device.endAsync();
  await module.stop();
  const ideal = Math.ceil(upstream.bytes / 4096);
  return {
    perThousand: (upstream.units * 1000) / readings,
    ideal: (ideal * 1000) / readings,
    ratio: upstream.units / ideal,
    unpacked: (plainUnits * 1000) / readings,
  };
}

/** Child mode `--memory`: a fresh process, so earlier phases' heap does not count. Prints JSON. */
async function memoryMain(): Promise<void> {
  const result = await memory();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function memoryInChild(): Promise<{ peakMb: number; budgetMb: number }> {
  const child = spawn(process.execPath, [`--max-old-space-size=${heapLimitMb(MEMORY_KB)}`, '--import', 'tsx', SELF, '--memory'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  return exited(child).then(() => JSON.parse(text.trim().split('\n').at(-1) ?? '{}') as { peakMb: number; budgetMb: number });
}

async function memory(): Promise<{ peakMb: number; budgetMb: number }> {
  const upstream: Upstream = { messages: 0, readings: 0, units: 0, bytes: 0 };
  // The upstream takes 2 s per batch: the queues fill to MemorySize and the rest is dropped (with statuses).
  const module = await startModule(
    { MemorySize: String(MEMORY_KB), PublishInterval: '0', IotAnalyticsBatchSizePerChannel: '100', IotAnalyticsQueueSizePerChannel: '1000000', IotAnalyticsQueueDropBehavior: 'DROP_OLDEST' },
    fakeModuleClient(upstream, 2000),
  );
  let peak = process.memoryUsage().rss;
  const idleMb = peak / 2 ** 20;
  let peakHeap = 0;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peak = Math.max(peak, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed + m.external + m.arrayBuffers);
  }, 20);
  const payloadBytes = 1024;
  const count = Math.ceil((10 * MEMORY_KB * 1024) / payloadBytes);
  const publisher = spawnPublisher(module.mqtt.url, 1, count, payloadBytes, 'iotanalytics/channels/flood/messages/put');
  await exited(publisher);
  peak = Math.max(peak, process.memoryUsage().rss);
  clearInterval(sampler);
  const stats = module.engine.stats();
  if (stats.heldBytes > MEMORY_KB * 1024) throw new Error(`engine holds ${stats.heldBytes} bytes, over MemorySize`);
  await module.stop();
  process.stderr.write(`  memory: idle ${idleMb.toFixed(0)} MB RSS before the flood; peak heap+external ${(peakHeap / 2 ** 20).toFixed(0)} MB; dropped ${JSON.stringify(stats.dropped)}\n`);
  return { peakMb: peak / 2 ** 20, budgetMb: MEMORY_KB / 1024 };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-edge-'));
  const mosquitto = await startMosquitto(dir);
  try {
    const results: string[] = [];
    for (const qos of [0, 1] as const) {
      // Alternating rounds, medians compared: a burst of load from elsewhere hits one round, not one side.
      const peers: number[] = [];
      const ours: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        peers.push(await mosquittoRate(mosquitto.url, qos));
        ours.push(await moduleRate(qos));
      }
      const peer = median(peers);
      const module = median(ours);
      process.stdout.write(`  qos${qos}: module ${ours.map((r) => r.toFixed(0)).join(', ')} msg/s; mosquitto ${peers.map((r) => r.toFixed(0)).join(', ')} msg/s (${N} messages per round)\n`);
      results.push(`edge qos${qos}: ${module.toFixed(0)} msg/s, ${(module / peer).toFixed(2)}x of mosquitto (${peer.toFixed(0)} msg/s)`);
    }
    const bill = await billing();
    process.stdout.write(`  billing: one IoT Hub message per reading would use ${bill.unpacked.toFixed(1)} units per 1000 readings\n`);
    results.push(`billing: ${bill.perThousand.toFixed(1)} units per 1000 readings, ${bill.ratio.toFixed(3)}x of ideal (${bill.ideal.toFixed(1)})`);
    const mem = await memoryInChild();
    results.push(`memory: ${mem.peakMb.toFixed(0)} MB peak RSS under 10x overload, budget ${mem.budgetMb.toFixed(0)} MB + overhead ${OVERHEAD_MB} MB`);
    process.stdout.write(results.join('\n') + '\n');
  } finally {
    await mosquitto.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--memory') {
  memoryMain().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`memory phase: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
} else if (process.argv[2] === '--publish') {
  publisherMain(process.argv.slice(3)).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`publisher: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
} else {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench:edge failed: ${(err as Error).stack}\n`);
      process.exit(1);
    },
  );
}
