/**
 * `npm run build` (also run by `npm ci`, through `prepare`, and before the test suite): one ESM bundle per
 * deployable (deployables.ts). Workspace packages are compiled in; every other dependency stays external.
 * The Function app's output folder is the package `azd deploy` uploads: the bundle, host.json and a
 * package.json that lists only the app's runtime dependencies (the remote build installs them).
 * Type checking is `npm run typecheck`; this only emits. `tsx scripts/build.ts cli` builds one deployable.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { DEPLOYABLES, WORKSPACE_SCOPE } from './deployables.js';
import type { Deployable } from './deployables.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Manifest {
  name: string;
  version: string;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

export async function readManifest(packageDir: string): Promise<Manifest> {
  return JSON.parse(await readFile(path.join(root, packageDir, 'package.json'), 'utf8')) as Manifest;
}

/** The dependencies a deployable installs at run time: everything but the (bundled) workspace packages. */
export function runtimeDependencies(manifest: Manifest): Record<string, string> {
  return Object.fromEntries(
    Object.entries({ ...manifest.dependencies }).filter(([name]) => !name.startsWith(WORKSPACE_SCOPE)),
  );
}

/** Bundles one deployable; returns the repository files compiled into it. */
export async function bundle(deployable: Deployable): Promise<string[]> {
  const manifest = await readManifest(deployable.packageDir);
  const external = Object.keys({ ...runtimeDependencies(manifest), ...manifest.optionalDependencies });
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
  if (deployable.name === 'functions')
    await writeFunctionAppPackage(path.dirname(path.join(root, deployable.outfile)), manifest);
  const inputs = Object.keys(result.metafile.inputs);
  process.stdout.write(`build: ${deployable.name} → ${deployable.outfile} (${inputs.length} source files)\n`);
  return inputs;
}

/** host.json and a package.json with only the runtime dependencies, beside the bundle. */
async function writeFunctionAppPackage(outDir: string, manifest: Manifest): Promise<void> {
  await copyFile(path.join(root, 'host.json'), path.join(outDir, 'host.json'));
  const app = {
    name: manifest.name,
    version: manifest.version,
    private: true,
    type: 'module',
    main: 'index.js',
    ...(manifest.engines ? { engines: manifest.engines } : {}),
    dependencies: runtimeDependencies(manifest),
  };
  await writeFile(path.join(outDir, 'package.json'), JSON.stringify(app, null, 2) + '\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((name) => !DEPLOYABLES.some((d) => d.name === name));
  if (unknown.length > 0) {
    process.stderr.write(
      `build: unknown deployable ${unknown.join(', ')} (known: ${DEPLOYABLES.map((d) => d.name).join(', ')})\n`,
    );
    process.exit(2);
  }
  for (const deployable of DEPLOYABLES)
    if (wanted.length === 0 || wanted.includes(deployable.name)) await bundle(deployable);
}
