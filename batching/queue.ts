/**
 * One channel's FIFO queue, stored as parallel arrays (struct of arrays) rather than one object per
 * message: a deep queue then holds a few references per message and no per-message object, so holding
 * and collecting it stays cheap. Outgoing message objects are made only when a batch is taken, and die
 * young. A moving head makes taking a batch O(batch); slots freed by the batch in flight are reused
 * when its messages are put back at the front, so a retry or a deferred tail is O(batch) too.
 */
import type { Batch, QueuedMessage } from './types.js';

/**
 * How a queued message's status id is stored: the device's id (a string, `""` included), `undefined`
 * for "the generated messageId" (a put without id), `null` for "no id" (binary, default topic).
 */
export type StoredStatusId = string | null | undefined;

export class ChannelQueue {
  private payloads: Array<Uint8Array | undefined> = [];
  private statusIds: StoredStatusId[] = [];
  /** The messageId once known: the device's id when valid, else generated at the first take. */
  private messageIds: Array<string | undefined> = [];
  private metas: unknown[] = [];
  private times: number[] = [];
  private head = 0;
  queuedBytes = 0;
  inFlight: Batch | undefined = undefined;
  consecutiveFailures = 0;
  backoffUntil = 0;

  constructor(readonly name: string) {}

  get queuedCount(): number {
    return this.payloads.length - this.head;
  }

  get isEmpty(): boolean {
    return this.payloads.length === this.head && this.inFlight === undefined;
  }

  push(payload: Uint8Array, statusId: StoredStatusId, messageId: string | undefined, meta: unknown, acceptedAt: number): void {
    this.payloads.push(payload);
    this.statusIds.push(statusId);
    this.messageIds.push(messageId);
    this.metas.push(meta);
    this.times.push(acceptedAt);
    this.queuedBytes += payload.byteLength;
  }

  /** The oldest message's messageId if it is already fixed (a device id or an earlier attempt's). */
  get headMessageId(): string | undefined {
    return this.messageIds[this.head];
  }

  /** Take the oldest message out as an outgoing message object. */
  shift(newId: () => string): QueuedMessage {
    const i = this.head;
    const payload = this.payloads[i]!;
    const stored = this.statusIds[i];
    const messageId = this.messageIds[i] ?? newId();
    const message: QueuedMessage = {
      messageId,
      statusId: stored === null ? undefined : (stored ?? messageId),
      channel: this.name,
      payload,
      acceptedAt: this.times[i]!,
      meta: this.metas[i],
    };
    // Free the slot's references now: a delivered payload must not stay reachable from here.
    this.payloads[i] = undefined;
    this.statusIds[i] = undefined;
    this.metas[i] = undefined;
    this.head = i + 1;
    this.queuedBytes -= payload.byteLength;
    if (this.head === this.payloads.length && this.inFlight === undefined) this.reset();
    return message;
  }

  /** Take the newest message out (DROP_NEWEST trimming after a lowered limit). */
  pop(newId: () => string): QueuedMessage {
    const payload = this.payloads.pop()!;
    const stored = this.statusIds.pop();
    const messageId = this.messageIds.pop() ?? newId();
    const meta = this.metas.pop();
    const acceptedAt = this.times.pop()!;
    this.queuedBytes -= payload.byteLength;
    return { messageId, statusId: stored === null ? undefined : (stored ?? messageId), channel: this.name, payload, acceptedAt, meta };
  }

  /** Before taking a batch: drop the dead prefix once it outweighs the live part (amortised O(1)). */
  compact(): void {
    if (this.head === this.payloads.length) {
      this.reset();
    } else if (this.head >= 1024 && this.head * 2 >= this.payloads.length) {
      const h = this.head;
      this.payloads = this.payloads.slice(h);
      this.statusIds = this.statusIds.slice(h);
      this.messageIds = this.messageIds.slice(h);
      this.metas = this.metas.slice(h);
      this.times = this.times.slice(h);
      this.head = 0;
    }
  }

  /** Put messages back at the front, in the given order (they keep their messageIds). */
  unshiftAll(messages: readonly QueuedMessage[]): void {
    const k = messages.length;
    if (k === 0) return;
    if (this.head < k) this.makeRoomAtFront(k);
    let i = this.head - k;
    this.head = i;
    for (const m of messages) {
      this.payloads[i] = m.payload;
      this.statusIds[i] = m.statusId === undefined ? null : m.statusId;
      this.messageIds[i] = m.messageId;
      this.metas[i] = m.meta;
      this.times[i] = m.acceptedAt;
      this.queuedBytes += m.payload.byteLength;
      i++;
    }
  }

  private makeRoomAtFront(k: number): void {
    const h = this.head;
    const pad = <T>(a: T[]): T[] => new Array<T>(k).concat(a.slice(h));
    this.payloads = pad(this.payloads);
    this.statusIds = pad(this.statusIds);
    this.messageIds = pad(this.messageIds);
    this.metas = pad(this.metas);
    this.times = pad(this.times);
    this.head = k;
  }

  private reset(): void {
    this.payloads = [];
    this.statusIds = [];
    this.messageIds = [];
    this.metas = [];
    this.times = [];
    this.head = 0;
  }
}
