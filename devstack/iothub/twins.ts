/**
 * Device and module twins (PROTOCOLS.md §1.8): desired and reported property documents with versions,
 * kept in `<devstack>/iothub/twins.json` beside the registry so they survive restarts.
 *
 * Patches follow the hub's JSON merge rules: objects merge recursively, `null` deletes a property,
 * anything else replaces. Each patch bumps that side's `$version` by one; a new twin starts at 1.
 * Only the emulator writes this file (the CLI never does), one write at a time, atomically.
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '@iot-ingest/contracts';
import path from 'node:path';

export type TwinProperties = { [key: string]: unknown };

export interface TwinRecord {
  /** The identity generation this twin belongs to; a re-created identity starts a fresh twin. */
  readonly generationId: string;
  readonly desired: TwinProperties;
  readonly desiredVersion: number;
  readonly reported: TwinProperties;
  readonly reportedVersion: number;
}

/** The body of a twin GET response: `{"desired":{…,"$version":n},"reported":{…,"$version":m}}`. */
export interface TwinDocument {
  readonly desired: TwinProperties & { $version: number };
  readonly reported: TwinProperties & { $version: number };
}

function isPlainObject(value: unknown): value is TwinProperties {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON merge patch (null deletes). `$`-prefixed keys such as `$version` are the hub's, never stored. */
export function mergeTwinPatch(target: TwinProperties, patch: TwinProperties): TwinProperties {
  const result: TwinProperties = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$') || key === '__proto__') continue;
    if (value === null) delete result[key];
    else if (isPlainObject(value)) result[key] = mergeTwinPatch(isPlainObject(result[key]) ? result[key] : {}, value);
    else result[key] = value;
  }
  return result;
}

export function twinKey(deviceId: string, moduleId?: string): string {
  return moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`;
}

export function twinDocument(record: TwinRecord): TwinDocument {
  return {
    desired: { ...record.desired, $version: record.desiredVersion },
    reported: { ...record.reported, $version: record.reportedVersion },
  };
}

function freshTwin(generationId: string): TwinRecord {
  return { generationId, desired: {}, desiredVersion: 1, reported: {}, reportedVersion: 1 };
}

export class TwinStore {
  private readonly twins = new Map<string, TwinRecord>();
  private writing: Promise<void> = Promise.resolve();

  private constructor(readonly file: string) {}

  /** Loads `file` (missing = no twins yet). */
  static open(file: string): TwinStore {
    const store = new TwinStore(file);
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw new Error(`twin file ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
      }
      if (!isPlainObject(parsed)) throw new Error(`twin file ${file} must hold an object keyed by identity`);
      for (const [key, record] of Object.entries(parsed)) store.twins.set(key, record as TwinRecord);
    }
    return store;
  }

  /** The twin of an identity of the given generation (fresh when absent or of an older generation). */
  get(key: string, generationId: string): TwinRecord {
    const record = this.twins.get(key);
    return record && record.generationId === generationId ? record : freshTwin(generationId);
  }

  async patchReported(key: string, generationId: string, patch: TwinProperties): Promise<TwinRecord> {
    const record = this.get(key, generationId);
    const next: TwinRecord = {
      ...record,
      reported: mergeTwinPatch(record.reported, patch),
      reportedVersion: record.reportedVersion + 1,
    };
    await this.put(key, next);
    return next;
  }

  async patchDesired(key: string, generationId: string, patch: TwinProperties): Promise<TwinRecord> {
    const record = this.get(key, generationId);
    const next: TwinRecord = {
      ...record,
      desired: mergeTwinPatch(record.desired, patch),
      desiredVersion: record.desiredVersion + 1,
    };
    await this.put(key, next);
    return next;
  }

  /** Forget twins whose identity no longer exists (`keep` answers for a key and generation). */
  async prune(keep: (key: string, generationId: string) => boolean): Promise<void> {
    let changed = false;
    for (const [key, record] of this.twins) {
      if (!keep(key, record.generationId)) {
        this.twins.delete(key);
        changed = true;
      }
    }
    if (changed) await this.flush();
  }

  private async put(key: string, record: TwinRecord): Promise<void> {
    this.twins.set(key, record);
    await this.flush();
  }

  /** Writes are chained so the file always ends with the latest state. */
  private flush(): Promise<void> {
    const snapshot = JSON.stringify(Object.fromEntries(this.twins), null, 2) + '\n';
    const run = this.writing.then(async () => {
      await mkdir(path.dirname(this.file), { recursive: true });
      await writeFileAtomic(this.file, snapshot, { mode: 0o600 });
    });
    this.writing = run.catch(() => undefined);
    return run;
  }
}
