/**
 * `npm run bench:stack`: what `npm start` costs a developer's machine. The real entry (`npm start`, its
 * whole process tree: npm, the shell, tsx and the node process running every server, the Functions host,
 * the edge module and the simulator) in a fresh temporary state directory (`--reset`), every port 0 (any
 * free one, so it never clashes with another stack on the machine), logging at `warn` as on a terminal.
 * After a warm-up, CPU (user + system time from /proc/<pid>/stat of every process in the tree) and RSS
 * (the sum over the tree) are sampled over the measured window. Baseline in the same run: the same stack
 * with no devices (the simulator sends nothing), i.e. what the idle servers cost by themselves.
 *
 * Last line: `stack: <P>% of one core, <M> MB RSS at <rate> readings/s for <s> s (RSS change <D> MB)`,
 * where M is the tree's RSS at the end of the window and D its change over the window. Goals: P <= 15,
 * D <= 20.
 *
 * Environment: BENCH_STACK_RATE (20, npm start's default), BENCH_STACK_DEVICES (4, its default),
 * BENCH_STACK_SECONDS (60), BENCH_STACK_WARMUP_SECONDS (30), BENCH_STACK_IDLE_SECONDS (30).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readConnections } from '../contracts/connections.js';
import { COMPONENT_NAMES } from '../devstack/orchestrator/options.js';
import { waitForReadyLine } from './child-ready.js';

const RATE = Number(process.env.BENCH_STACK_RATE ?? 20);
const DEVICES = Number(process.env.BENCH_STACK_DEVICES ?? 4);
const SECONDS = Number(process.env.BENCH_STACK_SECONDS ?? 60);
const WARMUP_SECONDS = Number(process.env.BENCH_STACK_WARMUP_SECONDS ?? 30);
const IDLE_SECONDS = Number(process.env.BENCH_STACK_IDLE_SECONDS ?? 30);
const READY_TIMEOUT_MS = 180_000;
/** Linux reports CPU time in clock ticks (USER_HZ, 100 on every mainstream kernel) and RSS in pages. */
const TICKS_PER_SECOND = 100;
const PAGE_BYTES = 4096;
const MB = 1024 * 1024;
const PORT_ENV = ['HUB_MQTT', 'HUB_AMQP', 'HUB_AMQPS', 'STORAGE', 'COSMOS', 'IOTANALYTICS', 'EDGE_MQTT', 'EDGE_METRICS', 'WEBHOOK', 'STATUS'];

interface ProcessSample {
  readonly ppid: number;
  readonly cpuTicks: number;
  readonly rssBytes: number;
  readonly command: string;
}

/** /proc/<pid>/stat: the command is in parentheses and may hold spaces, so fields are counted after it. */
function parseStat(text: string): ProcessSample | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const command = text.slice(text.indexOf('(') + 1, close);
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, rss 24.
  const at = (field: number): number => Number(fields[field - 3]);
  return { ppid: at(4), cpuTicks: at(14) + at(15), rssBytes: at(24) * PAGE_BYTES, command };
}

/** Every live process whose ancestry reaches `root` (root included). */
async function sampleTree(root: number): Promise<Map<number, ProcessSample>> {
  const all = new Map<number, ProcessSample>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const sample = await readFile(`/proc/${entry}/stat`, 'utf8').then(parseStat, () => undefined);
    if (sample) all.set(Number(entry), sample);
  }
  const tree = new Map<number, ProcessSample>();
  const visit = (pid: number): void => {
    const sample = all.get(pid);
    if (!sample || tree.has(pid)) return;
    tree.set(pid, sample);
    for (const [child, s] of all) if (s.ppid === pid) visit(child);
  };
  visit(root);
  return tree;
}

const sum = (tree: ReadonlyMap<number, ProcessSample>, pick: (s: ProcessSample) => number): number =>
  [...tree.values()].reduce((n, s) => n + pick(s), 0);

interface Window {
  /** Percent of one core over the window. */
  readonly cpuPercent: number;
  readonly rssEndMb: number;
  readonly rssChangeMb: number;
  /** The process that used most CPU in the window, and its share of the tree's. */
  readonly top: { command: string; pid: number; percent: number };
}

/**
 * CPU over [start, end] of the processes alive at both ends (a process that comes and goes in between
 * is missed; npm start's tree is fixed once ready).
 */
async function measure(root: number, seconds: number): Promise<Window> {
  const before = await sampleTree(root);
  const t0 = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const after = await sampleTree(root);
  const elapsedS = Number(process.hrtime.bigint() - t0) / 1e9;
  let ticks = 0;
  let top = { command: '', pid: 0, ticks: -1 };
  for (const [pid, end] of after) {
    const start = before.get(pid);
    if (!start) continue;
    const used = end.cpuTicks - start.cpuTicks;
    ticks += used;
    if (used > top.ticks) top = { command: end.command, pid, ticks: used };
  }
  const percentOf = (t: number): number => (t / TICKS_PER_SECOND / elapsedS) * 100;
  return {
    cpuPercent: percentOf(ticks),
    rssEndMb: sum(after, (s) => s.rssBytes) / MB,
    rssChangeMb: (sum(after, (s) => s.rssBytes) - sum(before, (s) => s.rssBytes)) / MB,
    top: { command: top.command, pid: top.pid, percent: percentOf(top.ticks) },
  };
}

