/**
 * `iot-ingest alerts` (the spawned CLI) against the real Cosmos DB server, reading alerts the hot path's
 * own store wrote from engine transitions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { startCosmos } from '../../devstack/cosmos/index.js';
import type { CosmosServer } from '../../devstack/cosmos/index.js';
import { mergeConnection } from '../../contracts/connections.js';
import { cosmosClientOptions } from '../../contracts/cosmos.js';
import { HotStore } from '../../functions/hot/store.js';
import { applyReadings, readFields, newDeviceState } from '../../functions/hot/engine.js';
import { parseRules } from '../../functions/hot/rules.js';

const BIN = path.resolve('cli/bin/iot-ingest.js');

function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe('iot-ingest alerts (spawned CLI against the Cosmos DB server)', () => {
  let dir = '';
  let cosmos: CosmosServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-cli-alerts-'));
    cosmos = await startCosmos({ dir, port: 0 });
    await mergeConnection('cosmos', cosmos.connection, dir);
    env = { IOT_INGEST_DEVSTACK_DIR: dir };
    const client = new CosmosClient(cosmosClientOptions(cosmos.connection));
    const { container } = await client
      .database('iot-ingest')
      .containers.createIfNotExists({ id: 'alerts', partitionKey: { paths: ['/pk'] } });
    const parsed = parseRules({ rules: [{ id: 'too-hot', field: 't', op: '>', value: 30 }] });
    if (!parsed.ok) throw new Error('rules');
    const t0 = Date.parse('2026-11-23T10:00:00Z');
    const reading = (deviceId: string, seq: number, t: number) => ({
      id: `0-${seq}-0`,
      deviceId,
      partition: '0',
      sequenceNumber: seq,
      index: 0,
      enqueuedAtMs: t0 + seq * 1000,
      fields: readFields({ t }, parsed.ruleSet),
    });
    // dev-1: raised then resolved; dev-2: raised, still open (the newest alert).
    const one = applyReadings(
      newDeviceState('dev-1'),
      [reading('dev-1', 1, 35), reading('dev-1', 2, 20)],
      parsed.ruleSet,
    );
    const two = applyReadings(newDeviceState('dev-2'), [reading('dev-2', 3, 40)], parsed.ruleSet);
    await new HotStore(() => container).storeAlerts([...one.transitions, ...two.transitions]);
    client.dispose();
  });

  afterAll(async () => {
    await cosmos?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lists every alert newest first; --open only those still raised', async () => {
    const all = await cli(['alerts', '--format', 'jsonl'], env);
    expect(all.stderr).toBe('');
    const rows = all.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => [r.deviceId, r.state, r.value, r.resolvedValue])).toEqual([
      ['dev-2', 'raised', 40, undefined],
      ['dev-1', 'resolved', 35, 20],
    ]);
    const open = await cli(['alerts', '--open', '--format', 'jsonl'], env);
    expect(
      open.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { id: string }).id),
    ).toEqual(['too-hot:dev-2:0-3-0']);
  });

  it('table and CSV have the alert columns', async () => {
    const csv = await cli(['alerts', '--format', 'csv'], env);
    const lines = csv.stdout.trim().split('\n');
    expect(lines[0]).toBe('at,state,rule,deviceId,value,resolvedAt,resolvedValue,readingId,webhook,id');
    expect(lines[2]).toBe(
      '2026-11-23T10:00:01.000Z,resolved,too-hot,dev-1,35,2026-11-23T10:00:02.000Z,20,0-1-0,,too-hot:dev-1:0-1-0',
    );
    const table = await cli(['alerts', '--open', '--format', 'table'], env);
    expect(table.stdout).toMatch(/^at\s+\| state\s+\| rule\s+\| deviceId/);
    expect(table.stdout).toMatch(/\(1 row\)\n$/);
  });

  it('a missing alerts container is one clear line naming it', async () => {
    const run = await cli(['alerts', '--alerts-container', 'nope'], env);
    expect(run.code).toBe(1);
    expect(
      run.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('iot-ingest:')),
    ).toEqual([expect.stringMatching(/^iot-ingest: Cosmos DB container iot-ingest\/nope not found/)]);
  });
});
