/**
 * The filesystem seam: every byte the log reads or writes goes through a LogFileSystem, so tests can
 * put a faulty one in its place (`testing.ts`) the way Vector tests its disk buffer
 * (vectordotdev/vector lib/vector-buffers/src/variants/disk_v2/io.rs). `nodeFileSystem` is the real one.
 */
import { closeSync, openSync, read, readSync } from 'node:fs';
import { mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';

/** A segment file opened for appending. */
export interface AppendHandle {
  /** Appends the chunks in order; resolves with the bytes written, which can be fewer (a short write). */
  writev(chunks: readonly Buffer[]): Promise<number>;
  /** fdatasync: what was written is on disk once this resolves. */
  datasync(): Promise<void>;
  /** Cuts the file back to `bytes` (after a failed write, so nothing unacknowledged stays behind). */
  truncate(bytes: number): Promise<void>;
  close(): Promise<void>;
}

/** A segment file opened for positioned reads. */
export interface ReadHandle {
  read(into: Buffer, position: number): Promise<number>;
  readSync(into: Buffer, position: number): number;
  close(): void;
}

export interface LogFileSystem {
  /** Creates the directory and its parents when missing. */
  mkdir(dir: string): Promise<void>;
  /** File names in `dir`. */
  list(dir: string): Promise<string[]>;
  readFile(file: string): Promise<Buffer>;
  /** Opens `file` for appending, creating it when missing. */
  openAppend(file: string): Promise<AppendHandle>;
  openRead(file: string): ReadHandle;
  /** Cuts `file` to `bytes` and syncs it. */
  truncate(file: string, bytes: number): Promise<void>;
  /** Deletes `file`; a missing file is not an error. */
  remove(file: string): Promise<void>;
  /** Makes the directory's entries (new or deleted files) durable. */
  syncDir(dir: string): Promise<void>;
}

export const nodeFileSystem: LogFileSystem = {
  async mkdir(dir) {
    await mkdir(dir, { recursive: true });
  },
  list: (dir) => readdir(dir),
  readFile: (file) => readFile(file),
  async openAppend(file) {
    const handle = await open(file, 'a');
    return {
      async writev(chunks) {
        return (await handle.writev(chunks as Buffer[])).bytesWritten;
      },
      datasync: () => handle.datasync(),
      truncate: (bytes) => handle.truncate(bytes),
      close: () => handle.close(),
    };
  },
  openRead(file) {
    const fd = openSync(file, 'r');
    return {
      // One descriptor serves both the synchronous reads (the hub's) and the asynchronous ones (the edge store's).
      read: (into, position) =>
        new Promise((resolve, reject) => {
          read(fd, into, 0, into.length, position, (err, bytes) => (err ? reject(err) : resolve(bytes)));
        }),
      readSync: (into, position) => readSync(fd, into, 0, into.length, position),
      close: () => closeSync(fd),
    };
  },
  async truncate(file, bytes) {
    const handle = await open(file, 'r+');
    try {
      await handle.truncate(bytes);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  },
  async remove(file) {
    try {
      await unlink(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  },
  async syncDir(dir) {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};
