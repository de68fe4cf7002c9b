/**
 * Event Hubs event → records (docs/contracts.md §4–5). Pure: no I/O, no clock.
 *
 * Invariants:
 * - `id = "{partition}-{sequenceNumber}-{index}"`: a redelivered event yields the same ids, so every
 *   writer is idempotent and a duplicate is recognisable.
 * - An edge batch envelope (`iot-ingest-schema: batch/v1`, or a body shaped `{"v":1,"channel","messages"}`)
 *   yields one record per message, `index` = its position; any other event is one reading (index 0).
 * - JSON bodies stay JSON (`body`); anything else is `bodyBase64`.
 * - The device's original payload bytes stay recoverable (`payload`): an envelope's `json` entry was
 *   chosen by the edge only when `JSON.stringify` reproduces the device's bytes (contracts §4).
 * - A malformed envelope never throws: it becomes a dead-letter item with its position.
 */
import { CHANNEL_PROPERTY, SCHEMA_BATCH_V1, SCHEMA_PROPERTY } from '@iot-ingest/contracts';
import type { TelemetryRecord } from '@iot-ingest/contracts';

export type { TelemetryRecord };

/** One Event Hubs event, as the trigger delivers it (see trigger.ts for the mapping from trigger metadata). */
export interface TelemetryEvent {
  /** Exact bytes (binary trigger), or a string, or an already-parsed JSON value (string trigger). */
  readonly body: unknown;
  /** Application properties. */
  readonly properties: Readonly<Record<string, unknown>>;
  /** System properties with .NET-style keys (`iothub-connection-device-id`, `message-id`, …). */
  readonly systemProperties: Readonly<Record<string, unknown>>;
  readonly partition: string;
  readonly sequenceNumber: number;
  readonly offset: string;
  /** ISO 8601, UTC. */
  readonly enqueuedTimeUtc: string;
}

/** A record plus the reading's original bytes (what the device sent; the forwarder sends exactly these). */
export interface Reading {
  readonly record: TelemetryRecord;
  readonly payload: Uint8Array;
}

/** Where a malformed event sits, and why it could not be read. */
export interface MalformedEvent {
  readonly partition: string;
  readonly sequenceNumber: number;
  readonly offset: string;
  readonly enqueuedAt: string;
  /** The envelope position when only one message of an envelope is bad. */
  readonly index?: number;
  readonly deviceId: string;
  readonly reason: string;
  readonly properties: Record<string, unknown>;
  /** The event body, base64 (so nothing is lost). */
  readonly bodyBase64: string;
}

export interface Normalized {
  readonly readings: Reading[];
  readonly malformed: MalformedEvent[];
}

export interface RecordOptions {
  /** `IotAnalyticsDefaultChannelName`: the channel when neither the message nor the envelope names one. */
  readonly defaultChannel: string | undefined;
}

const UNKNOWN_DEVICE = 'unknown';

/** Normalise one event. Never throws. */
export function toReadings(event: TelemetryEvent, options: RecordOptions): Normalized {
  const bytes = bodyBytes(event.body);
  const base = baseFields(event);
  const propertyChannel = stringOrUndefined(event.properties[CHANNEL_PROPERTY]);
  const parsed = parsedBody(event.body, bytes);

  const declared = event.properties[SCHEMA_PROPERTY];
  const looksLikeEnvelope = isEnvelopeShape(parsed.value);
  if (declared === undefined && !looksLikeEnvelope) {
    return { readings: [plainReading(event, base, bytes, parsed, propertyChannel ?? options.defaultChannel ?? null)], malformed: [] };
  }
  const malformed = (reason: string, index?: number): MalformedEvent => ({
    partition: event.partition,
    sequenceNumber: event.sequenceNumber,
    offset: event.offset,
    enqueuedAt: base.enqueuedAt,
    ...(index === undefined ? {} : { index }),
    deviceId: base.deviceId,
    reason,
    properties: { ...event.properties },
    bodyBase64: Buffer.from(bytes).toString('base64'),
  });
  if (declared !== undefined && declared !== SCHEMA_BATCH_V1) {
    return { readings: [], malformed: [malformed(`unknown ${SCHEMA_PROPERTY} '${String(declared)}' (expected '${SCHEMA_BATCH_V1}')`)] };
  }
  if (!parsed.ok) return { readings: [], malformed: [malformed('envelope body is not JSON')] };
  if (!looksLikeEnvelope) {
    return { readings: [], malformed: [malformed('envelope body is not {"v":1,"channel":string,"messages":[…]}')] };
  }
  const envelope = parsed.value as { channel: string; messages: unknown[] };
  const channel = propertyChannel ?? (envelope.channel === '' ? undefined : envelope.channel) ?? options.defaultChannel ?? null;
  const readings: Reading[] = [];
  const bad: MalformedEvent[] = [];
  envelope.messages.forEach((entry, index) => {
    const result = envelopeEntry(entry);
    if (typeof result === 'string') {
      bad.push(malformed(`messages[${index}]: ${result}`, index));
      return;
    }
    const record: TelemetryRecord = {
      id: `${event.partition}-${event.sequenceNumber}-${index}`,
      deviceId: base.deviceId,
      ...(base.moduleId === undefined ? {} : { moduleId: base.moduleId }),
      channel,
      ...(result.requestId === undefined ? {} : { requestId: result.requestId }),
      ts: readingTimestamp(result.json) ?? base.enqueuedAt,
      enqueuedAt: base.enqueuedAt,
      partition: event.partition,
      sequenceNumber: event.sequenceNumber,
      index,
      properties: { ...event.properties },
      ...(result.json === undefined ? { bodyBase64: Buffer.from(result.payload).toString('base64') } : { body: result.json }),
    };
    readings.push({ record, payload: result.payload });
  });
  return { readings, malformed: bad };
}

