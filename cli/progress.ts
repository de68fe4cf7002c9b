/**
 * A one-line progress bar on stderr while blobs download: drawn only when stderr is a TTY (so logs
 * and pipes get nothing), redrawn in place, erased when done.
 */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export interface Progress {
  advance(bytes: number): void;
  done(): void;
}

function humanBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function renderProgress(doneCount: number, total: number, bytes: number, barWidth = 24): string {
  const filled = total === 0 ? barWidth : Math.round((doneCount / total) * barWidth);
  return `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${doneCount}/${total} blobs, ${humanBytes(bytes)}`;
}

export function createProgress(stream: ProgressStream, total: number, label = 'downloading'): Progress {
  let doneCount = 0;
  let bytes = 0;
  const draw = (): void => {
    if (stream.isTTY) stream.write(`\r${label} ${renderProgress(doneCount, total, bytes)}`);
  };
  draw();
  return {
    advance(blobBytes: number): void {
      doneCount += 1;
      bytes += blobBytes;
      draw();
    },
    done(): void {
      if (stream.isTTY) stream.write('\r\x1b[2K');
    },
  };
}
