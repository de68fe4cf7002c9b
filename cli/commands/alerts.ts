/**
 * `iot-ingest alerts [--open] [--format table|jsonl|csv]`: the hot path's alerts from Cosmos DB container
 * `alerts` (contracts §9), newest first; `--open` only those still raised. The Cosmos endpoint is found as
 * for `query warm` (flags, environment, then .devstack/connections.json).
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { DEFAULT_ALERTS_CONTAINER, alertsQuery } from '@iot-ingest/contracts';
import { addCosmosOptions, cosmosFlags } from '../connection-options.js';
import type { CosmosOptions } from '../connection-options.js';
import { readDevstackConnections, resolveCosmos } from '../endpoints.js';
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

interface AlertsFlags extends CosmosOptions {
  open?: boolean;
  format?: string;
  alertsContainer?: string;
}

export function register(program: Command): void {
  // The Cosmos flags are the same as query warm's (secrets from the environment or a file); the container is
  // the alerts container, --alerts-container (--cosmos-container names the readings' container, unused here).
  addCosmosOptions(program.command('alerts'))
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
    .action(async (options: AlertsFlags) => {
      const { open, format: formatFlag, alertsContainer, ...where } = options;
      const terminal = Boolean(process.stdout.isTTY);
      const format = resolveFormat(formatFlag, terminal);
      const target = resolveCosmos(cosmosFlags(where), process.env, readDevstackConnections());
      const container = alertsContainer ?? process.env.COSMOS_ALERTS_CONTAINER ?? DEFAULT_ALERTS_CONTAINER;
      const { runWarmQuery } = await import('../warm.js');
      const rows = await runWarmQuery({ ...target, container }, alertsQuery({ openOnly: open === true }), []);
      await write(formatResults(format, rows, format === 'jsonl' ? undefined : ALERT_COLUMNS, { terminal }));
    });
}
