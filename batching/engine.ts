/**
 * The channel queue and batch engine: the IoT Analytics connector's semantics as pure, synchronous logic.
 * It owns every message from `offer` to its one status: every retry, every backoff, every drop.
 *
 * Invariants (each is a test in test/unit/batching/):
 * - one FIFO queue per channel, created on the first message and deleted once nothing of it is queued
 *   or in flight; at most `maxActiveChannels` exist, a message for a new channel beyond that is refused;
 * - a channel queues at most `queueSizePerChannel` messages (messages in flight have left the queue, as in
 *   the connector); all channels together hold at most `memorySizeBytes` of payload, counting messages in
 *   flight (they are still in memory);
 * - full: DROP_NEWEST refuses the incoming message, DROP_OLDEST evicts the oldest queued messages of the
 *   channel; every refused or dropped message gets exactly one `fail` status, nothing is dropped silently;
 * - a tick (once per PublishInterval) takes up to `batchSizePerChannel` messages from each channel that has
 *   no batch in flight and is not backing off; messageIds are unique within a batch, a later duplicate is
 *   cancelled with a `fail` status; at most one batch per channel is in flight, so per-channel order holds;
 * - every accepted message ends in exactly one status: accepted = succeeded + failed + queued + in flight;
 * - a sink may answer per message (entry failures, e.g. one envelope of several failed) and may hand back
 *   an unsent tail of a batch (`deferred`, only when the batch `mayDefer`): the tail returns to the front
 *   of its queue with no failure, no backoff and no status, and is never dropped for it;
 * - retryable failures put the messages back at the front of their queue through the drop behaviour, like
 *   new messages (DROP_NEWEST refuses them when the queue is full, DROP_OLDEST evicts them as the oldest),
 *   and back the channel off exponentially, with jitter, up to a cap; a message whose retryable failures go
 *   on past `retryTimeoutMs` after it was accepted fails with the last error; non-retryable failures fail
 *   at once.
 *
 * Time comes in as `now` (epoch ms) on every call; randomness and id generation are injected.
 */
import { randomUUID } from 'node:crypto';
import { isValidChannelName, isValidMessageId, MAX_MESSAGE_BYTES, MAX_MESSAGE_ID_LENGTH } from './config.js';
import type { ConnectorConfig } from './config.js';
import { ChannelQueue, MAX_RECYCLED_CAPACITY, payloadBytes } from './queue.js';
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
  /** Generates messageIds for input without a usable one; must be unique and URL-safe. */
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
  /** Fail statuses of duplicate messageIds cancelled while building the batches. */
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
  /** Accepted messages that ended in `fail` (evicted, duplicate, rejected by the sink, expired, shutdown). */
  readonly failed: number;
  /** Messages put back into their queue after a retryable failure (counted per attempt). */
  readonly retried: number;
  /** Messages a sink handed back unsent (`deferred`), counted per time. */
  readonly deferred: number;
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

const MAX_SPARE_QUEUES = 64;
const DEFAULT_INITIAL_BACKOFF_MS = 200;
const DEFAULT_MAX_BACKOFF_MS = 30_000;

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
    expired: 0,
    shutdown: 0,
  };
}

/** "000" … "999": the last three characters of every generated id. */
const ID_SUFFIXES: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/**
 * A default id generator: a random per-engine hex prefix, a block number, and a three-digit suffix;
 * unique (the suffix has a fixed width, so prefix + block is read back unambiguously), URL-safe, cheap.
 * One string concatenation per id: turning a counter into a string each time (a runtime call in V8) was
 * a third of the engine's time in bench:batching. Ids stay under 13 characters for the first 10^6
 * messages, so V8 stores them flat.
 */
export function createIdGenerator(): () => string {
  const prefix = randomUUID().replaceAll('-', '').slice(0, 6);
  let block = -1;
  let blockPrefix = '';
  let next = ID_SUFFIXES.length;
  return () => {
    if (next === ID_SUFFIXES.length) {
      next = 0;
      blockPrefix = prefix + ++block;
    }
    return blockPrefix + ID_SUFFIXES[next++]!;
  };
}

/**
 * A batch as `tick` hands it out: the Batch a sink sees, plus (in private fields, so never serialised
 * or reachable by a sink) the engine and queue it came from, so `complete` finds its queue without a
 * lookup by channel name.
 */
