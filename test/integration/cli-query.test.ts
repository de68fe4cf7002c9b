import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { BlobServiceClient } from '@azure/storage-blob';
import { startCosmos } from '../../devstack/cosmos/index.js';
import type { CosmosServer } from '../../devstack/cosmos/index.js';
import { startStorage } from '../../devstack/storage/index.js';
import type { StorageServer } from '../../devstack/storage/index.js';
import { mergeConnection } from '../../contracts/connections.js';
import { CosmosClient } from '@azure/cosmos';
import { cosmosClientOptions } from '../../contracts/cosmos.js';

const BIN = path.resolve('cli/bin/iot-ingest.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A record in the shape of contracts §5. */
function record(partition: number, seq: number, deviceId: string, enqueuedAt: string, body: unknown) {
  return {
    id: `${partition}-${seq}-0`,
    deviceId,
    channel: 'iot_ingest_default',
    ts: enqueuedAt,
    enqueuedAt,
    partition: String(partition), // Event Hubs partition ids are strings
    sequenceNumber: seq,
    index: 0,
    properties: { source: 'test' },
    body,
  };
}

/** A device id a spreadsheet would run, and a note that would retitle the terminal and reorder text. */
const HOSTILE_DEVICE = '=HYPERLINK("http://attacker.example","x")';
const HOSTILE_NOTE = 'a\u001b]0;pwned\u0007b\u001b[2Jc\u009b31md\u202eevil';
/** Raw control characters a terminal acts on (ESC, BEL, CSI), and the bidi override. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const RAW_CONTROLS = /[\u001b\u0007\u009b\u202e]/;

const jsonl = (text: string): unknown[] =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as unknown);

/** Exit 1 and exactly one line on stderr, `iot-ingest: …`, no stack trace. */
function expectOneLineError(run: Run, pattern: RegExp): void {
  expect(run.code).toBe(1);
  expect(run.stdout).toBe('');
  const lines = run.stderr
    .split('\n')
    .filter(
      (l) =>
        l.trim() !== '' &&
        !/NodeVersionSupportWarning|node >=22|a\.co\/|upgrade to node|^To continue|trace-warnings|versions published|will require/.test(
          l,
        ),
    );
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^iot-ingest: /);
  expect(lines[0]).toMatch(pattern);
}

