import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadDuckDb, openSandboxedDuckDb } from '../../../cli/duckdb.js';
import type { SandboxedDuckDb } from '../../../cli/duckdb.js';

describe('cli/duckdb: the analyst SQL sandbox (real DuckDB)', () => {
  let dir = '';
  let given = '';
  let other = '';
  let db: SandboxedDuckDb;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-duckdb-sandbox-'));
    given = path.join(dir, 'given.jsonl');
    other = path.join(dir, 'other.jsonl');
    await writeFile(given, '{"a":1}\n{"a":2}\n');
    await writeFile(other, '{"secret":42}\n');
    db = await openSandboxedDuckDb(await loadDuckDb(), [given]);
  });

  afterAll(async () => {
    db?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const refusal = async (sql: string): Promise<string> => {
    try {
      await db.connection.runAndReadAll(sql);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error(`expected DuckDB to refuse: ${sql}`);
  };

  it('reads the files it was given, in UTC', async () => {
    const sum = await db.connection.runAndReadAll(`SELECT sum(a)::INTEGER AS s FROM read_json_auto('${given}')`);
    expect(sum.getRowObjectsJson()).toEqual([{ s: 3 }]);
    const zone = await db.connection.runAndReadAll("SELECT current_setting('TimeZone') AS tz");
    expect(zone.getRowObjectsJson()).toEqual([{ tz: 'UTC' }]);
  });

  it('refuses every other file, even beside the given one, a glob over their directory, and /etc/passwd', async () => {
    expect(await refusal(`SELECT * FROM read_json_auto('${other}')`)).toMatch(/Permission Error/);
    expect(await refusal(`SELECT * FROM read_json_auto('${dir}/*.jsonl')`)).toMatch(/Permission Error/);
    expect(await refusal("SELECT * FROM read_csv('/etc/passwd')")).toMatch(/Permission Error/);
    expect(await refusal("SELECT * FROM read_text('/etc/hostname')")).toMatch(/Permission Error/);
  });

  it('refuses writing files, attaching databases, the network, extensions and persistent secrets', async () => {
    const out = path.join(dir, 'out.csv');
    expect(await refusal(`COPY (SELECT 1) TO '${out}'`)).toMatch(/Permission Error/);
    await expect(stat(out)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await refusal(`ATTACH '${path.join(dir, 'x.db')}'`)).toMatch(/Permission Error/);
    expect(await refusal("SELECT * FROM read_csv('http://127.0.0.1:1/x.csv')")).toMatch(/Permission Error/);
    expect(await refusal('INSTALL httpfs')).toMatch(/Permission Error/);
    expect(await refusal('LOAD httpfs')).toMatch(/Permission Error/);
    expect(await refusal("CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')")).toMatch(/Permission Error/);
  });

  it('the configuration is locked: no SET or RESET gives access back', async () => {
    for (const sql of [
      'SET enable_external_access = true',
      'SET lock_configuration = false',
      'RESET lock_configuration',
      `SET allowed_paths = ['${other}']`,
      `SET allowed_directories = ['${dir}']`,
      "SET TimeZone = 'Europe/Paris'",
    ]) {
      expect(await refusal(sql)).toMatch(/the configuration has been locked/);
    }
  });
});
