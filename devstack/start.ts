/**
 * `npm start`: the whole pipeline on this machine (see docs/devstack.md). Starts every component on
 * loopback with state under `.devstack/`, prints `ready` with the endpoints (never keys), then a live
 * status line (TTY, redrawn in place) or a periodic log line (otherwise). Ctrl-C / SIGTERM stops
 * everything within 10 s.
 */
import './quiet.js';
import { pino } from 'pino';
import { connectionsPath } from '@iot-ingest/contracts';
import type { Connections } from '@iot-ingest/contracts';
import { ComponentStartError } from './orchestrator/lifecycle.js';
import type { LifecycleEvent } from './orchestrator/lifecycle.js';
import { USAGE, parseStartOptions } from './orchestrator/options.js';
import { startStack } from './orchestrator/stack.js';
import type { Stack } from './orchestrator/stack.js';
import { formatStatusLine } from './orchestrator/status.js';

const STOP_DEADLINE_MS = 10_000;
const TTY_REDRAW_MS = 1000;
const LOG_INTERVAL_MS = 10_000;

const tty = process.stdout.isTTY === true;
const log = pino({ name: 'iot-ingest:devstack', base: undefined });

/** Human text on a terminal, JSON lines otherwise. */
function say(message: string, fields: Record<string, unknown> = {}): void {
  if (tty) process.stdout.write(`${message}\n`);
  else log.info(fields, message);
}

function warn(message: string): void {
  if (tty) process.stderr.write(`warning: ${message}\n`);
  else log.warn(message);
}

function describeEvent(event: LifecycleEvent): string | undefined {
  switch (event.kind) {
    case 'started':
      return `  ${event.component} started (${event.ms} ms)`;
    case 'failed':
      return `  ${event.component} FAILED: ${event.reason}`;
    case 'stopped':
      return `  ${event.component} stopped (${event.ms} ms)`;
    case 'stop-failed':
      return `  ${event.component} did not stop cleanly: ${event.reason}`;
    default:
      return undefined;
  }
}

/** The endpoints worth printing; connection strings and keys stay in connections.json. */
export function endpointLines(connections: Connections, dir: string): string[] {
  const lines: string[] = [];
  const c = connections as Connections & { devstack?: { statusUrl?: string } };
  if (c.iotHub) {
    lines.push(
      `  IoT Hub (device MQTT)      mqtts://${c.iotHub.hostName}:${c.iotHub.mqttPort}  (CA ${c.iotHub.caCertPath})`,
    );
    const amqp = /Endpoint=(sb:\/\/[^;]+)/.exec(c.iotHub.eventHubsConnectionString)?.[1];
    if (amqp) lines.push(`  IoT Hub (Event Hubs AMQP)  ${amqp}  (${c.iotHub.partitionCount} partitions)`);
  }
  if (c.edgeModule)
    lines.push(`  edge module (Greengrass)   ${c.edgeModule.mqttUrl}  metrics ${c.edgeModule.metricsUrl}`);
  if (c.storage) {
    const blob = /BlobEndpoint=([^;]+)/.exec(c.storage.connectionString)?.[1];
    lines.push(`  Blob (Azurite)             ${blob ?? '?'}  container ${c.storage.coldContainer}`);
  }
  if (c.cosmos)
    lines.push(`  Cosmos DB                  ${c.cosmos.endpoint}  ${c.cosmos.database}/${c.cosmos.container}`);
  if (c.iotAnalytics) lines.push(`  IoT Analytics              ${c.iotAnalytics.endpoint}  (${c.iotAnalytics.region})`);
  if (c.alertWebhook) lines.push(`  alert webhook              ${new URL(c.alertWebhook.url).origin}  (URL with its sig in connections.json)`);
  if (c.devstack?.statusUrl) {
    lines.push(`  live page                  ${new URL(c.devstack.statusUrl).origin}/`);
    lines.push(`  status                     ${c.devstack.statusUrl}  (iot-ingest status)`);
  }
  lines.push(`  connections                ${connectionsPath(dir)}`);
  return lines;
}

