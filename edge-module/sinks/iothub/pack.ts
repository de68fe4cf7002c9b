/**
 * The request builder of the IoT Hub sink: batch → batch envelope(s) (docs/contracts.md §4), sized to
 * IoT Hub's 4 KB billing units. Pure: no I/O.
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
import { CHANNEL_PROPERTY, ENVELOPE_CONTENT_ENCODING, ENVELOPE_CONTENT_TYPE, SCHEMA_BATCH_V1, SCHEMA_PROPERTY } from '@iot-ingest/contracts';

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
    Buffer.byteLength(SCHEMA_BATCH_V1) +
    Buffer.byteLength(ENVELOPE_CONTENT_TYPE) +
    Buffer.byteLength(ENVELOPE_CONTENT_ENCODING) +
    Buffer.byteLength(UPSTREAM_OUTPUT)
  );
}

export function billingUnits(sizeBytes: number): number {
  return Math.max(1, Math.ceil(sizeBytes / BILLING_UNIT_BYTES));
}

/** True when `JSON.stringify(JSON.parse(text))` gives back `text` exactly, so it can be embedded verbatim. */
function isCanonicalJson(text: string): boolean {
  try {
    return JSON.stringify(JSON.parse(text)) === text;
  } catch {
    return false;
  }
}

/** One element of `messages`, as JSON text. */
export function messageFragment(message: QueuedMessage): string {
  const head =
    `{"id":${JSON.stringify(message.messageId)}` +
    (message.statusId !== undefined ? `,"requestId":${JSON.stringify(message.statusId)}` : '') +
    `,"acceptedAt":${Math.trunc(message.acceptedAt)}`;
  const payload = Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.byteLength);
  const text = payload.toString('utf8');
  // Only bytes that survive a UTF-8 round trip can be JSON text; anything else goes as base64.
  if (Buffer.byteLength(text) === payload.byteLength && isCanonicalJson(text)) return `${head},"json":${text}}`;
  return `${head},"base64":"${payload.toString('base64')}"}`;
}

function envelopePrefix(channel: string): string {
  return `{"v":1,"channel":${JSON.stringify(channel)},"messages":[`;
}
const ENVELOPE_SUFFIX = ']}';

function build(channel: string, fragments: readonly string[], ids: readonly string[], propBytes: number): Envelope {
  const body = Buffer.from(envelopePrefix(channel) + fragments.join(',') + ENVELOPE_SUFFIX, 'utf8');
  const sizeBytes = body.byteLength + propBytes;
  return { channel, body, messageIds: ids, sizeBytes, units: billingUnits(sizeBytes) };
}

export function validatePackOptions(options: PackOptions): void {
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
  const fixedBytes = Buffer.byteLength(envelopePrefix(channel)) + ENVELOPE_SUFFIX.length + propBytes;
  const groups: { fragments: string[]; sizes: number[]; messages: QueuedMessage[]; bytes: number }[] = [];
  let current = { fragments: [] as string[], sizes: [] as number[], messages: [] as QueuedMessage[], bytes: fixedBytes };
  for (const message of messages) {
    const fragment = messageFragment(message);
    const size = Buffer.byteLength(fragment) + (current.fragments.length > 0 ? 1 : 0);
    const limit = current.fragments.length === 0 ? options.maxBytes : options.targetBytes;
    if (current.fragments.length > 0 && current.bytes + size > limit) {
      groups.push(current);
      current = { fragments: [], sizes: [], messages: [], bytes: fixedBytes };
    }
    const own = Buffer.byteLength(fragment) + (current.fragments.length > 0 ? 1 : 0);
    if (current.bytes + own > options.maxBytes) {
      // Cannot happen for messages within the 128 KB limit; refuse loudly rather than exceed the hub's cap.
      throw new RangeError(`message ${message.messageId} does not fit in one ${options.maxBytes}-byte envelope`);
    }
    current.fragments.push(fragment);
    current.sizes.push(own);
    current.messages.push(message);
    current.bytes += own;
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
        last.fragments.length = keep;
        last.messages.length = keep;
        last.bytes = bytes;
      }
    }
  }
  const envelopes = groups
    .filter((g) => g.fragments.length > 0)
    .map((g) =>
      build(
        channel,
        g.fragments,
        g.messages.map((m) => m.messageId),
        propBytes,
      ),
    );
  return { envelopes, deferred };
}
