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
 * changed states — a device with new alerts writes its state and their documents in one transactional
 * batch instead (in parallel). What the webhook deliveries change in an outbox rides on the next write
 * (processor.ts).
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

export type SaveOutcome =
  { readonly ok: true; readonly etag: string } | { readonly ok: false; readonly conflict: true };

export function toStateDocument(state: DeviceHotState, nextDueMs: number | null): StateDocument {
  return { ...state, id: stateDocumentId(state.deviceId), pk: state.deviceId, type: 'hot-state', nextDueMs };
}

export function fromStateDocument(doc: StateDocument): StoredState {
  const { deviceId, applied, lastSeenMs, lastReadingId, windows, closedUntilMs, active, outbox, _etag } = doc;
  return {
    state: { deviceId, applied, lastSeenMs, lastReadingId, windows, closedUntilMs, active, outbox },
    etag: _etag,
  };
}

export class HotStore {
  constructor(private readonly container: () => Container) {}

  /** Each device's stored state (a new one when it has none), with one bulk read. */
  async load(
    deviceIds: readonly string[],
    fresh: (deviceId: string) => DeviceHotState,
  ): Promise<Map<string, StoredState>> {
    const loaded = new Map<string, StoredState>();
    if (deviceIds.length === 0) return loaded;
    const { responses } = await bulkWithRetry(
      this.container(),
      deviceIds.map((deviceId): OperationInput => ({
        operationType: BulkOperationType.Read,
        id: stateDocumentId(deviceId),
        partitionKey: deviceId,
      })),
    );
    responses.forEach((response, i) => {
      const deviceId = deviceIds[i]!;
      if (response.statusCode === 200 && response.resourceBody) {
        const doc = response.resourceBody as unknown as StateDocument;
        loaded.set(deviceId, fromStateDocument({ ...doc, _etag: response.eTag ?? doc._etag }));
      } else if (response.statusCode === 404) {
        loaded.set(deviceId, { state: fresh(deviceId), etag: undefined });
      } else {
        throw new Error(
          `hot path: reading the state of device '${deviceId}' failed with status ${response.statusCode}`,
        );
      }
    });
    return loaded;
  }

  /**
   * Write each state if nobody changed it since it was read (create when new). States without new alerts go
   * in one bulk request; a state with new alerts goes in a transactional batch with their documents (same
   * partition key), so the alerts exist exactly when the state that raised them does: a writer that loses on
   * the etag writes no alert either. (The devstack's Cosmos server runs a batch in order and stops at the
   * first failure without undoing the earlier operations; the state comes first, so a lost etag still writes
   * nothing.) Alert documents are upserts: the same transition always makes the same document, and a stale
   * writer never gets past the state's etag.
   */
  async save(
    entries: ReadonlyArray<{
      state: DeviceHotState;
      etag: string | undefined;
      nextDueMs: number | null;
      alerts?: readonly Transition[];
    }>,
  ): Promise<SaveOutcome[]> {
    if (entries.length === 0) return [];
    const stateOperation = ({ state, etag, nextDueMs }: (typeof entries)[number]): OperationInput => {
      const body = toStateDocument(state, nextDueMs) as unknown as JSONObject;
      return etag === undefined
        ? { operationType: BulkOperationType.Create, partitionKey: state.deviceId, resourceBody: body }
        : {
            operationType: BulkOperationType.Replace,
            id: stateDocumentId(state.deviceId),
            partitionKey: state.deviceId,
            ifMatch: etag,
            resourceBody: body,
          };
    };
    const outcome = (status: number, eTag: string | undefined, deviceId: string): SaveOutcome => {
      if (status >= 200 && status < 300) return { ok: true, etag: eTag ?? '' };
      // 412: replaced since we read it; 409: created by someone else; 404: deleted under us.
      if (status === 412 || status === 409 || status === 404) return { ok: false, conflict: true };
      throw new Error(`hot path: writing the state of device '${deviceId}' failed with status ${status}`);
    };
    const outcomes = new Array<SaveOutcome>(entries.length);
    const plain = entries.flatMap((e, i) => ((e.alerts?.length ?? 0) === 0 ? [i] : []));
    const withAlerts = entries.flatMap((e, i) => ((e.alerts?.length ?? 0) > 0 ? [i] : []));
    await Promise.all([
      (async () => {
        if (plain.length === 0) return;
        const { responses } = await bulkWithRetry(
          this.container(),
          plain.map((i) => stateOperation(entries[i]!)),
        );
        responses.forEach(
          (r, k) =>
            (outcomes[plain[k]!] = outcome(
              r.statusCode,
              r.eTag ?? String(r.resourceBody?._etag ?? ''),
              entries[plain[k]!]!.state.deviceId,
            )),
        );
      })(),
      ...withAlerts.map(async (i) => {
        const entry = entries[i]!;
        const documents = finalDocuments(entry.alerts!);
        // A transactional batch holds 100 operations: the state and up to 99 alerts; more (a flapping rule)
        // follow in a second request once the state is written.
        const inBatch = documents.slice(0, MAX_BATCH_OPERATIONS - 1);
        const response = await this.container().items.batch(
          [
            stateOperation(entry),
            ...inBatch.map((doc): OperationInput => ({
              operationType: BulkOperationType.Upsert,
              partitionKey: doc.pk,
              resourceBody: doc as unknown as JSONObject,
            })),
          ],
          entry.state.deviceId,
        );
        const results = response.result ?? [];
        const state = results[0];
        outcomes[i] = outcome(state?.statusCode ?? response.code ?? 0, state?.eTag, entry.state.deviceId);
        if (!outcomes[i]!.ok) return;
        const failed = results.slice(1).find((r) => r.statusCode < 200 || r.statusCode >= 300);
        if (failed)
          throw new Error(
            `hot path: writing an alert of device '${entry.state.deviceId}' failed with status ${failed.statusCode}`,
          );
        await this.storeDocuments(documents.slice(inBatch.length));
      }),
    ]);
    return outcomes;
  }

  /**
   * Store alert documents for transitions, in order per alert: `raised` creates (an existing document is
   * left alone: it is the same alert, or already resolved), `resolved` writes the final document.
   */
  async storeAlerts(transitions: readonly Transition[]): Promise<void> {
    await this.storeDocuments(finalDocuments(transitions));
  }

  private async storeDocuments(documents: readonly AlertDocument[]): Promise<void> {
    if (documents.length === 0) return;
    const { responses } = await bulkWithRetry(
      this.container(),
      documents.map((doc): OperationInput => {
        const body = doc as unknown as JSONObject;
        return doc.state === 'raised'
          ? { operationType: BulkOperationType.Create, partitionKey: doc.pk, resourceBody: body }
          : { operationType: BulkOperationType.Upsert, partitionKey: doc.pk, resourceBody: body };
      }),
    );
    responses.forEach((response, i) => {
      const ok =
        (response.statusCode >= 200 && response.statusCode < 300) ||
        (response.statusCode === 409 && documents[i]!.state === 'raised');
      if (!ok)
        throw new Error(`hot path: writing alert '${documents[i]!.id}' failed with status ${response.statusCode}`);
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

/** Transactional batch limit (operations per request). */
const MAX_BATCH_OPERATIONS = 100;

/** One document per alert: a raised and a resolved of the same alert in one write make its final document. */
function finalDocuments(transitions: readonly Transition[]): AlertDocument[] {
  const last = new Map<string, Transition>();
  for (const t of transitions) if (t.state === 'resolved' || !last.has(t.alertId)) last.set(t.alertId, t);
  return [...last.values()].map(alertDocument);
}

export type { AlertDocument };
