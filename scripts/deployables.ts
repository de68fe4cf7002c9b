/**
 * The three things this repository ships, and what each one is made of. `build.ts` bundles each entry
 * with esbuild: the workspace packages it imports (@iot-ingest/*) are compiled in, every other dependency
 * stays external and is installed from the deployable's own package.json, so an artifact holds exactly
 * its code and its production dependencies. `size.ts` measures them.
 */
export interface Deployable {
  readonly name: string;
  /** The package folder (relative to the repository root) whose package.json lists the runtime dependencies. */
  readonly packageDir: string;
  readonly entry: string;
  readonly outfile: string;
}

export const DEPLOYABLES: readonly Deployable[] = [
  // The Function app is the root package: host.json and package.json `main` at the root.
  { name: 'functions', packageDir: '.', entry: 'functions/index.ts', outfile: 'dist/functions/index.js' },
  { name: 'edge-module', packageDir: 'edge-module', entry: 'edge-module/main.ts', outfile: 'edge-module/dist/main.js' },
  { name: 'cli', packageDir: 'cli', entry: 'cli/main.ts', outfile: 'cli/dist/iot-ingest.js' },
];

/** Workspace packages are bundled into each artifact; they are never installed from a registry. */
export const WORKSPACE_SCOPE = '@iot-ingest/';
