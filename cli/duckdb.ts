/**
 * DuckDB for `query cold`: loading the optional `@duckdb/node-api`, and the `telemetry` view over
 * downloaded cold blobs. The view has the record fields of contracts §5 with fixed types whatever the
 * files hold (a field no file has is NULL; `body` and `properties` are always JSON, since bodies differ
 * from device to device), plus any extra fields as DuckDB read them, filtered to [from, to) on
 * `enqueuedAt` (the field the blob layout partitions by) and to one device when asked.
 */
import type * as DuckDb from '@duckdb/node-api';
import type { TimeRange } from './time-range.js';

export type DuckDbModule = typeof DuckDb;

export const DUCKDB_MISSING =
  "query cold needs the optional dependency @duckdb/node-api, which is not installed; run 'npm install @duckdb/node-api'";

/** Imports `@duckdb/node-api`, turning its absence into one clear line. */
export async function loadDuckDb(
  importModule: (name: string) => Promise<unknown> = (name) => import(name),
): Promise<DuckDbModule> {
  try {
    return (await importModule('@duckdb/node-api')) as DuckDbModule;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (
      code === 'ERR_MODULE_NOT_FOUND' ||
      code === 'MODULE_NOT_FOUND' ||
      /Cannot find (module|package)/.test(String(err))
    ) {
      throw new Error(DUCKDB_MISSING, { cause: err });
    }
    throw new Error(`cannot load @duckdb/node-api: ${(err as Error).message}`, { cause: err });
  }
}

export interface SandboxedDuckDb {
  readonly connection: DuckDb.DuckDBConnection;
  close(): void;
}

/**
 * An in-memory DuckDB for SQL the CLI did not write (the analyst's): it can read `readablePaths` and
 * nothing else. External access is off (no other file, no network, no extension install or load, no
 * COPY/EXPORT/ATTACH to a file, no persistent secrets), only the given files are allowed
 * (`allowed_paths`, not a directory, so other cached files stay out of reach), and the configuration is
 * locked, so no `SET` or `RESET` gives any of it back. Settings the queries need (UTC) are made first.
 */
export async function openSandboxedDuckDb(
  duckdb: DuckDbModule,
  readablePaths: readonly string[],
): Promise<SandboxedDuckDb> {
  const instance = await duckdb.DuckDBInstance.create(':memory:', {
    // Everything needed (json, parquet, icu) is built in; never reach for the network.
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    allow_community_extensions: 'false',
  });
  const connection = await instance.connect();
  const close = (): void => {
    connection.closeSync();
    instance.closeSync();
  };
  try {
    await connection.run("SET TimeZone = 'UTC'");
    await connection.run(`SET allowed_paths = [${readablePaths.map(sqlString).join(', ')}]`);
    await connection.run('SET enable_external_access = false');
    await connection.run('SET lock_configuration = true');
  } catch (err) {
    close();
    throw err;
  }
  return { connection, close };
}

/** The record fields and the SQL type each has in the view. */
export const RECORD_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['id', 'VARCHAR'],
  ['deviceId', 'VARCHAR'],
  ['moduleId', 'VARCHAR'],
  ['channel', 'VARCHAR'],
  ['requestId', 'VARCHAR'],
  ['ts', 'TIMESTAMP'],
  ['enqueuedAt', 'TIMESTAMP'],
  ['partition', 'VARCHAR'], // Event Hubs partition ids are strings ("0")
  ['sequenceNumber', 'BIGINT'],
  ['index', 'INTEGER'],
  ['properties', 'JSON'],
  ['body', 'JSON'],
  ['bodyBase64', 'VARCHAR'],
];

export const sqlString = (text: string): string => `'${text.replace(/'/g, "''")}'`;
export const sqlIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** `2026-11-23T14:00:00.000Z` → a TIMESTAMP literal in UTC. */
function timestampLiteral(ms: number): string {
  return `TIMESTAMP ${sqlString(new Date(ms).toISOString().replace('T', ' ').replace('Z', ''))}`;
}

function castExpression(name: string, type: string, sourceType: string | undefined): string {
  const col = sqlIdent(name);
  if (sourceType === undefined) return `CAST(NULL AS ${type}) AS ${col}`;
  if (type === 'JSON') return `${sourceType === 'JSON' ? col : `to_json(${col})`} AS ${col}`;
  // A JSON-typed source (mixed types across records) holds quoted strings: unquote before casting.
  const value = sourceType === 'JSON' ? `json_extract_string(${col}, '$')` : col;
  return `TRY_CAST(${value} AS ${type}) AS ${col}`;
}

/**
 * SQL for the `telemetry` view. `rawColumns` are the columns (name → DuckDB type) of the files as read
 * by `read_json_auto`; undefined when there are no files (an empty view with the record columns).
 */
export function telemetryViewSql(
  files: readonly string[],
  rawColumns: ReadonlyMap<string, string> | undefined,
  range: TimeRange,
  deviceId?: string,
  parquetFiles: readonly string[] = [],
): string {
  const sources: string[] = [];
  if (rawColumns !== undefined && files.length > 0) {
    const known = new Set(RECORD_COLUMNS.map(([name]) => name));
    const projections = [
      ...RECORD_COLUMNS.map(([name, type]) => castExpression(name, type, rawColumns.get(name))),
      ...[...rawColumns.keys()].filter((name) => !known.has(name)).map(sqlIdent),
    ];
    sources.push(`SELECT ${projections.join(', ')} FROM ${rawSource(files)}`);
  }
  // The compactor's Parquet files already have the record columns with these types.
  if (parquetFiles.length > 0) sources.push(`SELECT * FROM read_parquet([${parquetFiles.map(sqlString).join(', ')}], union_by_name = true)`);
  if (sources.length === 0) {
    const cols = RECORD_COLUMNS.map(([name, type]) => `CAST(NULL AS ${type}) AS ${sqlIdent(name)}`).join(', ');
    return `CREATE VIEW telemetry AS SELECT ${cols} WHERE false`;
  }
  const filters = [
    `${sqlIdent('enqueuedAt')} >= ${timestampLiteral(range.fromMs)}`,
    `${sqlIdent('enqueuedAt')} < ${timestampLiteral(range.toMs)}`,
    ...(deviceId !== undefined ? [`${sqlIdent('deviceId')} = ${sqlString(deviceId)}`] : []),
  ];
  return `CREATE VIEW telemetry AS SELECT * FROM (${sources.join(' UNION ALL BY NAME ')}) WHERE ${filters.join(' AND ')}`;
}

/** The files as DuckDB reads them: newline-delimited JSON (gzip by extension), schema over all rows. */
export function rawSource(files: readonly string[]): string {
  return (
    `read_json_auto([${files.map(sqlString).join(', ')}], format = 'newline_delimited', ` +
    `union_by_name = true, sample_size = -1)`
  );
}