/** Normalise a batch of events, in order. */
export function toReadingsAll(events: readonly TelemetryEvent[], options: RecordOptions): Normalized {
  const readings: Reading[] = [];
  const malformed: MalformedEvent[] = [];
  for (const event of events) {
    const one = toReadings(event, options);
    readings.push(...one.readings);
    malformed.push(...one.malformed);
  }
  return { readings, malformed };
}

/** The payload's own timestamp (`ts`, `timestamp` or `time`; ISO string or epoch s/ms) as ISO, else undefined. */
export function readingTimestamp(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const object = body as Record<string, unknown>;
  for (const key of ['ts', 'timestamp', 'time']) {
    const iso = toIso(object[key]);
    if (iso !== undefined) return iso;
  }
  return undefined;
}

function toIso(value: unknown): string | undefined {
  let ms: number;
  if (typeof value === 'number' && Number.isFinite(value)) {
    // Epoch seconds until year 5138; anything larger is milliseconds.
    ms = Math.abs(value) < 1e11 ? value * 1000 : value;
  } else if (typeof value === 'string' && value.trim() !== '') {
    ms = /^-?\d+(\.\d+)?$/.test(value.trim()) ? toMsFromNumeric(Number(value)) : Date.parse(value);
  } else {
    return undefined;
  }
  if (!Number.isFinite(ms)) return undefined;
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function toMsFromNumeric(value: number): number {
  return Math.abs(value) < 1e11 ? value * 1000 : value;
}

interface BaseFields {
  deviceId: string;
  moduleId: string | undefined;
  enqueuedAt: string;
}

function baseFields(event: TelemetryEvent): BaseFields {
  const sys = event.systemProperties;
  const enqueued = new Date(event.enqueuedTimeUtc);
  return {
    deviceId: stringOrUndefined(sys['iothub-connection-device-id']) ?? UNKNOWN_DEVICE,
    moduleId: stringOrUndefined(sys['iothub-connection-module-id']),
    enqueuedAt: Number.isNaN(enqueued.getTime()) ? String(event.enqueuedTimeUtc) : enqueued.toISOString(),
  };
}

type Parsed = { ok: true; value: unknown } | { ok: false; value: undefined };

function parsedBody(body: unknown, bytes: Uint8Array): Parsed {
  if (!(body instanceof Uint8Array) && typeof body !== 'string') {
    // Already parsed by the host (string trigger): a JSON value.
    return body === undefined ? { ok: false, value: undefined } : { ok: true, value: body };
  }
  const text = decodeUtf8(bytes);
  if (text === undefined) return { ok: false, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, value: undefined };
  }
}

function plainReading(event: TelemetryEvent, base: BaseFields, bytes: Uint8Array, parsed: Parsed, channel: string | null): Reading {
  const sys = event.systemProperties;
  const requestId = stringOrUndefined(event.properties.requestId) ?? stringOrUndefined(sys['message-id']);
  const record: TelemetryRecord = {
    id: `${event.partition}-${event.sequenceNumber}-0`,
    deviceId: base.deviceId,
    ...(base.moduleId === undefined ? {} : { moduleId: base.moduleId }),
    channel,
    ...(requestId === undefined ? {} : { requestId }),
    ts: (parsed.ok ? readingTimestamp(parsed.value) : undefined) ?? base.enqueuedAt,
    enqueuedAt: base.enqueuedAt,
    partition: event.partition,
    sequenceNumber: event.sequenceNumber,
    index: 0,
    properties: { ...event.properties },
    ...(parsed.ok ? { body: parsed.value } : { bodyBase64: Buffer.from(bytes).toString('base64') }),
  };
  return { record, payload: bytes };
}

type Entry = { requestId: string | undefined; json: unknown; payload: Uint8Array };

/** One envelope message → its payload, or the reason it is malformed. */
function envelopeEntry(entry: unknown): Entry | string {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return 'not an object';
  const message = entry as Record<string, unknown>;
  const requestId = message.requestId === undefined || message.requestId === null ? undefined : message.requestId;
  if (requestId !== undefined && typeof requestId !== 'string') return 'requestId is not a string';
  const hasJson = Object.hasOwn(message, 'json');
  const hasBase64 = Object.hasOwn(message, 'base64');
  if (hasJson === hasBase64) return 'needs exactly one of "json" and "base64"';
  if (hasJson) {
    // [contracts §4: json entries re-serialise to the device's bytes]
    return { requestId, json: message.json, payload: Buffer.from(JSON.stringify(message.json), 'utf8') };
  }
  if (typeof message.base64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(message.base64) || message.base64.length % 4 !== 0) {
    return '"base64" is not base64';
  }
  return { requestId, json: undefined, payload: Buffer.from(message.base64, 'base64') };
}

function isEnvelopeShape(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const object = value as Record<string, unknown>;
  return object.v === 1 && typeof object.channel === 'string' && Array.isArray(object.messages);
}

function bodyBytes(body: unknown): Uint8Array {
  if (body instanceof Uint8Array) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body === undefined) return new Uint8Array(0);
  // A host-parsed JSON value: its canonical serialisation is the best recoverable form.
  return Buffer.from(JSON.stringify(body), 'utf8');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
