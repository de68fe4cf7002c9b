/**
 * The channel queue and batch engine: the IoT Analytics connector's semantics as pure, synchronous logic.
 *
 * Invariants (each is a test in test/unit/batching/):
 * - one FIFO queue per channel, created on the first message and deleted once nothing of it is queued
 *   or in flight; at most `maxActiveChannels` exist, a message for a new channel beyond that is refused;
 * - a channel holds at most `queueSizePerChannel` messages and all channels together at most
 *   `memorySizeBytes` of payload, counting messages in flight: their room stays reserved, so a retryable
 *   failure can put them back at the front of the queue without overflowing anything;
 * - full: DROP_NEWEST refuses the incoming message, DROP_OLDEST evicts the oldest queued messages of the
 *   channel; every refused or dropped message gets exactly one `fail` status, nothing is dropped silently;
 * - a tick (once per PublishInterval) takes up to `batchSizePerChannel` messages from each channel that has
 *   no batch in flight and is not backing off; ids are unique within a batch, a later duplicate is cancelled
 *   with a `fail` status; at most one batch per channel is in flight, so per-channel order is preserved;
 * - every accepted message ends in exactly one status: accepted = succeeded + failed + queued + in flight;
 * - retryable failures requeue at the front and back the channel off exponentially, with jitter, up to a cap.
 *
 * Time comes in as `now` (epoch ms) on every call; randomness and id generation are injected.
 */
import { randomUUID } from 'node:crypto';
import { isValidChannelName, MAX_MESSAGE_BYTES, MAX_MESSAGE_ID_LENGTH } from './config.js';
import type { ConnectorConfig } from './config.js';
import type {
  Batch,
  BatchOutcome,
  DropReason,
  EngineErrorCode,
  Failure,
  Offer,
  QueuedMessage,
  StatusReport,
} from './types.js';

export interface RetryOptions {
  /** First backoff after a retryable failure. Default 200 ms. */
  readonly initialIntervalMs?: number;
  /** Cap of the exponential backoff. Default 30,000 ms. */
  readonly maxIntervalMs?: number;
}

export interface EngineOptions {
  readonly config: ConnectorConfig;
  /** Generates message ids for input without one; must be unique and URL-safe. */
  readonly newId?: () => string;
  /** A number in [0, 1) for backoff jitter. */
  readonly random?: () => number;
  readonly retry?: RetryOptions;
}

export type OfferResult =
  | { readonly accepted: true; readonly statuses: readonly StatusReport[] }
  | { readonly accepted: false; readonly statuses: readonly StatusReport[] };

export interface TickResult {
  readonly batches: readonly Batch[];
  /** Fail statuses of duplicate ids cancelled while building the batches. */
  readonly statuses: readonly StatusReport[];
}

export interface ChannelStats {
  readonly channel: string;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  readonly inFlightMessages: number;
  readonly consecutiveFailures: number;
}

export interface EngineStats {
  /** Offers taken into a queue. */
  readonly accepted: number;
  /** Offers refused outright (never queued). */
  readonly refused: number;
  readonly succeeded: number;
  /** Accepted messages that ended in `fail` (evicted, duplicate, rejected by the sink, shutdown). */
  readonly failed: number;
  /** Messages put back into their queue after a retryable failure (counted per attempt). */
  readonly retried: number;
  readonly dropped: Readonly<Record<DropReason, number>>;
  readonly activeChannels: number;
  readonly inFlightBatches: number;
  readonly inFlightMessages: number;
  readonly queuedMessages: number;
  /** Payload bytes held: queued plus in flight (what the memory budget bounds). */
  readonly heldBytes: number;
  readonly channels: readonly ChannelStats[];
}

const NO_STATUSES: readonly StatusReport[] = Object.freeze([]);
const ACCEPTED: OfferResult = Object.freeze({ accepted: true, statuses: NO_STATUSES });
const EMPTY_TICK: TickResult = Object.freeze({ batches: Object.freeze([]), statuses: NO_STATUSES });

const DEFAULT_INITIAL_BACKOFF_MS = 200;
const DEFAULT_MAX_BACKOFF_MS = 30_000;

