import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cosmosFlags, readSecretFile, storageFlags } from '../../../cli/connection-options.js';
import { buildProgram } from '../../../cli/main.js';

describe('cli/connection-options: keys come from the environment or a file, never from the command line', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-secret-files-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a key file is read with its trailing line break removed', async () => {
    const file = path.join(dir, 'key');
    await writeFile(file, 'a2V5\n');
    expect(readSecretFile(file, '--cosmos-key-file')).toBe('a2V5');
    expect(cosmosFlags({ cosmosEndpoint: 'https://x/', cosmosKeyFile: file })).toEqual({
      cosmosEndpoint: 'https://x/',
      cosmosKey: 'a2V5',
    });
    await writeFile(file, 'UseDevelopmentStorage=true\r\n');
    expect(storageFlags({ storageConnectionStringFile: file })).toEqual({
      storageConnectionString: 'UseDevelopmentStorage=true',
    });
  });

  it('a missing or empty key file is an error naming the flag and the file', async () => {
    const empty = path.join(dir, 'empty');
    await writeFile(empty, '\n');
    expect(() => readSecretFile(path.join(dir, 'nope'), '--cosmos-key-file')).toThrow(
      /--cosmos-key-file: cannot read '.*nope': ENOENT/,
    );
    expect(() => readSecretFile(empty, '--storage-connection-string-file')).toThrow(
      /--storage-connection-string-file: '.*empty' is empty/,
    );
  });

  it('the flags that took a secret are refused, the value never in the message, and hidden from help', async () => {
    const secret = 'top-secret-value';
    const run = (args: string[]): Promise<unknown> => buildProgram().parseAsync(args, { from: 'user' });
    await expect(run(['query', 'warm', 'SELECT 1', '--cosmos-key', secret])).rejects.toThrow(
      /^--cosmos-key is not accepted: .*set COSMOS_KEY or pass --cosmos-key-file <file>$/,
    );
    for (const args of [
      ['query', 'cold', '--from', 'a', '--to', 'b', 'SELECT 1', '--storage-connection-string', `AccountKey=${secret}`],
      ['cold', 'compact', '--hour', 'x', '--storage-connection-string', `AccountKey=${secret}`],
    ]) {
      await expect(run(args)).rejects.toThrow(
        /^--storage-connection-string is not accepted: .*--storage-connection-string-file <file>$/,
      );
    }
    for (const args of [
      ['query', 'warm', 'SELECT 1', '--cosmos-key', secret],
      ['cold', 'compact', '--hour', 'x', '--storage-connection-string', secret],
    ]) {
      await run(args).catch((err: Error) => expect(err.message).not.toContain(secret));
    }
    const query = buildProgram().commands.find((c) => c.name() === 'query');
    const help = (query?.commands ?? []).map((c) => c.helpInformation()).join('\n');
    expect(help).toContain('--cosmos-key-file <file>');
    expect(help).toContain('--storage-connection-string-file <file>');
    expect(help).not.toMatch(/--cosmos-key <|--storage-connection-string </);
  });
});
