/**
 * Owner-level (epoch) rules per consumer group and partition, as the service applies them
 * (PROTOCOLS.md §2.4): a reader with an epoch at least as high as every existing one takes the partition
 * and the others are disconnected with `amqp:link:stolen`; a lower epoch, or no epoch while an epoch
 * reader exists, is refused with the same condition.
 */
import { AmqpConditionError, Condition } from './errors.js';

export interface OwnedReader {
  /** undefined: the reader did not ask for an owner level. */
  readonly epoch: number | undefined;
  /** Disconnects the reader because a newer owner took over. */
  steal(description: string): void;
}

export class OwnerLevels {
  private readonly readers = new Map<string, Set<OwnedReader>>();

  /** Registers `reader` on `key` (consumer group + partition) or throws the refusal. */
  admit(key: string, reader: OwnedReader): void {
    const existing = this.readers.get(key) ?? new Set<OwnedReader>();
    let highest: number | undefined;
    for (const other of existing) {
      if (other.epoch !== undefined && (highest === undefined || other.epoch > highest)) highest = other.epoch;
    }
    if (reader.epoch === undefined) {
      if (highest !== undefined) {
        throw new AmqpConditionError(
          Condition.linkStolen,
          `A receiver with epoch '${highest}' already exists. A new receiver with no epoch cannot be created. Make sure you are creating receiver with increasing epoch value to ensure connectivity, or ensure all old epoch receivers are closed or disconnected.`,
        );
      }
    } else if (highest !== undefined && reader.epoch < highest) {
      throw new AmqpConditionError(
        Condition.linkStolen,
        `Receiver with a higher epoch '${highest}' already exists. A new receiver with epoch '${reader.epoch}' cannot be created. Make sure you are creating receiver with increasing epoch value to ensure connectivity, or ensure all old epoch receivers are closed or disconnected.`,
      );
    } else {
      for (const other of [...existing]) {
        existing.delete(other);
        other.steal(
          `New receiver with higher epoch of '${reader.epoch}' is created hence current receiver with epoch '${other.epoch ?? ''}' is getting disconnected. If you are recreating the receiver, make sure a higher epoch is used.`,
        );
      }
    }
    existing.add(reader);
    this.readers.set(key, existing);
  }

  release(key: string, reader: OwnedReader): void {
    const existing = this.readers.get(key);
    if (!existing) return;
    existing.delete(reader);
    if (existing.size === 0) this.readers.delete(key);
  }
}
