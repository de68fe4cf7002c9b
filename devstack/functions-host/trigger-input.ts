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
  // The top-level names are written lower-cased here; the values that can hold keys of their own (the
  // properties) go through workerValue, which serialises and lower-cases in one pass.
  const triggerMetadata: Record<string, unknown> = {
    partitionContext: workerValue({ ...partition }),
    partitionKeyArray: events.map((e) => e.partitionKey ?? null),
    offsetArray: events.map((e) => String(e.offset)),
    sequenceNumberArray: events.map((e) => e.sequenceNumber),
    enqueuedTimeUtcArray: events.map((e) => e.enqueuedTimeUtc.toISOString()),
    propertiesArray: events.map((e) => workerValue(e.properties ?? {})),
    systemPropertiesArray: events.map((e) => workerValue(systemProperties(e))),
  };
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
    result[AMQP_PROPERTY_NAMES[key] ?? key] = value;
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

/** The Node worker's `toCamelCaseKey`: first character lower-cased (cached: the same few names recur). */
const lowered = new Map<string, string>();
function lowerFirst(key: string): string {
  let result = lowered.get(key);
  if (result === undefined) {
    result = key.charAt(0).toLowerCase() + key.slice(1);
    if (lowered.size < 10_000) lowered.set(key, result);
  }
  return result;
}

/**
 * A value as the worker hands it over: after the host's JSON serialisation (Buffers as base64, Dates as
 * ISO) and with every key at every depth first-letter lower-cased.
 */
export function workerValue(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(workerValue);
  const result: Record<string, unknown> = {};
  for (const key of Object.keys(value)) result[lowerFirst(key)] = workerValue((value as Record<string, unknown>)[key]);
  return result;
}