/**
 * A channel's queue. It holds the caller's offers as they came (plus a parallel array of accept times):
 * outgoing message objects are made only when a batch is built and die young, which keeps deep queues
 * cheap to hold and to collect. Requeued messages go back as their QueuedMessage (which is also an Offer,
 * now with its id fixed). An array with a moving head makes taking a batch O(batch), not O(queue).
 */
class ChannelQueue {
  items: Offer[] = [];
  times: number[] = [];
  head = 0;
  queuedBytes = 0;
  inFlight: Batch | undefined = undefined;
  consecutiveFailures = 0;
  backoffUntil = 0;

  constructor(readonly name: string) {}

  get queuedCount(): number {
    return this.items.length - this.head;
  }

  get heldCount(): number {
    return this.items.length - this.head + (this.inFlight ? this.inFlight.messages.length : 0);
  }

  get isEmpty(): boolean {
    return this.items.length === this.head && this.inFlight === undefined;
  }

  push(offer: Offer, acceptedAt: number): void {
    this.items.push(offer);
    this.times.push(acceptedAt);
    this.queuedBytes += offer.payload.byteLength;
  }

  /** The oldest entry's accept time; read before shift(). */
  get headTime(): number {
    return this.times[this.head]!;
  }

  shift(): Offer {
    const offer = this.items[this.head]!;
    this.items[this.head] = undefined as unknown as Offer; // let it be collected
    this.head++;
    this.queuedBytes -= offer.payload.byteLength;
    if (this.head === this.items.length) {
      this.items = [];
      this.times = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return offer;
  }

  pop(): { offer: Offer; acceptedAt: number } {
    const offer = this.items.pop()!;
    const acceptedAt = this.times.pop()!;
    this.queuedBytes -= offer.payload.byteLength;
    if (this.head === this.items.length) {
      this.items = [];
      this.times = [];
      this.head = 0;
    }
    return { offer, acceptedAt };
  }

  /** Put messages back at the front, in their original order. */
  unshiftAll(messages: readonly QueuedMessage[]): void {
    this.items = (messages as readonly Offer[]).concat(this.items.slice(this.head));
    this.times = messages.map((m) => m.acceptedAt).concat(this.times.slice(this.head));
    this.head = 0;
    for (const m of messages) this.queuedBytes += m.payload.byteLength;
  }
}

function emptyDropCounters(): Record<DropReason, number> {
  return {
    queue_full: 0,
    memory_full: 0,
    evicted: 0,
    too_many_channels: 0,
    duplicate_id: 0,
    too_large: 0,
    invalid: 0,
    rejected: 0,
    shutdown: 0,
  };
}

/**
 * A default id generator: a random per-engine prefix and a counter; unique, URL-safe, cheap. Ids stay
 * under 13 characters for the first 36^5 messages, so V8 stores them flat (no rope to flatten on compare).
 */
export function createIdGenerator(): () => string {
  const prefix = randomUUID().replaceAll('-', '').slice(0, 6);
  let counter = 0;
  return () => prefix + (counter++).toString(36);
}

export class BatchingEngine {
  private config: ConnectorConfig;
  private readonly channels = new Map<string, ChannelQueue>();
  private readonly newId: () => string;
  private readonly random: () => number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private heldBytes = 0;
  private nextPublishAt = 0;
  private batchSeq = 0;
  private inFlightBatches = 0;
  private inFlightMessages = 0;
  private accepted = 0;
  private refused = 0;
  private succeeded = 0;
  private failed = 0;
  private retried = 0;
  private readonly dropped = emptyDropCounters();

  constructor(options: EngineOptions) {
    this.config = options.config;
    this.newId = options.newId ?? createIdGenerator();
    this.random = options.random ?? Math.random;
    this.initialBackoffMs = options.retry?.initialIntervalMs ?? DEFAULT_INITIAL_BACKOFF_MS;
    this.maxBackoffMs = options.retry?.maxIntervalMs ?? DEFAULT_MAX_BACKOFF_MS;
  }

