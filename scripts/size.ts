/**
 * `npm run size`: what each deployable weighs (deployables.ts).
 * - the Function app package: the folder `npm run build` leaves for `azd deploy` (bundle, host.json,
 *   package.json), plus the production dependencies the remote build installs from that package.json;
 * - the edge module image and the CLI: their bundle plus the production node_modules their package.json pulls in.
 * Dependencies are measured from the installed tree: the closure of each runtime dependency through the
 * `dependencies`/`optionalDependencies` of every package reached (Node's resolution, installed ones only), so
 * the figure is offline and the same as a production install of that package.json.
 */
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEPLOYABLES, WORKSPACE_SCOPE } from './deployables.js';
import { bundle } from './build.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Tally {
  files: number;
  bytes: number;
}

/** Every file under `dir`, skipping nested `node_modules` (counted as packages of their own). */
function tallyDir(dir: string, skipNodeModules: boolean): Tally {
  const tally = { files: 0, bytes: 0 };
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) {
        if (!(skipNodeModules && entry.name === 'node_modules')) walk(full);
      } else if (entry.isFile()) {
        tally.files++;
        tally.bytes += statSync(full).size;
      }
    }
  };
  walk(dir);
  return tally;
}

function readManifest(dir: string): {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
} {
  return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as never;
}

/** Node's lookup: `<dir>/node_modules/<name>`, then each parent's. */
function resolvePackageDir(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dir === path.dirname(dir)) return undefined;
  }
}

/** The production dependency closure of `names`, resolved from `fromDir`. */
export function dependencyClosure(
  names: readonly string[],
  fromDir: string,
): { packages: number; files: number; bytes: number } {
  const seen = new Set<string>();
  const tally = { packages: 0, files: 0, bytes: 0 };
  const visit = (name: string, from: string, optional: boolean): void => {
    const dir = resolvePackageDir(name, from);
    if (dir === undefined) {
      if (optional) return; // an optional dependency for another platform
      throw new Error(`size: ${name} (needed from ${path.relative(root, from) || '.'}) is not installed; run npm ci`);
    }
    if (seen.has(dir)) return;
    seen.add(dir);
    const files = tallyDir(dir, true);
    tally.packages++;
    tally.files += files.files;
    tally.bytes += files.bytes;
    const manifest = readManifest(dir);
    for (const dep of Object.keys(manifest.dependencies ?? {})) visit(dep, dir, false);
    for (const dep of Object.keys(manifest.optionalDependencies ?? {})) visit(dep, dir, true);
  };
  for (const name of names) visit(name, fromDir, false);
  return tally;
}

function runtimeDependencies(packageDir: string): string[] {
  const manifest = readManifest(path.join(root, packageDir));
  return Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies }).filter(
    (n) => !n.startsWith(WORKSPACE_SCOPE),
  );
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  for (const deployable of DEPLOYABLES) {
    await bundle(deployable);
    const deps = dependencyClosure(runtimeDependencies(deployable.packageDir), path.join(root, deployable.packageDir));
    if (deployable.name === 'functions') {
      const dir = path.dirname(path.join(root, deployable.outfile));
      const code = tallyDir(dir, false);
      process.stdout.write(
        `size: functions package ${code.files} files, ${code.bytes} bytes (${path.relative(root, dir)}/); production node_modules ${deps.packages} packages, ${deps.files} files, ${mb(deps.bytes)}\n`,
      );
    } else {
      const bundle = statSync(path.join(root, deployable.outfile)).size;
      process.stdout.write(
        `size: ${deployable.name} bundle ${bundle} bytes; production node_modules ${deps.packages} packages, ${deps.files} files, ${mb(deps.bytes)}\n`,
      );
    }
  }
