/**
 * Shared access signatures, the one implementation for both faces of the hub: device/module tokens on
 * MQTT (PROTOCOLS.md §1.3) and service-policy tokens on the Event Hubs endpoint's `$cbs` (§2.2).
 *
 * Token: `SharedAccessSignature sr=<enc(resource)>&sig=<enc(base64 HMAC)>[&skn=<name>]&se=<epoch s>`.
 * The signature is HMAC-SHA256 over `sr` exactly as sent (still URL-encoded) + "\n" + `se`. The two key
 * kinds differ only in the HMAC key and in `skn`:
 * - an identity key (device, module) is base64-DECODED, and its tokens carry no `skn`;
 * - a policy key (Event Hubs `SharedAccessKeyName`) is used as its UTF-8 bytes, and its tokens name it in `skn`.
 * Pure functions: the caller passes the clock. A refusal reason never contains the token or the key.
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

export type SasRefusal =
  | 'malformed-token'
  | 'bad-signature'
  | 'expired-token'
  | 'wrong-resource'
  /** A policy-named token (`skn`) where an identity key is expected. */
  | 'policy-token'
  /** A policy token without `skn`, or naming another policy. */
  | 'unknown-key-name';

export type SasVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: SasRefusal };

/** Which key signs the token. */
export type SasKey =
  | { readonly keyBase64: string }
  | { readonly policyKeyName: string; readonly policyKey: string };

export type SasVerification = SasKey & {
  readonly token: unknown;
  /**
   * The resource the token must name: a string is compared case-insensitively, as the hub does; a
   * predicate decides for itself (an Event Hubs audience may cover the entities below it).
   */
  readonly expectedResource: string | ((resource: string) => boolean);
  readonly nowMs: number;
};

const PREFIX = 'SharedAccessSignature ';

function decode(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

function keyBytes(key: SasKey): Buffer {
  return 'keyBase64' in key ? Buffer.from(key.keyBase64, 'base64') : Buffer.from(key.policyKey, 'utf8');
}

function hmac(resourceRaw: string, expirySeconds: number, key: Buffer): string {
  return createHmac('sha256', key).update(`${resourceRaw}\n${expirySeconds}`).digest('base64');
}

/** Parses a token; undefined when it is not a well-formed SAS token. */
export function parseSasToken(token: string): ParsedSasToken | undefined {
  if (!token.startsWith(PREFIX)) return undefined;
  const fields = new Map<string, string>();
  for (const part of token.slice(PREFIX.length).trim().split('&')) {
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
  if (skn !== undefined && keyName === undefined) return undefined;
  return {
    resourceRaw,
    resource,
    signature,
    expirySeconds: Number(seRaw),
    ...(keyName === undefined ? {} : { keyName }),
  };
}

/** base64 HMAC-SHA256 of `resourceRaw + "\n" + expirySeconds` with the base64-decoded identity key. */
export function signSas(resourceRaw: string, expirySeconds: number, keyBase64: string): string {
  return hmac(resourceRaw, expirySeconds, keyBytes({ keyBase64 }));
}

/**
 * Verifies a token: its form, the key name it carries, the signature (timing-safe), the resource it
 * names, and that it has not expired.
 */
export function verifySasToken(options: SasVerification): SasVerdict {
  const parsed = typeof options.token === 'string' ? parseSasToken(options.token) : undefined;
  if (!parsed) return { ok: false, reason: 'malformed-token' };
  if ('keyBase64' in options) {
    // Device and module keys have no name; a named key would be a hub policy, which devices may not use.
    if (parsed.keyName !== undefined) return { ok: false, reason: 'policy-token' };
  } else if (parsed.keyName !== options.policyKeyName) {
    return { ok: false, reason: 'unknown-key-name' };
  }
  // The signature over sr exactly as sent; for a policy also over sr's canonical encoding, since
  // service clients differ in how they escape the audience they sign.
  const key = keyBytes(options);
  const signed = 'keyBase64' in options ? [parsed.resourceRaw] : [parsed.resourceRaw, encodeURIComponent(parsed.resource)];
  const given = Buffer.from(parsed.signature, 'utf8');
  const valid = signed.some((resourceRaw) => {
    const expected = Buffer.from(hmac(resourceRaw, parsed.expirySeconds, key), 'utf8');
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
  if (!valid) return { ok: false, reason: 'bad-signature' };
  const expected = options.expectedResource;
  const resourceMatches =
    typeof expected === 'string' ? parsed.resource.toLowerCase() === expected.toLowerCase() : expected(parsed.resource);
  if (!resourceMatches) return { ok: false, reason: 'wrong-resource' };
  if (parsed.expirySeconds * 1000 <= options.nowMs) return { ok: false, reason: 'expired-token' };
  return { ok: true };
}

/** `encodeURIComponent` plus `! ' ( ) *`, as the device SDK encodes `sr` and `sig`. */
export function encodeUriComponentStrict(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A device or module token as the device SDK makes it (for tests and raw MQTT clients). */
export function createSasToken(resource: string, keyBase64: string, expirySeconds: number): string {
  const resourceRaw = encodeUriComponentStrict(resource);
  const signature = signSas(resourceRaw, expirySeconds, keyBase64);
  return `${PREFIX}sr=${resourceRaw}&sig=${encodeUriComponentStrict(signature)}&se=${expirySeconds}`;
}

/** A policy token as the Event Hubs client makes it (for tests and tools). */
export function createPolicySasToken(audience: string, keyName: string, key: string, expiresAtSeconds: number): string {
  const sr = encodeURIComponent(audience);
  const se = Math.floor(expiresAtSeconds);
  const sig = hmac(sr, se, keyBytes({ policyKeyName: keyName, policyKey: key }));
  return `${PREFIX}sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}&skn=${encodeURIComponent(keyName)}`;
}

/** The resource a device or module token must name. */
export function identityResource(hostName: string, deviceId: string, moduleId?: string): string {
  return moduleId === undefined
    ? `${hostName}/devices/${deviceId}`
    : `${hostName}/devices/${deviceId}/modules/${moduleId}`;
}