  get currentConfig(): ConnectorConfig {
    return this.config;
  }

  /** True when nothing is queued or in flight. */
  get idle(): boolean {
    return this.channels.size === 0;
  }

  /** Take one message into its channel's queue, or refuse it with a `fail` status. */
  offer(offer: Offer, now: number): OfferResult {
    const { channel, payload } = offer;
    const correlate = offer.correlate ?? true;
    const givenId = offer.id === undefined || offer.id === '' ? undefined : offer.id;

    let queue = this.channels.get(channel);
    // Channels that have a queue were validated when it was created.
    if (queue === undefined && !isValidChannelName(channel)) {
      return this.refuse(
        offer,
        givenId,
        correlate,
        'invalid',
        'InvalidRequestException',
        `channel name '${truncate(channel)}' is invalid: use 1-128 of [a-zA-Z0-9_], not starting with __`,
      );
    }
    if (givenId !== undefined && givenId.length > MAX_MESSAGE_ID_LENGTH) {
      return this.refuse(
        offer,
        givenId,
        correlate,
        'invalid',
        'InvalidRequestException',
        `id is ${givenId.length} characters long; BatchPutMessage message ids are 1-${MAX_MESSAGE_ID_LENGTH} characters`,
      );
    }
    const size = payload.byteLength;
    // [connector limits: 128 KB per message]
    if (size > MAX_MESSAGE_BYTES) {
      return this.refuse(
        offer,
        givenId,
        correlate,
        'too_large',
        'MessageTooLargeException',
        `message is ${size} bytes; the limit is ${MAX_MESSAGE_BYTES} bytes (128 KB)`,
      );
    }

    let statuses: StatusReport[] | undefined;
    if (queue === undefined) {
      // [connector: IotAnalyticsMaxActiveChannels bounds live queues]
      if (this.channels.size >= this.config.maxActiveChannels) {
        return this.refuse(
          offer,
          givenId,
          correlate,
          'too_many_channels',
          'TooManyChannelsException',
          `${this.channels.size} channels are active, the maximum (IotAnalyticsMaxActiveChannels=${this.config.maxActiveChannels}); channel '${channel}' has no queue`,
        );
      }
      if (this.heldBytes + size > this.config.memorySizeBytes) {
        return this.refuse(
          offer,
          givenId,
          correlate,
          'memory_full',
          'MemoryLimitExceededException',
          `the memory budget is full (${this.heldBytes} of ${this.config.memorySizeBytes} bytes held; MemorySize=${this.config.memorySizeBytes / 1024} KB)`,
        );
      }
      queue = new ChannelQueue(channel);
      this.channels.set(channel, queue);
    } else {
      const dropOldest = this.config.dropBehavior === 'DROP_OLDEST';
      // [connector: IotAnalyticsQueueSizePerChannel, IotAnalyticsQueueDropBehavior]
      const countFull = queue.heldCount >= this.config.queueSizePerChannel;
      if (countFull && (!dropOldest || queue.queuedCount === 0)) {
        return this.refuse(
          offer,
          givenId,
          correlate,
          'queue_full',
          'QueueFullException',
          `channel '${channel}' queue is full (IotAnalyticsQueueSizePerChannel=${this.config.queueSizePerChannel}, IotAnalyticsQueueDropBehavior=${this.config.dropBehavior}${queue.queuedCount === 0 ? ', all in flight' : ''})`,
        );
      }
      // [MemorySize: a hard budget for held payload bytes] Decided before evicting anything, so a refusal
      // never costs an eviction: DROP_OLDEST may free at most this channel's queued bytes.
      const evictable = dropOldest ? queue.queuedBytes : 0;
      if (this.heldBytes - evictable + size > this.config.memorySizeBytes) {
        return this.refuse(
          offer,
          givenId,
          correlate,
          'memory_full',
          'MemoryLimitExceededException',
          `the memory budget is full (${this.heldBytes} of ${this.config.memorySizeBytes} bytes held; MemorySize=${this.config.memorySizeBytes / 1024} KB, IotAnalyticsQueueDropBehavior=${this.config.dropBehavior})`,
        );
      }
      if (countFull) statuses = [this.evictOldest(queue, 'queue')];
      while (this.heldBytes + size > this.config.memorySizeBytes)
        (statuses ??= []).push(this.evictOldest(queue, 'memory'));
    }

    queue.push(offer, now);
    this.heldBytes += size;
    this.accepted++;
    return statuses ? { accepted: true, statuses } : ACCEPTED;
  }

