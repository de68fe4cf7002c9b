/**
 * Events ⇄ AMQP messages. Outgoing: a stored event as the Event Hubs client expects it from the IoT Hub
 * built-in endpoint (PROTOCOLS.md §2.4, §2.7). Incoming: a producer transfer (message format 0x80013700,
 * a batch whose data sections each hold an encoded message, §2.5) as log inputs. Pure.
 */
import rhea from 'rhea';
import type { HubEventInput, HubSystemProperties, PartitionInfo, StoredEvent } from '../log-types.js';
import { fnv1a32 } from '../log/hash.js';

/** The batch envelope format the Event Hubs client uses for every send. */
export const BATCH_MESSAGE_FORMAT = 0x80013700;

const HUB_SET_ANNOTATIONS = new Set(['x-opt-sequence-number', 'x-opt-offset', 'x-opt-enqueued-time', 'x-opt-partition-key']);

type AmqpMessage = rhea.Message;

function decodeMessage(bytes: Buffer): AmqpMessage {
  return rhea.message.decode(bytes) as unknown as AmqpMessage;
}

/**
 * Fallback for events appended without connection annotations: a stable number-like string per
 * identity, shaped like IoT Hub's generation ids.
 */
export function syntheticGenerationId(deviceId: string, moduleId: string | undefined): string {
  const key = moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`;
  return `6370000000${String(fnv1a32(key)).padStart(10, '0')}`;
}

function iotHubAnnotations(event: StoredEvent): Record<string, unknown> {
  const annotations: Record<string, unknown> = {
    'iothub-connection-device-id': event.deviceId,
    'iothub-connection-auth-method': JSON.stringify({
      scope: event.moduleId === undefined ? 'device' : 'module',
      type: 'sas',
      issuer: 'iothub',
      acceptingIpFilterRule: null,
    }),
    'iothub-connection-auth-generation-id': syntheticGenerationId(event.deviceId, event.moduleId),
    'iothub-enqueuedtime': new Date(event.enqueuedTimeUtc),
    'iothub-message-source': event.messageSource,
  };
  if (event.moduleId !== undefined) annotations['iothub-connection-module-id'] = event.moduleId;
  if (event.systemProperties.component !== undefined) annotations['dt-subject'] = event.systemProperties.component;
  return annotations;
}

function amqpProperties(system: HubSystemProperties): Partial<AmqpMessage> {
  const properties: Partial<AmqpMessage> = {};
  if (system.messageId !== undefined) properties.message_id = system.messageId;
  if (system.correlationId !== undefined) properties.correlation_id = system.correlationId;
  // user_id is binary in AMQP (and on the real endpoint).
  if (system.userId !== undefined) (properties as { user_id?: Buffer }).user_id = Buffer.from(system.userId, 'utf8');
  if (system.contentType !== undefined) properties.content_type = system.contentType;
  if (system.contentEncoding !== undefined) properties.content_encoding = system.contentEncoding;
  if (system.expiryTimeUtc !== undefined) {
    const expiry = Date.parse(system.expiryTimeUtc);
    if (Number.isFinite(expiry)) properties.absolute_expiry_time = new Date(expiry);
  }
  return properties;
}

/** The delivery annotations of `com.microsoft:enable-receiver-runtime-metric`. */
export function runtimeMetricAnnotations(info: PartitionInfo, nowMs: number): Record<string, unknown> {
  return {
    last_enqueued_offset: info.lastOffset,
    last_enqueued_sequence_number: rhea.types.wrap_long(info.lastSequenceNumber),
    last_enqueued_time_utc: new Date(info.lastEnqueuedTimeUtc),
    runtime_info_retrieval_time_utc: new Date(nowMs),
  };
}

/** A stored event as delivered to a consumer. */
export function toAmqpMessage(event: StoredEvent, deliveryAnnotations?: Record<string, unknown>): AmqpMessage {
  // Hub-stamped annotations first; what the device side recorded for the connection wins over the
  // synthetic fallbacks; the log's own position annotations win over everything. (No `delete`: it
  // would turn this hot object into a slow dictionary.)
  const annotations: Record<string, unknown> = event.messageSource !== undefined ? iotHubAnnotations(event) : {};
  if (event.annotations) {
    for (const key in event.annotations) {
      if (!HUB_SET_ANNOTATIONS.has(key)) annotations[key] = event.annotations[key];
    }
  }
  annotations['x-opt-sequence-number'] = rhea.types.wrap_long(event.sequenceNumber);
  annotations['x-opt-offset'] = event.offset;
  annotations['x-opt-enqueued-time'] = new Date(event.enqueuedTimeUtc);
  if (event.partitionKey !== undefined) annotations['x-opt-partition-key'] = event.partitionKey;
  const message: AmqpMessage = {
    ...amqpProperties(event.systemProperties),
    message_annotations: annotations,
    body: rhea.message.data_section(event.body),
  } as AmqpMessage;
  if (Object.keys(event.applicationProperties).length > 0) message.application_properties = event.applicationProperties;
  if (deliveryAnnotations) message.delivery_annotations = deliveryAnnotations;
  return message;
}

// Every consumer group gets the same bytes for an event: encode once per in-memory event.
const encodedEvents = new WeakMap<StoredEvent, Buffer>();

/** The AMQP encoding of a delivered event (without delivery annotations), cached per event object. */
export function encodeEvent(event: StoredEvent): Buffer {
  let bytes = encodedEvents.get(event);
  if (!bytes) {
    bytes = rhea.message.encode(toAmqpMessage(event));
    encodedEvents.set(event, bytes);
  }
  return bytes;
}

interface DataSection {
  typecode: number;
  content: Buffer | Buffer[];
  multiple?: boolean;
}

function isDataSection(body: unknown): body is DataSection {
  return typeof body === 'object' && body !== null && (body as DataSection).typecode === 0x75;
}

function bodyBytes(body: unknown): Buffer {
  if (isDataSection(body)) {
    const content = body.content;
    return Array.isArray(content) ? Buffer.concat(content) : Buffer.from(content);
  }
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body === undefined || body === null) return Buffer.alloc(0);
  return Buffer.from(JSON.stringify(body), 'utf8');
}

function idString(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return String(value);
}

/** One message a producer sent, as a log input (no device: these are plain Event Hubs events). */
export function eventFromAmqpMessage(message: AmqpMessage): HubEventInput {
  const annotations: Record<string, unknown> = { ...(message.message_annotations as Record<string, unknown> | undefined) };
  const partitionKey = annotations['x-opt-partition-key'];
  for (const key of HUB_SET_ANNOTATIONS) delete annotations[key];
  const systemProperties: HubSystemProperties = {};
  const messageId = idString(message.message_id);
  if (messageId !== undefined) systemProperties.messageId = messageId;
  const correlationId = idString(message.correlation_id);
  if (correlationId !== undefined) systemProperties.correlationId = correlationId;
  const userId = idString(message.user_id);
  if (userId !== undefined) systemProperties.userId = userId;
  if (typeof message.content_type === 'string') systemProperties.contentType = message.content_type;
  if (typeof message.content_encoding === 'string') systemProperties.contentEncoding = message.content_encoding;
  return {
    deviceId: '',
    body: bodyBytes(message.body),
    systemProperties,
    // Typed values (numbers, booleans, dates) are kept as sent; the log stores them AMQP-encoded.
    applicationProperties: { ...(message.application_properties as Record<string, string> | undefined) },
    ...(typeof partitionKey === 'string' ? { partitionKey } : {}),
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
}

/**
 * The events of one producer transfer: a batch envelope (raw bytes, format 0x80013700) holding one
 * encoded message per data section, or (format 0) a single plain message.
 */
export function eventsFromTransfer(payload: Buffer | AmqpMessage, format: number | undefined): {
  events: HubEventInput[];
  envelopePartitionKey: string | undefined;
} {
  if (!Buffer.isBuffer(payload)) {
    const event = eventFromAmqpMessage(payload);
    return { events: [event], envelopePartitionKey: event.partitionKey };
  }
  if (format !== BATCH_MESSAGE_FORMAT) throw new Error(`unsupported message format ${String(format)}`);
  const envelope = decodeMessage(payload);
  const key = (envelope.message_annotations as Record<string, unknown> | undefined)?.['x-opt-partition-key'];
  const body: unknown = envelope.body;
  const sections: Buffer[] = isDataSection(body)
    ? Array.isArray(body.content)
      ? body.content
      : [body.content]
    : [];
  return {
    events: sections.map((section) => eventFromAmqpMessage(decodeMessage(section))),
    envelopePartitionKey: typeof key === 'string' ? key : undefined,
  };
}
