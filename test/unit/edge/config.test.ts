import { describe, expect, it } from 'vitest';
import { applyDesired, parseEdgeConfig } from '../../../edge-module/config.js';

describe('edge configuration', () => {
  it('defaults: sink iothub, MQTT on 127.0.0.1:1883, memory only, 64 KB envelopes', () => {
    const r = parseEdgeConfig({ MemorySize: '1024' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.sink).toBe('iothub');
    expect(r.config.mqtt).toMatchObject({ host: '127.0.0.1', port: 1883, tls: undefined });
    expect(r.config.persistence).toBeUndefined();
    expect(r.config.hub.targetBytes).toBe(65536);
    expect(Object.isFrozen(r.config)).toBe(true);
  });

  it('reports every bad value at once, naming the variable and its rule', () => {
    const r = parseEdgeConfig({ MemorySize: 'x', IotAnalyticsBatchSizePerChannel: '0', SINK: 'kafka', MQTT_PORT: '70000', HUB_ENVELOPE_TARGET_BYTES: '5000', MQTT_USERNAME: 'u' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const names = r.issues.map((i) => i.parameter).sort();
    expect(names).toEqual(['HUB_ENVELOPE_TARGET_BYTES', 'IotAnalyticsBatchSizePerChannel', 'MQTT_USERNAME', 'MQTT_PORT', 'MemorySize', 'SINK'].sort());
    expect(r.issues.find((i) => i.parameter === 'SINK')?.message).toBe("SINK: 'kafka' does not match iothub|iotanalytics");
  });

  it('TLS needs both cert and key; a CA file turns on client-certificate auth; port defaults to 8883', () => {
    const bad = parseEdgeConfig({ MemorySize: '1', MQTT_TLS_CERT_FILE: '/c.pem' });
    expect(bad.ok).toBe(false);
    const good = parseEdgeConfig({ MemorySize: '1', MQTT_TLS_CERT_FILE: '/c.pem', MQTT_TLS_KEY_FILE: '/k.pem', MQTT_TLS_CA_FILE: '/ca.pem' });
    expect(good.ok && good.config.mqtt).toMatchObject({ port: 8883, tls: { certFile: '/c.pem', keyFile: '/k.pem' }, auth: { clientCaFile: '/ca.pem' } });
  });

  it('SINK=iotanalytics needs a region (AWS_REGION or PublishRegion)', () => {
    expect(parseEdgeConfig({ MemorySize: '1', SINK: 'iotanalytics' }).ok).toBe(false);
    const r = parseEdgeConfig({ MemorySize: '1', SINK: 'iotanalytics', PublishRegion: 'eu-west-1' });
    expect(r.ok && r.config.iotAnalytics.region).toBe('eu-west-1');
  });

  it('persistence settings are read in bytes and seconds', () => {
    const r = parseEdgeConfig({ MemorySize: '1', PERSISTENCE_DIR: '/data', PERSISTENCE_MAX_BYTES: '1000', PERSISTENCE_TTL_SECONDS: '60' });
    expect(r.ok && r.config.persistence).toEqual({ dir: '/data', maxBytes: 1000, ttlMs: 60000 });
  });
});

describe('twin desired properties', () => {
  const base = { MemorySize: '1024', IotAnalyticsBatchSizePerChannel: '5' };
  it('a valid desired value applies, numbers are taken as their string', () => {
    const r = applyDesired(base, base, { IotAnalyticsBatchSizePerChannel: 20, $version: 3 });
    expect(r.config.batchSizePerChannel).toBe(20);
    expect(r.refused).toEqual({});
  });
  it('an invalid desired value is refused with its reason, the old value kept, other values still applied', () => {
    const r = applyDesired(base, base, { IotAnalyticsBatchSizePerChannel: '0', PublishInterval: '3' });
    expect(r.config.batchSizePerChannel).toBe(5);
    expect(r.config.publishIntervalMs).toBe(3000);
    expect(r.refused.IotAnalyticsBatchSizePerChannel?.reason).toContain("IotAnalyticsBatchSizePerChannel: '0' does not match");
  });
  it('null returns a parameter to its environment value', () => {
    const current = { ...base, IotAnalyticsBatchSizePerChannel: '50' };
    expect(applyDesired(current, base, { IotAnalyticsBatchSizePerChannel: null }).config.batchSizePerChannel).toBe(5);
  });
});
