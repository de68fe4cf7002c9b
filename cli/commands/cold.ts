/**
 * `iot-ingest cold compact --hour <ISO hour>`: write one hour of the cold store as Parquet now, with the
 * compactor's own code (the timer function does the same for every hour once its grace period is over).
 */
import type { Command } from 'commander';
import { addStorageOptions, storageFlags } from '../connection-options.js';
import type { StorageOptions } from '../connection-options.js';
import { readDevstackConnections, resolveStorage } from '../endpoints.js';
import { terminalText } from '../output.js';

export function register(program: Command): void {
  const cold = program.command('cold').description('Operate the cold store (Blob Storage)');
  addStorageOptions(cold.command('compact'))
    .description('Write one hour that has ended as Parquet (one file per partition), as the hourly compactor does')
    .requiredOption('--hour <time>', 'the hour, ISO 8601 (e.g. 2026-11-23T14:00:00Z)')
    .option('--parquet-container <name>', 'Parquet container (env COLD_PARQUET_CONTAINER; default telemetry-parquet)')
    .action(async (options: StorageOptions & { hour: string; parquetContainer?: string }) => {
      const { parseHour } = await import('@iot-ingest/cold');
      const hourMs = parseHour(options.hour);
      const storage = resolveStorage(storageFlags(options), process.env, readDevstackConnections());
      const { DEFAULT_PARQUET_CONTAINER, runColdCompaction } = await import('../cold.js');
      const parquetContainer = options.parquetContainer ?? process.env.COLD_PARQUET_CONTAINER ?? DEFAULT_PARQUET_CONTAINER;
      const results = await runColdCompaction({ storage, parquetContainer, hourMs, nowMs: Date.now() });
      for (const r of results) {
        process.stdout.write(terminalText(
          r.status === 'written'
            ? `${parquetContainer}/${r.name}: ${r.records} records from ${r.sourceObjects} object(s)\n`
            : `${parquetContainer}/${r.name}: already current\n`,
        ));
      }
      if (results.length === 0) process.stdout.write(`no cold objects in ${new Date(hourMs).toISOString()}\n`);
    });
}
