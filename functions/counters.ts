/**
 * What the functions did, counted per runtime (one per worker; one per local host). The local host's
 * status line and the tests read these; in Azure the same numbers go to the logs per invocation.
 */
export interface FunctionCounters {
  /** Reading documents upserted into Cosmos DB (a replay counts again: the ids make it a rewrite). */
  documents: number;
  /** `latest` documents created or replaced by a newer reading. */
  latestUpdated: number;
  /** Blob writes: cold blocks appended, dead-letter files. */
  blobs: number;
  /** Cold records left out because a committed block already held them (a redelivered batch). */
  coldAlreadyStored: number;
  /** Parquet files written by the compactor. */
  parquetFiles: number;
  /** Messages IoT Analytics accepted. */
  forwarded: number;
  /** Messages written to the dead-letter container (undeliverable readings and malformed events). */
  deadLettered: number;
  /** Malformed events or envelope entries seen. */
  malformed: number;
  /** Hot path: alert transitions written (each once, however often its events are redelivered). */
  alertsRaised: number;
  alertsResolved: number;
  /** Hot path: webhook notifications delivered, and given up (refused, or out of attempts). */
  webhookDelivered: number;
  webhookFailed: number;
  /** Hot path: readings that arrived for a window already closed (left out of it). */
  lateReadings: number;
}

export function newCounters(): FunctionCounters {
  return {
    documents: 0,
    latestUpdated: 0,
    blobs: 0,
    coldAlreadyStored: 0,
    parquetFiles: 0,
    forwarded: 0,
    deadLettered: 0,
    malformed: 0,
    alertsRaised: 0,
    alertsResolved: 0,
    webhookDelivered: 0,
    webhookFailed: 0,
    lateReadings: 0,
  };
}