class OutgoingBatch implements Batch {
  readonly #engine: BatchingEngine;
  readonly #queue: ChannelQueue;

  constructor(
    readonly seq: number,
    readonly channel: string,
    readonly messages: readonly QueuedMessage[],
    readonly mayDefer: boolean,
    engine: BatchingEngine,
    queue: ChannelQueue,
  ) {
    this.#engine = engine;
    this.#queue = queue;
  }

  /** The queue `batch` was taken from, when `engine` made it; undefined for any other object. */
  static queueIn(batch: Batch, engine: BatchingEngine): ChannelQueue | undefined {
    return batch instanceof OutgoingBatch && batch.#engine === engine ? batch.#queue : undefined;
  }
}

export class BatchingEngine {
  private config: ConnectorConfig;
  private readonly channels = new Map<string, ChannelQueue>();
  /** Drained queues whose buffers the next new channel reuses (bounded: MAX_SPARE_QUEUES, small buffers only). */
  private readonly spare: ChannelQueue[] = [];
  private readonly newId: () => string;
  private readonly random: () => number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private heldBytes = 0;
  /** config.dropBehavior === 'DROP_OLDEST', read on every offer. */
  private dropOldest: boolean;
  private nextPublishAt = 0;
  private batchSeq = 0;
  private inFlightBatches = 0;
  private inFlightMessages = 0;
  private accepted = 0;
  private refused = 0;
  private succeeded = 0;
  private failed = 0;
  private retried = 0;
  private deferred = 0;
  private readonly dropped = emptyDropCounters();

