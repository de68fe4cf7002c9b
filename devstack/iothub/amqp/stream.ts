/**
 * Streams one partition to one consumer link, from a start sequence number onward: sends only while the
 * link is sendable (the client grants credit by hand), resumes on `sendable`, and tails new commits
 * through `log.onAppend` (coalesced to one pump per tick).
 */
import type { PartitionedLog } from '../log-types.js';
import { encodeEvent, runtimeMetricAnnotations, toAmqpMessage } from './messages.js';

/** The slice of a rhea sender link the stream uses. */
export interface SenderLike {
  /** Present at runtime on rhea senders (not in its typings). */
  readonly credit?: number;
  sendable(): boolean;
  /** A message object, or with `format` 0 the message's encoded bytes as they are. */
  send(message: ReturnType<typeof toAmqpMessage> | Buffer, tag?: undefined, format?: number): unknown;
}

/**
 * Events sent per turn of the event loop before yielding: a consumer that grants thousands of credits
 * must not stall the process (MQTT PUBACKs, fsync completions) while its backlog is encoded.
 */
const MAX_EVENTS_PER_TURN = 128;

export class PartitionStream {
  private next: number;
  private stopped = false;
  private scheduled = false;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly log: PartitionedLog,
    readonly partition: number,
    private readonly link: SenderLike,
    startSequenceNumber: number,
    private readonly runtimeMetric: boolean,
    private readonly onError: (error: Error) => void,
  ) {
    this.next = startSequenceNumber;
  }

  /** Next sequence number this stream will send. */
  get position(): number {
    return this.next;
  }

  start(): void {
    this.unsubscribe = this.log.onAppend(this.partition, () => this.schedule());
    this.pump();
  }

  schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  pump(): void {
    try {
      if (this.stopped || !this.link.sendable()) return;
      const batch = this.log.read(this.partition, this.next, Math.min(Math.max(this.link.credit ?? 1, 1), MAX_EVENTS_PER_TURN));
      if (batch.length === 0) return;
      const info = this.runtimeMetric ? this.log.info(this.partition) : undefined;
      for (const event of batch) {
        if (this.stopped || !this.link.sendable()) return;
        if (info) this.link.send(toAmqpMessage(event, runtimeMetricAnnotations(info, Date.now())));
        else this.link.send(encodeEvent(event), undefined, 0);
        this.next = event.sequenceNumber + 1;
      }
      // More may be waiting (a backlog, or credit left): continue on a later turn.
      this.schedule();
    } catch (error) {
      this.stop();
      this.onError(error instanceof Error ? error : new Error(String(error)));
    }
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
