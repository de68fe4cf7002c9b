/**
 * `npm run build` (also run by `npm ci`, through `prepare`): one ESM bundle per deployable (deployables.ts).
 * Type checking is `npm run typecheck`; this only emits.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { DEPLOYABLES, WORKSPACE_SCOPE } from './deployables.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function runtimeDependencies(packageDir: string): Promise<string[]> {
  const manifest = JSON.parse(await readFile(path.join(root, packageDir, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    optionalDependencies?: Record<string, string>;
  };
  return Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies }).filter(
    (name) => !name.startsWith(WORKSPACE_SCOPE),
  );
}

for (const deployable of DEPLOYABLES) {
  const external = await runtimeDependencies(deployable.packageDir);
  const result = await build({
    absWorkingDir: root,
    entryPoints: [deployable.entry],
    outfile: deployable.outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    // Subpath imports of a dependency (`pkg/sub`) are external too.
    external: external.flatMap((name) => [name, `${name}/*`]),
    logLevel: 'warning',
    metafile: true,
  });
  const inputs = Object.keys(result.metafile.inputs).length;
  process.stdout.write(`build: ${deployable.name} → ${deployable.outfile} (${inputs} source files)\n`);
}
