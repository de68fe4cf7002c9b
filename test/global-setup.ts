/**
 * Runs once before the suite: bundles the deployables (scripts/build.ts), so tests that spawn the CLI as
 * its users do (`cli/bin/iot-ingest.js`, compiled JavaScript) run the code being tested, not a stale build.
 */
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts'], { stdio: ['ignore', 'ignore', 'inherit'] });
}