  constructor(options: EngineOptions) {
    this.config = options.config;
    this.dropOldest = options.config.dropBehavior === 'DROP_OLDEST';
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

  /**
   * Whether an offer of `bytes` to `channel` would be taken now without refusing it or evicting anything
   * (backpressure: a caller that can wait asks this first; see Pump.waitForRoom).
   */
  hasRoom(channel: string, bytes: number): boolean {
    const queue = this.channels.get(channel);
    if (queue === undefined) {
      if (this.channels.size >= this.config.maxActiveChannels) return false;
    } else if (queue.queuedCount >= this.config.queueSizePerChannel) {
      return false;
    }
    return this.heldBytes + bytes <= this.config.memorySizeBytes;
  }

  /** Whether waiting could ever make room: false for an invalid channel or a message over a hard limit. */
  couldEverFit(channel: string, bytes: number): boolean {
    return (
      bytes <= MAX_MESSAGE_BYTES &&
      bytes <= this.config.memorySizeBytes &&
      (this.channels.has(channel) || isValidChannelName(channel))
    );
  }

  /** Take one message into its channel's queue, or refuse it with a `fail` status. */
  offer(offer: Offer, now: number): OfferResult {
    // The common case, kept small so that it inlines into the caller: an existing queue with room, the
    // memory budget not reached, no id of the device's (or one short enough to need no character count).
    // Everything else — a new channel, a limit, an eviction, a refusal — takes the general path.
    const queue = this.channels.get(offer.channel);
    if (queue !== undefined) {
      const payload = offer.payload;
      const size = payloadBytes(payload);
      const requestId = offer.requestId;
      const config = this.config;
      if (
        size <= MAX_MESSAGE_BYTES &&
        queue.queuedCount < config.queueSizePerChannel &&
        this.heldBytes + size <= config.memorySizeBytes &&
        (requestId == null || (requestId.length > 0 && requestId.length <= MAX_MESSAGE_ID_LENGTH))
      ) {
        queue.push(payload, size, requestId, requestId ?? undefined, offer.meta, now);
        this.heldBytes += size;
        this.accepted++;
        return ACCEPTED;
      }
    }
    return this.offerGeneral(offer, queue, now);
  }

  /** offer() for every case: limits, new channels, evictions, refusals. */
  private offerGeneral(offer: Offer, found: ChannelQueue | undefined, now: number): OfferResult {
    const { channel, payload } = offer;
    const requestId = offer.requestId;

    let queue = found;
    // Channels that have a queue were validated when it was created.
    if (queue === undefined && !isValidChannelName(channel)) {
      return this.refuse(
        offer,
        'invalid',
        'InvalidRequestException',
        `channel name '${truncate(channel)}' is invalid: use 1-128 of [a-zA-Z0-9_], not starting with __`,
      );
    }
    const size = payloadBytes(payload);
    // [connector limits: 128 KB per message]
    if (size > MAX_MESSAGE_BYTES) {
      return this.refuse(
        offer,
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
          'too_many_channels',
          'TooManyChannelsException',
          `${this.channels.size} channels are active, the maximum (IotAnalyticsMaxActiveChannels=${this.config.maxActiveChannels}); channel '${channel}' has no queue`,
        );
      }
      if (this.heldBytes + size > this.config.memorySizeBytes) {
        return this.refuse(
          offer,
          'memory_full',
          'MemoryLimitExceededException',
          `the memory budget is full (${this.heldBytes} of ${this.config.memorySizeBytes} bytes held; MemorySize=${this.config.memorySizeBytes / 1024} KB)`,
        );
      }
      queue = this.spare.pop();
      if (queue === undefined) queue = new ChannelQueue(channel);
      else queue.recycle(channel);
      this.channels.set(channel, queue);
    } else {
      const dropOldest = this.dropOldest;
      // [connector: IotAnalyticsQueueSizePerChannel, IotAnalyticsQueueDropBehavior]
      const countFull = queue.queuedCount >= this.config.queueSizePerChannel;
      if (countFull && !dropOldest) {
        return this.refuse(
          offer,
          'queue_full',
          'QueueFullException',
          `channel '${channel}' queue is full (IotAnalyticsQueueSizePerChannel=${this.config.queueSizePerChannel}, IotAnalyticsQueueDropBehavior=DROP_NEWEST)`,
        );
      }
      // [MemorySize: a hard budget for held payload bytes] Decided before evicting anything, so a refusal
      // never costs an eviction: DROP_OLDEST may free at most this channel's queued bytes.
      const evictable = dropOldest ? queue.queuedBytes : 0;
      if (this.heldBytes - evictable + size > this.config.memorySizeBytes) {
        return this.refuse(
          offer,
          'memory_full',
          'MemoryLimitExceededException',
          `the memory budget is full (${this.heldBytes} of ${this.config.memorySizeBytes} bytes held; MemorySize=${this.config.memorySizeBytes / 1024} KB, IotAnalyticsQueueDropBehavior=${this.config.dropBehavior})`,
        );
      }
      while (queue.queuedCount >= this.config.queueSizePerChannel)
        (statuses ??= []).push(this.evictOldest(queue, 'queue'));
      while (this.heldBytes + size > this.config.memorySizeBytes)
        (statuses ??= []).push(this.evictOldest(queue, 'memory'));
    }

    // The device's id is the messageId only when BatchPutMessage accepts it; else one is generated later.
    const messageId = typeof requestId === 'string' && isValidMessageId(requestId) ? requestId : undefined;
    queue.push(payload, size, requestId, messageId, offer.meta, now);
    this.heldBytes += size;
    this.accepted++;
    return statuses ? { accepted: true, statuses } : ACCEPTED;
  }

