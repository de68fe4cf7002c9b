import { describe, expect, it } from 'vitest';
import {
  SensorModel,
  encodeBinary,
  encodeJson,
  readingIdOfPayload,
  readingIdOfRecord,
} from '../../../devstack/simulator/telemetry.js';
import { greengrassPublication, inputForSeq } from '../../../devstack/simulator/greengrass-device.js';
import { deviceIds } from '../../../devstack/simulator/simulator.js';

describe('simulated telemetry', () => {
  it('is reproducible per device and carries readingId {deviceId}:{seq} and an ISO ts', () => {
    const a = new SensorModel('dev-1');
    const b = new SensorModel('dev-1');
    const ra = [a.next(0), a.next(1000)];
    expect([b.next(0), b.next(1000)]).toEqual(ra);
    expect(ra.map((r) => r.readingId)).toEqual(['dev-1:0', 'dev-1:1']);
    expect(ra[1]?.ts).toBe('1970-01-01T00:00:01.000Z');
  });

  it('drifts slowly and stays within physical bounds', () => {
    const model = new SensorModel('dev-2');
    const readings = Array.from({ length: 5000 }, (_, i) => model.next(i * 1000));
    for (const r of readings) {
      expect(r.temperatureC).toBeGreaterThan(-21);
      expect(r.temperatureC).toBeLessThan(61);
      expect(r.humidityPct).toBeGreaterThanOrEqual(0);
      expect(r.humidityPct).toBeLessThanOrEqual(100);
      expect(r.vibrationMmS).toBeGreaterThanOrEqual(0);
    }
    const steps = readings.slice(1).map((r, i) => Math.abs(r.temperatureC - (readings[i]?.temperatureC ?? 0)));
    expect(Math.max(...steps)).toBeLessThan(1);
    expect(new Set(readings.map((r) => r.temperatureC)).size).toBeGreaterThan(100);
  });

  it('continues from a given sequence number', () => {
    expect(new SensorModel('d', undefined, 40).next(0).readingId).toBe('d:40');
  });

  it('recovers the readingId from JSON, binary and record forms', () => {
    const reading = new SensorModel('dev-3').next(0);
    expect(readingIdOfPayload(encodeJson(reading))).toBe('dev-3:0');
    expect(readingIdOfPayload(encodeBinary(reading))).toBe('dev-3:0');
    expect(() => JSON.parse(encodeBinary(reading).toString())).toThrow();
    expect(readingIdOfRecord({ body: JSON.parse(encodeJson(reading).toString()) })).toBe('dev-3:0');
    expect(readingIdOfRecord({ bodyBase64: encodeBinary(reading).toString('base64') })).toBe('dev-3:0');
    expect(readingIdOfRecord({ body: 'not a reading' })).toBeUndefined();
  });
});

describe('Greengrass-style publications', () => {
  it('rotates put, put, binary, custom topic', () => {
    expect([0, 1, 2, 3, 4].map(inputForSeq)).toEqual(['put', 'put', 'binary', 'custom', 'put']);
  });

  it('uses the connector topics and a put request with the readingId as id', () => {
    const reading = new SensorModel('gg-1').next(0);
    const put = greengrassPublication(reading, 'telemetry', 'put');
    expect(put.topic).toBe('iotanalytics/channels/telemetry/messages/put');
    const body = JSON.parse(put.payload.toString()) as { id: string; request: { message: string } };
    expect(body.id).toBe('gg-1:0');
    expect(JSON.parse(body.request.message)).toEqual(reading);
    expect(put.requestId).toBe('gg-1:0');
    const binary = greengrassPublication(reading, 'telemetry', 'binary');
    expect(binary.topic).toBe('iotanalytics/channels/telemetry/messages/binary/put');
    expect(binary.requestId).toBeUndefined();
    expect(greengrassPublication(reading, 'telemetry', 'custom').topic).toBe('sensors/gg-1/telemetry');
  });

  it('splits devices between the direct and the edge path', () => {
    expect(deviceIds({ devices: 3 })).toEqual({
      direct: ['sim-direct-001', 'sim-direct-002'],
      greengrass: ['sim-gg-001'],
    });
    expect(deviceIds({ devices: 2, directDevices: 0, devicePrefix: 'x' })).toEqual({
      direct: [],
      greengrass: ['x-gg-001', 'x-gg-002'],
    });
    expect(deviceIds({ devices: 0 })).toEqual({ direct: [], greengrass: [] });
  });
});

describe('injected anomalies (--anomaly)', () => {
  it('an anomaly raises the temperature by 14–18 °C for 8–15 s, then it returns', () => {
    const plain = new SensorModel('dev-4');
    const anomalous = new SensorModel('dev-4', undefined, 0, 0.01);
    const rises = Array.from({ length: 20_000 }, (_, i) => anomalous.next(i * 100).temperatureC - plain.next(i * 100).temperatureC);
    const hot = rises.map((r) => r > 13.5);
    expect(anomalous.anomalyCount).toBeGreaterThan(5);
    for (const r of rises) expect(r < 0.001 || (r > 13.5 && r < 18.01)).toBe(true);
    // Episode lengths, in readings 100 ms apart.
    const lengths: number[] = [];
    let run = 0;
    for (const h of [...hot, false]) {
      if (h) run++;
      else if (run > 0) {
        lengths.push(run);
        run = 0;
      }
    }
    expect(Math.min(...lengths.slice(0, -1))).toBeGreaterThanOrEqual(80);
    expect(Math.max(...lengths)).toBeLessThanOrEqual(151);
  });

  it('without anomalies the readings are unchanged (a second generator decides them)', () => {
    const a = new SensorModel('dev-5');
    const b = new SensorModel('dev-5', undefined, 0, 0);
    expect(Array.from({ length: 100 }, (_, i) => b.next(i))).toEqual(Array.from({ length: 100 }, (_, i) => a.next(i)));
  });
});
