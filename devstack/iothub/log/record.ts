/**
 * One hub event as the payload of a durable-log frame (the frame itself, with the sequence number,
 * enqueued time and checksums, is @iot-ingest/durable-log's). Pure: no I/O.
 *
 * Payload (version 2):
 *   u8 version
 *   u32 metaBytes  | meta: UTF-8 JSON of the event's string fields
 *   u32 amqpBytes  | amqp: an AMQP-encoded message holding only typed extras (message annotations,
 *                    application properties that are not all strings), empty for device telemetry
 *   body: the rest, raw bytes
 */
import rhea from 'rhea';
import { allocFrame, FRAME_HEADER_BYTES } from '@iot-ingest/durable-log';
import type { HubEventInput, HubSystemProperties } from '../log-types.js';

export const PAYLOAD_VERSION = 2;
const FIXED_PAYLOAD_BYTES = 1 + 4 + 4;

interface Meta {
  d: string;
  m?: string;
  s?: HubSystemProperties;
  a?: Record<string, string>;
  /** Message annotations when all are strings (the device side's auth method and generation id). */
  n?: Record<string, string>;
  k?: string;
  src?: string;
}

interface AmqpExtras {
  application_properties?: Record<string, unknown>;
  message_annotations?: Record<string, unknown>;
}

function allStrings(record: Readonly<Record<string, unknown>>): boolean {
  for (const key in record) if (typeof record[key] !== 'string') return false;
  return true;
}

function hasKeys(record: object | undefined): boolean {
  if (record === undefined) return false;
  for (const _ in record) return true;
  return false;
}

/** A durable-log frame (header left to the log) whose payload is `event`. */
export function encodeEventFrame(event: HubEventInput): Buffer {
  const meta: Meta = { d: event.deviceId };
  if (event.moduleId !== undefined) meta.m = event.moduleId;
  if (hasKeys(event.systemProperties)) meta.s = event.systemProperties;
  if (event.partitionKey !== undefined) meta.k = event.partitionKey;
  if (event.messageSource !== undefined) meta.src = event.messageSource;
  const extras: AmqpExtras = {};
  // Device telemetry has string user properties only (JSON); Event Hubs senders may send typed values,
  // which AMQP encoding keeps (numbers, booleans, timestamps).
  if (allStrings(event.applicationProperties)) {
    if (hasKeys(event.applicationProperties)) meta.a = event.applicationProperties as Record<string, string>;
  } else {
    extras.application_properties = { ...event.applicationProperties };
  }
  if (event.annotations && hasKeys(event.annotations)) {
    if (allStrings(event.annotations)) meta.n = event.annotations as Record<string, string>;
    else extras.message_annotations = { ...event.annotations };
  }
  const metaJson = JSON.stringify(meta);
  const metaBytes = Buffer.byteLength(metaJson, 'utf8');
  const amqpBytes =
    extras.application_properties || extras.message_annotations ? rhea.message.encode(extras) : Buffer.alloc(0);
  const frame = allocFrame(FIXED_PAYLOAD_BYTES + metaBytes + amqpBytes.length + event.body.length);
  let at = FRAME_HEADER_BYTES;
  at = frame.writeUInt8(PAYLOAD_VERSION, at);
  at = frame.writeUInt32BE(metaBytes, at);
  at += frame.write(metaJson, at, metaBytes, 'utf8');
  at = frame.writeUInt32BE(amqpBytes.length, at);
  at += amqpBytes.copy(frame, at);
  event.body.copy(frame, at);
  return frame;
}

/** The event a frame's payload holds. */
export function decodeEvent(payload: Buffer): HubEventInput {
  const version = payload.readUInt8(0);
  if (version !== PAYLOAD_VERSION) throw new Error(`log record: unknown payload version ${version}`);
  let p = 1;
  const metaBytes = payload.readUInt32BE(p);
  p += 4;
  const meta = JSON.parse(payload.toString('utf8', p, p + metaBytes)) as Meta;
  p += metaBytes;
  const amqpBytes = payload.readUInt32BE(p);
  p += 4;
  const extras: AmqpExtras =
    amqpBytes > 0 ? (rhea.message.decode(payload.subarray(p, p + amqpBytes)) as AmqpExtras) : {};
  p += amqpBytes;
  // Copy: the payload is a view into a shared read buffer; an event must not pin it.
  const body = Buffer.from(payload.subarray(p));
  const applicationProperties = (extras.application_properties ?? meta.a ?? {}) as Record<string, string>;
  return {
    deviceId: meta.d,
    body,
    systemProperties: meta.s ?? {},
    applicationProperties,
    ...(meta.m !== undefined ? { moduleId: meta.m } : {}),
    ...(meta.k !== undefined ? { partitionKey: meta.k } : {}),
    ...(meta.src !== undefined ? { messageSource: meta.src } : {}),
    ...(extras.message_annotations !== undefined
      ? { annotations: extras.message_annotations }
      : meta.n !== undefined
        ? { annotations: meta.n }
        : {}),
  };
}
