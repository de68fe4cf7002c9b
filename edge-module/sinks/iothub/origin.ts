/**
 * The envelope's `origin` (docs/contracts.md §4): which store numbered the messages. With persistence it
 * is made once, when the store's folder has none, and kept in `<dir>/origin`, so after a restart the same
 * (origin, n) names the same message; a wiped or new volume gets a new origin, so its fresh sequence
 * numbers can never overwrite readings sent from the old one. Without persistence: a new one per start.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ORIGIN_PATTERN, writeFileAtomic } from '@iot-ingest/contracts';

export const ORIGIN_FILE = 'origin';

export function newOrigin(): string {
  return randomBytes(8).toString('hex');
}

/** The origin kept in the persistence folder `dir`, made (atomically) if it has none. */
export async function storeOrigin(dir: string): Promise<string> {
  const file = path.join(dir, ORIGIN_FILE);
  let text: string | undefined;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text !== undefined) {
    if (!ORIGIN_PATTERN.test(text)) {
      throw new Error(`${file} holds '${text.slice(0, 40)}', not an origin (16 lowercase hex characters); remove it only together with the store`);
    }
    return text;
  }
  await mkdir(dir, { recursive: true });
  const origin = newOrigin();
  await writeFileAtomic(file, `${origin}\n`);
  return origin;
}
