/**
 * The Event Hubs trigger (cardinality many) as the Functions host delivers it → TelemetryEvent[]. Pure.
 *
 * Shape (PROTOCOLS.md §4.2): `messages[i]` is a Buffer (dataType binary) or a JSON-parsed value, and
 * `triggerMetadata` holds parallel arrays (`systemPropertiesArray`, `propertiesArray`,
 * `enqueuedTimeUtcArray` ISO strings, `sequenceNumberArray`, `offsetArray`) plus `partitionContext`.
 * The host lower-cases the first letter of every metadata key, so a device property `Channel` arrives
 * as `channel`; hyphenated keys are unaffected.
 */
import type { TelemetryEvent } from './record.js';

export type TriggerMetadata = Readonly<Record<string, unknown>>;

/** Each function declares this binding type: exact bytes, which record.ts parses itself. */
export const BINARY_DATA_TYPE = 'binary';

export function eventsFromTrigger(messages: unknown, metadata: TriggerMetadata | undefined): TelemetryEvent[] {
  const list = Array.isArray(messages) ? messages : [messages];
  const meta = metadata ?? {};
  const systemProperties = arrayOf(meta.systemPropertiesArray);
  const properties = arrayOf(meta.propertiesArray);
  const enqueued = arrayOf(meta.enqueuedTimeUtcArray);
  const sequenceNumbers = arrayOf(meta.sequenceNumberArray);
  const offsets = arrayOf(meta.offsetArray);
  const partitionContext = (meta.partitionContext ?? {}) as Record<string, unknown>;
  const partitionId = partitionContext.partitionId;
  // Record ids embed the partition; guessing one could make two partitions' readings overwrite each other.
  if ((typeof partitionId !== 'string' && typeof partitionId !== 'number') || partitionId === '') {
    throw new Error('Event Hubs trigger metadata has no partitionContext.partitionId; records cannot get their ids (is cardinality "many"?)');
  }
  const partition = String(partitionId);

  return list.map((body, i): TelemetryEvent => {
    const system = objectOf(systemProperties[i]);
    const sequenceNumber = Number(sequenceNumbers[i] ?? system.sequenceNumber ?? i);
    return {
      body: normaliseBody(body),
      properties: objectOf(properties[i]),
      systemProperties: system,
      partition,
      sequenceNumber,
      offset: String(offsets[i] ?? system.offset ?? ''),
      enqueuedTimeUtc: toIsoString(enqueued[i] ?? system.enqueuedTimeUtc ?? system['iothub-enqueuedtime']),
    };
  });
}

function normaliseBody(body: unknown): unknown {
  // The host's binary collection may arrive as ArrayBuffer views of any kind; give record.ts a Uint8Array.
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  return body;
}

function arrayOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function objectOf(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function toIsoString(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string' || typeof value === 'number') {
    const date = new Date(value);
    if (!Number.isNaN(date.getTime())) return date.toISOString();
  }
  return new Date(0).toISOString();
}
