import { describe, expect, it } from 'vitest';
import { authenticateConnect, parseUsername } from '../../../devstack/iothub/mqtt/auth.js';
import { createSasToken } from '../../../devstack/iothub/sas.js';

const NOW_MS = 1_800_000_000_000;
const FUTURE_S = NOW_MS / 1000 + 60;
const KEYS: Record<string, string> = {
  dev1: Buffer.alloc(32, 1).toString('base64'),
  'edge1/mod1': Buffer.alloc(32, 2).toString('base64'),
};
const keyFor = (d: string, m: string | undefined) => KEYS[m === undefined ? d : `${d}/${m}`];
const AGENT = '&DeviceClientType=azure-iot-device%2F1.18.4%20(node%20v20.20.2%3B%20Debian%2012%3B%20x64)';

function connect(clientId: string, username: string, token: string | undefined) {
  return authenticateConnect({
    clientId,
    username,
    password: token === undefined ? undefined : Buffer.from(token),
    keyFor,
    nowMs: NOW_MS,
  });
}

describe('CONNECT authentication', () => {
  it('parses the SDK username: host with port, device id, optional module id, query ignored', () => {
    expect(parseUsername(`localhost:18883/dev1/?api-version=2021-04-12${AGENT}`)).toEqual({
      hostName: 'localhost:18883',
      deviceId: 'dev1',
    });
    expect(parseUsername('hub.azure-devices.net/edge1/mod1/?api-version=2021-04-12&model-id=dtmi:x;1')).toEqual({
      hostName: 'hub.azure-devices.net',
      deviceId: 'edge1',
      moduleId: 'mod1',
    });
    expect(parseUsername('nohost')).toBeUndefined();
    expect(parseUsername('h/a/b/c/?x')).toBeUndefined();
  });

  it('accepts a device and a module with valid tokens for their own resource', () => {
    const device = connect(
      'dev1',
      `localhost:18883/dev1/?api-version=2021-04-12${AGENT}`,
      createSasToken('localhost:18883/devices/dev1', KEYS.dev1 ?? '', FUTURE_S),
    );
    expect(device).toEqual({
      ok: true,
      identity: { deviceId: 'dev1' },
      hostName: 'localhost:18883',
      expiresAtMs: FUTURE_S * 1000,
    });
    const module = connect(
      'edge1/mod1',
      'localhost:18883/edge1/mod1/?api-version=2021-04-12',
      createSasToken('localhost:18883/devices/edge1/modules/mod1', KEYS['edge1/mod1'] ?? '', FUTURE_S),
    );
    expect(module).toEqual({
      ok: true,
      identity: { deviceId: 'edge1', moduleId: 'mod1' },
      hostName: 'localhost:18883',
      expiresAtMs: FUTURE_S * 1000,
    });
  });

  it('refuses a username for another device than the clientId', () => {
    const token = createSasToken('localhost:18883/devices/dev1', KEYS.dev1 ?? '', FUTURE_S);
    expect(connect('dev2', 'localhost:18883/dev1/?api-version=2021-04-12', token)).toEqual({
      ok: false,
      reason: 'username-mismatch',
    });
  });

  it('refuses an unknown device and an unknown module of a known device', () => {
    const token = createSasToken('localhost:18883/devices/ghost', KEYS.dev1 ?? '', FUTURE_S);
    expect(connect('ghost', 'localhost:18883/ghost/?api-version=1', token)).toEqual({
      ok: false,
      reason: 'unknown-identity',
    });
    expect(connect('dev1/m9', 'localhost:18883/dev1/m9/?api-version=1', token)).toEqual({
      ok: false,
      reason: 'unknown-identity',
    });
  });

  it('refuses a device token used for a module of the same device (resource must name the module)', () => {
    const token = createSasToken('localhost:18883/devices/edge1', KEYS['edge1/mod1'] ?? '', FUTURE_S);
    expect(connect('edge1/mod1', 'localhost:18883/edge1/mod1/?api-version=1', token)).toEqual({
      ok: false,
      reason: 'wrong-resource',
    });
  });

  it('refuses missing credentials, a wrong key and an expired token', () => {
    expect(connect('dev1', 'localhost:18883/dev1/?a', undefined)).toEqual({ ok: false, reason: 'no-credentials' });
    const wrong = createSasToken('localhost:18883/devices/dev1', KEYS['edge1/mod1'] ?? '', FUTURE_S);
    expect(connect('dev1', 'localhost:18883/dev1/?a', wrong)).toEqual({ ok: false, reason: 'bad-signature' });
    const expired = createSasToken('localhost:18883/devices/dev1', KEYS.dev1 ?? '', NOW_MS / 1000 - 5);
    expect(connect('dev1', 'localhost:18883/dev1/?a', expired)).toEqual({ ok: false, reason: 'expired-token' });
  });
});
