/**
 * `iot-ingest alerts [--open] [--format table|jsonl|csv]`: the hot path's alerts from Cosmos DB container
 * `alerts` (contracts §8), newest first; `--open` only those still raised. The Cosmos endpoint is found as
 * for `query warm` (flags, environment, then .devstack/connections.json).
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { DEFAULT_ALERTS_CONTAINER, alertsQuery } from '@iot-ingest/contracts';
import { readDevstackConnections, resolveCosmos } from '../endpoints.js';
import type { CosmosFlags } from '../endpoints.js';
import { OUTPUT_FORMATS, formatResults, resolveFormat } from '../output.js';
import { write } from './query.js';

/** Table and CSV columns, in this order (JSON Lines keeps every field). */
export const ALERT_COLUMNS = [
  'at',
  'state',
  'rule',
  'deviceId',
  'value',
  'resolvedAt',
  'resolvedValue',
  'readingId',
  'webhook',
  'id',
];

interface AlertsFlags extends CosmosFlags {
  open?: boolean;
  format?: string;
  alertsContainer?: string;
}

export function register(program: Command): void {
  program
    .command('alerts')
    .description('List the hot path\'s alerts (newest first) from the Cosmos DB container "alerts"')
    .option('--open', 'only alerts still raised')
    .addOption(
      new Option('--format <format>', 'output format (default: table on a terminal, else jsonl)').choices([
        ...OUTPUT_FORMATS,
      ]),
    )
    .option(
      '--alerts-container <name>',
      `alerts container (env COSMOS_ALERTS_CONTAINER; default ${DEFAULT_ALERTS_CONTAINER})`,
    )
    .option('--cosmos-endpoint <url>', 'Cosmos DB endpoint (env COSMOS_ENDPOINT; default .devstack)')
    .option('--cosmos-key <key>', 'account key (env COSMOS_KEY; absent: Microsoft Entra ID)')
    .option('--cosmos-database <name>', 'database (env COSMOS_DATABASE; default iot-ingest)')
    .option('--cosmos-ca-cert <file>', 'PEM CA to trust for this endpoint (env COSMOS_CA_CERT_PATH)')
    .action(async (options: AlertsFlags) => {
      const format = resolveFormat(options.format, Boolean(process.stdout.isTTY));
      const target = resolveCosmos(options, process.env, readDevstackConnections());
      const container = options.alertsContainer ?? process.env.COSMOS_ALERTS_CONTAINER ?? DEFAULT_ALERTS_CONTAINER;
      const { runWarmQuery } = await import('../warm.js');
      const rows = await runWarmQuery({ ...target, container }, alertsQuery({ openOnly: options.open === true }), []);
      const text = formatResults(format, rows, format === 'jsonl' ? undefined : ALERT_COLUMNS);
      await write(text);
    });
}