interface RunningStart {
  readonly child: ChildProcess;
  readonly dir: string;
  stop(): Promise<void>;
}

/** `npm start -- --reset --dir <tmp> --devices N --rate R` with every port 0; resolves once it says `ready`. */
async function startNpmStart(devices: number, rate: number): Promise<RunningStart> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-bench-stack-'));
  const ports = Object.fromEntries(PORT_ENV.map((name) => [`IOT_INGEST_${name}_PORT`, '0']));
  const child = spawn('npm', ['start', '--', '--reset', '--dir', dir, '--devices', String(devices), '--rate', String(rate)], {
    env: { ...process.env, ...ports, LOG_LEVEL: 'warn', IOT_INGEST_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer): void => void (output = (output + chunk.toString()).slice(-4000));
  child.stderr?.on('data', keep);
  const { outcome, exited } = await waitForReadyLine(
    child,
    // Not a terminal: pino JSON lines; the ready line carries `"ready":true`.
    (line) => line.includes('"ready":true'),
    READY_TIMEOUT_MS,
    (line) => void (output = (output + line + '\n').slice(-4000)),
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      // npm forwards SIGTERM to the script; start.ts stops every component within 10 s.
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(killer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  if (outcome !== 'ready') {
    await stop();
    throw new Error(`npm start ${outcome === 'exited' ? 'exited' : 'was not ready in time'}:\n${output.trim()}`);
  }
  return { child, dir, stop };
}

interface Summary {
  readingsSent: number;
  cosmosDocuments: number;
  blobs: number;
}

async function statusSummary(dir: string): Promise<Summary | undefined> {
  const url = (await readConnections(dir)).devstack?.statusUrl;
  if (!url) return undefined;
  const response = await fetch(url);
  return ((await response.json()) as { summary: Summary }).summary;
}

/** Starts the stack, waits `warmupSeconds`, measures `seconds`; what the pipeline did meanwhile beside it. */
async function run(devices: number, rate: number, warmupSeconds: number, seconds: number): Promise<Window & { work: string }> {
  const stack = await startNpmStart(devices, rate);
  try {
    await new Promise((resolve) => setTimeout(resolve, warmupSeconds * 1000));
    const before = await statusSummary(stack.dir);
    const window = await measure(stack.child.pid as number, seconds);
    const after = await statusSummary(stack.dir);
    const work =
      before && after
        ? `${after.readingsSent - before.readingsSent} readings sent, ${after.cosmosDocuments - before.cosmosDocuments} Cosmos documents, ` +
          `${after.blobs - before.blobs} new blobs in the window`
        : 'status not available';
    return { ...window, work };
  } finally {
    await stack.stop();
  }
}

async function main(): Promise<void> {
  process.stdout.write(
    `stack bench: npm start (${COMPONENT_NAMES.join(', ')}), ${DEVICES} devices at ${RATE} readings/s, ` +
      `warm-up ${WARMUP_SECONDS} s, window ${SECONDS} s; baseline: the same stack with no devices for ${IDLE_SECONDS} s\n`,
  );
  const idle = await run(0, RATE, WARMUP_SECONDS, IDLE_SECONDS);
  process.stdout.write(
    `idle (no devices): ${idle.cpuPercent.toFixed(1)}% of one core, ${idle.rssEndMb.toFixed(0)} MB RSS (RSS change ${idle.rssChangeMb.toFixed(1)} MB); ` +
      `busiest process ${idle.top.command} ${idle.top.percent.toFixed(1)}%; ${idle.work}\n`,
  );
  const busy = await run(DEVICES, RATE, WARMUP_SECONDS, SECONDS);
  process.stdout.write(
    `loaded: busiest process ${busy.top.command} ${busy.top.percent.toFixed(1)}% (pid ${busy.top.pid}); ${busy.work}; ` +
      `${(busy.cpuPercent / Math.max(idle.cpuPercent, 0.1)).toFixed(1)}x of idle CPU, ${(busy.cpuPercent - idle.cpuPercent).toFixed(1)} points for the readings\n`,
  );
  process.stdout.write(
    `stack: ${busy.cpuPercent.toFixed(1)}% of one core, ${busy.rssEndMb.toFixed(0)} MB RSS at ${RATE} readings/s for ${SECONDS} s ` +
      `(RSS change ${busy.rssChangeMb.toFixed(1)} MB)\n`,
  );
}

await main();
