/**
 * The request builder of the IoT Hub sink: batch → `batch/v2` envelope(s) (docs/contracts.md §4), sized
 * to IoT Hub's 4 KB billing units. Pure: no I/O.
 *
 * Each entry names its message by (`origin`, `n`) — the store's sequence number — so a batch re-sent
 * after a restart repeats the ids of the first send however it is cut, and carries who sent it
 * (listener input: `d`, its publishing device's place in the envelope's `devices` table, each leaf
 * spelled once per envelope; edgeHub input: `sourceModule`) and its payload as `json`
 * (canonical JSON, verbatim: no bytes added), `jsonText` (other JSON), `base64Message` or `base64`.
 *
 * Invariants:
 * - an envelope holds messages of one channel, in queue order, and never exceeds `maxBytes`
 *   (body + properties, IoT Hub's 256 KB message limit);
 * - envelopes are filled up to `targetBytes` (a multiple of 4096) before a new one starts;
 * - with `deferTail`, messages that would spill a few bytes into a last, mostly empty 4 KB unit are
 *   handed back (deferred) so they ride in the next envelope of that channel; this never defers a
 *   whole batch (something is always sent), so a small batch can never starve.
 */
import type { QueuedMessage } from '@iot-ingest/batching';
import { CHANNEL_PROPERTY, ENVELOPE_CONTENT_ENCODING, ENVELOPE_CONTENT_TYPE, ORIGIN_PATTERN, SCHEMA_BATCH_V2, SCHEMA_PROPERTY } from '@iot-ingest/contracts';
import type { MessageMeta } from '../../ingest.js';

/** The schema these envelopes declare (message property `iot-ingest-schema`). */
export const ENVELOPE_SCHEMA = SCHEMA_BATCH_V2;

export const BILLING_UNIT_BYTES = 4096;
/** IoT Hub's device-to-cloud limit, counting body + system property values + user property names and values. */
export const HUB_MAX_MESSAGE_BYTES = 262_144;
export const UPSTREAM_OUTPUT = 'upstream';

export interface PackOptions {
  /** Fill envelopes up to this many bytes (body + properties); a multiple of 4096. */
  readonly targetBytes: number;
  /** Never exceed this (≤ 256 KB). */
  readonly maxBytes: number;
  /** Hand back the messages that would start a nearly empty last unit (only when more is queued). */
  readonly deferTail: boolean;
  /** The module store's origin (contracts §4): 16 lowercase hex characters. */
  readonly origin: string;
}

export interface Envelope {
  readonly channel: string;
  /** UTF-8 JSON body. */
  readonly body: Buffer;
  readonly messageIds: readonly string[];
  /** Body plus the message properties IoT Hub counts. */
  readonly sizeBytes: number;
  /** 4 KB billing units this message costs. */
  readonly units: number;
}

export interface PackResult {
  readonly envelopes: readonly Envelope[];
  readonly deferred: readonly QueuedMessage[];
}

/** The bytes IoT Hub counts for our properties: `channel`, the schema marker, content type/encoding, output name. */
export function propertiesBytes(channel: string): number {
  return (
    Buffer.byteLength(CHANNEL_PROPERTY) +
    Buffer.byteLength(channel) +
    Buffer.byteLength(SCHEMA_PROPERTY) +
    Buffer.byteLength(ENVELOPE_SCHEMA) +
    Buffer.byteLength(ENVELOPE_CONTENT_TYPE) +
    Buffer.byteLength(ENVELOPE_CONTENT_ENCODING) +
    Buffer.byteLength(UPSTREAM_OUTPUT)
  );
}

export function billingUnits(sizeBytes: number): number {
  return Math.max(1, Math.ceil(sizeBytes / BILLING_UNIT_BYTES));
}

/** How the payload text is JSON: exactly as `JSON.stringify` writes it, otherwise, or not at all. */
function jsonForm(text: string): 'canonical' | 'other' | 'none' {
  try {
    return JSON.stringify(JSON.parse(text)) === text ? 'canonical' : 'other';
  } catch {
    return 'none';
  }
}

