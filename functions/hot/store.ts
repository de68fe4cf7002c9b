/**
 * Where the hot path keeps its state and alerts: Cosmos DB container `alerts` (partition key `/pk` =
 * deviceId), one `hot-state` document per device beside that device's alert documents.
 *
 * Why here (docs/hot-path.md): a tumbling window spans many trigger batches, and the checkpoint moves after
 * each batch, so after a restart or a partition moving to another host the readings before the checkpoint
 * are never delivered again; the state must be where the next owner finds it, written before the batch
 * finishes. Every write of a state document is conditional on the etag it was read with (412 / 409 mean
 * another writer — the sweep timer, or a host that took the partition — got there first: re-read, re-apply).
 *
 * Requests per trigger batch: one bulk read of the devices not cached, one bulk conditional write of the
 * changed states; and only when there are transitions, one bulk write of alert documents and one more
 * state write after delivery.
 */
import type { Container, JSONObject, OperationInput } from '@azure/cosmos';
import { BulkOperationType } from '@azure/cosmos';
import type { AlertDocument } from '@iot-ingest/contracts';
import { bulkWithRetry } from '../cosmosBulk.js';
import { stateDocumentId } from './alert-id.js';
import { alertDocument } from './alerts.js';
import type { DeviceHotState, Transition } from './engine.js';

/** A state as read from Cosmos: `etag` undefined when the device has no document yet. */
export interface StoredState {
  readonly state: DeviceHotState;
  readonly etag: string | undefined;
}

export interface StateDocument extends DeviceHotState {
  id: string;
  pk: string;
  type: 'hot-state';
  /** Epoch ms when the sweep has something to do for this device (a stale deadline, a window to close, a delivery to retry); null: nothing. */
  nextDueMs: number | null;
  _etag?: string;
}

export type SaveOutcome = { readonly ok: true; readonly etag: string } | { readonly ok: false; readonly conflict: true };

export function toStateDocument(state: DeviceHotState, nextDueMs: number | null): StateDocument {
  return { ...state, id: stateDocumentId(state.deviceId), pk: state.deviceId, type: 'hot-state', nextDueMs };
}

export function fromStateDocument(doc: StateDocument): StoredState {
  const { deviceId, applied, lastSeenMs, lastReadingId, windows, closedUntilMs, active, outbox, _etag } = doc;
  return { state: { deviceId, applied, lastSeenMs, lastReadingId, windows, closedUntilMs, active, outbox }, etag: _etag };
}

export class HotStore {
  constructor(private readonly container: () => Container) {}

  /** Each device's stored state (a new one when it has none), with one bulk read. */
  async load(deviceIds: readonly string[], fresh: (deviceId: string) => DeviceHotState): Promise<Map<string, StoredState>> {
    const loaded = new Map<string, StoredState>();
    if (deviceIds.length === 0) return loaded;
    const { responses } = await bulkWithRetry(
      this.container(),
      deviceIds.map((deviceId): OperationInput => ({ operationType: BulkOperationType.Read, id: stateDocumentId(deviceId), partitionKey: deviceId })),
    );
    responses.forEach((response, i) => {
      const deviceId = deviceIds[i]!;
      if (response.statusCode === 200 && response.resourceBody) {
        const doc = response.resourceBody as unknown as StateDocument;
        loaded.set(deviceId, fromStateDocument({ ...doc, _etag: response.eTag ?? doc._etag }));
      } else if (response.statusCode === 404) {
        loaded.set(deviceId, { state: fresh(deviceId), etag: undefined });
      } else {
        throw new Error(`hot path: reading the state of device '${deviceId}' failed with status ${response.statusCode}`);
      }
    });
    return loaded;
  }

  /** Write each state if nobody changed it since it was read (create when new); one bulk request. */
  async save(entries: ReadonlyArray<{ state: DeviceHotState; etag: string | undefined; nextDueMs: number | null }>): Promise<SaveOutcome[]> {
    if (entries.length === 0) return [];
    const operations = entries.map(({ state, etag, nextDueMs }): OperationInput => {
      const body = toStateDocument(state, nextDueMs) as unknown as JSONObject;
      return etag === undefined
        ? { operationType: BulkOperationType.Create, partitionKey: state.deviceId, resourceBody: body }
        : { operationType: BulkOperationType.Replace, id: stateDocumentId(state.deviceId), partitionKey: state.deviceId, ifMatch: etag, resourceBody: body };
    });
    const { responses } = await bulkWithRetry(this.container(), operations);
    return responses.map((response, i): SaveOutcome => {
      const status = response.statusCode;
      if (status >= 200 && status < 300) return { ok: true, etag: response.eTag ?? String(response.resourceBody?._etag ?? '') };
      // 412: replaced since we read it; 409: created by someone else; 404: deleted under us.
      if (status === 412 || status === 409 || status === 404) return { ok: false, conflict: true };
      throw new Error(`hot path: writing the state of device '${entries[i]!.state.deviceId}' failed with status ${status}`);
    });
  }

  /**
   * Store alert documents for transitions, in order per alert: `raised` creates (an existing document is
   * left alone: it is the same alert, or already resolved), `resolved` writes the final document.
   */
  async storeAlerts(transitions: readonly Transition[]): Promise<void> {
    if (transitions.length === 0) return;
    // A raised and a resolved of the same alert in one call: only the final one is written.
    const last = new Map<string, Transition>();
    for (const t of transitions) if (t.state === 'resolved' || !last.has(t.alertId)) last.set(t.alertId, t);
    const list = [...last.values()];
    const { responses } = await bulkWithRetry(
      this.container(),
      list.map((t): OperationInput => {
        const body = alertDocument(t) as unknown as JSONObject;
        return t.state === 'raised'
          ? { operationType: BulkOperationType.Create, partitionKey: t.deviceId, resourceBody: body }
          : { operationType: BulkOperationType.Upsert, partitionKey: t.deviceId, resourceBody: body };
      }),
    );
    responses.forEach((response, i) => {
      const ok = (response.statusCode >= 200 && response.statusCode < 300) || (response.statusCode === 409 && list[i]!.state === 'raised');
      if (!ok) throw new Error(`hot path: writing alert '${list[i]!.alertId}' failed with status ${response.statusCode}`);
    });
  }

  /** Mark alerts whose webhook notification was given up (`webhook: 'failed'`). */
  async markWebhookFailed(transitions: readonly Transition[]): Promise<void> {
    // Rare (a webhook refusing or down for its whole retry schedule): one patch per alert.
    for (const t of transitions) {
      await this.container()
        .item(t.alertId, t.deviceId)
        .patch([{ op: 'set', path: '/webhook', value: 'failed' }])
        .catch((err: unknown) => {
          if ((err as { code?: unknown }).code !== 404) throw err;
        });
    }
  }

  /** State documents the sweep has something to do for at `nowMs`. */
  async dueStates(nowMs: number): Promise<StoredState[]> {
    const { resources } = await this.container()
      .items.query<StateDocument>({
        query: "SELECT * FROM c WHERE c.type = 'hot-state' AND c.nextDueMs <= @now",
        parameters: [{ name: '@now', value: nowMs }],
      })
      .fetchAll();
    return resources.map(fromStateDocument);
  }
}

export type { AlertDocument };
