/**
 * The IoT Hub sink: each batch → batch envelope(s) sent with `sendOutputEvent('upstream', …)`; success is
 * the hub's acknowledgement (the promise resolves on PUBACK).
 *
 * Packing across batches ("carry"): when a batch's last envelope would spill a little into a new 4 KB
 * unit and more of that channel is queued, the spilling messages (< 4 KB) are kept back here and sent
 * at the front of the channel's next envelope. The engine sees them as delivered, so their success
 * statuses are held (`holdsStatus`) and released only when the hub acknowledges the envelope that
 * carries them; a carry that cannot be sent is retried here, in order, and failed only on a permanent
 * error or at shutdown. A carry is sent alone after `lingerMs` if no batch of its channel comes.
 */
import azureIotDevice from 'azure-iot-device';
import type { Batch, BatchOutcome, EntryFailure, QueuedMessage, Sink, StatusReport } from '@iot-ingest/batching';
import { CHANNEL_PROPERTY, ENVELOPE_CONTENT_ENCODING, ENVELOPE_CONTENT_TYPE, SCHEMA_BATCH_V1, SCHEMA_PROPERTY } from '@iot-ingest/contracts';
import { UPSTREAM_OUTPUT, packBatch } from './pack.js';
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
  /** Messages of `channel` still queued in the engine (carry only pays off when more is coming). */
  readonly queuedBehind: (channel: string) => number;
  /** Statuses the sink settles itself (carried messages). */
  readonly emitStatus: (report: StatusReport) => void;
  readonly onEnvelope?: (envelope: Envelope, elapsedMs: number) => void;
  readonly onCarryError?: (channel: string, error: unknown) => void;
  readonly lingerMs: number;
  readonly now: () => number;
}

export function toHubMessage(envelope: Envelope): HubMessage {
  const message = new Message(envelope.body);
  message.properties.add(CHANNEL_PROPERTY, envelope.channel);
  message.properties.add(SCHEMA_PROPERTY, SCHEMA_BATCH_V1);
  message.contentType = ENVELOPE_CONTENT_TYPE;
  message.contentEncoding = ENVELOPE_CONTENT_ENCODING;
  return message;
}

interface Carry {
  messages: QueuedMessage[];
  timer: NodeJS.Timeout | undefined;
  inProgress: Promise<void> | undefined;
  failures: number;
}

export class IotHubSink implements Sink {
  private readonly carries = new Map<string, Carry>();
  /** Metas of carried messages whose engine success status must be held. */
  private readonly held = new WeakSet<object>();
  private closing = false;

  constructor(private readonly options: IotHubSinkOptions) {}

  /** True (and swallowed) for an engine success status of a message still carried here. */
  holdsStatus(report: StatusReport): boolean {
    return report.status === 'success' && typeof report.meta === 'object' && report.meta !== null && this.held.has(report.meta);
  }

  carriedMessages(): number {
    let n = 0;
    for (const c of this.carries.values()) n += c.messages.length;
    return n;
  }

  async send(batch: Batch): Promise<BatchOutcome> {
    // A carry being sent alone goes first: per-channel order holds.
    const inProgress = this.carries.get(batch.channel)?.inProgress;
    if (inProgress) await inProgress;
    const carry = this.carries.get(batch.channel);
    if (carry?.timer) clearTimeout(carry.timer);
    const carried = carry ? carry.messages : [];
    if (carry) carry.messages = [];
    const fromBatch = new Set<QueuedMessage>(batch.messages);
    const messages = carried.length > 0 ? [...carried, ...batch.messages] : batch.messages;
    const deferTail = !this.closing && this.options.queuedBehind(batch.channel) > 0;
    const { envelopes, deferred } = packBatch(batch.channel, messages, { ...this.options.pack, deferTail });

    const failures: EntryFailure[] = [];
    const carriedDone: QueuedMessage[] = [];
    const carriedBack: QueuedMessage[] = [];
    let failure: { code: string; message: string; retryable: boolean } | undefined;
    let cursor = 0;
    for (const envelope of envelopes) {
      const members = messages.slice(cursor, cursor + envelope.messageIds.length);
      cursor += envelope.messageIds.length;
      if (failure === undefined) {
        const startedAt = this.options.now();
        try {
          await this.options.client.sendOutputEvent(UPSTREAM_OUTPUT, toHubMessage(envelope));
          this.options.onEnvelope?.(envelope, this.options.now() - startedAt);
          for (const m of members) if (!fromBatch.has(m)) carriedDone.push(m);
          continue;
        } catch (err) {
          failure = { code: errorCode(err), message: errorMessage(err), retryable: isRetryable(err) };
        }
      }
      for (const m of members) {
        if (fromBatch.has(m)) failures.push({ messageId: m.id, ...failure });
        else if (failure.retryable) carriedBack.push(m);
        else this.settleCarried(m, failure);
      }
    }
    for (const m of carriedDone) this.release(m);
    // Carried messages that failed retryably go first again, then this batch's deferred tail.
    const keep = [...carriedBack];
    for (const m of deferred) {
      if (!fromBatch.has(m)) keep.push(m);
      else if (failure === undefined) {
        this.hold(m);
        keep.push(m);
      } else {
        // Never attempted: back to the engine's queue.
        failures.push({ messageId: m.id, code: failure.code, message: failure.message, retryable: true });
      }
    }
    if (keep.length > 0) this.setCarry(batch.channel, keep, carriedBack.length > 0);
    else if (carry && carry.messages.length === 0) this.carries.delete(batch.channel);
    return { type: 'delivered', failures };
  }

