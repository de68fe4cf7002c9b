import { describe, expect, it } from 'vitest';
import {
  allowedSubscriptions,
  classifyInboundTopic,
  desiredPatchTopic,
  isOwnTelemetry,
  moduleInputTopic,
  twinResponseTopic,
} from '../../../devstack/iothub/mqtt/topics.js';

describe('IoT Hub MQTT topics', () => {
  it('recognises device and module telemetry with and without a bag', () => {
    expect(classifyInboundTopic('devices/d1/messages/events/%24.mid=1&a=b')).toEqual({
      kind: 'telemetry',
      deviceId: 'd1',
      bag: '%24.mid=1&a=b',
    });
    expect(classifyInboundTopic('devices/d1/messages/events/')).toEqual({ kind: 'telemetry', deviceId: 'd1', bag: '' });
    expect(classifyInboundTopic('devices/d1/messages/events')).toEqual({ kind: 'telemetry', deviceId: 'd1', bag: '' });
    expect(classifyInboundTopic('devices/e1/modules/m1/messages/events/%24.on=upstream/')).toEqual({
      kind: 'telemetry',
      deviceId: 'e1',
      moduleId: 'm1',
      bag: '%24.on=upstream/',
    });
  });

  it('allows telemetry only on the identity’s own topic', () => {
    const device = classifyInboundTopic('devices/d1/messages/events/');
    const module = classifyInboundTopic('devices/d1/modules/m1/messages/events/');
    if (device.kind !== 'telemetry' || module.kind !== 'telemetry') throw new Error('expected telemetry');
    expect(isOwnTelemetry(device, { deviceId: 'd1' })).toBe(true);
    expect(isOwnTelemetry(device, { deviceId: 'd2' })).toBe(false);
    expect(isOwnTelemetry(device, { deviceId: 'd1', moduleId: 'm1' })).toBe(false);
    expect(isOwnTelemetry(module, { deviceId: 'd1', moduleId: 'm1' })).toBe(true);
    expect(isOwnTelemetry(module, { deviceId: 'd1' })).toBe(false);
  });

  it('recognises twin GET and reported PATCH with their $rid, and stray method responses', () => {
    expect(classifyInboundTopic('$iothub/twin/GET/?$rid=abc')).toEqual({ kind: 'twin-get', requestId: 'abc' });
    expect(classifyInboundTopic('$iothub/twin/PATCH/properties/reported/?$rid=7&$version=2')).toEqual({
      kind: 'twin-reported',
      requestId: '7',
    });
    expect(classifyInboundTopic('$iothub/methods/res/200/?$rid=9')).toEqual({
      kind: 'method-response',
      requestId: '9',
      status: '200',
    });
  });

  it('classifies anything else as unknown (a twin request without $rid too)', () => {
    for (const topic of [
      '$iothub/twin/GET/',
      '$iothub/twin/res/200/?$rid=1',
      'devices/d1/modules/m1/inputs/in/',
      'devices/d1/messages/devicebound/',
      'a/b',
    ]) {
      expect(classifyInboundTopic(topic)).toEqual({ kind: 'unknown' });
    }
  });

  it('lets a module subscribe to its inputs, a device to its C2D, and both to twin and methods', () => {
    expect(allowedSubscriptions({ deviceId: 'e1', moduleId: 'm1' })).toContain('devices/e1/modules/m1/inputs/#');
    expect(allowedSubscriptions({ deviceId: 'e1', moduleId: 'm1' })).not.toContain('devices/e1/messages/devicebound/#');
    expect(allowedSubscriptions({ deviceId: 'd1' })).toEqual([
      'devices/d1/messages/devicebound/#',
      '$iothub/twin/res/#',
      '$iothub/twin/PATCH/properties/desired/#',
      '$iothub/methods/POST/#',
    ]);
  });

  it('builds the topics the SDK dispatches on (trailing / after the input name)', () => {
    expect(moduleInputTopic('e1', 'm1', 'in1', '')).toBe('devices/e1/modules/m1/inputs/in1/');
    expect(moduleInputTopic('e1', 'm1', 'in1', 'a=b')).toMatch(/^devices\/.*\/modules\/.*\/inputs\/.*\/.*$/);
    expect(twinResponseTopic(200, 'r1')).toBe('$iothub/twin/res/200/?$rid=r1');
    expect(twinResponseTopic(204, 'r1', 5)).toBe('$iothub/twin/res/204/?$rid=r1&$version=5');
    expect(desiredPatchTopic(3)).toBe('$iothub/twin/PATCH/properties/desired/?$version=3');
  });
});