  /**
   * Build the batches due at `now`: at most one per channel, up to BatchSize messages each, for channels
   * with nothing in flight and not backing off. `force` ignores PublishInterval (flush at shutdown).
   */
  tick(now: number, force = false): TickResult {
    if (this.channels.size === 0) return EMPTY_TICK;
    if (!force) {
      // [connector: PublishInterval] publish at most once per interval.
      if (now < this.nextPublishAt) return EMPTY_TICK;
      this.nextPublishAt = now + this.config.publishIntervalMs;
    }
    let batches: Batch[] | undefined;
    let statuses: StatusReport[] | undefined;
    const batchSize = this.config.batchSizePerChannel;
    for (const queue of this.channels.values()) {
      if (queue.inFlight !== undefined || queue.backoffUntil > now || queue.queuedCount === 0) continue;
      const messages: QueuedMessage[] = [];
      // Generated ids are unique by construction: only caller-given ids need checking. Small batches scan
      // linearly; large ones keep a set.
      let givenIds: Set<string> | string[] | undefined;
      while (messages.length < batchSize && queue.queuedCount > 0) {
        const given = hasGivenId(queue.items[queue.head]!);
        const message = this.take(queue);
        // [connector: ids are unique within one outgoing BatchPutMessage; a duplicate is cancelled]
        if (
          given &&
          givenIds !== undefined &&
          (Array.isArray(givenIds) ? givenIds.includes(message.id) : givenIds.has(message.id))
        ) {
          this.heldBytes -= message.payload.byteLength;
          this.failed++;
          this.dropped.duplicate_id++;
          (statuses ??= []).push(
            failStatus(
              message,
              'duplicate_id',
              'DuplicateMessageIdException',
              `id '${truncate(message.id)}' is already in this batch for channel '${queue.name}'; the duplicate is cancelled`,
            ),
          );
          continue;
        }
        if (given) {
          givenIds ??= batchSize > 16 ? new Set<string>() : [];
          if (Array.isArray(givenIds)) givenIds.push(message.id);
          else givenIds.add(message.id);
        }
        messages.push(message);
      }
      if (messages.length === 0) {
        if (queue.isEmpty) this.channels.delete(queue.name);
        continue;
      }
      const batch: Batch = { seq: ++this.batchSeq, channel: queue.name, messages };
      queue.inFlight = batch;
      this.inFlightBatches++;
      this.inFlightMessages += messages.length;
      (batches ??= []).push(batch);
    }
    if (!batches && !statuses) return EMPTY_TICK;
    return { batches: batches ?? [], statuses: statuses ?? NO_STATUSES };
  }

  /** Settle a batch returned by `tick`: map the sink's outcome to per-message statuses. */
  complete(batch: Batch, outcome: BatchOutcome, now: number): StatusReport[] {
    const queue = this.channels.get(batch.channel);
    if (queue === undefined || queue.inFlight !== batch) {
      throw new Error(`batch ${batch.seq} of channel '${batch.channel}' is not in flight`);
    }
    queue.inFlight = undefined;
    this.inFlightBatches--;
    this.inFlightMessages -= batch.messages.length;

    const statuses: StatusReport[] = [];
    let requeue: QueuedMessage[] | undefined;
    const messages = batch.messages;
    if (outcome.type === 'failed') {
      if (outcome.failure.retryable) requeue = messages.slice();
      else for (const m of messages) statuses.push(this.settleFailure(m, outcome.failure));
    } else {
      const failures =
        outcome.failures.length === 0 ? undefined : new Map(outcome.failures.map((f) => [f.messageId, f]));
      for (const m of messages) {
        const failure = failures?.get(m.id);
        if (failure === undefined) {
          this.heldBytes -= m.payload.byteLength;
          this.succeeded++;
          statuses.push({
            status: 'success',
            id: m.correlate ? m.id : undefined,
            messageId: m.id,
            channel: m.channel,
            meta: m.meta,
          });
        } else if (failure.retryable) {
          (requeue ??= []).push(m);
        } else {
          statuses.push(this.settleFailure(m, failure));
        }
      }
    }

    if (requeue) {
      // [connector: retryable errors go back to the channel queue and are retried with exponential backoff]
      // Their room was reserved while in flight, so putting them back never exceeds a limit.
      queue.unshiftAll(requeue);
      this.retried += requeue.length;
      queue.consecutiveFailures++;
      queue.backoffUntil = now + this.backoffMs(queue.consecutiveFailures);
    } else {
      queue.consecutiveFailures = 0;
      queue.backoffUntil = 0;
    }
    if (queue.isEmpty) this.channels.delete(queue.name);
    return statuses;
  }

