/**
 * IoT Hub shared access signatures (PROTOCOLS.md §1.3): parse, verify and create.
 *
 * Token: `SharedAccessSignature sr=<enc(resource)>&sig=<enc(base64 HMAC)>[&skn=<name>]&se=<epoch s>`.
 * The signature is HMAC-SHA256 keyed with the base64-DECODED device key over `sr` exactly as sent
 * (still URL-encoded) + "\n" + `se`. Pure functions: the caller passes the clock.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface ParsedSasToken {
  /** `sr` exactly as sent (URL-encoded): the string that was signed. */
  readonly resourceRaw: string;
  /** `sr` decoded. */
  readonly resource: string;
  /** `sig` decoded (base64 text). */
  readonly signature: string;
  readonly expirySeconds: number;
  readonly keyName?: string;
}

export type SasRefusal = 'malformed-token' | 'bad-signature' | 'expired-token' | 'wrong-resource' | 'policy-token';

export type SasVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: SasRefusal };

const PREFIX = 'SharedAccessSignature ';

function decode(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/** Parses a token; undefined when it is not a well-formed SAS token. */
export function parseSasToken(token: string): ParsedSasToken | undefined {
  if (!token.startsWith(PREFIX)) return undefined;
  const fields = new Map<string, string>();
  for (const part of token.slice(PREFIX.length).split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const resourceRaw = fields.get('sr');
  const sigRaw = fields.get('sig');
  const seRaw = fields.get('se');
  if (resourceRaw === undefined || sigRaw === undefined || seRaw === undefined) return undefined;
  if (!/^[0-9]{1,12}$/.test(seRaw)) return undefined;
  const resource = decode(resourceRaw);
  const signature = decode(sigRaw);
  if (resource === undefined || signature === undefined) return undefined;
  const skn = fields.get('skn');
  const keyName = skn === undefined ? undefined : decode(skn);
  return {
    resourceRaw,
    resource,
    signature,
    expirySeconds: Number(seRaw),
    ...(keyName === undefined ? {} : { keyName }),
  };
}

/** base64 HMAC-SHA256 of `resourceRaw + "\n" + expirySeconds` with the base64-decoded key. */
export function signSas(resourceRaw: string, expirySeconds: number, keyBase64: string): string {
  return createHmac('sha256', Buffer.from(keyBase64, 'base64'))
    .update(`${resourceRaw}\n${expirySeconds}`)
    .digest('base64');
}

/**
 * Verifies a device or module token against its key and the resource it must name
 * (`<HostName>/devices/<id>[/modules/<mid>]`, compared case-insensitively as the hub does).
 */
export function verifySasToken(options: {
  readonly token: string;
  readonly keyBase64: string;
  readonly expectedResource: string;
  readonly nowMs: number;
}): SasVerdict {
  const parsed = parseSasToken(options.token);
  if (!parsed) return { ok: false, reason: 'malformed-token' };
  // Device and module keys have no name; a named key would be a hub policy, which we do not emulate.
  if (parsed.keyName !== undefined) return { ok: false, reason: 'policy-token' };
  const expected = Buffer.from(signSas(parsed.resourceRaw, parsed.expirySeconds, options.keyBase64), 'utf8');
  const given = Buffer.from(parsed.signature, 'utf8');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return { ok: false, reason: 'bad-signature' };
  }
  if (parsed.resource.toLowerCase() !== options.expectedResource.toLowerCase()) {
    return { ok: false, reason: 'wrong-resource' };
  }
  if (parsed.expirySeconds * 1000 <= options.nowMs) return { ok: false, reason: 'expired-token' };
  return { ok: true };
}

/** `encodeURIComponent` plus `! ' ( ) *`, as the SDK encodes `sr` and `sig`. */
export function encodeUriComponentStrict(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A token as the SDK makes it (for tests and raw MQTT clients). */
export function createSasToken(resource: string, keyBase64: string, expirySeconds: number): string {
  const resourceRaw = encodeUriComponentStrict(resource);
  const signature = signSas(resourceRaw, expirySeconds, keyBase64);
  return `${PREFIX}sr=${resourceRaw}&sig=${encodeUriComponentStrict(signature)}&se=${expirySeconds}`;
}

/** The resource a device or module token must name. */
export function identityResource(hostName: string, deviceId: string, moduleId?: string): string {
  return moduleId === undefined
    ? `${hostName}/devices/${deviceId}`
    : `${hostName}/devices/${deviceId}/modules/${moduleId}`;
}
