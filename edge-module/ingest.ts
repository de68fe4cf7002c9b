/**
 * From inputs to the engine and from statuses back to their input: the one place that knows the order
 * "persist → queue → acknowledge" and "final status → route → commit".
 *
 * With persistence, a message is appended to the store first and offered to the engine once it is on
 * disk (appends resolve in order, so queue order is arrival order); the MQTT PUBACK waits for that.
 * A record is committed only when its message has a final status (success or fail).
 */
import type { Pump } from '@iot-ingest/batching';
import type { DropReason, StatusReport } from '@iot-ingest/batching';
import { isValidMessageId, toConnectorStatus } from '@iot-ingest/batching';
import type { EdgeEvents } from './events.js';
import { Checkpointer } from './persistence/checkpointer.js';
import { decodeRecord, encodeRecord } from './persistence/record.js';
import type { InputSource } from './persistence/record.js';
import type { MessageForm } from './inputs/parse.js';
import type { Store } from './persistence/store.js';
import { StoreFullError } from './persistence/store.js';

/** Carried through the engine with each message: where its status goes, its store record, who sent it. */
export interface MessageMeta {
  readonly source: InputSource;
  readonly qos: 0 | 1;
  seq: number | undefined;
  /**
   * The message's number at its origin (contracts §4 `n`): the store's sequence number when persisted
   * (the same after a restart), else a per-start counter. Absent only for refused inputs.
   */
  readonly ordinal?: number;
  /** See IngestItem. */
  readonly deviceId?: string;
  readonly sourceModule?: string;
  readonly form?: MessageForm;
  /** IngestItem.origin, handed back with the status (undefined after a restart). */
  readonly origin?: unknown;
}

export interface IngestItem {
  readonly source: InputSource;
  readonly qos: 0 | 1;
  readonly channel: string;
  readonly payload: Uint8Array;
  /** The device's request id exactly as sent (any string, `""` included); undefined when it gave none. */
  readonly id: string | undefined;
  /** False for binary and default-topic input: statuses carry no id. */
  readonly correlate: boolean;
  /**
   * MQTT listener input: the publishing device — its authenticated identity when the listener
   * authenticates (certificate subject or credential name), else its MQTT client id. The record's
   * `deviceId` downstream (contracts §5).
   */
  readonly deviceId?: string;
  /** edgeHub input: the module that sent it (`$.cmid`), when edgeHub names one. */
  readonly sourceModule?: string;
  /** Put input: whether `message` was JSON or a base64 string (the payload is that string either way). */
  readonly form?: MessageForm;
  /** Opaque to the ingest: the input's own bookkeeping (the listener's share ticket), handed back with the status. */
  readonly origin?: unknown;
}

/** Publishes a status (exact connector JSON text) back on the input it came from (`meta.source`). */
export type StatusPublisher = (json: string, meta: MessageMeta) => void;

export interface IngestOptions {
  readonly pump: Pump;
  readonly store: Store | undefined;
  readonly events: EdgeEvents;
  readonly publish: StatusPublisher;
  readonly newId: () => string;
}

/**
 * How long the store's checkpoint may trail the final statuses: the first status after a commit arms one
 * timer, later ones ride on it, so under load the checkpoint file is rewritten at most twice a second
 * (at 20 ms it was rewritten ~50 times a second, 2–8 % of the module's CPU in a listener profile).
 * A longer trail costs nothing on a clean stop (close() commits at once) and only re-sending after a
 * crash: records whose status was final but not yet checkpointed are read back and sent again under the
 * same record id `{gatewayId}:{origin}:{n}` (n = the store's seq), which the cloud dedupes — at most
 * this long of traffic, at least once, never lost. Committed bytes also leave the quota at most this late.
 */
export const COMMIT_DELAY_MS = 500;

/** `ordinal` is absent only for a refused input (it never reaches an envelope). */
function metaOf(
  item: Pick<IngestItem, 'source' | 'qos' | 'deviceId' | 'sourceModule' | 'form' | 'origin'>,
  seq: number | undefined,
  ordinal?: number,
): MessageMeta {
  return {
    source: item.source,
    qos: item.qos,
    seq,
    ...(ordinal !== undefined ? { ordinal } : {}),
    ...(item.deviceId !== undefined ? { deviceId: item.deviceId } : {}),
    ...(item.sourceModule !== undefined ? { sourceModule: item.sourceModule } : {}),
    ...(item.form !== undefined ? { form: item.form } : {}),
    ...(item.origin !== undefined ? { origin: item.origin } : {}),
  };
}

export class Ingest {
  private readonly checkpointer = new Checkpointer();
  private commitTimer: NodeJS.Timeout | undefined;
  private committing: Promise<void> = Promise.resolve();
  private accepting = true;
  /** Without a store: the next message's ordinal (a store numbers its records itself). */
  private nextOrdinal = 1;

  constructor(private readonly options: IngestOptions) {}