  /** When `tick` next has work, or undefined when nothing is waiting (only in-flight batches, or idle). */
  nextWakeAt(now: number, force = false): number | undefined {
    let wake: number | undefined;
    for (const queue of this.channels.values()) {
      if (queue.inFlight !== undefined || queue.queuedCount === 0) continue;
      const at = Math.max(queue.backoffUntil, force ? now : this.nextPublishAt);
      if (wake === undefined || at < wake) wake = at;
    }
    return wake;
  }

  /**
   * Apply a new configuration (e.g. a twin update). Queues over the new limits are trimmed by the drop
   * behaviour; each trimmed message gets a `fail` status. Existing channels beyond a lower
   * MaxActiveChannels stay until drained; new ones are refused meanwhile.
   */
  reconfigure(config: ConnectorConfig, now: number): StatusReport[] {
    this.config = config;
    this.nextPublishAt = Math.min(this.nextPublishAt, now + config.publishIntervalMs);
    const statuses: StatusReport[] = [];
    for (const queue of this.channels.values()) {
      while (queue.heldCount > config.queueSizePerChannel && queue.queuedCount > 0) {
        statuses.push(this.trimOne(queue, 'queue'));
      }
    }
    for (const queue of this.channels.values()) {
      while (this.heldBytes > config.memorySizeBytes && queue.queuedCount > 0) {
        statuses.push(this.trimOne(queue, 'memory'));
      }
    }
    for (const queue of [...this.channels.values()]) if (queue.isEmpty) this.channels.delete(queue.name);
    return statuses;
  }

  /** Fail every queued (not in-flight) message, e.g. at shutdown without persistence. */
  failAll(reason: DropReason, code: string, message: string): StatusReport[] {
    const statuses: StatusReport[] = [];
    for (const queue of [...this.channels.values()]) {
      while (queue.queuedCount > 0) {
        const m = this.take(queue);
        this.heldBytes -= m.payload.byteLength;
        this.failed++;
        this.dropped[reason]++;
        statuses.push(failStatus(m, reason, code, message));
      }
      if (queue.isEmpty) this.channels.delete(queue.name);
    }
    return statuses;
  }

  stats(): EngineStats {
    let queuedMessages = 0;
    const channels: ChannelStats[] = [];
    for (const queue of this.channels.values()) {
      queuedMessages += queue.queuedCount;
      channels.push({
        channel: queue.name,
        queuedMessages: queue.queuedCount,
        queuedBytes: queue.queuedBytes,
        inFlightMessages: queue.inFlight?.messages.length ?? 0,
        consecutiveFailures: queue.consecutiveFailures,
      });
    }
    return {
      accepted: this.accepted,
      refused: this.refused,
      succeeded: this.succeeded,
      failed: this.failed,
      retried: this.retried,
      dropped: { ...this.dropped },
      activeChannels: this.channels.size,
      inFlightBatches: this.inFlightBatches,
      inFlightMessages: this.inFlightMessages,
      queuedMessages,
      heldBytes: this.heldBytes,
      channels,
    };
  }

