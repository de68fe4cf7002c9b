import { describe, expect, it } from 'vitest';
import {
  createSasToken,
  encodeUriComponentStrict,
  parseSasToken,
  signSas,
  verifySasToken,
} from '../../../devstack/iothub/sas.js';

const KEY = Buffer.alloc(32, 7).toString('base64');
const NOW_MS = 1_800_000_000_000;
const FUTURE_S = NOW_MS / 1000 + 3600;
const RESOURCE = 'localhost:18883/devices/dev1';

describe('SAS tokens', () => {
  it('accepts a token signed over the URL-encoded resource and expiry with the base64-decoded key', () => {
    const token = createSasToken(RESOURCE, KEY, FUTURE_S);
    expect(token).toMatch(/^SharedAccessSignature sr=localhost%3A18883%2Fdevices%2Fdev1&sig=.+&se=\d+$/);
    expect(verifySasToken({ token, keyBase64: KEY, expectedResource: RESOURCE, nowMs: NOW_MS })).toEqual({ ok: true });
  });

  it('signs exactly as the SDK does: HMAC-SHA256 over "sr\\nse", strict-encoded', () => {
    // Independent of createSasToken: the SDK signs the raw (still encoded) sr.
    const sr = encodeUriComponentStrict(RESOURCE);
    const sig = signSas(sr, FUTURE_S, KEY);
    const token = `SharedAccessSignature sr=${sr}&sig=${encodeUriComponentStrict(sig)}&se=${FUTURE_S}`;
    expect(verifySasToken({ token, keyBase64: KEY, expectedResource: RESOURCE, nowMs: NOW_MS }).ok).toBe(true);
  });

  it('refuses a token signed with another key', () => {
    const token = createSasToken(RESOURCE, Buffer.alloc(32, 8).toString('base64'), FUTURE_S);
    expect(verifySasToken({ token, keyBase64: KEY, expectedResource: RESOURCE, nowMs: NOW_MS })).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('refuses an expired token, and one expiring exactly now', () => {
    const past = createSasToken(RESOURCE, KEY, NOW_MS / 1000 - 1);
    const now = createSasToken(RESOURCE, KEY, NOW_MS / 1000);
    for (const token of [past, now]) {
      expect(verifySasToken({ token, keyBase64: KEY, expectedResource: RESOURCE, nowMs: NOW_MS })).toEqual({
        ok: false,
        reason: 'expired-token',
      });
    }
  });

  it('refuses a token for another resource, but compares the resource case-insensitively', () => {
    const other = createSasToken('localhost:18883/devices/dev2', KEY, FUTURE_S);
    expect(verifySasToken({ token: other, keyBase64: KEY, expectedResource: RESOURCE, nowMs: NOW_MS }).ok).toBe(false);
    const upper = createSasToken('LOCALHOST:18883/devices/dev1', KEY, FUTURE_S);
    expect(verifySasToken({ token: upper, keyBase64: KEY, expectedResource: RESOURCE, nowMs: NOW_MS }).ok).toBe(true);
  });

  it('refuses malformed tokens and hub policy tokens (skn)', () => {
    for (const token of [
      '',
      'sr=a&sig=b&se=1',
      'SharedAccessSignature sr=a&se=1',
      'SharedAccessSignature sr=a&sig=b&se=x',
    ]) {
      expect(verifySasToken({ token, keyBase64: KEY, expectedResource: RESOURCE, nowMs: NOW_MS })).toEqual({
        ok: false,
        reason: 'malformed-token',
      });
    }
    const withName = createSasToken(RESOURCE, KEY, FUTURE_S).replace('&se=', '&skn=service&se=');
    expect(verifySasToken({ token: withName, keyBase64: KEY, expectedResource: RESOURCE, nowMs: NOW_MS })).toEqual({
      ok: false,
      reason: 'policy-token',
    });
  });

  it('parses the fields and decodes sr and sig', () => {
    const parsed = parseSasToken(createSasToken(RESOURCE, KEY, FUTURE_S));
    expect(parsed?.resource).toBe(RESOURCE);
    expect(parsed?.resourceRaw).toBe('localhost%3A18883%2Fdevices%2Fdev1');
    expect(parsed?.expirySeconds).toBe(FUTURE_S);
    expect(Buffer.from(parsed?.signature ?? '', 'base64')).toHaveLength(32);
  });
});
