/**
 * `iot-ingest query warm "<Cosmos SQL>"` and `iot-ingest query cold --from … --to … "<SQL>"`:
 * the analysts' two ways into the data (README "Querying"). Output: a table on a TTY, else JSON Lines;
 * `--format table|jsonl|csv` chooses.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { addCosmosOptions, addStorageOptions, cosmosFlags, storageFlags } from '../connection-options.js';
import type { CosmosOptions, StorageOptions } from '../connection-options.js';
import { readDevstackConnections, resolveCosmos, resolveStorage } from '../endpoints.js';
import { OUTPUT_FORMATS, formatResults, resolveFormat } from '../output.js';
import { collectParam } from '../params.js';
import type { QueryParameter } from '../params.js';
import { parseTimeRange } from '../time-range.js';

const formatOption = (): Option =>
  new Option('--format <format>', 'output format (default: table on a terminal, else jsonl)').choices([
    ...OUTPUT_FORMATS,
  ]);

/** Write to stdout; a reader that stopped early (`| head`) is not an error. */
export function write(text: string): Promise<void> {
  return new Promise((resolve, reject) =>
    process.stdout.write(text, (err) => {
      // A reader that stopped early (`| head`) is not an error of the query.
      if (err && (err as NodeJS.ErrnoException).code !== 'EPIPE') reject(err);
      else resolve();
    }),
  );
}

export function register(program: Command): void {
  const query = program.command('query').description('Query the warm (Cosmos DB) or cold (Blob) store');

  addCosmosOptions(query.command('warm'))
    .description('Run Cosmos DB SQL against the warm container (e.g. SELECT * FROM c WHERE c.deviceId = @d)')
    .argument('<sql>', 'Cosmos DB SQL')
    .option('--param <@name=value>', 'a query parameter, repeatable; JSON values (5, true, "5") or text', collectParam)
    .addOption(formatOption())
    .action(async (sql: string, options: CosmosOptions & { param?: QueryParameter[]; format?: string }) => {
      const { param, format: formatFlag, ...where } = options;
      const terminal = Boolean(process.stdout.isTTY);
      const format = resolveFormat(formatFlag, terminal);
      const target = resolveCosmos(cosmosFlags(where), process.env, readDevstackConnections());
      // The SDKs are imported only by the command that needs them (they take seconds to load).
      const { runWarmQuery } = await import('../warm.js');
      const results = await runWarmQuery(target, sql, param ?? []);
      await write(formatResults(format, results, undefined, { terminal }));
    });

  addStorageOptions(query.command('cold'))
    .description('Run DuckDB SQL over the cold blobs of a time range, as a view named telemetry')
    .argument('<sql>', 'DuckDB SQL over the view telemetry (e.g. SELECT deviceId, count(*) FROM telemetry GROUP BY 1)')
    .requiredOption('--from <time>', 'start, ISO 8601, inclusive (enqueued time, UTC when no offset)')
    .requiredOption('--to <time>', 'end, ISO 8601, exclusive')
    .option('--device <id>', 'only this device')
    .addOption(formatOption())
    .option('--parquet-container <name>', 'hourly Parquet container (env COLD_PARQUET_CONTAINER; default telemetry-parquet)')
    .option('--cache-dir <dir>', 'where downloaded files are kept (env IOT_INGEST_CACHE_DIR; default ~/.cache/iot-ingest)')
    .action(
      async (
        sql: string,
        options: StorageOptions & { from: string; to: string; device?: string; format?: string; parquetContainer?: string; cacheDir?: string },
      ) => {
        const terminal = Boolean(process.stdout.isTTY);
        const format = resolveFormat(options.format, terminal);
        const range = parseTimeRange(options.from, options.to);
        const storage = resolveStorage(storageFlags(options), process.env, readDevstackConnections());
        const { DEFAULT_PARQUET_CONTAINER, runColdQuery } = await import('../cold.js');
        const result = await runColdQuery({
          storage,
          parquetContainer: options.parquetContainer ?? process.env.COLD_PARQUET_CONTAINER ?? DEFAULT_PARQUET_CONTAINER,
          ...(options.cacheDir !== undefined ? { cacheDir: options.cacheDir } : {}),
          range,
          ...(options.device !== undefined ? { deviceId: options.device } : {}),
          sql,
          progressStream: process.stderr,
        });
        const f = result.files;
        process.stderr.write(
          `query cold: read ${f.parquet + f.jsonl} files (${f.parquet} Parquet, ${f.jsonl} JSON Lines), ` +
            `downloaded ${f.downloaded} (${(f.downloadedBytes / 1024 / 1024).toFixed(1)} MB), ${f.parquet + f.jsonl - f.downloaded} from the cache\n`,
        );
        await write(formatResults(format, result.rows, result.columns, { terminal }));
      },
    );
}
