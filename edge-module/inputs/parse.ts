/**
 * The connector's input formats, as pure functions: which topic means what, and how a `put` request
 * becomes payload bytes. No I/O; the MQTT and edgeHub adapters call these.
 *
 * Decisions (documented in edge-module/README.md):
 * - the put `message` string is JSON when `JSON.parse` accepts it (so `"42"`, `"true"`, `"\"x\""` are
 *   JSON); JSON is sent as the string's own UTF-8 bytes, verbatim;
 * - otherwise it must be standard base64 (RFC 4648 alphabet, length a multiple of 4, `=` padding only at
 *   the end) and is decoded; anything else is refused;
 * - an empty `message` is refused (BatchPutMessage needs a payload);
 * - `id` is optional; when present it must be a non-empty string of at most 128 characters
 *   (BatchPutMessage's messageId limit).
 */

/** The connector's limit on one message's payload: 128 KB. */
export const MAX_PAYLOAD_BYTES = 131_072;
/** A put request can carry at most 128 KB as base64 (4/3) plus its JSON wrapper; beyond this we do not parse. */
export const MAX_PUT_REQUEST_BYTES = Math.ceil((MAX_PAYLOAD_BYTES * 4) / 3) * 2 + 4096;
export const MAX_ID_LENGTH = 128;
export const STATUS_TOPIC = 'iotanalytics/messages/put/status';

export type TopicRoute =
  | { readonly kind: 'put'; readonly channel: string }
  | { readonly kind: 'binary'; readonly channel: string }
  | { readonly kind: 'default' }
  /** The module's own status topic: never fed back into the engine. */
  | { readonly kind: 'status' };

const PREDEFINED = /^iotanalytics\/channels\/([^/]*)\/messages\/(binary\/)?put$/;

export function routeTopic(topic: string): TopicRoute {
  if (topic === STATUS_TOPIC) return { kind: 'status' };
  const m = PREDEFINED.exec(topic);
  if (!m) return { kind: 'default' };
  const channel = m[1] ?? '';
  return m[2] ? { kind: 'binary', channel } : { kind: 'put', channel };
}

/** An input refused before it reaches the engine. `id` is set when the request carried a usable one. */
export interface InputError {
  readonly ok: false;
  readonly code: 'InvalidRequestException' | 'MessageTooLargeException';
  readonly message: string;
  readonly id: string | undefined;
}

export interface ParsedPut {
  readonly ok: true;
  readonly id: string | undefined;
  readonly payload: Uint8Array;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function invalid(message: string, id?: string): InputError {
  return { ok: false, code: 'InvalidRequestException', message, id };
}

function tooLarge(bytes: number, id?: string): InputError {
  return {
    ok: false,
    code: 'MessageTooLargeException',
    message: `the message is ${bytes} bytes; the limit is ${MAX_PAYLOAD_BYTES} bytes (128 KB) per message`,
    id,
  };
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** `message` string → payload bytes (JSON verbatim, else base64-decoded), or why not. */
export function decodeMessage(message: string): { ok: true; payload: Uint8Array } | { ok: false; reason: string } {
  if (message.length === 0) return { ok: false, reason: 'request.message is empty' };
  if (isJson(message)) return { ok: true, payload: Buffer.from(message, 'utf8') };
  if (BASE64.test(message)) return { ok: true, payload: Buffer.from(message, 'base64') };
  return { ok: false, reason: 'request.message is neither JSON nor a base64 string' };
}

/** Parse a put request: `{"request":{"message":"<JSON or base64>"},"id":"..."}`. */
export function parsePutRequest(raw: Uint8Array): ParsedPut | InputError {
  if (raw.byteLength > MAX_PUT_REQUEST_BYTES) return tooLarge(raw.byteLength);
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'));
  } catch {
    return invalid('the request is not valid JSON; expected {"request":{"message":"..."},"id":"..."}');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return invalid('the request must be a JSON object {"request":{"message":"..."},"id":"..."}');
  }
  const { request, id } = body as { request?: unknown; id?: unknown };
  let requestId: string | undefined;
  if (id !== undefined && id !== null) {
    if (typeof id !== 'string') return invalid(`id must be a string, got ${typeof id}`);
    if (id.length === 0 || id.length > MAX_ID_LENGTH) {
      return invalid(`id must be 1 to ${MAX_ID_LENGTH} characters, got ${id.length}`);
    }
    requestId = id;
  }
  if (request === undefined || request === null) return invalid('the request has no "request" object', requestId);
  if (typeof request !== 'object' || Array.isArray(request)) {
    return invalid('"request" must be an object with a "message" string', requestId);
  }
  const message = (request as { message?: unknown }).message;
  if (typeof message !== 'string') {
    return invalid(
      message === undefined ? 'request.message is missing' : `request.message must be a string, got ${typeof message}`,
      requestId,
    );
  }
  const decoded = decodeMessage(message);
  if (!decoded.ok) return invalid(decoded.reason, requestId);
  if (decoded.payload.byteLength > MAX_PAYLOAD_BYTES) return tooLarge(decoded.payload.byteLength, requestId);
  return { ok: true, id: requestId, payload: decoded.payload };
}

/** Raw input (binary and default topics): only the size is checked. */
export function checkRawPayload(raw: Uint8Array): { ok: true; payload: Uint8Array } | InputError {
  if (raw.byteLength > MAX_PAYLOAD_BYTES) return tooLarge(raw.byteLength);
  if (raw.byteLength === 0) return invalid('the message is empty; BatchPutMessage needs a payload');
  return { ok: true, payload: raw };
}
