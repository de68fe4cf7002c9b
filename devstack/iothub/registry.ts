/**
 * The device registry as the running emulator sees it: cached, re-read whenever the file's identity
 * (inode, mtime, size) changes, so `iot-ingest devices` edits take effect live. The format and its lock
 * live in @iot-ingest/contracts.
 */
import { statSync } from 'node:fs';
import { EMPTY_REGISTRY, findIdentity, readRegistrySync } from '@iot-ingest/contracts';
import type { RegistryData } from '@iot-ingest/contracts';

export class LiveRegistry {
  private data: RegistryData = EMPTY_REGISTRY;
  private fingerprint = '';

  constructor(readonly file: string) {}

  /** The current content; stats the file (cheap) and re-reads it only when it changed. */
  current(): RegistryData {
    let fingerprint: string;
    try {
      const s = statSync(this.file);
      fingerprint = `${s.ino}:${s.mtimeMs}:${s.size}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      fingerprint = 'missing';
    }
    if (fingerprint !== this.fingerprint) {
      this.data = readRegistrySync(this.file);
      this.fingerprint = fingerprint;
    }
    return this.data;
  }

  keyFor(deviceId: string, moduleId: string | undefined): string | undefined {
    return findIdentity(this.current(), deviceId, moduleId)?.primaryKey;
  }
}
