/**
 * Event Hubs event → records (docs/contracts.md §4–5). Pure: no I/O, no clock.
 *
 * Invariants:
 * - an event is read as an edge batch envelope only when it declares `iot-ingest-schema` AND comes from a
 *   trusted module identity (`EDGE_MODULE_IDS`); anything else — a device's body shaped like an
 *   envelope included — is one reading (index 0);
 * - `batch/v2` readings get `id = "{gatewayId}:{origin}:{n}"` (the same when the module re-sends the
 *   batch after a restart) and `deviceId` = the leaf that published them; plain events and `batch/v1`
 *   get `"{partition}-{sequenceNumber}-{index}"` (the same on a redelivery);
 * - JSON payloads stay JSON (`body`), whatever their spacing; anything else is `bodyBase64`; the
 *   device's exact payload bytes stay recoverable (`payload`, what the forwarder sends);
 * - limits are checked on the raw bytes before anything is parsed (size, nesting depth), so no input
 *   can make JSON.parse or JSON.stringify throw or the work grow faster than its size;
 * - never throws: what cannot be read becomes one dead-letter item per event (its body once, plus the
 *   positions and reasons of its bad entries), and the rest of the event and batch is still read.
 */
import { CHANNEL_PROPERTY, envelopeRecordId, ORIGIN_PATTERN, PAYLOAD_MEMBERS, SCHEMA_BATCH_V1, SCHEMA_BATCH_V2, SCHEMA_PROPERTY } from '@iot-ingest/contracts';
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

/** A bad entry of an envelope whose other entries were read. */
export interface EntryProblem {
  readonly index: number;
  readonly reason: string;
}

/** An event (or some of its envelope entries) that could not be read, and why: one per event. */
export interface MalformedEvent {
  readonly partition: string;
  readonly sequenceNumber: number;
  readonly offset: string;
  readonly enqueuedAt: string;
  readonly deviceId: string;
  readonly reason: string;
  /** Envelopes only: the entries that could not be read (the others became readings). */
  readonly entries?: readonly EntryProblem[];
  readonly properties: Record<string, unknown>;
  /** The event body, base64 (so nothing is lost) — once per event, however many entries were bad. */
  readonly bodyBase64: string;
}

export interface Normalized {
  readonly readings: Reading[];
  readonly malformed: MalformedEvent[];
}

export interface RecordOptions {
  /** `IotAnalyticsDefaultChannelName`: the channel when neither the message nor the envelope names one. */
  readonly defaultChannel: string | undefined;
  /** `EDGE_MODULE_IDS`: module identities whose envelopes are read as envelopes. */
  readonly trustedModules: ReadonlySet<string>;
}

/** IoT Hub's device-to-cloud message limit: no real event body is larger. */
export const MAX_EVENT_BYTES = 262_144;
/** Deeper JSON is refused before parsing (JSON.stringify of very deep values throws). */
export const MAX_JSON_DEPTH = 64;
/** An envelope never needs more: 256 KB of the smallest entries is ~5,000. */
export const MAX_ENVELOPE_ENTRIES = 5_000;
/** A leaf or module name longer than this is not an identity. */
const MAX_NAME_LENGTH = 1_024;

const UNKNOWN_DEVICE = 'unknown';

/** Normalise one event. Never throws. */
export function toReadings(event: TelemetryEvent, options: RecordOptions): Normalized {
  try {
    return readEvent(event, options);
  } catch (err) {
    // A bug must cost one event, not the batch: dead-letter it with what went wrong.
    return { readings: [], malformed: [malformedOf(event, `could not be read: ${(err as Error)?.message ?? String(err)}`)] };
  }
}

/** Normalise a batch of events, in order. */
export function toReadingsAll(events: readonly TelemetryEvent[], options: RecordOptions): Normalized {
  const readings: Reading[] = [];
  const malformed: MalformedEvent[] = [];
  for (const event of events) {
    const one = toReadings(event, options);
    for (const r of one.readings) readings.push(r);
    for (const m of one.malformed) malformed.push(m);
  }
  return { readings, malformed };
}

