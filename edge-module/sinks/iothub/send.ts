/**
 * The IoT Hub sink: each batch → batch envelope(s) sent in order with `sendOutputEvent('upstream', …)`;
 * success is the hub's acknowledgement (the promise resolves on PUBACK). The sink keeps nothing between
 * batches: no messages, no timers, no statuses. The engine owns every retry and every status.
 *
 * Its answer, per message:
 * - envelopes the hub acknowledged: delivered;
 * - the envelope that failed: entry failures with the hub's error, retryable or not (retry.ts); every
 *   later one is not attempted (so per-channel order holds) and fails retryably with the same error;
 * - 4 KB billing units: when the batch `mayDefer` (more of the channel is queued behind it), the messages
 *   that would spill a little into a last, mostly empty unit are not sent but handed back (`deferred`):
 *   the engine puts them at the front of their queue and they ride in the channel's next envelope.
 */
import azureIotDevice from 'azure-iot-device';
import type { Batch, BatchOutcome, EntryFailure, Failure, Sink } from '@iot-ingest/batching';
import { CHANNEL_PROPERTY, ENVELOPE_CONTENT_ENCODING, ENVELOPE_CONTENT_TYPE, SCHEMA_PROPERTY } from '@iot-ingest/contracts';
import { ENVELOPE_SCHEMA, UPSTREAM_OUTPUT, packBatch } from './pack.js';
import type { Envelope, PackOptions } from './pack.js';
import { errorCode, errorMessage, isRetryable } from './retry.js';

const { Message } = azureIotDevice;
type HubMessage = InstanceType<typeof Message>;

/** The slice of ModuleClient the sink uses. */
export interface ModuleClientLike {
  sendOutputEvent(outputName: string, message: HubMessage): Promise<unknown>;
}

export interface IotHubSinkOptions {
  readonly client: ModuleClientLike;
  readonly pack: Omit<PackOptions, 'deferTail'>;
  readonly onEnvelope?: (envelope: Envelope, elapsedMs: number) => void;
  readonly now: () => number;
}

export function toHubMessage(envelope: Envelope): HubMessage {
  const message = new Message(envelope.body);
  message.properties.add(CHANNEL_PROPERTY, envelope.channel);
  message.properties.add(SCHEMA_PROPERTY, ENVELOPE_SCHEMA);
  message.contentType = ENVELOPE_CONTENT_TYPE;
  message.contentEncoding = ENVELOPE_CONTENT_ENCODING;
  return message;
}

export class IotHubSink implements Sink {
  constructor(private readonly options: IotHubSinkOptions) {}

  async send(batch: Batch): Promise<BatchOutcome> {
    const { envelopes, deferred } = packBatch(batch.channel, batch.messages, { ...this.options.pack, deferTail: batch.mayDefer });
    const failures: EntryFailure[] = [];
    let failure: Failure | undefined;
    for (const envelope of envelopes) {
      if (failure === undefined) {
        const startedAt = this.options.now();
        try {
          await this.options.client.sendOutputEvent(UPSTREAM_OUTPUT, toHubMessage(envelope));
          this.options.onEnvelope?.(envelope, this.options.now() - startedAt);
          continue;
        } catch (err) {
          failure = { code: errorCode(err), message: errorMessage(err), retryable: isRetryable(err) };
          for (const messageId of envelope.messageIds) failures.push({ messageId, ...failure });
          continue;
        }
      }
      // Not attempted after a failed envelope: these get their own answer on the next attempt.
      for (const messageId of envelope.messageIds) failures.push({ messageId, ...failure, retryable: true });
    }
    if (failure !== undefined) {
      for (const m of deferred) failures.push({ messageId: m.messageId, ...failure, retryable: true });
      return { type: 'delivered', failures };
    }
    return { type: 'delivered', failures, deferred: deferred.length };
  }
}