  /** Offer one input. Resolves when it may be acknowledged (on disk, or at once without persistence). */
  submit(item: IngestItem): Promise<void> | undefined {
    const { store, events } = this.options;
    events.received(item.source);
    if (!this.accepting) {
      // Shutting down: what arrives now could not be sent, so it is answered rather than queued.
      this.refuse(item, 'ShutdownException', 'the module is shutting down and takes no new messages', 'rejected');
      return undefined;
    }
    if (!store) {
      this.offer(item, metaOf(item, undefined, this.nextOrdinal++));
      return undefined;
    }
    const data = encodeRecord(
      {
        channel: item.channel,
        ...(item.id !== undefined ? { id: item.id } : {}),
        correlate: item.correlate,
        source: item.source,
        qos: item.qos,
        ...(item.deviceId !== undefined ? { deviceId: item.deviceId } : {}),
        ...(item.sourceModule !== undefined ? { sourceModule: item.sourceModule } : {}),
        ...(item.form !== undefined ? { form: item.form } : {}),
      },
      item.payload,
    );
    return store.append(data).then(
      (seq) => {
        this.checkpointer.track(seq);
        this.offer(item, metaOf(item, seq, seq));
      },
      (err: unknown) => {
        const full = err instanceof StoreFullError;
        this.refuse(item, full ? 'StorageFullException' : 'StorageException', (err as Error).message, full ? 'memory_full' : 'rejected');
      },
    );
  }

  private offer(item: IngestItem, meta: MessageMeta): void {
    const result = this.options.pump.offer({
      channel: item.channel,
      payload: item.payload,
      requestId: item.correlate ? item.id : null,
      meta,
    });
    if (result.accepted) this.options.events.accepted(item.source);
  }

  /** A refused input: one fail status on its own path, plus the metric. */
  refuse(
    item: Pick<IngestItem, 'source' | 'qos' | 'channel' | 'id' | 'correlate' | 'deviceId' | 'origin'>,
    code: string,
    message: string,
    reason: DropReason = 'invalid',
    where = item.channel,
  ): void {
    this.options.events.inputRefused(item.source, code, message, where);
    const messageId = item.id !== undefined && isValidMessageId(item.id) ? item.id : this.options.newId();
    this.onStatus({
      status: 'fail',
      statusId: item.correlate ? item.id : undefined,
      messageId,
      channel: item.channel,
      error: code,
      errorMessage: message,
      reason,
      meta: metaOf(item, undefined),
    });
  }

  /** Every final status passes here exactly once: the pump's, the engine's (twin, shutdown) and refusals. */
  readonly onStatus = (report: StatusReport): void => {
    const meta = report.meta as MessageMeta | undefined;
    this.options.events.status(report);
    if (meta) {
      this.options.publish(toConnectorStatus(report), meta);
      if (meta.seq !== undefined) {
        this.checkpointer.done(meta.seq);
        this.scheduleCommit();
      }
    }
  };

  private scheduleCommit(): void {
    if (this.commitTimer || !this.options.store) return;
    this.commitTimer = setTimeout(() => {
      this.commitTimer = undefined;
      void this.commitNow();
    }, COMMIT_DELAY_MS);
  }

  /** Commit everything up to the oldest message still waiting for its status. */
  commitNow(): Promise<void> {
    const store = this.options.store;
    if (!store) return Promise.resolve();
    if (this.commitTimer) {
      clearTimeout(this.commitTimer);
      this.commitTimer = undefined;
    }
    const upTo = this.checkpointer.committable();
    this.committing = this.committing
      .then(() => store.commit(upTo))
      .catch((err: unknown) => this.options.events.log.error({ error: (err as Error).message }, 'persistence commit failed'));
    return this.committing;
  }

  /** Rebuild the queues from the store (startup): every uncommitted, unexpired record, in order. */
  async recover(): Promise<{ records: number; expiredBytes: number }> {
    const store = this.options.store;
    if (!store) return { records: 0, expiredBytes: 0 };
    const records = await store.read(0);
    const usedBefore = store.usedBytes();
    for (const record of records) {
      const { header, payload } = decodeRecord(record.data);
      this.checkpointer.track(record.seq);
      const item: IngestItem = {
        source: header.source,
        qos: header.qos ?? 0,
        channel: header.channel,
        payload: Buffer.from(payload),
        id: header.id,
        correlate: header.correlate,
        ...(header.deviceId !== undefined ? { deviceId: header.deviceId } : {}),
        ...(header.sourceModule !== undefined ? { sourceModule: header.sourceModule } : {}),
        ...(header.form !== undefined ? { form: header.form } : {}),
      };
      this.offer(item, metaOf(item, record.seq, record.seq));
    }
    // Expired records are not returned; moving the mark past them lets the next commit delete them.
    this.checkpointer.skip(store.lastSeq());
    await this.commitNow();
    const keptBytes = records.reduce((n, r) => n + r.data.byteLength, 0);
    return { records: records.length, expiredBytes: Math.max(0, usedBefore - keptBytes) };
  }

  /** Shutdown began: every later input is refused with ShutdownException. */
  stopAccepting(): void {
    this.accepting = false;
  }

  async close(): Promise<void> {
    await this.commitNow();
  }
}