function readEvent(event: TelemetryEvent, options: RecordOptions): Normalized {
  const bytes = bodyBytes(event.body);
  if (bytes === undefined) return bad(event, `the body is JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  if (bytes.byteLength > MAX_EVENT_BYTES) {
    return bad(event, `the body is ${bytes.byteLength} bytes; the limit is ${MAX_EVENT_BYTES} (IoT Hub's message size)`);
  }
  const base = baseFields(event);
  const propertyChannel = stringOrUndefined(event.properties[CHANNEL_PROPERTY]);
  const declared = event.properties[SCHEMA_PROPERTY];
  const trusted = base.moduleId !== undefined && options.trustedModules.has(base.moduleId);

  if (declared === undefined || !trusted) {
    const parsed = parseJsonBytes(bytes);
    if (parsed.kind === 'too-deep') return bad(event, `the body is JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    return { readings: [plainReading(event, base, bytes, parsed, propertyChannel ?? options.defaultChannel ?? null)], malformed: [] };
  }
  if (declared !== SCHEMA_BATCH_V2 && declared !== SCHEMA_BATCH_V1) {
    return bad(event, `unknown ${SCHEMA_PROPERTY} '${String(declared).slice(0, 64)}' (expected '${SCHEMA_BATCH_V2}' or '${SCHEMA_BATCH_V1}')`);
  }
  const parsed = parseJsonBytes(bytes);
  if (parsed.kind === 'too-deep') return bad(event, `the envelope is JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  if (parsed.kind !== 'json') return bad(event, 'envelope body is not JSON');
  const version = declared === SCHEMA_BATCH_V2 ? 2 : 1;
  const shape = envelopeShape(parsed.value, version);
  if (typeof shape === 'string') return bad(event, shape);

  const channel = propertyChannel ?? (shape.channel === '' ? undefined : shape.channel) ?? options.defaultChannel ?? null;
  const gatewayId = base.deviceId;
  const readings: Reading[] = [];
  const problems: EntryProblem[] = [];
  const seen = new Set<number>();
  shape.messages.forEach((raw, index) => {
    const entry = version === 2 ? entryV2(raw, shape.devices) : entryV1(raw);
    if (typeof entry === 'string') {
      problems.push({ index, reason: entry });
      return;
    }
    if (entry.n !== undefined) {
      if (seen.has(entry.n)) {
        problems.push({ index, reason: `n ${entry.n} repeats an earlier entry` });
        return;
      }
      seen.add(entry.n);
    }
    const record: TelemetryRecord = {
      id:
        entry.n !== undefined && shape.origin !== undefined
          ? envelopeRecordId(gatewayId, shape.origin, entry.n)
          : `${event.partition}-${event.sequenceNumber}-${index}`,
      deviceId: entry.deviceId ?? gatewayId,
      gatewayId,
      ...(base.moduleId === undefined ? {} : { moduleId: base.moduleId }),
      ...(entry.sourceModule === undefined ? {} : { sourceModule: entry.sourceModule }),
      channel,
      ...(entry.requestId === undefined ? {} : { requestId: entry.requestId }),
      ts: (entry.body.kind === 'json' ? readingTimestamp(entry.body.value) : undefined) ?? base.enqueuedAt,
      enqueuedAt: base.enqueuedAt,
      partition: event.partition,
      sequenceNumber: event.sequenceNumber,
      index,
      // One object for the event's readings: an envelope's entries do not copy it each.
      properties: base.properties,
      ...(entry.body.kind === 'json' ? { body: entry.body.value } : { bodyBase64: entry.body.base64 }),
    };
    readings.push({ record, payload: entry.payload });
  });
  if (problems.length === 0) return { readings, malformed: [] };
  const first = problems[0] as EntryProblem;
  const reason =
    problems.length === 1
      ? `messages[${first.index}]: ${first.reason}`
      : `${problems.length} of ${shape.messages.length} entries cannot be read; first messages[${first.index}]: ${first.reason}`;
  return { readings, malformed: [malformedOf(event, reason, problems)] };
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
    ms = toMsFromNumeric(value);
  } else if (typeof value === 'string' && value.trim() !== '' && value.length <= 64) {
    ms = /^-?\d+(\.\d+)?$/.test(value.trim()) ? toMsFromNumeric(Number(value)) : Date.parse(value);
  } else {
    return undefined;
  }
  if (!Number.isFinite(ms)) return undefined;
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** Epoch seconds until year 5138; anything larger is milliseconds. */
function toMsFromNumeric(value: number): number {
  return Math.abs(value) < 1e11 ? value * 1000 : value;
}

interface BaseFields {
  deviceId: string;
  moduleId: string | undefined;
  enqueuedAt: string;
  properties: Record<string, unknown>;
}

function baseFields(event: TelemetryEvent): BaseFields {
  const sys = event.systemProperties;
  const enqueued = new Date(event.enqueuedTimeUtc);
  return {
    deviceId: stringOrUndefined(sys['iothub-connection-device-id']) ?? UNKNOWN_DEVICE,
    moduleId: stringOrUndefined(sys['iothub-connection-module-id']),
    enqueuedAt: Number.isNaN(enqueued.getTime()) ? String(event.enqueuedTimeUtc) : enqueued.toISOString(),
    properties: { ...event.properties },
  };
}

function bad(event: TelemetryEvent, reason: string): Normalized {
  return { readings: [], malformed: [malformedOf(event, reason)] };
}

function malformedOf(event: TelemetryEvent, reason: string, entries?: readonly EntryProblem[]): MalformedEvent {
  const enqueued = new Date(event.enqueuedTimeUtc);
  let bodyBase64: string;
  try {
    bodyBase64 = Buffer.from(bodyBytes(event.body) ?? Buffer.from(String(event.body))).toString('base64');
  } catch {
    bodyBase64 = '';
  }
  return {
    partition: event.partition,
    sequenceNumber: event.sequenceNumber,
    offset: event.offset,
    enqueuedAt: Number.isNaN(enqueued.getTime()) ? String(event.enqueuedTimeUtc) : enqueued.toISOString(),
    deviceId: stringOrUndefined(event.systemProperties['iothub-connection-device-id']) ?? UNKNOWN_DEVICE,
    reason,
    ...(entries === undefined ? {} : { entries }),
    properties: { ...event.properties },
    bodyBase64,
  };
}

// ---- JSON, bounded ---------------------------------------------------------------------------------

type ParsedJson = { kind: 'json'; value: unknown } | { kind: 'not-json' } | { kind: 'too-deep' };

/**
 * The deepest nesting of `[`/`{` in JSON-ish text, stopping once past `limit` (strings skipped). O(n), no
 * recursion: safe on any input. Only nesting matters here; JSON.parse still judges validity.
 */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

function parseJsonText(text: string): ParsedJson {
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) return { kind: 'too-deep' };
  try {
    return { kind: 'json', value: JSON.parse(text) as unknown };
  } catch {
    return { kind: 'not-json' };
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseJsonBytes(bytes: Uint8Array): ParsedJson {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { kind: 'not-json' };
  }
  return parseJsonText(text);
}

/** The event's bytes; undefined for a host-parsed value too deep to serialise. */
function bodyBytes(body: unknown): Uint8Array | undefined {
  if (body instanceof Uint8Array) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body === undefined || body === null) return new Uint8Array(0);
  // A host-parsed JSON value: its canonical serialisation is the best recoverable form.
  if (valueDepthExceeds(body, MAX_JSON_DEPTH)) return undefined;
  return Buffer.from(JSON.stringify(body) ?? '', 'utf8');
}

/** Whether a parsed value nests deeper than `limit` (iterative: no stack to overflow). */
function valueDepthExceeds(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (depth > limit) return true;
    for (const inner of Object.values(v as object)) stack.push([inner, depth + 1]);
  }
  return false;
}

// ---- plain events ----------------------------------------------------------------------------------

function plainReading(event: TelemetryEvent, base: BaseFields, bytes: Uint8Array, parsed: ParsedJson, channel: string | null): Reading {
  const sys = event.systemProperties;
  const requestId = stringOrUndefined(event.properties.requestId) ?? stringOrUndefined(sys['message-id']);
  const record: TelemetryRecord = {
    id: `${event.partition}-${event.sequenceNumber}-0`,
    deviceId: base.deviceId,
    ...(base.moduleId === undefined ? {} : { moduleId: base.moduleId }),
    channel,
    ...(requestId === undefined ? {} : { requestId }),
    ts: (parsed.kind === 'json' ? readingTimestamp(parsed.value) : undefined) ?? base.enqueuedAt,
    enqueuedAt: base.enqueuedAt,
    partition: event.partition,
    sequenceNumber: event.sequenceNumber,
    index: 0,
    properties: base.properties,
    ...(parsed.kind === 'json' ? { body: parsed.value } : { bodyBase64: Buffer.from(bytes).toString('base64') }),
  };
  return { record, payload: bytes };
}

// ---- envelopes -------------------------------------------------------------------------------------

interface EnvelopeShape {
  readonly channel: string;
  readonly origin: string | undefined;
  /** `batch/v2`: the publishing devices its entries name by position (`d`). */
  readonly devices: readonly string[];
  readonly messages: readonly unknown[];
}

function envelopeShape(value: unknown, version: 1 | 2): EnvelopeShape | string {
  const expected =
    version === 2 ? '{"v":2,"channel":string,"origin":16 hex,"messages":[…]}' : '{"v":1,"channel":string,"messages":[…]}';
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return `envelope body is not ${expected}`;
  const object = value as Record<string, unknown>;
  if (object.v !== version || typeof object.channel !== 'string' || !Array.isArray(object.messages)) {
    return `envelope body is not ${expected}`;
  }
  if (version === 2 && (typeof object.origin !== 'string' || !ORIGIN_PATTERN.test(object.origin))) {
    return `envelope origin is not 16 lowercase hex characters`;
  }
  if (object.messages.length > MAX_ENVELOPE_ENTRIES) {
    return `the envelope has ${object.messages.length} entries; the limit is ${MAX_ENVELOPE_ENTRIES}`;
  }
  const devices = version === 2 && object.devices !== undefined ? object.devices : [];
  if (!Array.isArray(devices) || devices.length > MAX_ENVELOPE_ENTRIES || !devices.every((d) => typeof d === 'string' && d !== '' && d.length <= MAX_NAME_LENGTH)) {
    return `envelope devices is not a list of device names (1 to ${MAX_NAME_LENGTH} characters)`;
  }
  return { channel: object.channel, origin: version === 2 ? (object.origin as string) : undefined, devices: devices as string[], messages: object.messages };
}

type EntryBody = { kind: 'json'; value: unknown } | { kind: 'base64'; base64: string };

interface Entry {
  readonly n: number | undefined;
  readonly requestId: string | undefined;
  readonly deviceId: string | undefined;
  readonly sourceModule: string | undefined;
  readonly body: EntryBody;
  readonly payload: Uint8Array;
}

const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function optionalString(message: Record<string, unknown>, key: string, maxLength: number): string | undefined | Error {
  const value = message[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') return new Error(`${key} is not a string`);
  if (value === '' || value.length > maxLength) return new Error(`${key} must be 1 to ${maxLength} characters`);
  return value;
}

/** One `batch/v2` entry → its reading's parts, or why it cannot be read. */
function entryV2(raw: unknown, devices: readonly string[]): Entry | string {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return 'not an object';
  const message = raw as Record<string, unknown>;
  const n = message.n;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return 'n is not a whole number ≥ 0';
  if (typeof message.id !== 'string') return 'id is not a string';
  const requestId = message.requestId === undefined || message.requestId === null ? undefined : message.requestId;
  if (requestId !== undefined && typeof requestId !== 'string') return 'requestId is not a string';
  const d = message.d;
  if (d !== undefined && (typeof d !== 'number' || !Number.isInteger(d) || d < 0 || d >= devices.length)) {
    return `d is not a position in the envelope's devices (${devices.length})`;
  }
  const deviceId = d === undefined ? undefined : devices[d];
  const sourceModule = optionalString(message, 'sourceModule', MAX_NAME_LENGTH);
  if (sourceModule instanceof Error) return sourceModule.message;
  const members = PAYLOAD_MEMBERS.filter((key) => Object.hasOwn(message, key));
  if (members.length !== 1) return `needs exactly one of ${PAYLOAD_MEMBERS.map((k) => `"${k}"`).join(', ')}`;
  const payload = payloadOf(members[0] as (typeof PAYLOAD_MEMBERS)[number], message);
  if (typeof payload === 'string') return payload;
  return { n, requestId, deviceId, sourceModule, ...payload };
}

/** One `batch/v1` entry (modules in the field). */
function entryV1(raw: unknown): Entry | string {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return 'not an object';
  const message = raw as Record<string, unknown>;
  const requestId = message.requestId === undefined || message.requestId === null ? undefined : message.requestId;
  if (requestId !== undefined && typeof requestId !== 'string') return 'requestId is not a string';
  const hasJson = Object.hasOwn(message, 'json');
  if (hasJson === Object.hasOwn(message, 'base64')) return 'needs exactly one of "json" and "base64"';
  const payload = payloadOf(hasJson ? 'json' : 'base64', message);
  if (typeof payload === 'string') return payload;
  return { n: undefined, requestId, deviceId: undefined, sourceModule: undefined, ...payload };
}

function payloadOf(member: (typeof PAYLOAD_MEMBERS)[number], message: Record<string, unknown>): Pick<Entry, 'body' | 'payload'> | string {
  const value = message[member];
  switch (member) {
    case 'json':
      // [contracts §4: json entries re-serialise to the device's bytes] (depth is bounded: the event's was)
      return { body: { kind: 'json', value }, payload: Buffer.from(JSON.stringify(value) ?? 'null', 'utf8') };
    case 'jsonText': {
      if (typeof value !== 'string') return '"jsonText" is not a string';
      const parsed = parseJsonText(value);
      if (parsed.kind === 'too-deep') return `"jsonText" is nested deeper than ${MAX_JSON_DEPTH} levels`;
      if (parsed.kind !== 'json') return '"jsonText" is not JSON';
      return { body: { kind: 'json', value: parsed.value }, payload: Buffer.from(value, 'utf8') };
    }
    case 'base64Message':
      if (typeof value !== 'string' || value === '' || !CANONICAL_BASE64.test(value)) return '"base64Message" is not base64';
      // The connector sends the base64 string itself; the record keeps it as the data it encodes.
      return { body: { kind: 'base64', base64: value }, payload: Buffer.from(value, 'ascii') };
    case 'base64':
      if (typeof value !== 'string' || !CANONICAL_BASE64.test(value)) return '"base64" is not base64';
      return { body: { kind: 'base64', base64: value }, payload: Buffer.from(value, 'base64') };
  }
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
