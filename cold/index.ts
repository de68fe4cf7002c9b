/** The cold store: layout and appends (JSON Lines), the hourly Parquet copy, and what a reader reads. */
export * from './layout.js';
export * from './append.js';
export * from './parquet.js';
export * from './catalog.js';
export * from './compactor.js';
