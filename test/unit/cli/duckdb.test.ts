import { describe, expect, it } from 'vitest';
import { DUCKDB_MISSING, loadDuckDb, telemetryViewSql } from '../../../cli/duckdb.js';

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

  it('the view casts record fields to fixed types, NULLs absent ones, keeps extras and filters range and device', () => {
    const sql = telemetryViewSql(
      ["/tmp/a'b.jsonl.gz"],
      new Map([
        ['id', 'VARCHAR'],
        ['deviceId', 'VARCHAR'],
        ['enqueuedAt', 'TIMESTAMP'],
        ['ts', 'JSON'],
        ['body', 'STRUCT(temp DOUBLE)'],
        ['extra', 'BIGINT'],
      ]),
      range,
      "dev'1",
    );
    expect(sql).toContain(`TRY_CAST(json_extract_string("ts", '$') AS TIMESTAMP) AS "ts"`);
    expect(sql).toContain(`to_json("body") AS "body"`);
    expect(sql).toContain(`CAST(NULL AS VARCHAR) AS "moduleId"`);
    expect(sql).toContain(`, "extra" FROM read_json_auto(['/tmp/a''b.jsonl.gz']`);
    expect(sql).toContain(
      `WHERE "enqueuedAt" >= TIMESTAMP '2026-11-23 14:00:00.000' AND "enqueuedAt" < TIMESTAMP '2026-11-23 15:00:00.000' AND "deviceId" = 'dev''1'`,
    );
  });

  it('with no files the view is empty but has every record column', () => {
    const sql = telemetryViewSql([], undefined, range);
    expect(sql).toMatch(/^CREATE VIEW telemetry AS SELECT CAST\(NULL AS VARCHAR\) AS "id", .* WHERE false$/);
    expect(sql).toContain('CAST(NULL AS JSON) AS "body"');
  });
});
