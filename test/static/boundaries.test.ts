/**
 * The layering rules (.dependency-cruiser.cjs, run by `npm run check`) hold on the real tree and fail on a
 * deliberate violation. The violations are written into a throw-away copy of the layout (the packages'
 * package.json files, the real node_modules linked in), never into the repository.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = path.resolve('.');
const depcruise = path.join(repo, 'node_modules', '.bin', 'depcruise');
const config = path.join(repo, '.dependency-cruiser.cjs');
const PACKAGES = ['contracts', 'durable-log', 'batching', 'cold', 'edge-module', 'cli', 'devstack'];

async function cruise(cwd: string, paths: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(depcruise, [...paths, '--config', config], { cwd });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

let fixture: string;

beforeAll(async () => {
  fixture = await mkdtemp(path.join(os.tmpdir(), 'boundaries-'));
  await cp(path.join(repo, 'package.json'), path.join(fixture, 'package.json'));
  await cp(path.join(repo, 'tsconfig.json'), path.join(fixture, 'tsconfig.json'));
  await symlink(path.join(repo, 'node_modules'), path.join(fixture, 'node_modules'));
  for (const name of PACKAGES) {
    await mkdir(path.join(fixture, name), { recursive: true });
    await cp(path.join(repo, name, 'package.json'), path.join(fixture, name, 'package.json'));
  }
  await mkdir(path.join(fixture, 'functions'));
  await writeFile(path.join(fixture, 'batching', 'index.ts'), 'export const batchSize = 100;\n');
  await writeFile(path.join(fixture, 'devstack', 'emulator.ts'), 'export const emulator = true;\n');
});

afterAll(async () => {
  await rm(fixture, { recursive: true, force: true });
});

async function withFile(
  file: string,
  source: string,
  check: (result: { code: number; output: string }) => void,
): Promise<void> {
  const full = path.join(fixture, file);
  await writeFile(full, source);
  try {
    check(await cruise(fixture, ['durable-log', 'batching', 'edge-module', 'functions', 'devstack']));
  } finally {
    await rm(full);
  }
}

describe('package boundaries (npm run check)', () => {
  it('the repository has no violation', async () => {
    const result = await cruise(repo, [
      'contracts',
      'durable-log',
      'batching',
      'edge-module',
      'functions',
      'cli',
      'devstack',
      'test',
      'bench',
      'scripts',
    ]);
    expect(result.output).toContain('no dependency violations found');
    expect(result.code).toBe(0);
  });

  it('a file that keeps the rules passes in the fixture (so the failures below are the violations)', async () => {
    await withFile(
      'edge-module/fine.ts',
      "import { batchSize } from '@iot-ingest/batching';\nexport const n = batchSize;\n",
      (result) => {
        expect(result.output).toContain('no dependency violations found');
        expect(result.code).toBe(0);
      },
    );
  });

  it('product code importing devstack fails the check', async () => {
    await withFile(
      'functions/leak.ts',
      "import { emulator } from '../devstack/emulator.js';\nexport const e = emulator;\n",
      (result) => {
        expect(result.code).not.toBe(0);
        expect(result.output).toContain(
          'product-never-imports-the-local-stack: functions/leak.ts → devstack/emulator.ts',
        );
      },
    );
  });

  it('a package importing another package by relative path fails the check', async () => {
    await withFile(
      'edge-module/reach.ts',
      "import { batchSize } from '../batching/index.js';\nexport const n = batchSize;\n",
      (result) => {
        expect(result.code).not.toBe(0);
        expect(result.output).toContain('packages-import-each-other-by-name: edge-module/reach.ts → batching/index.ts');
      },
    );
  });

  it('a package importing a dependency its package.json does not declare fails the check', async () => {
    await withFile(
      'edge-module/undeclared.ts',
      "import { CosmosClient } from '@azure/cosmos';\nexport const c = CosmosClient;\n",
      (result) => {
        expect(result.code).not.toBe(0);
        expect(result.output).toMatch(
          /declared-dependencies-only: edge-module\/undeclared\.ts → \S*node_modules\/@azure\/cosmos/,
        );
      },
    );
  });

  it('batching doing I/O fails the check', async () => {
    await withFile(
      'batching/io.ts',
      "import { readFile } from 'node:fs/promises';\nexport const r = readFile;\n",
      (result) => {
        expect(result.code).not.toBe(0);
        expect(result.output).toContain('batching-does-no-io: batching/io.ts → fs/promises');
      },
    );
  });

  it('the durable log importing anything but Node built-ins fails the check', async () => {
    await withFile('durable-log/leak.ts', "import { pino } from 'pino';\nexport const p = pino;\n", (result) => {
      expect(result.code).not.toBe(0);
      expect(result.output).toMatch(/durable-log-depends-on-node-only: durable-log\/leak\.ts → \S*node_modules\/pino/);
    });
  });
});
