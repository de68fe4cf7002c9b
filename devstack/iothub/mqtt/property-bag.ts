/**
 * The MQTT property bag (PROTOCOLS.md §1.6): the last topic segment carrying system and user properties.
 *
 * Decoding: split on `&`, split each pair on its FIRST `=`, decodeURIComponent both sides, and only then
 * look for `$.`-keys (the SDK sends `$.mid` as `%24.mid`). Encoding for messages the hub sends (module
 * inputs) escapes keys and values with encodeURIComponent, because the SDK splits on every `=` and `/`.
 */
import type { HubSystemProperties } from '../log-types.js';

export interface DecodedPropertyBag {
  readonly systemProperties: HubSystemProperties;
  readonly applicationProperties: Record<string, string>;
}

const SYSTEM_KEYS: ReadonlyMap<string, keyof HubSystemProperties> = new Map([
  ['$.mid', 'messageId'],
  ['$.cid', 'correlationId'],
  ['$.uid', 'userId'],
  ['$.ct', 'contentType'],
  ['$.ce', 'contentEncoding'],
  ['$.on', 'outputName'],
  ['$.exp', 'expiryTimeUtc'],
  ['$.sub', 'component'],
  ['$.ifid', 'interfaceId'],
]);

function decodeOrThrow(text: string, bag: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new Error(`property bag '${bag}' has a bad percent-encoding in '${text}'`);
  }
}

/** Decodes a bag (with or without a trailing `/`). Throws on a bad percent-encoding. */
export function decodePropertyBag(bag: string): DecodedPropertyBag {
  const systemProperties: HubSystemProperties = {};
  // Keys come from the wire: no prototype, so `__proto__` is just a property name.
  const applicationProperties = Object.create(null) as Record<string, string>;
  const text = bag.endsWith('/') ? bag.slice(0, -1) : bag;
  if (text.length === 0) return { systemProperties, applicationProperties };
  for (const pair of text.split('&')) {
    if (pair.length === 0) continue;
    const eq = pair.indexOf('=');
    const key = decodeOrThrow(eq < 0 ? pair : pair.slice(0, eq), bag);
    const value = eq < 0 ? '' : decodeOrThrow(pair.slice(eq + 1), bag);
    const systemKey = SYSTEM_KEYS.get(key);
    if (systemKey !== undefined) systemProperties[systemKey] = value;
    else applicationProperties[key] = value;
  }
  return { systemProperties, applicationProperties };
}

const SYSTEM_KEY_BY_FIELD = Object.fromEntries([...SYSTEM_KEYS].map(([k, v]) => [v, k])) as Record<
  keyof HubSystemProperties,
  string
>;

/** Encodes a bag for a message the hub delivers (module input, C2D): system keys first, then user properties. */
export function encodePropertyBag(
  systemProperties: HubSystemProperties,
  applicationProperties: Readonly<Record<string, string>>,
): string {
  const parts: string[] = [];
  for (const [field, value] of Object.entries(systemProperties) as [keyof HubSystemProperties, string | undefined][]) {
    if (value === undefined) continue;
    parts.push(`${encodeURIComponent(SYSTEM_KEY_BY_FIELD[field])}=${encodeURIComponent(value)}`);
  }
  for (const [key, value] of Object.entries(applicationProperties)) {
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
  }
  return parts.join('&');
}

/**
 * The size IoT Hub counts against its 256 KB limit: body + system property values + user property names
 * and values (iot-hub-devguide-messages-construct), in UTF-8 bytes.
 */
export function hubMessageSizeBytes(body: Buffer, bag: DecodedPropertyBag): number {
  let size = body.length;
  for (const value of Object.values(bag.systemProperties)) {
    if (value !== undefined) size += Buffer.byteLength(value, 'utf8');
  }
  for (const [key, value] of Object.entries(bag.applicationProperties)) {
    size += Buffer.byteLength(key, 'utf8') + Buffer.byteLength(value, 'utf8');
  }
  return size;
}

/** IoT Hub's device-to-cloud message limit. */
export const MAX_MESSAGE_BYTES = 256 * 1024;
