/**
 * The connector's input formats, as pure functions: which topic means what, and how a `put` request
 * becomes payload bytes. No I/O; the MQTT and edgeHub adapters call these.
 *
 * Decisions (the manual's rules; documented in edge-module/README.md):
 * - the put `message` is "a JSON or base64-encoded string" and the connector sends it to BatchPutMessage
 *   as that string: the API documents a payload as "a JSON string or a base64-encoded string representing
 *   binary data, in which case you must decode it by means of a pipeline activity". So neither form is
 *   decoded here: JSON is sent as the string's own UTF-8 bytes, verbatim; base64 as its characters;
 * - JSON wins when a string is both (`"1234"`); anything `JSON.parse` accepts is JSON (`"42"`, `"true"`);
 * - base64 is what standard libraries produce: the standard or URL-safe alphabet (not mixed), padded or
 *   not, wrapped with LF or CRLF line breaks (MIME, PEM, Python's `encodebytes`); its padding bits must be
 *   zero (RFC 4648 §3.5), so an arbitrary short word is not base64 by accident. It is normalised (breaks
 *   removed, standard alphabet, padded): the same data, one spelling. A word that happens to be valid
 *   base64 (`"idle"`) is carried as the string it is, never decoded into other bytes;
 * - a string that is neither is refused with InvalidRequestException; an empty `message` too;
 * - `id` is optional and any string (`.*`, `""` included) is accepted as is; a non-string id is refused,
 *   its status carrying the id as text (`42` → `"42"`) so the device can still match it.
 */

/** The connector's limit on one message's payload: 128 KB. */
export const MAX_PAYLOAD_BYTES = 131_072;
/** A put request can carry at most 128 KB as base64 (4/3) plus its JSON wrapper; beyond this we do not parse. */
export const MAX_PUT_REQUEST_BYTES = Math.ceil((MAX_PAYLOAD_BYTES * 4) / 3) * 2 + 4096;
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

/** How a put request's `message` was given: its payload bytes are the string either way. */
export type MessageForm = 'json' | 'base64';

export interface ParsedPut {
  readonly ok: true;
  readonly id: string | undefined;
  readonly payload: Uint8Array;
  readonly form: MessageForm;
}

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

const LINE_BREAKS = /\r?\n/g;
const STANDARD = /^[A-Za-z0-9+/]*$/;
const URL_SAFE = /^[A-Za-z0-9_-]*$/;

/**
 * `text` as canonical base64 (standard alphabet, padded, one line), or undefined when it is not base64
 * as a standard library writes it (see the decisions above).
 */
export function normaliseBase64(text: string): string | undefined {
  const joined = text.replace(LINE_BREAKS, '');
  const body = joined.replace(/={1,2}$/, '');
  const padding = joined.length - body.length;
  if (body.length === 0) return undefined;
  if (padding > 0 && joined.length % 4 !== 0) return undefined;
  if (body.length % 4 === 1) return undefined;
  let standard: string;
  if (STANDARD.test(body)) standard = body;
  else if (URL_SAFE.test(body)) standard = body.replace(/-/g, '+').replace(/_/g, '/');
  else return undefined;
  const canonical = Buffer.from(standard, 'base64').toString('base64');
  // Non-zero padding bits would decode to the same bytes as another spelling: not something an encoder writes.
  return canonical.replace(/=+$/, '') === standard ? canonical : undefined;
}

export type DecodedMessage = { ok: true; payload: Uint8Array; form: MessageForm } | { ok: false; reason: string };

/** `message` string → the payload bytes the connector sends (JSON verbatim, base64 normalised), or why not. */
export function decodeMessage(message: string): DecodedMessage {
  if (message.length === 0) return { ok: false, reason: 'request.message is empty' };
  if (isJson(message)) return { ok: true, payload: Buffer.from(message, 'utf8'), form: 'json' };
  const base64 = normaliseBase64(message);
  if (base64 !== undefined) return { ok: true, payload: Buffer.from(base64, 'ascii'), form: 'base64' };
  return { ok: false, reason: 'request.message is neither JSON nor a base64 string' };
}

/** The id of a request as its status echoes it: strings as they are, numbers and booleans as text. */
function echoableId(id: unknown): string | undefined {
  if (typeof id === 'string') return id;
  if (typeof id === 'number' || typeof id === 'boolean' || typeof id === 'bigint') return String(id);
  return undefined;
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
  const requestId = typeof id === 'string' ? id : undefined;
  if (id !== undefined && id !== null && typeof id !== 'string') {
    return invalid(`id must be a string, got ${Array.isArray(id) ? 'array' : typeof id}`, echoableId(id));
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
  return { ok: true, id: requestId, payload: decoded.payload, form: decoded.form };
}

/** Raw input (binary and default topics): only the size is checked. */
export function checkRawPayload(raw: Uint8Array): { ok: true; payload: Uint8Array } | InputError {
  if (raw.byteLength > MAX_PAYLOAD_BYTES) return tooLarge(raw.byteLength);
  if (raw.byteLength === 0) return invalid('the message is empty; BatchPutMessage needs a payload');
  return { ok: true, payload: raw };
}
