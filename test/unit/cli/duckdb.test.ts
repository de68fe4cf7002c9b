import { describe, expect, it } from 'vitest';
import { DUCKDB_MISSING, detectColumnsSql, loadDuckDb, telemetryViewSql, toParquetSql } from '../../../cli/duckdb.js';

const range = { fromMs: Date.parse('2026-11-23T14:00:00Z'), toMs: Date.parse('2026-11-23T15:00:00Z') };

describe('cli/duckdb', () => {
  it('a missing @duckdb/node-api becomes one clear line saying how to install it', async () => {
    const missing = Object.assign(new Error("Cannot find package '@duckdb/node-api'"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    await expect(loadDuckDb(() => Promise.reject(missing))).rejects.toThrow(DUCKDB_MISSING);
    expect(DUCKDB_MISSING).not.toMatch(/\n/);
    expect(DUCKDB_MISSING).toMatch(/npm install @duckdb\/node-api/);
  });

  it('the installed @duckdb/node-api loads', async () => {
    const duckdb = await loadDuckDb();
    expect(typeof duckdb.DuckDBInstance.create).toBe('function');
  });

  it('JSON Lines become Parquet with the record types: fields cast, absent ones NULL, extras as JSON, read with the detected columns', () => {
    const sql = toParquetSql(
      ["/tmp/a'b.jsonl.gz"],
      new Map([
        ['id', 'JSON'],
        ['deviceId', 'VARCHAR'],
        ['enqueuedAt', 'TIMESTAMP'],
        ['ts', 'JSON'],
        ['body', 'STRUCT(temp DOUBLE)'],
        ['extra', 'BIGINT'],
      ]),
      '/tmp/out.parquet',
    );
    expect(sql).toContain(`TRY_CAST(json_extract_string("ts", '$') AS TIMESTAMP) AS "ts"`);
    expect(sql).toContain(`to_json("body") AS "body"`);
    expect(sql).toContain(`CAST(NULL AS VARCHAR) AS "moduleId"`);
    expect(sql).toContain(`, to_json("extra") AS "extra" FROM read_json(['/tmp/a''b.jsonl.gz'], format = 'newline_delimited', columns = {'id': 'JSON', `);
    expect(sql).toMatch(/TO '\/tmp\/out\.parquet' \(FORMAT parquet, COMPRESSION zstd\)$/);
    expect(detectColumnsSql(["/tmp/a'b.jsonl.gz"])).toContain("read_json_auto(['/tmp/a''b.jsonl.gz'], format = 'newline_delimited', union_by_name = true, sample_size = -1, maximum_depth = 1)");
  });

  it('the view reads the Parquet files by name, record columns first; only partly covered hours are filtered on enqueuedAt', () => {
    const sql = telemetryViewSql(
      [
        { path: "/tmp/a'b.parquet", whole: true },
        { path: '/tmp/c.parquet', whole: false },
        { path: '/tmp/d.parquet', whole: true },
      ],
      range,
      "dev'1",
    );
    expect(sql).toContain(`SELECT "id", "deviceId", "moduleId", "channel", "requestId", "ts", "enqueuedAt", "partition", "sequenceNumber", "index", "properties", "body", "bodyBase64", * EXCLUDE (`);
    expect(sql).toContain(
      `FROM (SELECT * FROM read_parquet(['/tmp/a''b.parquet', '/tmp/d.parquet'], union_by_name = true) UNION ALL BY NAME ` +
        `SELECT * FROM read_parquet(['/tmp/c.parquet'], union_by_name = true) WHERE "enqueuedAt" >= TIMESTAMP '2026-11-23 14:00:00.000' AND "enqueuedAt" < TIMESTAMP '2026-11-23 15:00:00.000') WHERE "deviceId" = 'dev''1'`,
    );
  });

  it('with no files the view is empty but has every record column', () => {
    const sql = telemetryViewSql([], range);
    expect(sql).toMatch(/^CREATE VIEW telemetry AS SELECT CAST\(NULL AS VARCHAR\) AS "id", .* WHERE false$/);
    expect(sql).toContain('CAST(NULL AS JSON) AS "body"');
  });
});
