/**
 * `iot-ingest cold compact --hour <ISO hour>`: write one hour of the cold store as Parquet now, with the
 * compactor's own code (the timer function does the same for every hour once its grace period is over).
 */
import type { Command } from 'commander';
import { readDevstackConnections, resolveStorage } from '../endpoints.js';
import type { StorageFlags } from '../endpoints.js';

export function register(program: Command): void {
  const cold = program.command('cold').description('Operate the cold store (Blob Storage)');
  cold
    .command('compact')
    .description('Write one hour that has ended as Parquet (one file per partition), as the hourly compactor does')
    .requiredOption('--hour <time>', 'the hour, ISO 8601 (e.g. 2026-11-23T14:00:00Z)')
    .option('--storage-connection-string <cs>', 'storage connection string (env AZURE_STORAGE_CONNECTION_STRING)')
    .option('--storage-account-url <url>', 'blob account URL, Microsoft Entra ID (env AZURE_STORAGE_ACCOUNT_URL)')
    .option('--cold-container <name>', 'cold container (env COLD_CONTAINER; default telemetry)')
    .option('--parquet-container <name>', 'Parquet container (env COLD_PARQUET_CONTAINER; default telemetry-parquet)')
    .action(async (options: StorageFlags & { hour: string; parquetContainer?: string }) => {
      const { parseHour } = await import('@iot-ingest/cold');
      const hourMs = parseHour(options.hour);
      const storage = resolveStorage(options, process.env, readDevstackConnections());
      const { DEFAULT_PARQUET_CONTAINER, runColdCompaction } = await import('../cold.js');
      const parquetContainer = options.parquetContainer ?? process.env.COLD_PARQUET_CONTAINER ?? DEFAULT_PARQUET_CONTAINER;
      const results = await runColdCompaction({ storage, parquetContainer, hourMs, nowMs: Date.now() });
      for (const r of results) {
        process.stdout.write(
          r.status === 'written'
            ? `${parquetContainer}/${r.name}: ${r.records} records from ${r.sourceObjects} object(s)\n`
            : `${parquetContainer}/${r.name}: already current\n`,
        );
      }
      if (results.length === 0) process.stdout.write(`no cold objects in ${new Date(hourMs).toISOString()}\n`);
    });
}
