/**
 * Event Hubs shared access signatures (PROTOCOLS.md §2.2): `SharedAccessSignature sr=<enc audience>&sig=<enc
 * base64 HMAC>&se=<epoch s>&skn=<key name>`, signed with HMAC-SHA256 over `sr + "\n" + se` where the key is
 * the key string's UTF-8 bytes (not base64-decoded, unlike IoT Hub device keys). Pure.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type SasVerdict =
  | { readonly ok: true; readonly audience: string; readonly expiresAtMs: number }
  | { readonly ok: false; readonly reason: string };

const PREFIX = 'SharedAccessSignature ';

function sign(encodedAudience: string, expirySeconds: string, key: string): string {
  return createHmac('sha256', Buffer.from(key, 'utf8')).update(`${encodedAudience}\n${expirySeconds}`).digest('base64');
}

/** A token as the client makes it (for tests and tools). */
export function createSasToken(audience: string, keyName: string, key: string, expiresAtSeconds: number): string {
  const sr = encodeURIComponent(audience);
  const se = String(Math.floor(expiresAtSeconds));
  return `${PREFIX}sr=${sr}&sig=${encodeURIComponent(sign(sr, se, key))}&se=${se}&skn=${encodeURIComponent(keyName)}`;
}

/** Checks signature, key name and expiry; the reason never contains the token or the key. */
export function verifySasToken(token: unknown, keyName: string, key: string, nowMs: number): SasVerdict {
  if (typeof token !== 'string' || !token.startsWith(PREFIX)) {
    return { ok: false, reason: 'the token is not a SharedAccessSignature' };
  }
  const fields = new Map<string, string>();
  for (const part of token.slice(PREFIX.length).trim().split('&')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const sr = fields.get('sr');
  const sig = fields.get('sig');
  const se = fields.get('se');
  const skn = fields.get('skn');
  if (!sr || !sig || !se || !skn) return { ok: false, reason: 'the token lacks one of sr, sig, se, skn' };
  let audience: string;
  let signature: Buffer;
  let name: string;
  try {
    audience = decodeURIComponent(sr);
    signature = Buffer.from(decodeURIComponent(sig), 'base64');
    name = decodeURIComponent(skn);
  } catch {
    return { ok: false, reason: 'the token has a malformed field' };
  }
  if (name !== keyName) return { ok: false, reason: `unknown key name '${name}'` };
  if (!/^\d+$/.test(se)) return { ok: false, reason: 'the token expiry (se) is not a number' };
  const expiresAtMs = Number(se) * 1000;
  if (expiresAtMs <= nowMs) return { ok: false, reason: 'the token has expired' };
  // Check the signature over sr exactly as sent, and over its canonical encoding (clients differ in escaping).
  const candidates = new Set([sr, encodeURIComponent(audience)]);
  const valid = [...candidates].some((encoded) => {
    const expected = Buffer.from(sign(encoded, se, key), 'base64');
    return expected.length === signature.length && timingSafeEqual(expected, signature);
  });
  if (!valid) return { ok: false, reason: 'the token signature does not match' };
  return { ok: true, audience, expiresAtMs };
}
