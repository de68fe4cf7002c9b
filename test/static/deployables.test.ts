/**
 * Each deployable holds only what it runs (issue 11): what esbuild compiles into each bundle, and what each
 * deployable's package.json makes the production install pull in.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { bundle } from '../../scripts/build.js';
import { DEPLOYABLES } from '../../scripts/deployables.js';

const byName = (name: string) => DEPLOYABLES.find((d) => d.name === name)!;
const manifest = async (dir: string) =>
  JSON.parse(await readFile(`${dir}/package.json`, 'utf8')) as { dependencies?: Record<string, string> };

describe('lean deployables', () => {
  it('the Function app bundle holds functions/, batching/, contracts/ and cold/ only: no devstack, cli, edge-module or bench file', async () => {
    const inputs = await bundle(byName('functions'));
    expect(inputs.length).toBeGreaterThan(10);
    for (const file of inputs) expect(file).toMatch(/^(functions|batching|contracts|cold)\//);
  });

  it('the edge module bundle holds edge-module/, batching/, contracts/ and durable-log/ only', async () => {
    const inputs = await bundle(byName('edge-module'));
    for (const file of inputs) expect(file).toMatch(/^(edge-module|batching|contracts|durable-log)\//);
  });

  it('the CLI bundle holds cli/, contracts/ and cold/ only', async () => {
    const inputs = await bundle(byName('cli'));
    for (const file of inputs) expect(file).toMatch(/^(cli|contracts|cold)\//);
  });

  it('the edge module depends on nothing it does not load (no Cosmos, Blob, Event Hubs, identity or rhea)', async () => {
    const deps = Object.keys((await manifest('edge-module')).dependencies ?? {});
    for (const name of [
      '@azure/cosmos',
      '@azure/storage-blob',
      '@azure/event-hubs',
      '@azure/identity',
      'rhea',
      '@azure/functions',
    ]) {
      expect(deps).not.toContain(name);
    }
  });

  it("the Function app's package.json (what the remote build installs) lists only the app's runtime dependencies", async () => {
    await bundle(byName('functions'));
    const app = await manifest('dist/functions');
    const root = await manifest('.');
    const expected = Object.fromEntries(
      Object.entries(root.dependencies ?? {}).filter(([name]) => !name.startsWith('@iot-ingest/')),
    );
    expect(app.dependencies).toEqual(expected);
    for (const name of ['azurite', '@vercel/cosmosdb-server', 'aedes', 'rhea', '@azure/event-hubs', 'vitest'])
      expect(Object.keys(app.dependencies ?? {})).not.toContain(name);
  });
});
