/** The batching engine's public surface: the connector's queue/batch semantics, no I/O. */
export * from './types.js';
export * from './config.js';
export * from './engine.js';
export * from './status.js';
export * from './pump.js';
export * from './batch-put.js';