  /**
   * Build the batches due at `now`: at most one per channel, up to BatchSize messages each, for channels
   * with nothing in flight and not backing off. `force` ignores PublishInterval (flush at shutdown) and
   * forbids deferral.
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
      const queuedBytesBefore = queue.queuedBytes;
      let cancelledBytes = 0;
      // Generated ids are unique by construction: only ids fixed before the take (the device's, or an
      // earlier attempt's) need checking. Small batches scan linearly; large ones keep a set.
      let fixedIds: Set<string> | string[] | undefined;
      const messages: QueuedMessage[] = [];
      queue.takeUnfixed(batchSize, this.newId, messages);
      while (messages.length < batchSize && queue.queuedCount > 0) {
        const message = queue.shift(this.newId);
        const fixed = queue.lastHadFixedId;
        // [connector: ids are unique within one outgoing BatchPutMessage; a duplicate is cancelled]
        if (
          fixed &&
          fixedIds !== undefined &&
          (Array.isArray(fixedIds) ? fixedIds.includes(message.messageId) : fixedIds.has(message.messageId))
        ) {
          cancelledBytes += payloadBytes(message.payload);
          (statuses ??= []).push(this.cancelDuplicate(message));
          continue;
        }
        if (fixed) {
          fixedIds ??= batchSize > 16 ? new Set<string>() : [];
          if (Array.isArray(fixedIds)) fixedIds.push(message.messageId);
          else fixedIds.add(message.messageId);
        }
        messages.push(message);
      }
      if (messages.length === 0) {
        if (queue.isEmpty) this.release(queue);
        continue;
      }
      const batch = new OutgoingBatch(++this.batchSeq, queue.name, messages, !force && queue.queuedCount > 0, this, queue);
      queue.inFlight = batch;
      queue.inFlightBytes = queuedBytesBefore - queue.queuedBytes - cancelledBytes;
      this.inFlightBatches++;
      this.inFlightMessages += messages.length;
      (batches ??= []).push(batch);
    }
    if (!batches && !statuses) return EMPTY_TICK;
    return { batches: batches ?? [], statuses: statuses ?? NO_STATUSES };
  }

  /** Settle a batch returned by `tick`: map the sink's outcome to per-message statuses and requeues. */
  complete(batch: Batch, outcome: BatchOutcome, now: number): StatusReport[] {
    const queue = OutgoingBatch.queueIn(batch, this);
    if (queue === undefined || queue.inFlight !== batch) {
      throw new Error(`batch ${batch.seq} of channel '${batch.channel}' is not in flight`);
    }
    queue.inFlight = undefined;
    this.inFlightBatches--;
    const messages = batch.messages;
    const count = messages.length;
    this.inFlightMessages -= count;

    const allDelivered = outcome.type === 'delivered' && outcome.failures.length === 0 && !(outcome.deferred! > 0);
    // Sized to the batch when everything succeeded (the common case): no regrowth, no slack.
    const statuses: StatusReport[] = allDelivered ? new Array<StatusReport>(count) : [];
    // Messages going back to the front of the queue, in batch order, and for each the failure that sent
    // it back (undefined: deferred by the sink, not a failure).
    let back: QueuedMessage[] | undefined;
    let backFailures: Array<Failure | undefined> | undefined;
    let lastFailure: Failure | undefined;

    const batchBytes = queue.inFlightBytes;
    queue.inFlightBytes = 0;
    if (allDelivered) {
      // Everything succeeded: settle the batch's bytes at once.
      this.heldBytes -= batchBytes;
      this.succeeded += count;
      for (let i = 0; i < count; i++) {
        const m = messages[i]!;
        statuses[i] = { status: 'success', statusId: m.statusId, messageId: m.messageId, channel: m.channel, meta: m.meta };
      }
    } else if (outcome.type === 'failed') {
      const failure = outcome.failure;
      if (failure.retryable) {
        lastFailure = failure;
        back = messages.slice();
        backFailures = messages.map(() => failure);
      } else for (const m of messages) statuses.push(this.settleFailure(m, failure));
    } else {
      // A sink can defer only what it did not send: a tail, never the whole batch's progress (a sink that
      // defers everything is treated as a failure to make progress, below, so it cannot spin).
      const deferred = Math.max(0, Math.min(count, Math.trunc(outcome.deferred ?? 0)));
      const sentCount = count - deferred;
      const failures =
        outcome.failures.length === 0 ? undefined : new Map(outcome.failures.map((f) => [f.messageId, f]));
      for (let i = 0; i < sentCount; i++) {
        const m = messages[i]!;
        const failure = failures?.get(m.messageId);
        if (failure === undefined) {
          this.heldBytes -= payloadBytes(m.payload);
          this.succeeded++;
          statuses.push({ status: 'success', statusId: m.statusId, messageId: m.messageId, channel: m.channel, meta: m.meta });
        } else if (failure.retryable) {
          lastFailure = failure;
          (back ??= []).push(m);
          (backFailures ??= []).push(failure);
        } else {
          statuses.push(this.settleFailure(m, failure));
        }
      }
      for (let i = sentCount; i < count; i++) {
        (back ??= []).push(messages[i]!);
        (backFailures ??= []).push(undefined);
      }
      this.deferred += deferred;
      if (deferred === count) {
        lastFailure = { code: 'NothingSent', message: 'the sink deferred the whole batch', retryable: true };
      }
    }

    if (back) this.putBack(queue, back, backFailures!, now, statuses);
    if (lastFailure !== undefined) {
      // [connector: retryable errors are retried with exponential backoff]
      queue.consecutiveFailures++;
      queue.backoffUntil = now + this.backoffMs(queue.consecutiveFailures);
    } else {
      queue.consecutiveFailures = 0;
      queue.backoffUntil = 0;
    }
    if (queue.isEmpty) this.release(queue);
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
    this.dropOldest = config.dropBehavior === 'DROP_OLDEST';
    this.nextPublishAt = Math.min(this.nextPublishAt, now + config.publishIntervalMs);
    const statuses: StatusReport[] = [];
    for (const queue of this.channels.values()) {
      while (queue.queuedCount > config.queueSizePerChannel) statuses.push(this.trimOne(queue, 'queue'));
    }
    for (const queue of this.channels.values()) {
      while (this.heldBytes > config.memorySizeBytes && queue.queuedCount > 0) {
        statuses.push(this.trimOne(queue, 'memory'));
      }
    }
    for (const queue of [...this.channels.values()]) if (queue.isEmpty) this.release(queue);
    return statuses;
  }

