/**
 * What the module persists per accepted message: enough to rebuild its queue entry and to route its
 * status after a restart. Encoding: `[u16 headerLength][header JSON][payload bytes]`.
 */
export type InputSource = 'mqtt' | 'edgehub';

export interface RecordHeader {
  readonly channel: string;
  /** The request id (put input); absent when one is generated. */
  readonly id?: string;
  readonly correlate: boolean;
  readonly source: InputSource;
  /** MQTT QoS of the request (the status goes out at the same QoS). */
  readonly qos?: 0 | 1;
  /** The publishing device (IngestItem.deviceId): its status is routed to it, its readings carry it. */
  readonly deviceId?: string;
  /** How a put message was given, and the edgeHub module that sent it (see IngestItem in ingest.ts). */
  readonly sourceModule?: string;
  readonly form?: 'json' | 'base64';
}

export function encodeRecord(header: RecordHeader, payload: Uint8Array): Buffer {
  const head = Buffer.from(JSON.stringify(header), 'utf8');
  const out = Buffer.allocUnsafe(2 + head.length + payload.byteLength);
  out.writeUInt16LE(head.length, 0);
  head.copy(out, 2);
  out.set(payload, 2 + head.length);
  return out;
}

export function decodeRecord(data: Uint8Array): { header: RecordHeader; payload: Uint8Array } {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const length = buf.readUInt16LE(0);
  const header = JSON.parse(buf.subarray(2, 2 + length).toString('utf8')) as RecordHeader;
  return { header, payload: buf.subarray(2 + length) };
}
