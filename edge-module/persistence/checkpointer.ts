/**
 * Which stored records may be committed: records finish out of order (channels interleave), but a
 * store commits a prefix. Commit up to just below the oldest record still waiting for its final status
 * (edgeHub's Checkpointer rule), so nothing unfinished is ever deleted.
 */
export class Checkpointer {
  private readonly open = new Set<number>();
  private highest = 0;

  /** A record was appended (or recovered) and waits for its final status. */
  track(seq: number): void {
    this.open.add(seq);
    if (seq > this.highest) this.highest = seq;
  }

  /** Its final status is known. */
  done(seq: number): void {
    this.open.delete(seq);
  }

  /** A record that was never queued (e.g. expired) still moves the high-water mark. */
  skip(seq: number): void {
    if (seq > this.highest) this.highest = seq;
  }

  /** The highest seq that may be committed. */
  committable(): number {
    let lowest = Infinity;
    // Sets iterate in insertion order and seqs are tracked in increasing order, so the first is the lowest.
    for (const seq of this.open) {
      lowest = seq;
      break;
    }
    return lowest === Infinity ? this.highest : lowest - 1;
  }

  get pending(): number {
    return this.open.size;
  }
}
