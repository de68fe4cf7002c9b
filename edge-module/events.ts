/**
 * The events that matter, each writing its log line and its metric together. Log lines carry ids,
 * channels and codes, never payloads or credentials.
 */
import type { Batch, BatchOutcome, StatusReport } from '@iot-ingest/batching';
import type { ConfigIssue } from '@iot-ingest/batching';
import type { Logger } from './log.js';
import type { EdgeMetrics } from './metrics.js';
import type { Envelope } from './sinks/iothub/pack.js';
import type { InputSource } from './persistence/record.js';

export class EdgeEvents {
  constructor(
    readonly log: Logger,
    readonly metrics: EdgeMetrics,
  ) {}

  received(input: InputSource): void {
    this.metrics.received.inc({ input });
  }

  accepted(input: InputSource): void {
    this.metrics.accepted.inc({ input });
  }

  /** An input refused before it reached a queue (bad JSON, bad channel, too large, persistence full...). */
  inputRefused(input: InputSource, error: string, message: string, topicOrInput: string): void {
    this.metrics.inputErrors.inc({ input, error });
    this.log.debug({ input, error, topicOrInput, reason: message }, 'input refused');
  }

  status(report: StatusReport): void {
    this.metrics.statuses.inc({ status: report.status });
    if (report.status === 'success') this.metrics.sent.inc();
    else {
      this.metrics.dropped.inc({ reason: report.reason });
      this.log.debug({ channel: report.channel, messageId: report.messageId, error: report.error, reason: report.reason }, 'message failed');
    }
  }

  batchSettled(batch: Batch, outcome: BatchOutcome, elapsedMs: number): void {
    this.metrics.batchMessages.observe(batch.messages.length);
    this.metrics.upstreamLatency.observe(elapsedMs / 1000);
    const retried =
      outcome.type === 'failed'
        ? outcome.failure.retryable
          ? batch.messages.length
          : 0
        : outcome.failures.filter((f) => f.retryable).length;
    if (retried > 0) {
      this.metrics.retries.inc(retried);
      const code = outcome.type === 'failed' ? outcome.failure.code : outcome.failures[0]?.code;
      this.log.warn({ channel: batch.channel, batch: batch.seq, messages: retried, error: code }, 'batch send failed; will retry');
    }
  }

  envelopeSent(envelope: Envelope): void {
    this.metrics.envelopes.inc();
    this.metrics.envelopeBytes.observe(envelope.sizeBytes);
    this.metrics.billingUnits.inc(envelope.units);
  }

  sinkError(channel: string, error: unknown): void {
    this.log.warn({ channel, error: (error as Error)?.name, detail: (error as Error)?.message }, 'sink error');
  }

  configApplied(values: Readonly<Record<string, string>>): void {
    this.log.info({ config: values }, 'connector configuration applied');
  }

  configRefused(issues: readonly ConfigIssue[] | readonly { parameter: string; reason: string }[]): void {
    this.log.warn({ refused: issues }, 'desired configuration refused; the previous value stays in force');
  }

  /** Expired records (older than PERSISTENCE_TTL_SECONDS) are deleted without a status: nobody waits for it. */
  recovered(records: number, expiredBytes: number): void {
    this.log.info({ records, expiredBytes }, 'queues rebuilt from persistence');
  }
}
