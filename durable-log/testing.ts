/**
 * A LogFileSystem that injects the faults a disk really produces, for tests (`@iot-ingest/durable-log/testing`).
 * It passes every call to a real filesystem except the ones a fault is armed for; each fault fires once.
 *
 * - torn write: part of the bytes reach the file and the process dies (the call never returns; later
 *   calls neither). Reopen the directory with the real filesystem to see what a restart finds.
 * - short write: part of the bytes reach the file and the call reports that count, without an error.
 * - failed write (ENOSPC, EIO…): nothing reaches the file and the call fails with that code.
 * - corrupt write: the bytes reach the file with one bit flipped, and the call succeeds (media damage).
 * - failed fsync: the bytes were written, the fdatasync fails with that code.
 */
import { nodeFileSystem } from './fs.js';
import type { AppendHandle, LogFileSystem, ReadHandle } from './fs.js';

export type WriteFault =
  | { readonly kind: 'torn'; readonly keepBytes: number }
  | { readonly kind: 'short'; readonly keepBytes: number }
  | { readonly kind: 'error'; readonly code: string }
  | { readonly kind: 'corrupt'; readonly atByte: number };

function errnoError(code: string, call: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${code}: injected fault, ${call}`);
  error.code = code;
  return error;
}

const never = <R>(): Promise<R> => new Promise<R>(() => undefined);

export class FaultyFileSystem implements LogFileSystem {
  private readonly writeFaults: WriteFault[] = [];
  private readonly syncFaults: string[] = [];
  private readonly openAppends = new Set<AppendHandle>();
  private readonly openReads = new Set<ReadHandle>();
  private dead = false;
  /** Writes (writev calls) that reached the real filesystem, whole or in part. */
  writes = 0;
  /** fdatasync calls that reached the real filesystem. */
  syncs = 0;

  constructor(private readonly real: LogFileSystem = nodeFileSystem) {}

  /** The next write to any file suffers `fault`. Faults queue up, one per write. */
  failNextWrite(fault: WriteFault): void {
    this.writeFaults.push(fault);
  }

  /** The next fdatasync fails with `code`. */
  failNextSync(code = 'EIO'): void {
    this.syncFaults.push(code);
  }

  /** True once a torn write has "killed the process". */
  get crashed(): boolean {
    return this.dead;
  }

  /** The process dies now: every call from here on never returns, and the real files are closed. */
  crash(): void {
    this.dead = true;
    for (const handle of this.openAppends) void handle.close().catch(() => undefined);
    for (const handle of this.openReads) handle.close();
    this.openAppends.clear();
    this.openReads.clear();
  }

  private alive<R>(run: () => Promise<R>): Promise<R> {
    return this.dead ? never<R>() : run();
  }

  mkdir(dir: string): Promise<void> {
    return this.alive(() => this.real.mkdir(dir));
  }

  list(dir: string): Promise<string[]> {
    return this.alive(() => this.real.list(dir));
  }

  readFile(file: string): Promise<Buffer> {
    return this.alive(() => this.real.readFile(file));
  }

  truncate(file: string, bytes: number): Promise<void> {
    return this.alive(() => this.real.truncate(file, bytes));
  }

  remove(file: string): Promise<void> {
    return this.alive(() => this.real.remove(file));
  }

  syncDir(dir: string): Promise<void> {
    return this.alive(() => this.real.syncDir(dir));
  }

  openRead(file: string): ReadHandle {
    const handle = this.real.openRead(file);
    this.openReads.add(handle);
    return {
      read: (into, position) => this.alive(() => handle.read(into, position)),
      readSync: (into, position) => handle.readSync(into, position),
      close: () => {
        if (this.openReads.delete(handle)) handle.close();
      },
    };
  }

  openAppend(file: string): Promise<AppendHandle> {
    return this.alive(async () => {
      const handle = await this.real.openAppend(file);
      this.openAppends.add(handle);
      return {
        writev: (chunks) => this.alive(() => this.writev(handle, chunks)),
        datasync: () =>
          this.alive(async () => {
            const code = this.syncFaults.shift();
            if (code) throw errnoError(code, `fdatasync ${file}`);
            this.syncs += 1;
            await handle.datasync();
          }),
        truncate: (bytes) => this.alive(() => handle.truncate(bytes)),
        close: () =>
          this.alive(async () => {
            if (this.openAppends.delete(handle)) await handle.close();
          }),
      };
    });
  }

  private async writev(handle: AppendHandle, chunks: readonly Buffer[]): Promise<number> {
    const fault = this.writeFaults.shift();
    if (!fault) {
      this.writes += 1;
      return handle.writev(chunks);
    }
    if (fault.kind === 'error') throw errnoError(fault.code, 'write');
    const bytes = Buffer.concat(chunks);
    this.writes += 1;
    switch (fault.kind) {
      case 'corrupt': {
        bytes.writeUInt8((bytes.readUInt8(fault.atByte) ^ 0x10) & 0xff, fault.atByte);
        return handle.writev([bytes]);
      }
      case 'short':
        return handle.writev([bytes.subarray(0, fault.keepBytes)]);
      case 'torn': {
        await handle.writev([bytes.subarray(0, fault.keepBytes)]);
        this.crash();
        return never<number>();
      }
    }
  }
}
