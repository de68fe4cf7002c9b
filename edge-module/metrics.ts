/**
 * Prometheus metrics (`iot_ingest_edge_*`), one registry per module instance. Labels are bounded:
 * `channel` (at most IotAnalyticsMaxActiveChannels live), `reason` (DropReason), `input`, `error` (codes).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface QueueSnapshot {
  readonly channels: readonly { channel: string; queuedMessages: number; queuedBytes: number }[];
  readonly persistenceBytes: number | undefined;
  /** Records the disk store found damaged and skipped since it opened. */
  readonly persistenceUnreadableRecords: number | undefined;
}

export class EdgeMetrics {
  readonly registry = new Registry();
  readonly received = new Counter({ name: 'iot_ingest_edge_received_total', help: 'Input messages received', labelNames: ['input'] as const, registers: [this.registry] });
  readonly accepted = new Counter({ name: 'iot_ingest_edge_accepted_total', help: 'Messages accepted into a channel queue', labelNames: ['input'] as const, registers: [this.registry] });
  readonly sent = new Counter({ name: 'iot_ingest_edge_sent_total', help: 'Messages delivered upstream (success status)', registers: [this.registry] });
  readonly dropped = new Counter({ name: 'iot_ingest_edge_dropped_total', help: 'Messages that ended in a fail status, by reason', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly inputErrors = new Counter({ name: 'iot_ingest_edge_input_errors_total', help: 'Inputs refused before queueing, by error code', labelNames: ['input', 'error'] as const, registers: [this.registry] });
  readonly retries = new Counter({ name: 'iot_ingest_edge_retries_total', help: 'Messages put back for another attempt after a retryable failure', registers: [this.registry] });
  readonly batchMessages = new Histogram({ name: 'iot_ingest_edge_batch_messages', help: 'Messages per batch', buckets: [1, 2, 5, 10, 20, 50, 100], registers: [this.registry] });
  readonly envelopeBytes = new Histogram({ name: 'iot_ingest_edge_envelope_bytes', help: 'Upstream message size (body + properties)', buckets: [512, 1024, 4096, 8192, 16384, 65536, 131072, 262144], registers: [this.registry] });
  readonly envelopes = new Counter({ name: 'iot_ingest_edge_envelopes_total', help: 'Upstream messages sent (acknowledged)', registers: [this.registry] });
  readonly billingUnits = new Counter({ name: 'iot_ingest_edge_billing_units_total', help: 'IoT Hub 4 KB billing units used by acknowledged upstream messages', registers: [this.registry] });
  readonly upstreamLatency = new Histogram({ name: 'iot_ingest_edge_upstream_latency_seconds', help: 'Time from send to acknowledgement per batch', buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers: [this.registry] });
  readonly statuses = new Counter({ name: 'iot_ingest_edge_statuses_total', help: 'Status messages published', labelNames: ['status'] as const, registers: [this.registry] });

  constructor(snapshot: () => QueueSnapshot) {
    const queueMessages = new Gauge({ name: 'iot_ingest_edge_queue_messages', help: 'Messages queued per channel', labelNames: ['channel'] as const, registers: [this.registry] });
    const queueBytes = new Gauge({ name: 'iot_ingest_edge_queue_bytes', help: 'Payload bytes queued per channel', labelNames: ['channel'] as const, registers: [this.registry] });
    const persistence = new Gauge({ name: 'iot_ingest_edge_persistence_bytes', help: 'Bytes of uncommitted records on disk', registers: [this.registry] });
    const unreadable = new Counter({ name: 'iot_ingest_edge_persistence_unreadable_records_total', help: 'Records found damaged on disk and skipped (the records around them are kept)', registers: [this.registry] });
    // Refreshed on scrape: channels come and go, so stale label sets are reset first.
    const collect = () => {
      const s = snapshot();
      queueMessages.reset();
      queueBytes.reset();
      for (const c of s.channels) {
        queueMessages.set({ channel: c.channel }, c.queuedMessages);
        queueBytes.set({ channel: c.channel }, c.queuedBytes);
      }
      persistence.set(s.persistenceBytes ?? 0);
      // The store counts since it opened; the counter mirrors that count.
      unreadable.reset();
      unreadable.inc(s.persistenceUnreadableRecords ?? 0);
    };
    this.collect = collect;
  }

  private readonly collect: () => void;

  async text(): Promise<string> {
    this.collect();
    return this.registry.metrics();
  }
}
