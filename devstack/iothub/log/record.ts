/**
 * One log record on disk, and how a segment's bytes are scanned back into records.
 *
 * Frame: `[u32 payloadBytes][u32 crc32(payload)][payload]` (big endian). A frame whose length runs past
 * the end of the file, or whose CRC does not match, marks a torn tail: everything from it on is
 * discarded on open. Payload (version 1):
 *   u8 version | f64 sequenceNumber | f64 enqueuedTimeUtc (epoch ms)
 *   u32 metaBytes  | meta: UTF-8 JSON of the event's string fields
 *   u32 amqpBytes  | amqp: an AMQP-encoded message holding only typed extras (message annotations,
 *                    application properties that are not all strings), empty for device telemetry
 *   body: the rest, raw bytes
 * Pure: no I/O.
 */
import { crc32 } from 'node:zlib';
import rhea from 'rhea';
import type { HubEventInput, HubSystemProperties } from '../log-types.js';

export const FRAME_HEADER_BYTES = 8;
const PAYLOAD_VERSION = 1;
const FIXED_PAYLOAD_BYTES = 1 + 8 + 8 + 4 + 4;
/** A record larger than this is treated as corruption on scan (IoT Hub's limit is 256 KB per message). */
export const MAX_RECORD_PAYLOAD_BYTES = 64 * 1024 * 1024;

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

export interface DecodedRecord {
  readonly sequenceNumber: number;
  readonly enqueuedTimeUtc: number;
  readonly event: HubEventInput;
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

/** Encodes one framed record; the caller assigns sequence number and enqueued time. */
export function encodeRecord(event: HubEventInput, sequenceNumber: number, enqueuedTimeUtc: number): Buffer {
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
  const amqpBytes = extras.application_properties || extras.message_annotations ? rhea.message.encode(extras) : Buffer.alloc(0);
  const payloadBytes = FIXED_PAYLOAD_BYTES + metaBytes + amqpBytes.length + event.body.length;
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadBytes);
  let at = FRAME_HEADER_BYTES;
  at = frame.writeUInt8(PAYLOAD_VERSION, at);
  at = frame.writeDoubleBE(sequenceNumber, at);
  at = frame.writeDoubleBE(enqueuedTimeUtc, at);
  at = frame.writeUInt32BE(metaBytes, at);
  at += frame.write(metaJson, at, metaBytes, 'utf8');
  at = frame.writeUInt32BE(amqpBytes.length, at);
  at += amqpBytes.copy(frame, at);
  event.body.copy(frame, at);
  frame.writeUInt32BE(payloadBytes, 0);
  frame.writeUInt32BE(crc32(frame.subarray(FRAME_HEADER_BYTES)), 4);
  return frame;
}

/** Reads the sequence number and enqueued time of a framed record without decoding the rest. */
export function peekRecordHeader(frame: Buffer, at = 0): { sequenceNumber: number; enqueuedTimeUtc: number } {
  const p = at + FRAME_HEADER_BYTES;
  return { sequenceNumber: frame.readDoubleBE(p + 1), enqueuedTimeUtc: frame.readDoubleBE(p + 9) };
}

/** Decodes a framed record starting at `at` (the frame must be complete and already verified). */
export function decodeRecord(buf: Buffer, at = 0): DecodedRecord {
  const payloadBytes = buf.readUInt32BE(at);
  let p = at + FRAME_HEADER_BYTES;
  const end = p + payloadBytes;
  const version = buf.readUInt8(p);
  if (version !== PAYLOAD_VERSION) throw new Error(`log record: unknown payload version ${version}`);
  const sequenceNumber = buf.readDoubleBE(p + 1);
  const enqueuedTimeUtc = buf.readDoubleBE(p + 9);
  p += 17;
  const metaBytes = buf.readUInt32BE(p);
  p += 4;
  const meta = JSON.parse(buf.toString('utf8', p, p + metaBytes)) as Meta;
  p += metaBytes;
  const amqpBytes = buf.readUInt32BE(p);
  p += 4;
  const extras: AmqpExtras = amqpBytes > 0 ? (rhea.message.decode(buf.subarray(p, p + amqpBytes)) as AmqpExtras) : {};
  p += amqpBytes;
  // Copy: the caller's read buffer is reused or large; an event must not pin it.
  const body = Buffer.from(buf.subarray(p, end));
  const applicationProperties = (extras.application_properties ?? meta.a ?? {}) as Record<string, string>;
  const event: HubEventInput = {
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
  return { sequenceNumber, enqueuedTimeUtc, event };
}

export type ScanStop = 'end' | 'torn' | 'corrupt';

export interface ScannedRecord {
  /** Byte position of the frame within the scanned buffer. */
  readonly position: number;
  readonly frameBytes: number;
  readonly sequenceNumber: number;
  readonly enqueuedTimeUtc: number;
}

/**
 * Walks the frames of a segment's bytes. Stops at the first incomplete frame ('torn'), bad CRC or
 * impossible length ('corrupt'); `validBytes` is where a truncation would cut.
 */
export function scanRecords(buf: Buffer): { records: ScannedRecord[]; validBytes: number; stop: ScanStop } {
  const records: ScannedRecord[] = [];
  let at = 0;
  while (at < buf.length) {
    if (buf.length - at < FRAME_HEADER_BYTES) return { records, validBytes: at, stop: 'torn' };
    const payloadBytes = buf.readUInt32BE(at);
    if (payloadBytes < FIXED_PAYLOAD_BYTES || payloadBytes > MAX_RECORD_PAYLOAD_BYTES) {
      return { records, validBytes: at, stop: 'corrupt' };
    }
    const end = at + FRAME_HEADER_BYTES + payloadBytes;
    if (end > buf.length) return { records, validBytes: at, stop: 'torn' };
    if (crc32(buf.subarray(at + FRAME_HEADER_BYTES, end)) !== buf.readUInt32BE(at + 4)) {
      return { records, validBytes: at, stop: 'corrupt' };
    }
    const header = peekRecordHeader(buf, at);
    records.push({ position: at, frameBytes: end - at, ...header });
    at = end;
  }
  return { records, validBytes: at, stop: 'end' };
}
