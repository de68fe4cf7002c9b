/**
 * A record: one reading as every cloud-side writer stores it (docs/contracts.md §5). The Functions app
 * produces records; the CLI, the devstack's checks and the analysts read them from Cosmos DB and the cold
 * files. Exactly one of `body` / `bodyBase64` is present.
 */
export interface TelemetryRecord {
  /** `{partition}-{sequenceNumber}-{index}`: the same on a redelivery. */
  id: string;
  deviceId: string;
  moduleId?: string;
  /** The IoT Analytics channel; null when neither the message nor the configuration names one. */
  channel: string | null;
  requestId?: string;
  /** The payload's own timestamp (ISO), else `enqueuedAt`. */
  ts: string;
  /** ISO 8601, UTC. */
  enqueuedAt: string;
  partition: string;
  sequenceNumber: number;
  index: number;
  properties: Record<string, unknown>;
  body?: unknown;
  bodyBase64?: string;
}
