/**
 * A record: one reading as every cloud-side writer stores it (docs/contracts.md §5). The Functions app
 * produces records; the CLI, the devstack's checks and the analysts read them from Cosmos DB and the cold
 * files. Exactly one of `body` / `bodyBase64` is present.
 */
import { createHash } from 'node:crypto';

export interface TelemetryRecord {
  /**
   * `{gatewayId}:{origin}:{n}` for `batch/v2` envelope readings (the same when the envelope is re-sent),
   * else `{partition}-{sequenceNumber}-{index}` (the same on a redelivery). See `envelopeRecordId`.
   */
  id: string;
  /** The device that measured it: the leaf behind the edge module's listener, else the hub identity. */
  deviceId: string;
  /** Envelope readings: the IoT Edge device whose module sent the envelope. */
  gatewayId?: string;
  /** The sending module identity (`iothub-connection-module-id`). */
  moduleId?: string;
  /** edgeHub input: the module that sent the reading to ours. */
  sourceModule?: string;
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

/** BatchPutMessage's messageId limit; record ids are message ids, so they stay within it. */
export const MAX_RECORD_ID_LENGTH = 128;
/** Cosmos DB's id limit (the `latest:` documents). */
export const MAX_COSMOS_ID_LENGTH = 255;

/** Characters a Cosmos id cannot hold (`/ \ ? #`), and `%` so the escaping stays reversible. */
const COSMOS_UNSAFE = /[%/\\?#]/g;

/** `s` with `% / \ ? #` written as `%25 %2F %5C %3F %23`: safe inside a Cosmos id. */
export function cosmosSafe(s: string): string {
  return s.replace(COSMOS_UNSAFE, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** `~` + 22 characters of base64url(SHA-256): what stands for a part too long to spell out. */
export function hashedPart(s: string): string {
  return `~${createHash('sha256').update(s, 'utf8').digest('base64url').slice(0, 22)}`;
}

/** The record id of a `batch/v2` reading: `{gatewayId}:{origin}:{n}`, a valid Cosmos id and message id. */
export function envelopeRecordId(gatewayId: string, origin: string, n: number): string {
  const tail = `:${origin}:${n}`;
  const spelled = cosmosSafe(gatewayId) + tail;
  return spelled.length <= MAX_RECORD_ID_LENGTH ? spelled : hashedPart(gatewayId) + tail;
}

/** The id (and partition key) of a device's `latest` document: `latest:{deviceId}`, escaped as above. */
export function latestDocumentId(deviceId: string): string {
  const spelled = `latest:${cosmosSafe(deviceId)}`;
  return spelled.length <= MAX_COSMOS_ID_LENGTH ? spelled : `latest:${hashedPart(deviceId)}`;
}
