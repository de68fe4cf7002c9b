/**
 * The layering rules of docs/architecture.md, checked by `npm run check` (dependency-cruiser, because it
 * reads TypeScript imports, knows npm workspaces, and checks each file against the package.json closest to
 * it — so "a package imports only what it declares" comes for free).
 *
 *   cli, devstack → functions, edge-module → batching;   edge-module, devstack → durable-log;
 *   contracts is shared by all;   test, bench, scripts → anything
 */
const PRODUCT = '^(contracts|durable-log|batching|cold|edge-module|functions|cli)/';
const LOCAL_ONLY = '^(devstack|bench|test|scripts)/';
const PACKAGES = '^(contracts|durable-log|batching|cold|edge-module|cli|devstack)/';

module.exports = {
  forbidden: [
    {
      name: 'product-never-imports-the-local-stack',
      comment:
        'What ships (the Function app, the edge module, the CLI and the packages they bundle) never loads devstack, bench, test or scripts.',
      severity: 'error',
      from: { path: PRODUCT },
      to: { path: LOCAL_ONLY },
    },
    {
      name: 'deployables-never-import-each-other',
      comment:
        'The Function app, the edge module and the CLI share code only through workspace packages (contracts, batching, cold, durable-log).',
      severity: 'error',
      from: { path: '^(functions|edge-module|cli)/' },
      to: { path: '^(functions|edge-module|cli)/', pathNot: '^$1/' },
    },
    {
      name: 'batching-and-contracts-depend-on-nothing',
      comment:
        'batching/ is pure connector logic and contracts/ is shared shapes: no npm dependency, and batching only node:crypto (no I/O, no timers).',
      severity: 'error',
      from: { path: '^(batching|contracts)/' },
      to: { dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'durable-log-depends-on-node-only',
      comment: 'The durable log is shared by the edge store and the hub emulator: Node built-ins only, no other package.',
      severity: 'error',
      from: { path: '^durable-log/' },
      to: { pathNot: '^durable-log/', dependencyTypesNot: ['core'] },
    },
    {
      name: 'batching-does-no-io',
      severity: 'error',
      from: { path: '^batching/' },
      to: { dependencyTypes: ['core'], pathNot: '^crypto$' },
    },
    {
      name: 'batching-imports-only-batching',
      severity: 'error',
      from: { path: '^batching/' },
      to: { pathNot: '^batching/', dependencyTypesNot: ['core'] },
    },
    {
      name: 'packages-import-each-other-by-name',
      comment:
        'A relative import into another workspace package bypasses its package.json (and its bundling); import @iot-ingest/<name>. The Function app is the root package and has no name: only devstack, test and bench reach it, by path.',
      severity: 'error',
      from: { path: PACKAGES },
      to: { path: PACKAGES, pathNot: '^$1/', dependencyTypes: ['local'] },
    },
    {
      name: 'only-the-local-stack-reaches-into-the-function-app',
      severity: 'error',
      from: { path: '^(contracts|batching|cold|edge-module|cli)/' },
      to: { path: '^functions/' },
    },
    {
      name: 'declared-dependencies-only',
      comment: 'Every npm import is listed in the package.json closest to the importing file.',
      severity: 'error',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'product-uses-no-dev-dependencies',
      severity: 'error',
      from: { path: PRODUCT, pathNot: '\\.test\\.ts$' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-unresolvable-imports',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^dist/', '^(contracts|durable-log|batching|edge-module|cli|devstack)/dist/', '^\\.devstack/'] },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
    },
    moduleSystems: ['es6', 'cjs'],
  },
};
