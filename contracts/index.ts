/**
 * What crosses the line between the product (Functions app, edge module, CLI) and the local stack:
 * the connections.json shape, the device registry format and its lock, the edge→cloud envelope, the
 * record type, and the file protocols they rely on. No dependencies beyond Node itself.
 */
export * from './files.js';
export * from './connections.js';
export * from './registry.js';
export * from './envelope.js';
export * from './record.js';
export * from './cosmos.js';
export * from './alerts.js';