/** The payload member of an entry (see the file comment). */
function payloadMember(payload: Buffer, form: MessageMeta['form']): string {
  // The bytes are the device's normalised base64 string (parse.ts): its characters need no escaping.
  if (form === 'base64') return `"base64Message":"${payload.toString('latin1')}"`;
  const text = payload.toString('utf8');
  // Only bytes that survive a UTF-8 round trip can be JSON text; anything else goes as base64.
  if (Buffer.byteLength(text) === payload.byteLength) {
    const json = jsonForm(text);
    if (json === 'canonical') return `"json":${text}`;
    if (json === 'other') return `"jsonText":${JSON.stringify(text)}`;
  }
  return `"base64":"${payload.toString('base64')}"`;
}

/**
 * One element of `messages`, as JSON text. `leaf` is the position of the message's publishing device in
 * the envelope's `devices` table (each leaf is spelled once per envelope: readings of one device share it).
 */
export function messageFragment(message: QueuedMessage, leaf?: number): string {
  const meta = message.meta as MessageMeta | undefined;
  const n = meta?.ordinal;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    // Every accepted input gets one (ingest.ts); without it the message could not keep its id upstream.
    throw new RangeError(`message ${message.messageId} has no ordinal; cannot give it an envelope id`);
  }
  if ((meta?.deviceId !== undefined) !== (leaf !== undefined)) throw new RangeError(`message ${message.messageId}: a leaf index goes with a deviceId`);
  const head =
    `{"n":${n},"id":${JSON.stringify(message.messageId)}` +
    (message.statusId !== undefined ? `,"requestId":${JSON.stringify(message.statusId)}` : '') +
    `,"acceptedAt":${Math.trunc(message.acceptedAt)}` +
    (leaf !== undefined ? `,"d":${leaf}` : '') +
    (meta?.sourceModule !== undefined ? `,"sourceModule":${JSON.stringify(meta.sourceModule)}` : '');
  const payload = Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.byteLength);
  return `${head},${payloadMember(payload, meta?.form)}}`;
}

function envelopePrefix(channel: string, origin: string, devices: readonly string[]): string {
  const table = devices.length > 0 ? `"devices":[${devices.map((d) => JSON.stringify(d)).join(',')}],` : '';
  return `{"v":2,"channel":${JSON.stringify(channel)},"origin":"${origin}",${table}"messages":[`;
}
const ENVELOPE_SUFFIX = ']}';
/** What `"devices":[`…`],` costs around its entries. */
const DEVICES_MEMBER_BYTES = Buffer.byteLength('"devices":[],');

function build(channel: string, origin: string, group: Group, propBytes: number): Envelope {
  const body = Buffer.from(envelopePrefix(channel, origin, group.devices) + group.fragments.join(',') + ENVELOPE_SUFFIX, 'utf8');
  const sizeBytes = body.byteLength + propBytes;
  return { channel, body, messageIds: group.messages.map((m) => m.messageId), sizeBytes, units: billingUnits(sizeBytes) };
}

/** One envelope being filled: its entries, their byte costs (a new leaf's table entry included), its leaves. */
interface Group {
  readonly fragments: string[];
  readonly sizes: number[];
  readonly messages: QueuedMessage[];
  /** Whether the message at that position added its leaf to `devices`. */
  readonly addedLeaf: boolean[];
  readonly devices: string[];
  readonly leafIndex: Map<string, number>;
  bytes: number;
}

function newGroup(fixedBytes: number): Group {
  return { fragments: [], sizes: [], messages: [], addedLeaf: [], devices: [], leafIndex: new Map(), bytes: fixedBytes };
}

/** The entry `message` would be in `group`, and what it would cost there. */
function entryIn(group: Group, message: QueuedMessage): { fragment: string; bytes: number; newLeaf: string | undefined } {
  const leaf = (message.meta as MessageMeta | undefined)?.deviceId;
  let index: number | undefined;
  let newLeaf: string | undefined;
  let tableBytes = 0;
  if (leaf !== undefined) {
    index = group.leafIndex.get(leaf);
    if (index === undefined) {
      index = group.devices.length;
      newLeaf = leaf;
      tableBytes = Buffer.byteLength(JSON.stringify(leaf)) + (group.devices.length === 0 ? DEVICES_MEMBER_BYTES : 1);
    }
  }
  const fragment = messageFragment(message, index);
  return { fragment, bytes: Buffer.byteLength(fragment) + (group.fragments.length > 0 ? 1 : 0) + tableBytes, newLeaf };
}

