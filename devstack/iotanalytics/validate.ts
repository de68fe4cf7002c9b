/**
 * BatchPutMessage's input rules, as pure functions (PROTOCOLS.md §3.6, the connector manual's limits).
 *
 * Batch-wide problems (bad channel name, no messages, more than 100, a payload over 128 KB) fail the
 * whole call with InvalidRequestException (400). Problems of one message that leave the rest valid
 * (a bad or repeated messageId, a payload that is not base64) are per-entry errors in an HTTP 200
 * answer, so the other messages are still stored.
 */
import { invalidRequest } from './errors.js';

export const MAX_MESSAGES_PER_BATCH = 100;
export const MAX_PAYLOAD_BYTES = 128 * 1024;
export const MAX_MESSAGE_ID_CHARS = 128;
// 1–128 characters of [a-zA-Z0-9_], not starting with two underscores (API_BatchPutMessage).
const CHANNEL_NAME = /^(?!_{2})[a-zA-Z0-9_]{1,128}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function assertChannelName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !CHANNEL_NAME.test(name)) {
    throw invalidRequest(
      `1 validation error detected: Value '${String(name)}' at 'channelName' failed to satisfy constraint: ` +
        `Member must satisfy regular expression pattern: (^(?!_{2}))(^[a-zA-Z0-9_]+$) and have length 1-128`,
    );
  }
}

export interface AcceptedMessage {
  messageId: string;
  /** base64, as received (and as stored and sampled) */
  payload: string;
}

export interface EntryError {
  messageId: string;
  errorCode: string;
  errorMessage: string;
}

export interface CheckedBatch {
  channelName: string;
  accepted: AcceptedMessage[];
  entryErrors: EntryError[];
}

/** Checks a decoded BatchPutMessage body; throws AwsError for batch-wide problems. */
export function checkBatch(body: unknown): CheckedBatch {
  if (typeof body !== 'object' || body === null) throw invalidRequest('The request body must be a JSON object.');
  const { channelName, messages } = body as { channelName?: unknown; messages?: unknown };
  assertChannelName(channelName);
  if (!Array.isArray(messages) || messages.length === 0) {
    throw invalidRequest("'messages' must be a non-empty list of messages.");
  }
  if (messages.length > MAX_MESSAGES_PER_BATCH) {
    throw invalidRequest(
      `Too many messages in one batch: ${messages.length}; BatchPutMessage takes at most ${MAX_MESSAGES_PER_BATCH}.`,
    );
  }
  const accepted: AcceptedMessage[] = [];
  const entryErrors: EntryError[] = [];
  const seen = new Set<string>();
  // First pass: the 128 KB limit is batch-wide, so check every payload before storing anything.
  for (const m of messages as { messageId?: unknown; payload?: unknown }[]) {
    if (typeof m?.payload === 'string' && BASE64.test(m.payload)) {
      const bytes = Buffer.byteLength(m.payload, 'base64'); // decoded size, not the base64 text
      if (bytes > MAX_PAYLOAD_BYTES) {
        throw invalidRequest(
          `Message '${String(m.messageId)}' has a payload of ${bytes} bytes; the limit is ${MAX_PAYLOAD_BYTES} bytes (128 KB).`,
        );
      }
    }
  }
  for (const m of messages as { messageId?: unknown; payload?: unknown }[]) {
    const messageId = typeof m?.messageId === 'string' ? m.messageId : '';
    if (messageId.length < 1 || messageId.length > MAX_MESSAGE_ID_CHARS) {
      entryErrors.push({
        messageId,
        errorCode: 'InvalidRequestException',
        errorMessage: `messageId must be 1-${MAX_MESSAGE_ID_CHARS} characters; got ${messageId.length}.`,
      });
      continue;
    }
    if (seen.has(messageId)) {
      entryErrors.push({
        messageId,
        errorCode: 'InvalidRequestException',
        errorMessage: `Duplicate messageId '${messageId}' in this batch; messageIds must be unique within a batch.`,
      });
      continue;
    }
    seen.add(messageId);
    if (typeof m.payload !== 'string' || m.payload.length === 0 || !BASE64.test(m.payload)) {
      entryErrors.push({
        messageId,
        errorCode: 'InvalidRequestException',
        errorMessage: `Message '${messageId}' has no payload or one that is not base64.`,
      });
      continue;
    }
    accepted.push({ messageId, payload: m.payload });
  }
  return { channelName, accepted, entryErrors };
}