  private refuse(
    offer: Offer,
    givenId: string | undefined,
    correlate: boolean,
    reason: DropReason,
    code: EngineErrorCode,
    text: string,
  ): { accepted: false; statuses: readonly StatusReport[] } {
    this.refused++;
    this.dropped[reason]++;
    // A refused message without an id still gets one, so its status can be logged and counted.
    const messageId = givenId ?? this.newId();
    const status: StatusReport = {
      status: 'fail',
      id: correlate ? messageId : undefined,
      messageId,
      channel: offer.channel,
      error: code,
      errorMessage: text,
      reason,
      meta: offer.meta,
    };
    return { accepted: false, statuses: [status] };
  }

  /** Take the oldest queued entry out as an outgoing message (its id generated now if it had none). */
  private take(queue: ChannelQueue): QueuedMessage {
    const acceptedAt = queue.headTime;
    const offer = queue.shift();
    return toMessage(offer, acceptedAt, hasGivenId(offer) ? (offer.id as string) : this.newId());
  }

  private evictOldest(queue: ChannelQueue, why: 'queue' | 'memory'): StatusReport {
    const m = this.take(queue);
    this.heldBytes -= m.payload.byteLength;
    this.failed++;
    this.dropped.evicted++;
    return failStatus(
      m,
      'evicted',
      'MessageEvictedException',
      why === 'queue'
        ? `evicted from channel '${queue.name}' by a newer message: the queue is full (IotAnalyticsQueueSizePerChannel=${this.config.queueSizePerChannel}, IotAnalyticsQueueDropBehavior=DROP_OLDEST)`
        : `evicted from channel '${queue.name}' by a newer message: the memory budget is full (MemorySize=${this.config.memorySizeBytes / 1024} KB, IotAnalyticsQueueDropBehavior=DROP_OLDEST)`,
    );
  }

  /** Drop one queued message to honour a lowered limit: the oldest (DROP_OLDEST) or the newest (DROP_NEWEST). */
  private trimOne(queue: ChannelQueue, why: 'queue' | 'memory'): StatusReport {
    if (this.config.dropBehavior === 'DROP_OLDEST') return this.evictOldest(queue, why);
    const { offer, acceptedAt } = queue.pop();
    const m = toMessage(offer, acceptedAt, hasGivenId(offer) ? (offer.id as string) : this.newId());
    this.heldBytes -= m.payload.byteLength;
    this.failed++;
    const reason: DropReason = why === 'queue' ? 'queue_full' : 'memory_full';
    this.dropped[reason]++;
    return failStatus(
      m,
      reason,
      why === 'queue' ? 'QueueFullException' : 'MemoryLimitExceededException',
      `dropped from channel '${queue.name}': the configuration was lowered below what was queued (IotAnalyticsQueueDropBehavior=DROP_NEWEST)`,
    );
  }

  private settleFailure(m: QueuedMessage, failure: Failure): StatusReport {
    this.heldBytes -= m.payload.byteLength;
    this.failed++;
    this.dropped.rejected++;
    return failStatus(m, 'rejected', failure.code, failure.message);
  }

  /** Exponential backoff with equal jitter: half fixed, half random, capped. */
  private backoffMs(failures: number): number {
    const exponential = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(failures - 1, 30));
    return Math.round(exponential / 2 + (this.random() * exponential) / 2);
  }
}

function failStatus(m: QueuedMessage, reason: DropReason, error: string, errorMessage: string): StatusReport {
  return {
    status: 'fail',
    id: m.correlate ? m.id : undefined,
    messageId: m.id,
    channel: m.channel,
    error,
    errorMessage,
    reason,
    meta: m.meta,
  };
}

function hasGivenId(offer: Offer): boolean {
  return offer.id !== undefined && offer.id !== '';
}

function toMessage(offer: Offer, acceptedAt: number, id: string): QueuedMessage {
  return {
    id,
    channel: offer.channel,
    payload: offer.payload,
    correlate: offer.correlate ?? true,
    acceptedAt,
    meta: offer.meta,
  };
}

function truncate(text: string): string {
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}