function add(group: Group, message: QueuedMessage, entry: ReturnType<typeof entryIn>): void {
  if (entry.newLeaf !== undefined) {
    group.leafIndex.set(entry.newLeaf, group.devices.length);
    group.devices.push(entry.newLeaf);
  }
  group.fragments.push(entry.fragment);
  group.sizes.push(entry.bytes);
  group.messages.push(message);
  group.addedLeaf.push(entry.newLeaf !== undefined);
  group.bytes += entry.bytes;
}

/** Drop the group's last `count` entries (and the leaves only they introduced). */
function trim(group: Group, keep: number): void {
  while (group.messages.length > keep) {
    group.messages.pop();
    group.fragments.pop();
    group.bytes -= group.sizes.pop() ?? 0;
    if (group.addedLeaf.pop()) group.leafIndex.delete(group.devices.pop() as string);
  }
}

export function validatePackOptions(options: PackOptions): void {
  if (!ORIGIN_PATTERN.test(options.origin)) throw new RangeError(`origin must be 16 lowercase hex characters, got '${options.origin}'`);
  if (options.maxBytes > HUB_MAX_MESSAGE_BYTES || options.maxBytes < BILLING_UNIT_BYTES) {
    throw new RangeError(`maxBytes must be 4096..${HUB_MAX_MESSAGE_BYTES}, got ${options.maxBytes}`);
  }
  if (options.targetBytes % BILLING_UNIT_BYTES !== 0 || options.targetBytes <= 0 || options.targetBytes > options.maxBytes) {
    throw new RangeError(`targetBytes must be a positive multiple of 4096 ≤ maxBytes, got ${options.targetBytes}`);
  }
}

/** Pack one engine batch (one channel, queue order) into envelopes. */
export function packBatch(channel: string, messages: readonly QueuedMessage[], options: PackOptions): PackResult {
  const propBytes = propertiesBytes(channel);
  const fixedBytes = Buffer.byteLength(envelopePrefix(channel, options.origin, [])) + ENVELOPE_SUFFIX.length + propBytes;
  const groups: Group[] = [];
  let current = newGroup(fixedBytes);
  for (const message of messages) {
    let entry = entryIn(current, message);
    const limit = current.fragments.length === 0 ? options.maxBytes : options.targetBytes;
    if (current.fragments.length > 0 && current.bytes + entry.bytes > limit) {
      groups.push(current);
      current = newGroup(fixedBytes);
      entry = entryIn(current, message);
    }
    if (current.bytes + entry.bytes > options.maxBytes) {
      // Cannot happen for messages within the 128 KB limit; refuse loudly rather than exceed the hub's cap.
      throw new RangeError(`message ${message.messageId} does not fit in one ${options.maxBytes}-byte envelope`);
    }
    add(current, message, entry);
  }
  if (current.fragments.length > 0) groups.push(current);

  const deferred: QueuedMessage[] = [];
  const last = groups.at(-1);
  if (options.deferTail && last && last.bytes % BILLING_UNIT_BYTES !== 0) {
    // Trim the messages that spill into the last, partly used unit, but keep at least one full unit.
    const boundary = Math.floor(last.bytes / BILLING_UNIT_BYTES) * BILLING_UNIT_BYTES;
    if (boundary > 0) {
      let bytes = last.bytes;
      let keep = last.fragments.length;
      while (keep > 1 && bytes > boundary) {
        keep -= 1;
        bytes -= last.sizes[keep] ?? 0;
      }
      // Only worth it when what stays still fills the units it pays for (and something stays).
      if (bytes <= boundary && keep >= 1 && (groups.length > 1 || bytes > 0)) {
        deferred.push(...last.messages.slice(keep));
        trim(last, keep);
      }
    }
  }
  const envelopes = groups.filter((g) => g.fragments.length > 0).map((g) => build(channel, options.origin, g, propBytes));
  return { envelopes, deferred };
}