describe('iot-ingest query (spawned CLI against real Azurite and Cosmos servers)', () => {
  let dir = '';
  let emptyDir = '';
  let storage: StorageServer;
  let cosmos: CosmosServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-cli-query-'));
    emptyDir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-cli-empty-'));
    [storage, cosmos] = await Promise.all([startStorage({ dir, port: 0 }), startCosmos({ dir, port: 0 })]);
    await mergeConnection('storage', storage.connection, dir);
    await mergeConnection('cosmos', cosmos.connection, dir);
    env = { IOT_INGEST_DEVSTACK_DIR: dir, IOT_INGEST_CACHE_DIR: path.join(dir, 'cache') };

    const client = new CosmosClient(cosmosClientOptions(cosmos.connection));
    const container = client.database('iot-ingest').container('telemetry');
    const docs = [
      record(0, 1, 'dev1', '2026-11-23T14:10:00.000Z', { temp: 20.5 }),
      record(0, 2, 'dev1', '2026-11-23T14:20:00.000Z', { temp: 21.5 }),
      record(1, 1, 'dev2', '2026-11-23T14:15:00.000Z', { temp: 30, note: 'a, "quoted" note' }),
    ];
    for (const d of docs) {
      await container.items.upsert({ ...d, type: 'reading', pk: `${d.deviceId}:2026-11-23` });
    }
    client.dispose();

    const blobs = BlobServiceClient.fromConnectionString(storage.connection.connectionString).getContainerClient(
      'telemetry',
    );
    const put = (name: string, records: unknown[]) =>
      blobs.getBlockBlobClient(name).uploadData(gzipSync(records.map((r) => JSON.stringify(r) + '\n').join('')), {
        blobHTTPHeaders: { blobContentType: 'application/x-ndjson', blobContentEncoding: 'gzip' },
      });
    await Promise.all([
      put('year=2026/month=11/day=23/hour=13/p0-1-2.jsonl.gz', [
        record(0, 1, 'dev1', '2026-11-23T13:10:00.000Z', { temp: 1 }),
        record(0, 2, 'dev1', '2026-11-23T13:50:00.000Z', { temp: 2 }),
      ]),
      put('year=2026/month=11/day=23/hour=14/p0-3-5.jsonl.gz', [
        record(0, 3, 'dev1', '2026-11-23T14:10:00.000Z', { temp: 3 }),
        record(0, 4, 'dev1', '2026-11-23T14:40:00.000Z', { temp: 4 }),
        record(0, 5, 'dev2', '2026-11-23T14:45:00.000Z', 'not an object'),
      ]),
      put('year=2026/month=11/day=23/hour=14/p1-1-1.jsonl.gz', [
        { ...record(1, 1, 'dev2', '2026-11-23T14:50:00.000Z', { temp: 5 }), moduleId: 'edge' },
      ]),
      put('year=2026/month=11/day=23/hour=15/p0-6-6.jsonl.gz', [
        record(0, 6, 'dev1', '2026-11-23T15:30:00.000Z', { temp: 6 }),
      ]),
      // Hostile device strings, on a day of their own: a formula, terminal escape sequences, a bidi override.
      put('year=2026/month=11/day=25/hour=10/p0-1-1.jsonl.gz', [
        record(0, 1, HOSTILE_DEVICE, '2026-11-25T10:00:00.000Z', { note: HOSTILE_NOTE }),
      ]),
      // Misfiled on purpose: its enqueuedAt is in range but its partition is not, so a CLI that
      // lists only the partitions of the range never sees it.
      put('year=2026/month=11/day=23/hour=10/p9-9-9.jsonl.gz', [
        record(9, 9, 'dev1', '2026-11-23T14:30:00.000Z', { temp: 99 }),
      ]),
    ]);
  });

  afterAll(async () => {
    await Promise.all([storage?.stop(), cosmos?.stop()]);
    for (const d of [dir, emptyDir]) if (d) await rm(d, { recursive: true, force: true });
  });

  it('warm: parameterised SQL, JSON Lines by default when stdout is not a terminal', async () => {
    const run = await cli(
      [
        'query',
        'warm',
        'SELECT c.id, c.body.temp AS temp FROM c WHERE c.deviceId = @d ORDER BY c.ts',
        '--param',
        '@d=dev1',
      ],
      env,
    );
    expect(run.stderr).not.toMatch(/iot-ingest:/);
    expect(run.code).toBe(0);
    expect(jsonl(run.stdout)).toEqual([
      { id: '0-1-0', temp: 20.5 },
      { id: '0-2-0', temp: 21.5 },
    ]);
  });

  it('warm: endpoint, key file and CA from flags alone (no connections.json), CSV with quoting, VALUE as a column', async () => {
    const { endpoint, key, caCertPath } = cosmos.connection;
    const keyFile = path.join(dir, 'cosmos.key');
    await writeFile(keyFile, `${key}\n`, { mode: 0o600 });
    const flags = [
      '--cosmos-endpoint',
      endpoint,
      '--cosmos-key-file',
      keyFile,
      '--cosmos-ca-cert',
      caCertPath,
      '--format',
      'csv',
    ];
    const [csv, count] = await Promise.all([
      cli(['query', 'warm', 'SELECT c.deviceId, c.body FROM c WHERE c.body.temp >= @t', '--param', '@t=30', ...flags], {
        IOT_INGEST_DEVSTACK_DIR: emptyDir,
      }),
      cli(['query', 'warm', 'SELECT VALUE COUNT(1) FROM c', ...flags], { IOT_INGEST_DEVSTACK_DIR: emptyDir }),
    ]);
    expect(csv.code).toBe(0);
    expect(csv.stdout).toBe('deviceId,body\ndev2,"{""temp"":30,""note"":""a, \\""quoted\\"" note""}"\n');
    expect(count.code).toBe(0);
    expect(count.stdout).toBe('value\n3\n');
  });

  it('warm: --format table aligns columns and counts rows', async () => {
    const run = await cli(['query', 'warm', 'SELECT c.id, c.deviceId FROM c ORDER BY c.id', '--format', 'table'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      ['id    | deviceId', '------+---------', '0-1-0 | dev1', '0-2-0 | dev1', '1-1-0 | dev2', '(3 rows)', ''].join(
        '\n',
      ),
    );
  });

  it('warm: bad SQL, an unreachable endpoint and a missing container each give one line and exit 1', async () => {
    const [bad, unreachable, missing] = await Promise.all([
      cli(['query', 'warm', 'SELECT c.deviceId, COUNT(1) FROM c GROUP BY c.deviceId'], env),
      cli(['query', 'warm', 'SELECT * FROM c', '--cosmos-endpoint', 'https://127.0.0.1:1/'], {
        IOT_INGEST_DEVSTACK_DIR: emptyDir,
        COSMOS_KEY: 'a2V5',
      }),
      cli(['query', 'warm', 'SELECT * FROM c', '--cosmos-container', 'nope'], env),
    ]);
    expectOneLineError(bad, /SQL error/);
    expectOneLineError(unreachable, /cannot query Cosmos DB at https:\/\/127\.0\.0\.1:1\/: .*ECONNREFUSED/);
    expectOneLineError(missing, /iot-ingest\/nope not found/);
  });

  it('warm: no endpoint anywhere names the flag, the variable and the devstack', async () => {
    const run = await cli(['query', 'warm', 'SELECT * FROM c'], { IOT_INGEST_DEVSTACK_DIR: emptyDir });
    expectOneLineError(run, /--cosmos-endpoint.*COSMOS_ENDPOINT.*npm run cosmos/);
  });

  it('cold: only the partitions in range are read; records filtered to [from, to) and the device', async () => {
    const sql = "SELECT id, deviceId, CAST(body->>'temp' AS DOUBLE) AS temp, enqueuedAt FROM telemetry ORDER BY id";
    const [all, dev2] = await Promise.all([
      cli(['query', 'cold', '--from', '2026-11-23T13:30:00Z', '--to', '2026-11-23T15:30:00Z', sql], env),
      cli(
        ['query', 'cold', '--from', '2026-11-23T13:30:00Z', '--to', '2026-11-23T15:30:00Z', '--device', 'dev2', sql],
        env,
      ),
    ]);
    expect(all.stderr).not.toMatch(/iot-ingest:/);
    expect(all.code).toBe(0);
    // 13:10 is before --from, 15:30 is --to (exclusive), p9-9-9 sits in hour 10 (never listed).
    expect(jsonl(all.stdout)).toEqual([
      { id: '0-2-0', deviceId: 'dev1', temp: 2, enqueuedAt: '2026-11-23 13:50:00' },
      { id: '0-3-0', deviceId: 'dev1', temp: 3, enqueuedAt: '2026-11-23 14:10:00' },
      { id: '0-4-0', deviceId: 'dev1', temp: 4, enqueuedAt: '2026-11-23 14:40:00' },
      { id: '0-5-0', deviceId: 'dev2', temp: null, enqueuedAt: '2026-11-23 14:45:00' },
      { id: '1-1-0', deviceId: 'dev2', temp: 5, enqueuedAt: '2026-11-23 14:50:00' },
    ]);
    expect(dev2.code).toBe(0);
    expect(jsonl(dev2.stdout).map((r) => (r as { id: string }).id)).toEqual(['0-5-0', '1-1-0']);
  });

  it('cold: GROUP BY works (DuckDB), body stays JSON, CSV output; an empty range is an empty view', async () => {
    const [grouped, bodies, empty] = await Promise.all([
      cli(
        [
          'query',
          'cold',
          '--from',
          '2026-11-23T00:00:00Z',
          '--to',
          '2026-11-24T00:00:00Z',
          '--format',
          'csv',
          "SELECT deviceId, count(*) AS n, max(sequenceNumber) AS maxSeq, count(*) FILTER (WHERE partition = '0') AS p0 FROM telemetry GROUP BY deviceId ORDER BY deviceId",
        ],
        env,
      ),
      cli(
        [
          'query',
          'cold',
          '--from',
          '2026-11-23T14:00:00Z',
          '--to',
          '2026-11-23T15:00:00Z',
          "SELECT id, body, moduleId, properties FROM telemetry WHERE id IN ('0-5-0', '1-1-0') ORDER BY id",
        ],
        env,
      ),
      cli(['query', 'cold', '--from', '2025-01-01', '--to', '2025-01-02', 'SELECT count(*) AS n FROM telemetry'], env),
    ]);
    expect(grouped.code).toBe(0);
    expect(grouped.stdout).toBe('deviceId,n,maxSeq,p0\ndev1,6,9,5\ndev2,2,5,1\n');
    expect(bodies.code).toBe(0);
    expect(jsonl(bodies.stdout)).toEqual([
      { id: '0-5-0', body: 'not an object', moduleId: null, properties: { source: 'test' } },
      { id: '1-1-0', body: { temp: 5 }, moduleId: 'edge', properties: { source: 'test' } },
    ]);
    expect(empty.code).toBe(0);
    expect(jsonl(empty.stdout)).toEqual([{ n: 0 }]);
  });

  it('cold compact writes an ended hour as Parquet; query cold then reads it instead of the JSON Lines, and a repeat downloads nothing', async () => {
    const cacheEnv = { ...env, IOT_INGEST_CACHE_DIR: path.join(dir, 'cache-compact') };
    const sql = "SELECT deviceId, count(*) AS n, sum((body->>'temp')::DOUBLE) AS temps FROM telemetry GROUP BY deviceId ORDER BY deviceId";
    const range = ['--from', '2026-11-23T13:00:00Z', '--to', '2026-11-23T15:00:00Z', '--format', 'jsonl'];
    const before = await cli(['query', 'cold', ...range, sql], cacheEnv);
    expect(before.code).toBe(0);
    expect(before.stderr).toContain('read 3 files (0 Parquet, 3 JSON Lines), downloaded 3');

    const compact = await cli(['cold', 'compact', '--hour', '2026-11-23T13:00:00Z'], env);
    expect(compact.code).toBe(0);
    expect(compact.stdout).toBe('telemetry-parquet/year=2026/month=11/day=23/hour=13/p0.parquet: 2 records from 1 object(s)\n');
    const open = await cli(['cold', 'compact', '--hour', new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString()], env);
    expectOneLineError(open, /has not ended yet/);

    const first = await cli(['query', 'cold', ...range, sql], cacheEnv);
    const again = await cli(['query', 'cold', ...range, sql], cacheEnv);
    for (const run of [first, again]) {
      expect(run.code).toBe(0);
      expect(jsonl(run.stdout)).toEqual(jsonl(before.stdout));
    }
    expect(first.stderr).toContain('read 3 files (1 Parquet, 2 JSON Lines), downloaded 1');
    expect(again.stderr).toContain('read 3 files (1 Parquet, 2 JSON Lines), downloaded 0 (0.0 MB), 3 from the cache');
  });

  it('cold: a bad time range, bad SQL or an unreachable account give one line and exit 1', async () => {
    const [reversed, unparsable, badSql, unreachable] = await Promise.all([
      cli(['query', 'cold', '--from', '2026-11-23T15:00:00Z', '--to', '2026-11-23T14:00:00Z', 'SELECT 1'], env),
      cli(['query', 'cold', '--from', 'yesterday', '--to', '2026-11-23T14:00:00Z', 'SELECT 1'], env),
      cli(
        ['query', 'cold', '--from', '2026-11-23T14:00:00Z', '--to', '2026-11-23T15:00:00Z', 'SELEC * FROM telemetry'],
        env,
      ),
      cli(
        [
          'query',
          'cold',
          '--from',
          '2026-11-23T14:00:00Z',
          '--to',
          '2026-11-23T15:00:00Z',
          'SELECT 1',
        ],
        {
          IOT_INGEST_DEVSTACK_DIR: emptyDir,
          AZURE_STORAGE_CONNECTION_STRING:
            'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;',
        },
      ),
    ]);
    expectOneLineError(reversed, /--from \(2026-11-23T15:00:00Z\) must be before --to/);
    expectOneLineError(unparsable, /--from: 'yesterday' is not an ISO 8601 time/);
    expectOneLineError(badSql, /SQL error: Parser Error: syntax error at or near "SELEC"/);
    expectOneLineError(unreachable, /cannot read the storage account: .*ECONNREFUSED/);
  });
  it("cold: the analyst's SQL reads only its range's files: other files, the network, COPY TO and SET are refused", async () => {
    const leak = path.join(dir, 'leak.csv');
    const cache = path.join(dir, 'cache');
    const range = ['--from', '2026-11-23T14:00:00Z', '--to', '2026-11-23T15:00:00Z'];
    const runs = await Promise.all(
      [
        "SELECT * FROM read_csv('/etc/passwd')",
        `SELECT * FROM read_json_auto('${cache}/cold/*')`,
        "SELECT * FROM read_csv('http://127.0.0.1:1/x.csv')",
        `COPY (SELECT * FROM telemetry) TO '${leak}'`,
        'SET enable_external_access = true',
        'SET lock_configuration = false',
        'INSTALL httpfs',
      ].map((sql) => cli(['query', 'cold', ...range, sql], env)),
    );
    for (const run of runs.slice(0, 4)) expectOneLineError(run, /SQL error: Permission Error: .*disabled by configuration/);
    for (const run of runs.slice(4, 6)) expectOneLineError(run, /SQL error: .*the configuration has been locked/);
    expectOneLineError(runs[6]!, /SQL error: Permission Error/);
    await expect(stat(leak)).rejects.toMatchObject({ code: 'ENOENT' });
    // The files it was given are still readable.
    const ok = await cli(['query', 'cold', ...range, 'SELECT count(*) AS n FROM telemetry'], env);
    expect(ok.code).toBe(0);
    expect(jsonl(ok.stdout)).toEqual([{ n: 4 }]);
  });

  it('cold: device strings reach the terminal and spreadsheets inert (escaped controls, CSV formulas neutralised)', async () => {
    const range = ['--from', '2026-11-25T00:00:00Z', '--to', '2026-11-26T00:00:00Z'];
    const sql = "SELECT deviceId, body->>'note' AS note FROM telemetry";
    const [table, csv, lines] = (await Promise.all(
      ['table', 'csv', 'jsonl'].map((format) => cli(['query', 'cold', ...range, '--format', format, sql], env)),
    )) as [Run, Run, Run];
    for (const run of [table, csv, lines]) expect(run.code).toBe(0);
    // What a terminal shows has no control character left; CSV written to a file keeps the data exact.
    for (const run of [table, lines]) expect(run.stdout).not.toMatch(RAW_CONTROLS);
    expect(table.stdout).toContain('a\\x1b]0;pwned\\x07b\\x1b[2Jc\\x9b31md\\u{202e}evil');
    expect(csv.stdout.split('\n')[1]).toBe(`"'=HYPERLINK(""http://attacker.example"",""x"")",${HOSTILE_NOTE}`);
    // JSON Lines keep the exact value for a JSON reader.
    expect(jsonl(lines.stdout)).toEqual([{ deviceId: HOSTILE_DEVICE, note: HOSTILE_NOTE }]);
  });

  it('keys are never taken from the command line: --cosmos-key and --storage-connection-string are refused without echoing them', async () => {
    const secret = 'c2VjcmV0LWtleS1vbi10aGUtY29tbWFuZC1saW5l';
    const [cosmosFlag, storageFlag] = await Promise.all([
      cli(['query', 'warm', 'SELECT * FROM c', '--cosmos-key', secret], env),
      cli(
        ['cold', 'compact', '--hour', '2026-11-23T13:00:00Z', '--storage-connection-string', `AccountKey=${secret}`],
        env,
      ),
    ]);
    expectOneLineError(cosmosFlag, /--cosmos-key is not accepted: .*COSMOS_KEY.*--cosmos-key-file/);
    expectOneLineError(
      storageFlag,
      /--storage-connection-string is not accepted: .*AZURE_STORAGE_CONNECTION_STRING.*--storage-connection-string-file/,
    );
    for (const run of [cosmosFlag, storageFlag]) expect(run.stderr).not.toContain(secret);
  });
});
