/**
 * The pipeline's counters in one shape, and the status line drawn from them (pure).
 *
 * Each component reports flat counters under its own name; `summarize` picks the figures the status line
 * shows. Keys (set by the adapters in components.ts):
 *   simulator: sentDirect, sentGreengrass, sendErrors, statusSuccess, statusFail
 *   edge: accepted, upstreamMessages, dropped, errors
 *   functions: warmEvents, coldEvents, analyticsEvents, hotEvents, alertsRaised, alertsResolved,
 *     webhookDelivered, webhookFailed, lateReadings, errors, deadLetters
 *   cosmos: documents · storage: blobs · iotAnalytics: messages
 */

export type ComponentCounters = Readonly<Record<string, number>>;

export interface PipelineSummary {
  readonly readingsSent: number;
  readonly edgeAccepted: number;
  readonly upstreamMessages: number;
  readonly eventsByConsumerGroup: Readonly<Record<'warm' | 'cold' | 'analytics' | 'hot', number>>;
  /** The hot path's alerts since this start: transitions, still open (raised − resolved), webhook deliveries. */
  readonly alerts: { readonly raised: number; readonly resolved: number; readonly open: number; readonly notified: number };
  readonly cosmosDocuments: number;
  readonly blobs: number;
  readonly iotAnalyticsMessages: number;
  readonly drops: number;
  readonly errors: number;
}

export interface PipelineStatus {
  /** ISO time of the sample. */
  readonly at: string;
  readonly uptimeMs: number;
  readonly summary: PipelineSummary;
  /** Raw counters per component; a component whose probe failed reports `{ probeErrors: 1 }`. */
  readonly components: Readonly<Record<string, ComponentCounters>>;
}

const n = (counters: ComponentCounters | undefined, key: string): number => {
  const value = counters?.[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
};

export function summarize(components: Readonly<Record<string, ComponentCounters>>): PipelineSummary {
  const { simulator, edge, functions, cosmos, storage, iotAnalytics } = components;
  const probeErrors = Object.values(components).reduce((sum, c) => sum + n(c, 'probeErrors'), 0);
  return {
    readingsSent: n(simulator, 'sentDirect') + n(simulator, 'sentGreengrass'),
    edgeAccepted: n(edge, 'accepted'),
    upstreamMessages: n(edge, 'upstreamMessages'),
    eventsByConsumerGroup: {
      warm: n(functions, 'warmEvents'),
      cold: n(functions, 'coldEvents'),
      analytics: n(functions, 'analyticsEvents'),
      hot: n(functions, 'hotEvents'),
    },
    alerts: {
      raised: n(functions, 'alertsRaised'),
      resolved: n(functions, 'alertsResolved'),
      open: Math.max(0, n(functions, 'alertsRaised') - n(functions, 'alertsResolved')),
      notified: n(functions, 'webhookDelivered'),
    },
    cosmosDocuments: n(cosmos, 'documents'),
    blobs: n(storage, 'blobs'),
    iotAnalyticsMessages: n(iotAnalytics, 'messages'),
    drops: n(edge, 'dropped') + n(simulator, 'statusFail'),
    errors:
      n(simulator, 'sendErrors') +
      n(edge, 'errors') +
      n(functions, 'errors') +
      n(functions, 'deadLetters') +
      n(functions, 'webhookFailed') +
      probeErrors,
  };
}

/** One line, no secrets; drops and errors come first so a narrow terminal never cuts them off. */
export function formatStatusLine(summary: PipelineSummary, elapsedMs?: number): string {
  const e = summary.eventsByConsumerGroup;
  const parts = [
    `sent ${summary.readingsSent} drops ${summary.drops} errors ${summary.errors}`,
    `edge ${summary.edgeAccepted} accepted, ${summary.upstreamMessages} upstream`,
    `events warm/cold/analytics ${e.warm}/${e.cold}/${e.analytics}`,
    `cosmos ${summary.cosmosDocuments} docs`,
    `blobs ${summary.blobs}`,
    `iotanalytics ${summary.iotAnalyticsMessages} msgs`,
    `hot ${e.hot} events, alerts ${summary.alerts.open} open (${summary.alerts.raised} raised, ${summary.alerts.resolved} resolved)`,
  ];
  const prefix = elapsedMs === undefined ? '' : `[${Math.round(elapsedMs / 1000)}s] `;
  return prefix + parts.join(' | ');
}
