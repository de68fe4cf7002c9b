#!/usr/bin/env node
// The `iot-ingest` command: compiled JavaScript (`npm run build`, which `npm ci` runs through `prepare`).
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/iot-ingest.js', import.meta.url);
if (!existsSync(bundle)) {
  process.stderr.write(
    `iot-ingest: ${bundle.pathname} is missing; build it with "npm run build" in the repository root\n`,
  );
  process.exit(1);
}
const { main } = await import(bundle.href);
process.exitCode = await main(process.argv);
