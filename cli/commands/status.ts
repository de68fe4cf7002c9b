/**
 * `iot-ingest status`: the running pipeline's counters, read from the status endpoint `npm start` serves
 * (`devstack.statusUrl` in connections.json, or `--status-url` / `IOT_INGEST_STATUS_URL`). A stack that
 * is not running is one line on stderr and exit 1.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { existsSync } from 'node:fs';
import { connectionsPath, devstackDir, readConnectionsSync } from '@iot-ingest/contracts';
import { formatJsonLines, terminalText } from '../output.js';

/** The parts of the status document printed here (devstack/orchestrator/status.ts writes it). */
interface StatusDocument {
  at: string;
  uptimeMs: number;
  summary: {
    readingsSent: number;
    edgeAccepted: number;
    upstreamMessages: number;
    eventsByConsumerGroup: Record<string, number>;
    cosmosDocuments: number;
    blobs: number;
    iotAnalyticsMessages: number;
    drops: number;
    errors: number;
  };
  components: Record<string, Record<string, number>>;
}

interface StatusFlags {
  statusUrl?: string;
  format?: 'text' | 'json';
}

interface Located {
  statusUrl: string;
  metricsUrl?: string;
}

/** Where the status endpoint is: flag, environment, then connections.json (only when marked ready). */
export function locateStatus(flags: StatusFlags, env: NodeJS.ProcessEnv): Located {
  const explicit = flags.statusUrl ?? env.IOT_INGEST_STATUS_URL;
  if (explicit) return { statusUrl: explicit };
  const dir = devstackDir(env);
  const file = connectionsPath(dir);
  if (!existsSync(file)) throw new Error(`the devstack is not running (no ${file}); start it with npm start`);
  const connections = readConnectionsSync(dir);
  if (connections.ready !== true || !connections.devstack?.statusUrl) {
    throw new Error(`the devstack is not running (${file} is not marked ready); start it with npm start`);
  }
  return {
    statusUrl: connections.devstack.statusUrl,
    ...(connections.edgeModule?.metricsUrl ? { metricsUrl: connections.edgeModule.metricsUrl } : {}),
  };
}

export async function fetchStatus(statusUrl: string, timeoutMs = 5000): Promise<StatusDocument> {
  let response: Response;
  try {
    response = await fetch(statusUrl, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new Error(`the devstack is not running (status endpoint ${statusUrl} did not answer: ${cause})`, {
      cause: err,
    });
  }
  if (!response.ok) throw new Error(`status endpoint ${statusUrl} answered ${response.status}`);
  return (await response.json()) as StatusDocument;
}

/** Human form: the summary first, then each component's raw counters. */
export function formatStatus(status: StatusDocument, located: Located): string {
  const s = status.summary;
  const groups = Object.entries(s.eventsByConsumerGroup)
    .map(([group, count]) => `${group} ${count}`)
    .join(', ');
  const lines = [
    `devstack up ${Math.round(status.uptimeMs / 1000)} s (at ${status.at})`,
    `  readings sent          ${s.readingsSent}`,
    `  accepted by the edge   ${s.edgeAccepted}`,
    `  upstream messages      ${s.upstreamMessages}`,
    `  events per group       ${groups}`,
    `  Cosmos documents       ${s.cosmosDocuments}`,
    `  blobs                  ${s.blobs}`,
    `  IoT Analytics messages ${s.iotAnalyticsMessages}`,
    `  drops                  ${s.drops}`,
    `  errors                 ${s.errors}`,
    'components:',
    ...Object.entries(status.components).map(
      ([name, counters]) =>
        `  ${name.padEnd(13)} ${Object.entries(counters)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`,
    ),
    `status ${located.statusUrl}${located.metricsUrl ? ` · edge metrics ${located.metricsUrl}` : ''}`,
  ];
  return lines.join('\n') + '\n';
}

export function register(program: Command): void {
  program
    .command('status')
    .description(
      'Print the running devstack pipeline counters (readings, edge, events per group, sinks, drops, errors)',
    )
    .option(
      '--status-url <url>',
      'status endpoint (env IOT_INGEST_STATUS_URL; default from .devstack/connections.json)',
    )
    .addOption(new Option('--format <format>', 'text (default) or json').choices(['text', 'json']))
    .action(async (flags: StatusFlags) => {
      const located = locateStatus(flags, process.env);
      const status = await fetchStatus(located.statusUrl);
      // Component names and counters come from the running stack: shown, never interpreted.
      process.stdout.write(flags.format === 'json' ? formatJsonLines([status]) : terminalText(formatStatus(status, located)));
    });
}
