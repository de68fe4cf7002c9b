/** The errors an append can end in. Each names the log's directory and, for a write, the file and the step. */

export type WriteStep = 'open' | 'write' | 'fsync' | 'sync-dir';

/** A write, short write or fsync failed: the appends of that write are rejected and the log stops. */
export class LogWriteError extends Error {
  /** The errno code of the cause (`ENOSPC`, `EIO`…), or `ESHORTWRITE` when fewer bytes reached the file. */
  readonly code: string | undefined;

  constructor(
    readonly dir: string,
    readonly file: string,
    readonly step: WriteStep,
    cause: Error,
  ) {
    super(`durable log ${dir}: ${step} of ${file} failed: ${cause.message}`, { cause });
    this.name = 'LogWriteError';
    this.code = (cause as NodeJS.ErrnoException).code;
  }
}

/** Fewer bytes reached the file than were handed to the write (what ENOSPC mid-write looks like). */
export class ShortWriteError extends Error {
  readonly code = 'ESHORTWRITE';

  constructor(
    readonly writtenBytes: number,
    readonly expectedBytes: number,
  ) {
    super(`short write: ${writtenBytes} of ${expectedBytes} bytes reached the file`);
    this.name = 'ShortWriteError';
  }
}

/** An append after a failed write: the log takes no more until it is opened again. */
export class LogStoppedError extends Error {
  constructor(
    readonly dir: string,
    readonly failure: LogWriteError,
  ) {
    super(`durable log ${dir} takes no more appends since a write failed (${failure.message})`, { cause: failure });
    this.name = 'LogStoppedError';
  }
}

export class LogClosedError extends Error {
  constructor(readonly dir: string) {
    super(`durable log ${dir} is closed`);
    this.name = 'LogClosedError';
  }
}
