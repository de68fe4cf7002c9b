/**
 * DuckDB for `query cold`: loading the optional `@duckdb/node-api`, turning a partition-hour's JSON Lines
 * into a local Parquet file with the record types (once per version: cli/cold.ts caches it), and the
 * `telemetry` view over local Parquet files. Every file the view reads has the record fields of contracts
 * §5 with the same fixed types — the compactor's files by construction (cold/parquet.ts), converted JSON
 * Lines by the casts here (a field no record has is NULL; `body` and `properties` are JSON, since bodies
 * differ from device to device; a field the record type does not list is a JSON column of its own, as in
 * the compactor's files) — so the view is one `read_parquet`, filtered to [from, to) on `enqueuedAt` (the
 * field the blob layout partitions by) and to one device when asked.
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
 * The projection that gives JSON Lines read by `read_json_auto` (columns `rawColumns`, name → DuckDB type)
 * the record columns and types, then any other field as JSON.
 */
export function recordProjection(rawColumns: ReadonlyMap<string, string>): string {
  const known = new Set(RECORD_COLUMNS.map(([name]) => name));
  return [
    ...RECORD_COLUMNS.map(([name, type]) => castExpression(name, type, rawColumns.get(name))),
    ...[...rawColumns.keys()].filter((name) => !known.has(name)).map((name) => castExpression(name, 'JSON', rawColumns.get(name))),
  ].join(', ');
}

/**
 * `COPY` of JSON Lines files to one Parquet file with the record columns: the files are read with the
 * columns `detectColumnsSql` found (each as JSON), so each line is parsed once and bodies stay as sent.
 */
export function toParquetSql(files: readonly string[], rawColumns: ReadonlyMap<string, string>, target: string): string {
  const columns = [...rawColumns].map(([name, type]) => `${sqlString(name)}: ${sqlString(type)}`).join(', ');
  const source = `read_json([${files.map(sqlString).join(', ')}], format = 'newline_delimited', columns = {${columns}})`;
  return `COPY (SELECT ${recordProjection(rawColumns)} FROM ${source}) TO ${sqlString(target)} (FORMAT parquet, COMPRESSION zstd)`;
}

/** A local Parquet file with the record columns; `whole`: its hour lies inside the range (no row filter). */
export interface ViewFile {
  readonly path: string;
  readonly whole: boolean;
}

/**
 * SQL for the `telemetry` view over local Parquet files that all have the record columns. Only the files
 * of the range's first and last hours are filtered on `enqueuedAt` (the others are inside it whole, and
 * reading a column no query asked for is the cost here).
 */
export function telemetryViewSql(files: readonly ViewFile[], range: TimeRange, deviceId?: string): string {
  if (files.length === 0) {
    const cols = RECORD_COLUMNS.map(([name, type]) => `CAST(NULL AS ${type}) AS ${sqlIdent(name)}`).join(', ');
    return `CREATE VIEW telemetry AS SELECT ${cols} WHERE false`;
  }
  const known = RECORD_COLUMNS.map(([name]) => sqlIdent(name)).join(', ');
  const inRange = `${sqlIdent('enqueuedAt')} >= ${timestampLiteral(range.fromMs)} AND ${sqlIdent('enqueuedAt')} < ${timestampLiteral(range.toMs)}`;
  const scan = (group: readonly ViewFile[], filter: string | undefined): string =>
    `SELECT * FROM read_parquet([${group.map((f) => sqlString(f.path)).join(', ')}], union_by_name = true)${filter ? ` WHERE ${filter}` : ''}`;
  const whole = files.filter((f) => f.whole);
  const edges = files.filter((f) => !f.whole);
  const scans = [...(whole.length > 0 ? [scan(whole, undefined)] : []), ...(edges.length > 0 ? [scan(edges, inRange)] : [])];
  // The record columns first, in contract order, then the extras (union_by_name: NULL where a file has none).
  const device = deviceId !== undefined ? ` WHERE ${sqlIdent('deviceId')} = ${sqlString(deviceId)}` : '';
  return `CREATE VIEW telemetry AS SELECT ${known}, * EXCLUDE (${known}) FROM (${scans.join(' UNION ALL BY NAME ')})${device}`;
}

/**
 * The top-level fields of every line of the files (name → DuckDB type; `maximum_depth = 1` keeps each one
 * JSON, so nothing nested is inferred and a body is never re-serialised).
 */
export function detectColumnsSql(files: readonly string[]): string {
  return (
    `DESCRIBE SELECT * FROM read_json_auto([${files.map(sqlString).join(', ')}], format = 'newline_delimited', ` +
    `union_by_name = true, sample_size = -1, maximum_depth = 1)`
  );
}