async function main(): Promise<number> {
  let options;
  try {
    options = parseStartOptions(process.argv.slice(2), process.env, process.cwd());
  } catch (err) {
    process.stderr.write(`npm start: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  say(
    `starting ${options.components.join(', ')} (state ${options.dir}${options.reset ? ', reset' : ''}; ` +
      `${options.devices} devices at ${options.ratePerSecond} readings/s; ` +
      `hot rules ${options.hotRulesFile ?? 'none'}, anomaly rate ${options.anomalyRate})`,
    {
      components: options.components,
      dir: options.dir,
      devices: options.devices,
      ratePerSecond: options.ratePerSecond,
    },
  );

  // Signals before start: Ctrl-C during start-up stops what has started.
  let stack: Stack | undefined;
  let stopRequested = false;
  let stopDone: Promise<void> | undefined;
  const redraw: { timer?: NodeJS.Timeout } = {};
  const stop = (signal: string): Promise<void> =>
    (stopDone ??= (async () => {
      stopRequested = true;
      clearInterval(redraw.timer);
      if (tty) process.stdout.write('\n');
      say(`${signal}: stopping`);
      const deadline = setTimeout(() => {
        process.stderr.write(`npm start: components did not stop within ${STOP_DEADLINE_MS / 1000} s; exiting\n`);
        process.exit(1);
      }, STOP_DEADLINE_MS);
      deadline.unref();
      await stack?.stop();
      say('stopped');
    })());
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  // The functions' module logger reads its level from the environment when it loads (after this line).
  if (tty) process.env.IOT_INGEST_LOG_LEVEL ??= process.env.LOG_LEVEL ?? 'warn';
  const startedAt = Date.now();
  try {
    stack = await startStack({
      dir: options.dir,
      reset: options.reset,
      components: options.components,
      devices: options.devices,
      ratePerSecond: options.ratePerSecond,
      partitionCount: options.partitionCount,
      edgePersistence: options.edgePersistence,
      ports: options.ports,
      ...(options.hotRulesFile ? { hotRulesFile: options.hotRulesFile } : {}),
      simulator: { anomalyRate: options.anomalyRate },
      onEvent: (event) => {
        const line = describeEvent(event);
        if (line) say(line, { ...event });
      },
      onWarning: warn,
      // On a terminal the components' info lines would scroll the status line away: warnings only, on stderr.
      logger: tty
        ? pino({ level: process.env.LOG_LEVEL ?? 'warn' }, process.stderr)
        : pino({ level: process.env.LOG_LEVEL ?? 'info' }),
    });
  } catch (err) {
    if (err instanceof ComponentStartError) {
      for (const f of err.failures) process.stderr.write(`npm start: ${f.component} failed to start: ${f.reason}\n`);
      process.stderr.write('npm start: the other components were stopped\n');
    } else {
      process.stderr.write(`npm start: ${(err as Error).message}\n`);
    }
    return 1;
  }
  if (stopRequested) {
    await stack.stop();
    return 0;
  }

  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  say(`ready in ${seconds} s`, { ready: true, connections: connectionsPath(stack.dir) });
  for (const line of endpointLines(stack.connections, stack.dir)) say(line);
  if (stack.unavailable.length > 0) warn(`running WITHOUT ${stack.unavailable.join(', ')} (not in this checkout yet)`);
  say('query: iot-ingest query warm "SELECT TOP 5 * FROM c" · iot-ingest alerts --open · iot-ingest status · Ctrl-C stops');

  const draw = async (): Promise<void> => {
    if (!stack || stopRequested) return;
    const status = await stack.status();
    if (stopRequested) return;
    const line = formatStatusLine(status.summary, status.uptimeMs);
    if (tty) process.stdout.write(`\r\x1b[2K${line.slice(0, (process.stdout.columns ?? 200) - 1)}`);
    else log.info({ status: status.summary }, line);
  };
  redraw.timer = setInterval(() => void draw().catch(() => undefined), tty ? TTY_REDRAW_MS : LOG_INTERVAL_MS);
  await new Promise<void>((resolve) => {
    const wait = setInterval(() => {
      if (stopDone) {
        clearInterval(wait);
        void stopDone.then(resolve);
      }
    }, 100);
  });
  return 0;
}

process.exitCode = await main();
// Everything is stopped; idle keep-alive sockets in the SDK clients must not hold the exit for seconds.
setTimeout(() => process.exit(), 500).unref();