  /** Fail every queued (not in-flight) message, e.g. at shutdown without persistence. */
  failAll(reason: DropReason, code: string, message: string): StatusReport[] {
    const statuses: StatusReport[] = [];
    for (const queue of [...this.channels.values()]) {
      while (queue.queuedCount > 0) statuses.push(this.dropMessage(queue.shift(this.newId), reason, code, message));
      if (queue.isEmpty) this.release(queue);
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
      deferred: this.deferred,
      dropped: { ...this.dropped },
      activeChannels: this.channels.size,
      inFlightBatches: this.inFlightBatches,
      inFlightMessages: this.inFlightMessages,
      queuedMessages,
      heldBytes: this.heldBytes,
      channels,
    };
  }

  /**
   * Put messages back at the front of their queue, in order. A deferred tail (no failure) always goes
   * back: it was never sent and held its place. A retry goes through the drop behaviour like a new
   * message [connector: "requests with retryable errors are added back to the channel queue according to
   * IotAnalyticsQueueDropBehavior"]; one accepted longer ago than RetryTimeoutSeconds fails instead.
   */
  private putBack(
    queue: ChannelQueue,
    messages: QueuedMessage[],
    failures: Array<Failure | undefined>,
    now: number,
    statuses: StatusReport[],
  ): void {
    const kept: QueuedMessage[] = [];
    const keptFailures: Failure[] = []; // by index into `kept`, for retried (not deferred) messages
    const retries: number[] = []; // indexes into `kept` of retried (not deferred) messages
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const failure = failures[i];
      if (failure === undefined) {
        kept.push(m);
        continue;
      }
      if (now - m.acceptedAt >= this.config.retryTimeoutMs) {
        statuses.push(
          this.dropMessage(
            m,
            'expired',
            failure.code,
            `${failure.message} (still failing ${Math.round((now - m.acceptedAt) / 1000)} s after it was accepted: RetryTimeoutSeconds=${this.config.retryTimeoutMs / 1000}; not retried again)`,
          ),
        );
        continue;
      }
      retries.push(kept.length);
      keptFailures[kept.length] = failure;
      kept.push(m);
    }
    // [IotAnalyticsQueueSizePerChannel, MemorySize] Retries beyond the room left are dropped: the first
    // ones fit under DROP_NEWEST (the later ones are "the newest arrivals"), the last ones under
    // DROP_OLDEST (the first ones are the oldest messages of the channel).
    const dropOldest = this.config.dropBehavior === 'DROP_OLDEST';
    let excess = Math.max(0, queue.queuedCount + retries.length - this.config.queueSizePerChannel);
    const dropped = new Set<number>();
    const order = dropOldest ? retries : [...retries].reverse();
    let bytesOver = this.heldBytes - this.config.memorySizeBytes; // > 0 only after a lowered MemorySize
    for (const k of order) {
      if (excess <= 0 && bytesOver <= 0) break;
      const m = kept[k]!;
      const why = excess > 0 ? 'queue' : 'memory';
      statuses.push(this.dropRetry(m, keptFailures[k]!, why));
      dropped.add(k);
      excess--;
      bytesOver -= payloadBytes(m.payload);
    }
    this.retried += retries.length - dropped.size;
    const back = dropped.size === 0 ? kept : kept.filter((_, k) => !dropped.has(k));
    queue.unshiftAll(back);
  }

  /** A drained queue is deleted [connector: "queues are deleted once all their messages are sent"]. */
  private release(queue: ChannelQueue): void {
    this.channels.delete(queue.name);
    if (this.spare.length < MAX_SPARE_QUEUES && queue.storageSlots <= MAX_RECYCLED_CAPACITY) this.spare.push(queue);
  }

  private refuse(offer: Offer, reason: DropReason, code: EngineErrorCode, text: string): OfferResult {
    this.refused++;
    this.dropped[reason]++;
    const requestId = offer.requestId;
    // A refused message still gets a messageId, so its status can be logged and counted.
    const messageId = typeof requestId === 'string' && isValidMessageId(requestId) ? requestId : this.newId();
    const status: StatusReport = {
      status: 'fail',
      statusId: requestId === null ? undefined : (requestId ?? messageId),
      messageId,
      channel: offer.channel,
      error: code,
      errorMessage: text,
      reason,
      meta: offer.meta,
    };
    return { accepted: false, statuses: [status] };
  }

  /** An accepted message leaves the engine with a fail status. */
  private dropMessage(m: QueuedMessage, reason: DropReason, error: string, errorMessage: string): StatusReport {
    this.heldBytes -= payloadBytes(m.payload);
    this.failed++;
    this.dropped[reason]++;
    return failStatus(m, reason, error, errorMessage);
  }

  /**
   * The cancelled copy of a duplicate messageId (docs/contracts.md §7): its status is published before the
   * kept message's, with an error code no other status has, and says it is the later copy.
   */
  private cancelDuplicate(m: QueuedMessage): StatusReport {
    return this.dropMessage(
      m,
      'duplicate_id',
      'DuplicateMessageIdException',
      `cancelled: this is a later message with id '${truncate(m.messageId)}' while an earlier one with the same id is in the outgoing batch of channel '${m.channel}'; the earlier message is sent and gets its own status`,
    );
  }

  private evictOldest(queue: ChannelQueue, why: 'queue' | 'memory'): StatusReport {
    return this.dropMessage(
      queue.shift(this.newId),
      'evicted',
      'MessageEvictedException',
      why === 'queue'
        ? `evicted from channel '${queue.name}' by a newer message: the queue is full (IotAnalyticsQueueSizePerChannel=${this.config.queueSizePerChannel}, IotAnalyticsQueueDropBehavior=DROP_OLDEST)`
        : `evicted from channel '${queue.name}' by a newer message: the memory budget is full (MemorySize=${this.config.memorySizeBytes / 1024} KB, IotAnalyticsQueueDropBehavior=DROP_OLDEST)`,
    );
  }

  private dropRetry(m: QueuedMessage, failure: Failure, why: 'queue' | 'memory'): StatusReport {
    const limit =
      why === 'queue'
        ? `the queue is full (IotAnalyticsQueueSizePerChannel=${this.config.queueSizePerChannel})`
        : `the memory budget is full (MemorySize=${this.config.memorySizeBytes / 1024} KB)`;
    const text = `not put back for a retry after ${failure.code}: ${truncate(failure.message)}; ${limit}, IotAnalyticsQueueDropBehavior=${this.config.dropBehavior}`;
    if (this.config.dropBehavior === 'DROP_OLDEST') return this.dropMessage(m, 'evicted', 'MessageEvictedException', text);
    return why === 'queue'
      ? this.dropMessage(m, 'queue_full', 'QueueFullException', text)
      : this.dropMessage(m, 'memory_full', 'MemoryLimitExceededException', text);
  }

  /** Drop one queued message to honour a lowered limit: the oldest (DROP_OLDEST) or the newest (DROP_NEWEST). */
  private trimOne(queue: ChannelQueue, why: 'queue' | 'memory'): StatusReport {
    if (this.config.dropBehavior === 'DROP_OLDEST') return this.evictOldest(queue, why);
    const reason: DropReason = why === 'queue' ? 'queue_full' : 'memory_full';
    return this.dropMessage(
      queue.pop(this.newId),
      reason,
      why === 'queue' ? 'QueueFullException' : 'MemoryLimitExceededException',
      `dropped from channel '${queue.name}': the configuration was lowered below what was queued (IotAnalyticsQueueDropBehavior=DROP_NEWEST)`,
    );
  }

  private settleFailure(m: QueuedMessage, failure: Failure): StatusReport {
    return this.dropMessage(m, 'rejected', failure.code, failure.message);
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
    statusId: m.statusId,
    messageId: m.messageId,
    channel: m.channel,
    error,
    errorMessage,
    reason,
    meta: m.meta,
  };
}

function truncate(text: string): string {
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}