  private hold(m: QueuedMessage): void {
    if (typeof m.meta === 'object' && m.meta !== null) this.held.add(m.meta);
  }

  private release(m: QueuedMessage): void {
    if (typeof m.meta === 'object' && m.meta !== null) this.held.delete(m.meta);
    this.options.emitStatus({ status: 'success', id: m.correlate ? m.id : undefined, messageId: m.id, channel: m.channel, meta: m.meta });
  }

  private settleCarried(m: QueuedMessage, failure: { code: string; message: string }): void {
    if (typeof m.meta === 'object' && m.meta !== null) this.held.delete(m.meta);
    this.options.emitStatus({
      status: 'fail',
      id: m.correlate ? m.id : undefined,
      messageId: m.id,
      channel: m.channel,
      error: failure.code,
      errorMessage: failure.message,
      reason: failure.code === 'ShutdownException' ? 'shutdown' : 'rejected',
      meta: m.meta,
    });
  }

  private setCarry(channel: string, messages: QueuedMessage[], failed: boolean): void {
    let carry = this.carries.get(channel);
    if (!carry) {
      carry = { messages: [], timer: undefined, inProgress: undefined, failures: 0 };
      this.carries.set(channel, carry);
    }
    carry.messages = messages.concat(carry.messages);
    carry.failures = failed ? carry.failures + 1 : 0;
    const delay = Math.min(30_000, this.options.lingerMs * 2 ** carry.failures);
    if (carry.timer) clearTimeout(carry.timer);
    carry.timer = setTimeout(() => void this.sendCarry(channel), delay);
    carry.timer.unref?.();
  }

  /** Send a carry alone (nothing else of its channel came within the linger time). */
  private sendCarry(channel: string): Promise<void> {
    const carry = this.carries.get(channel);
    if (!carry) return Promise.resolve();
    if (carry.inProgress) return carry.inProgress;
    if (carry.messages.length === 0) return Promise.resolve();
    carry.timer = undefined;
    const run = this.sendCarryNow(channel, carry).finally(() => {
      carry.inProgress = undefined;
    });
    carry.inProgress = run;
    return run;
  }

  private async sendCarryNow(channel: string, carry: Carry): Promise<void> {
    const messages = carry.messages;
    carry.messages = [];
    {
      const { envelopes } = packBatch(channel, messages, { ...this.options.pack, deferTail: false });
      let cursor = 0;
      for (const envelope of envelopes) {
        const members = messages.slice(cursor, cursor + envelope.messageIds.length);
        const startedAt = this.options.now();
        try {
          await this.options.client.sendOutputEvent(UPSTREAM_OUTPUT, toHubMessage(envelope));
        } catch (err) {
          this.options.onCarryError?.(channel, err);
          const rest = messages.slice(cursor);
          if (isRetryable(err) && !this.closing) this.setCarry(channel, rest, true);
          else for (const m of rest) this.settleCarried(m, { code: errorCode(err), message: errorMessage(err) });
          return;
        }
        cursor += members.length;
        this.options.onEnvelope?.(envelope, this.options.now() - startedAt);
        for (const m of members) this.release(m);
      }
      if (carry.messages.length === 0 && this.carries.get(channel) === carry) this.carries.delete(channel);
    }
  }

  /** Shutdown: send every carry now; what cannot be sent before the deadline fails with ShutdownException. */
  async close(deadlineEpochMs: number): Promise<void> {
    this.closing = true;
    const channels = [...this.carries.keys()];
    for (const channel of channels) {
      const carry = this.carries.get(channel);
      if (carry?.timer) clearTimeout(carry.timer);
      if (this.options.now() < deadlineEpochMs) await this.sendCarry(channel);
    }
    for (const [channel, carry] of this.carries) {
      if (carry.timer) clearTimeout(carry.timer);
      for (const m of carry.messages) {
        this.settleCarried(m, { code: 'ShutdownException', message: 'the module stopped before this message could be sent' });
      }
      this.carries.delete(channel);
    }
  }
}

