/**
 * The public vocabulary of the batching engine: what goes in (offers), what comes out (batches and
 * statuses) and what a sink answers. Pure data: no I/O, no timers.
 *
 * Two ids travel with every message and are kept apart on purpose (docs/contracts.md §7):
 * - `statusId` is what the message's status carries as `"id"`: the device's request id exactly as it sent
 *   it (any string, `""` included), a generated id for a put without one, or nothing for binary and
 *   default-topic input;
 * - `messageId` is the BatchPutMessage messageId: the device's id when it is a valid messageId (1-128
 *   characters), else a generated one. It is unique within one outgoing batch.
 */

/** A message as the engine hands it to a sink, inside a batch. Made per batch, not kept in the queue. */
export interface QueuedMessage {
  /** The BatchPutMessage messageId. Unique within its batch. */
  readonly messageId: string;
  /** The `"id"` of this message's status; undefined when the input is not correlated (binary, default topic). */
  readonly statusId: string | undefined;
  readonly channel: string;
  /** The bytes sent as the BatchPutMessage payload (the reading exactly as the device sent it). */
  readonly payload: Uint8Array;
  /** Clock time (ms) when the engine accepted it. */
  readonly acceptedAt: number;
  /** Opaque caller data carried through to the status (e.g. a persistence sequence number, MQTT properties). */
  readonly meta: unknown;
}

/** What a caller hands to `offer()`. */
export interface Offer {
  readonly channel: string;
  readonly payload: Uint8Array;
  /**
   * The device's request id (`"id"` of a put request): any string, `""` included (the manual's pattern is
   * `.*`); every status of the message echoes it exactly. Omit it (undefined) to have one generated, which
   * the statuses then carry. `null` for input whose statuses carry no id: binary and default-topic
   * messages (the manual: their output has no id correlation).
   */
  readonly requestId?: string | null;
  readonly meta?: unknown;
}

/** One outgoing batch: up to BatchSize messages of one channel, messageIds unique. */
export interface Batch {
  /** Engine-assigned, unique per engine; `complete()` takes it back. */
  readonly seq: number;
  readonly channel: string;
  readonly messages: readonly QueuedMessage[];
  /**
   * True when more of this channel is queued behind the batch and the engine is not flushing: the sink
   * may then hand back a tail of the batch unsent (`deferred` in its outcome) to send it with what
   * follows. False at flush and shutdown: the sink sends everything.
   */
  readonly mayDefer: boolean;
}

/** Why something failed or was dropped; used as a metric label (bounded set). */
export type DropReason =
  | 'queue_full' // DROP_NEWEST: the channel queue was at IotAnalyticsQueueSizePerChannel
  | 'memory_full' // the MemorySize budget could not hold the message
  | 'evicted' // DROP_OLDEST: pushed out by a newer message (or, put back for a retry, was the oldest)
  | 'too_many_channels' // IotAnalyticsMaxActiveChannels queues already exist
  | 'duplicate_id' // a message with the same messageId is already in the outgoing batch
  | 'too_large' // over 128 KB
  | 'invalid' // the request itself is malformed (bad channel name, bad JSON, ...)
  | 'rejected' // the sink answered a non-retryable error for this message or batch
  | 'expired' // retryable errors went on past RetryTimeoutSeconds
  | 'shutdown'; // dropped at shutdown (memory-only mode, deadline passed)

/** Error codes the engine itself emits (sinks add the service's own codes, e.g. ResourceNotFoundException). */
export type EngineErrorCode =
  | 'QueueFullException'
  | 'MemoryLimitExceededException'
  | 'MessageEvictedException'
  | 'TooManyChannelsException'
  | 'DuplicateMessageIdException'
  | 'MessageTooLargeException'
  | 'InvalidRequestException'
  | 'ShutdownException';

/** The final status of one message. Every accepted or refused message gets exactly one. */
export type StatusReport =
  | {
      readonly status: 'success';
      /** The `"id"` to publish in the status message; undefined when the input is not correlated. */
      readonly statusId: string | undefined;
      readonly messageId: string;
      readonly channel: string;
      readonly meta: unknown;
    }
  | {
      readonly status: 'fail';
      readonly statusId: string | undefined;
      readonly messageId: string;
      readonly channel: string;
      readonly error: string;
      readonly errorMessage: string;
      readonly reason: DropReason;
      readonly meta: unknown;
    };

/** A failure as a sink reports it. */
export interface Failure {
  /** The service's error code, e.g. ThrottlingException, ResourceNotFoundException, NotConnectedError. */
  readonly code: string;
  readonly message: string;
  /**
   * Connection errors, throttling and 5xx are retryable: the messages go back to their queue (through the
   * drop behaviour) and the channel backs off. Bad credentials, a missing channel, an invalid request are
   * not: the messages fail at once.
   */
  readonly retryable: boolean;
}

export interface EntryFailure extends Failure {
  readonly messageId: string;
}

/** What a sink answers for one batch. */
export type BatchOutcome =
  /**
   * The request went through, possibly in parts (e.g. several IoT Hub envelopes): entries named in
   * `failures` failed, the last `deferred` messages were not sent by the sink's choice (only when the
   * batch `mayDefer`; they go back to the front of their queue with no failure, no backoff and no status),
   * every other message succeeded (BatchPutMessage semantics).
   */
  | { readonly type: 'delivered'; readonly failures: readonly EntryFailure[]; readonly deferred?: number }
  /** The whole request failed. */
  | { readonly type: 'failed'; readonly failure: Failure };

/** The one interface a destination implements (edge IoT Hub sink, IoT Analytics sink, cloud forwarder). */
export interface Sink {
  send(batch: Batch): Promise<BatchOutcome>;
}

export const DELIVERED: BatchOutcome = Object.freeze({ type: 'delivered', failures: Object.freeze([]) });
