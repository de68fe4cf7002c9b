/**
 * The in-memory index of a log's durable entries: entry i is sequence number `beginSeq + i`, so every
 * sequence number from beginSeq to endSeq − 1 has one. An entry whose frame could not be read keeps its
 * place with 0 bytes (readers skip it), so numbering has no holes and positions and times stay sorted.
 */
export class EntryIndex {
  private positions: number[] = [];
  private times: number[] = [];
  private sizes: number[] = [];
  private begin: number;

  constructor(firstSeq: number) {
    this.begin = firstSeq;
  }

  /** Oldest retained sequence number (endSeq when empty). */
  get beginSeq(): number {
    return this.begin;
  }

  /** One past the newest durable sequence number. */
  get endSeq(): number {
    return this.begin + this.positions.length;
  }

  get length(): number {
    return this.positions.length;
  }

  /** Restarts an empty index at `seq`. */
  restartAt(seq: number): void {
    if (this.positions.length > 0) throw new Error('EntryIndex.restartAt: the index is not empty');
    this.begin = seq;
  }

  push(position: number, frameBytes: number, timestampMs: number): void {
    this.positions.push(position);
    this.sizes.push(frameBytes);
    this.times.push(timestampMs);
  }

  /** Forgets the oldest `count` entries (their segment was deleted). */
  dropOldest(count: number): void {
    this.positions.splice(0, count);
    this.sizes.splice(0, count);
    this.times.splice(0, count);
    this.begin += count;
  }

  position(seq: number): number {
    return this.positions[seq - this.begin] as number;
  }

  /** Frame bytes of the entry, 0 for one that could not be read. */
  frameBytes(seq: number): number {
    return this.sizes[seq - this.begin] as number;
  }

  timestampMs(seq: number): number {
    return this.times[seq - this.begin] as number;
  }

  /** First sequence number whose timestamp is later than `epochMs` (endSeq if none). */
  firstAfterTime(epochMs: number): number {
    return this.begin + upperBound(this.times, epochMs);
  }

  /** First sequence number at or after byte position `position` (endSeq if none). */
  firstAtOrAfterPosition(position: number): number {
    return this.begin + lowerBound(this.positions, position);
  }
}

/** Index of the first element > value. */
function upperBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid] as number) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first element >= value. */
function lowerBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid] as number) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
