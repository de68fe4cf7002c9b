/**
 * The edge module as a library: what the module's own entry (main.ts) and the local stack start it with.
 * Everything else in this package is internal to the module.
 */
export { startEdgeModule } from './app.js';
export type { EdgeModule, EdgeModuleClient, EdgeModuleOptions } from './app.js';
export { DEFAULTS, EdgeConfigError, loadEdgeConfig, parseEdgeConfig } from './config.js';
export type { EdgeConfig, EdgeConfigResult } from './config.js';
