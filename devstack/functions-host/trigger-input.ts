/**
 * Received events → the Event Hubs trigger's arguments (cardinality many), shaped as the Functions host
 * (the .NET Event Hubs extension + the Node worker) delivers them (PROTOCOLS.md §4.2). Pure.
 *
 * - `messages[i]`: a Buffer for `dataType: 'binary'`; otherwise the body as UTF-8 text through
 *   JSON.parse, falling back to the raw string (the worker's conversion);
 * - `triggerMetadata`: `systemPropertiesArray` (.NET names: hyphenated AMQP properties such as
 *   `message-id`, `content-type`, the message annotations such as `iothub-connection-device-id`, and
 *   `SequenceNumber`/`Offset`/`PartitionKey`/`EnqueuedTimeUtc`), `propertiesArray`, `enqueuedTimeUtcArray`
 *   (ISO strings), `sequenceNumberArray`, `offsetArray` (strings), `partitionKeyArray`, `partitionContext`
 *   — every key at every depth with its first letter lower-cased, as the worker does.
 */
import type { ReceivedEventData } from '@azure/event-hubs';

export interface PartitionInfo {
  readonly fullyQualifiedNamespace: string;
  readonly eventHubName: string;
  readonly consumerGroup: string;
  readonly partitionId: string;
}

export interface TriggerInput {
  readonly messages: unknown[];
  readonly triggerMetadata: Record<string, unknown>;
}

/** The JS client's names for AMQP message properties → the .NET client's (AMQP spec) names. */
const AMQP_PROPERTY_NAMES: Readonly<Record<string, string>> = {
  messageId: 'message-id',
  userId: 'user-id',
  to: 'to',
  subject: 'subject',
  replyTo: 'reply-to',
  correlationId: 'correlation-id',
  contentType: 'content-type',
  contentEncoding: 'content-encoding',
  absoluteExpiryTime: 'absolute-expiry-time',
  creationTime: 'creation-time',
  groupId: 'group-id',
  groupSequence: 'group-sequence',
  replyToGroupId: 'reply-to-group-id',
};

export function toTriggerInput(events: readonly ReceivedEventData[], partition: PartitionInfo, dataType: string | undefined): TriggerInput {
  const messages = events.map((event) => toMessage(event.body, dataType));
  const triggerMetadata = lowerFirstDeep({
    PartitionContext: { ...partition },
    PartitionKeyArray: events.map((e) => e.partitionKey ?? null),
    OffsetArray: events.map((e) => String(e.offset)),
    SequenceNumberArray: events.map((e) => e.sequenceNumber),
    EnqueuedTimeUtcArray: events.map((e) => e.enqueuedTimeUtc.toISOString()),
    PropertiesArray: events.map((e) => jsonSafe(e.properties ?? {})),
    SystemPropertiesArray: events.map((e) => systemProperties(e)),
  }) as Record<string, unknown>;
  return { messages, triggerMetadata };
}

function toMessage(body: unknown, dataType: string | undefined): unknown {
  const bytes = bodyBytes(body);
  if (dataType === 'binary') return bytes;
  const text = bytes.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function bodyBytes(body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body === undefined || body === null) return Buffer.alloc(0);
  return Buffer.from(JSON.stringify(body), 'utf8');
}

function systemProperties(event: ReceivedEventData): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event.systemProperties ?? {})) {
    result[AMQP_PROPERTY_NAMES[key] ?? key] = jsonSafe(value);
  }
  result['x-opt-sequence-number'] = event.sequenceNumber;
  result['x-opt-offset'] = String(event.offset);
  result['x-opt-enqueued-time'] = event.enqueuedTimeUtc.toISOString();
  if (event.partitionKey) result['x-opt-partition-key'] = event.partitionKey;
  result.SequenceNumber = event.sequenceNumber;
  result.Offset = String(event.offset);
  result.PartitionKey = event.partitionKey ?? null;
  result.EnqueuedTimeUtc = event.enqueuedTimeUtc.toISOString();
  return result;
}

/** What a value looks like after the host's JSON serialisation: Buffers as base64, Dates as ISO. */
function jsonSafe(value: unknown): unknown {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonSafe(v)]));
  }
  return value;
}

/** The Node worker's `toCamelCaseKey`: first character lower-cased, at every depth. */
export function lowerFirstDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(lowerFirstDeep);
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.charAt(0).toLowerCase() + k.slice(1), lowerFirstDeep(v)]));
  }
  return value;
}
