/** Shared by the end-to-end tests: a temp state dir, polling until a sink holds exactly what was sent. */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Comparison, SinkContent } from '../../devstack/simulator/verify.js';
import { compare, exact } from '../../devstack/simulator/verify.js';

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `iot-ingest-e2e-${prefix}-`));
}

/** Poll a sink until it holds exactly `sent` (each once) or the time is up; returns the last comparison. */
export async function untilExact(
  sent: readonly string[],
  read: () => Promise<SinkContent>,
  timeoutMs: number,
): Promise<Comparison> {
  const deadline = Date.now() + timeoutMs;
  let last: Comparison | undefined;
  for (;;) {
    try {
      last = compare(sent, await read());
      // Extra or doubled ids never go away: stop early, the assertion will show them.
      if (exact(last) || last.duplicated.length > 0 || last.unexpected.length > 0) return last;
    } catch {
      // A sink not answering yet is the same as not there yet.
    }
    if (Date.now() > deadline) return last ?? { missing: [...sent], unexpected: [], duplicated: [], unknown: 0 };
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** A readable summary for assertion messages (first few ids of each kind). */
export function describeComparison(c: Comparison): {
  missing: number;
  unexpected: number;
  duplicated: number;
  unknown: number;
  sample: string[];
} {
  return {
    missing: c.missing.length,
    unexpected: c.unexpected.length,
    duplicated: c.duplicated.length,
    unknown: c.unknown,
    sample: [...c.missing.slice(0, 3), ...c.unexpected.slice(0, 3), ...c.duplicated.slice(0, 3)],
  };
}

export const EXACT = { missing: 0, unexpected: 0, duplicated: 0, unknown: 0 };
