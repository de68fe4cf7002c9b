/**
 * The public vocabulary of the batching engine: what goes in (offers), what comes out (batches and
 * statuses) and what a sink answers. Pure data: no I/O, no timers.
 */

/** A message as the engine holds it: queued, or in flight inside a batch. */
export interface QueuedMessage {
  /** The BatchPutMessage messageId: the caller's id, or a generated one. Unique within one outgoing batch. */
  readonly id: string;
  readonly channel: string;
  /** The bytes sent as the BatchPutMessage payload (the reading exactly as the device sent it). */
  readonly payload: Uint8Array;
  /**
   * Whether status messages carry the id. False for binary and default-topic input: the connector's
   * manual says their statuses have no id correlation to the input.
   */
  readonly correlate: boolean;
  /** Clock time (ms) when the engine accepted it. */
  readonly acceptedAt: number;
  /** Opaque caller data carried through to the status (e.g. a persistence sequence number, MQTT properties). */
  readonly meta: unknown;
}

/** What a caller hands to `offer()`. */
export interface Offer {
  readonly channel: string;
  readonly payload: Uint8Array;
  /** The request id (`"id"` of a put message). Omit to have one generated. */
  readonly id?: string;
  /** See QueuedMessage.correlate. Default true. */
  readonly correlate?: boolean;
  readonly meta?: unknown;
}

/** One outgoing batch: up to BatchSize messages of one channel, ids unique. */
export interface Batch {
  /** Engine-assigned, unique per engine; `complete()` takes it back. */
  readonly seq: number;
  readonly channel: string;
  readonly messages: readonly QueuedMessage[];
}

/** Why something failed or was dropped; used as a metric label (bounded set). */
export type DropReason =
  | 'queue_full' // DROP_NEWEST: the channel queue was at IotAnalyticsQueueSizePerChannel
  | 'memory_full' // the MemorySize budget could not hold the message
  | 'evicted' // DROP_OLDEST: pushed out by a newer message
  | 'too_many_channels' // IotAnalyticsMaxActiveChannels queues already exist
  | 'duplicate_id' // a message with the same id is already in the outgoing batch
  | 'too_large' // over 128 KB
  | 'invalid' // the request itself is malformed (bad channel name, bad JSON, ...)
  | 'rejected' // the sink answered a non-retryable error for this message or batch
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
      /** The id to publish in the status message, or undefined when the input is not correlated. */
      readonly id: string | undefined;
      readonly messageId: string;
      readonly channel: string;
      readonly meta: unknown;
    }
  | {
      readonly status: 'fail';
      readonly id: string | undefined;
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
  /** Connection errors, throttling and 5xx are retryable: the messages go back to the front of their queue. */
  readonly retryable: boolean;
}

export interface EntryFailure extends Failure {
  readonly messageId: string;
}

/** What a sink answers for one batch. */
export type BatchOutcome =
  /** The request went through; entries not named in `failures` succeeded (BatchPutMessage semantics). */
  | { readonly type: 'delivered'; readonly failures: readonly EntryFailure[] }
  /** The whole request failed. */
  | { readonly type: 'failed'; readonly failure: Failure };

/** The one interface a destination implements (edge IoT Hub sink, IoT Analytics sink, cloud forwarder). */
export interface Sink {
  send(batch: Batch): Promise<BatchOutcome>;
}

export const DELIVERED: BatchOutcome = Object.freeze({ type: 'delivered', failures: Object.freeze([]) });
