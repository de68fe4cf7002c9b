import { describe, expect, it } from 'vitest';
import { connectionAnnotations, telemetryEvent } from '../../../devstack/iothub/mqtt/telemetry.js';

const ANNOTATIONS = connectionAnnotations(undefined, '42');

describe('telemetry PUBLISH → log event', () => {
  it('builds a Telemetry event keyed by the device, with the decoded bag and the connection annotations', () => {
    const verdict = telemetryEvent({
      deviceId: 'd1',
      moduleId: 'm1',
      bag: '%24.mid=1&%24.on=upstream&channel=c/',
      body: Buffer.from('{}'),
      retain: false,
      annotations: ANNOTATIONS,
    });
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.event).toMatchObject({
      deviceId: 'd1',
      moduleId: 'm1',
      partitionKey: 'd1',
      messageSource: 'Telemetry',
      systemProperties: { messageId: '1', outputName: 'upstream' },
      annotations: { 'iothub-connection-auth-generation-id': '42' },
    });
    expect({ ...verdict.event.applicationProperties }).toEqual({ channel: 'c' });
  });

  it('accepts exactly 256 KB counted the hub’s way and refuses one byte more as oversize', () => {
    const base = { deviceId: 'd', retain: false, annotations: ANNOTATIONS };
    // 'k' + 'v' = 2 bytes of properties.
    const atLimit = telemetryEvent({ ...base, bag: 'k=v', body: Buffer.alloc(256 * 1024 - 2) });
    expect(atLimit.ok).toBe(true);
    const over = telemetryEvent({ ...base, bag: 'k=vv', body: Buffer.alloc(256 * 1024 - 2) });
    expect(over).toMatchObject({ ok: false, reason: 'oversize' });
  });

  it('turns RETAIN into the mqtt-retain property and refuses a badly encoded bag', () => {
    const retained = telemetryEvent({ deviceId: 'd', bag: '', body: Buffer.alloc(1), retain: true, annotations: {} });
    expect(retained.ok && retained.event.applicationProperties['mqtt-retain']).toBe('true');
    const bad = telemetryEvent({ deviceId: 'd', bag: 'a=%zz', body: Buffer.alloc(1), retain: false, annotations: {} });
    expect(bad).toMatchObject({ ok: false, reason: 'bad-property-bag' });
  });

  it('stamps the auth method the hub writes for SAS device and module connections', () => {
    expect(JSON.parse(String(connectionAnnotations(undefined, 'g')['iothub-connection-auth-method']))).toEqual({
      scope: 'device',
      type: 'sas',
      issuer: 'iothub',
      acceptingIpFilterRule: null,
    });
    expect(String(connectionAnnotations('m', 'g')['iothub-connection-auth-method'])).toContain('"scope":"module"');
  });
});
