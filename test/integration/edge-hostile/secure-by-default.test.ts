/**
 * Hostile clients, issue 12 item 1: off loopback the listener needs TLS and client authentication, and a
 * client is who its certificate or its own password says, bound to its MQTT client id.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../../edge-module/config.js';
import { parseCredentials } from '../../../edge-module/inputs/mqtt/credentials.js';
import { connectDevice, startBatchPutEndpoint, startModule } from '../edge-helpers.js';
import type { BatchPutEndpoint } from '../edge-helpers.js';
import { createPki, credentialLine, metric, put, RawClient } from './helpers.js';
import type { DevicePki } from './helpers.js';

let pki: DevicePki;
let endpoint: BatchPutEndpoint;
const base = { SINK: 'iotanalytics', AWS_REGION: 'us-east-1', MemorySize: '1024', PublishInterval: '0' };

beforeAll(async () => {
  pki = await createPki();
  endpoint = await startBatchPutEndpoint();
});

afterAll(async () => {
  await endpoint?.close();
  await pki?.close();
});

/** How a connection attempt ended: 'connect', or the CONNACK return code / 'closed'. */
function attempt(url: string, options: mqtt.IClientOptions): Promise<'connect' | number | 'closed'> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 3000, ...options });
    const done = (result: 'connect' | number | 'closed') => {
      client.end(true);
      resolve(result);
    };
    client.once('connect', () => done('connect'));
    client.once('error', (err: Error & { code?: number }) => done(typeof err.code === 'number' ? err.code : 'closed'));
    client.once('close', () => done('closed'));
  });
}

const tlsFiles = () => ({ MQTT_TLS_CERT_FILE: pki.server.serverCertPath, MQTT_TLS_KEY_FILE: pki.server.serverKeyPath });

describe('secure by default: what the listener refuses to start with', () => {
  it('a non-loopback bind without TLS and client authentication is refused at start, naming the settings', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.20', 'edge.example']) {
      const plain = parseEdgeConfig({ MemorySize: '64', MQTT_HOST: host });
      expect(plain.ok, host).toBe(false);
      const message = plain.ok ? '' : (plain.issues.find((i) => i.parameter === 'MQTT_HOST')?.message ?? '');
      for (const name of ['MQTT_TLS_CERT_FILE', 'MQTT_TLS_KEY_FILE', 'MQTT_TLS_CA_FILE', 'MQTT_CREDENTIALS_FILE']) expect(message).toContain(name);
      // TLS alone is not enough: anyone could still connect.
      const tlsOnly = parseEdgeConfig({ MemorySize: '64', MQTT_HOST: host, MQTT_TLS_CERT_FILE: '/c.pem', MQTT_TLS_KEY_FILE: '/k.pem' });
      expect(tlsOnly.ok ? [] : tlsOnly.issues.map((i) => i.parameter)).toEqual(['MQTT_HOST']);
      expect(parseEdgeConfig({ MemorySize: '64', MQTT_HOST: host, MQTT_TLS_CERT_FILE: '/c.pem', MQTT_TLS_KEY_FILE: '/k.pem', MQTT_TLS_CA_FILE: '/ca.pem' }).ok).toBe(true);
    }
  });

  it('the module process exits with code 2 and the settings named when started on 0.0.0.0 without TLS', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'edge-module/main.ts'], {
      cwd: path.resolve(import.meta.dirname, '../../..'),
      env: { ...process.env, ...base, MQTT_HOST: '0.0.0.0', MQTT_PORT: '0', METRICS_PORT: '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/MQTT_HOST: '0\.0\.0\.0' is not a loopback address.*MQTT_TLS_CERT_FILE.*MQTT_TLS_CA_FILE.*MQTT_CREDENTIALS_FILE/);
  });

  it('plain MQTT is for loopback: the default bind is 127.0.0.1 and loopback addresses start without TLS', () => {
    const defaults = parseEdgeConfig({ MemorySize: '64' });
    expect(defaults.ok && defaults.config.mqtt).toMatchObject({ host: '127.0.0.1', port: 1883, tls: undefined });
    for (const host of ['127.0.0.1', '127.9.9.9', '::1', 'localhost']) expect(parseEdgeConfig({ MemorySize: '64', MQTT_HOST: host }).ok, host).toBe(true);
  });

  it('one shared password (MQTT_USERNAME/MQTT_PASSWORD) is refused at start, pointing to per-device credentials', () => {
    const r = parseEdgeConfig({ MemorySize: '64', MQTT_USERNAME: 'device', MQTT_PASSWORD: 's3cret' });
    expect(r.ok).toBe(false);
    const messages = r.ok ? [] : r.issues.map((i) => i.message);
    expect(messages.join('\n')).toContain('MQTT_CREDENTIALS_FILE');
    expect(messages.join('\n')).not.toContain('s3cret');
  });

  it('passwords never travel in plain text: MQTT_CREDENTIALS_FILE without TLS is refused at start, on loopback too', () => {
    const r = parseEdgeConfig({ MemorySize: '64', MQTT_CREDENTIALS_FILE: '/etc/iot-ingest/mqtt/passwords' });
    expect(r.ok ? [] : r.issues.map((i) => i.parameter)).toEqual(['MQTT_CREDENTIALS_FILE']);
  });
});

describe('X.509 client certificates (MQTT_TLS_CA_FILE): the subject CN is the client id', () => {
  it('a certificate signed by the configured CA whose CN equals the client id connects', async () => {
    const m = await startModule({ ...base, ...tlsFiles(), MQTT_TLS_CA_FILE: pki.deviceCaFile }, { iotAnalytics: endpoint.client() });
    const cert = await pki.device('thermostat-17');
    const device = await connectDevice(`mqtts://localhost:${m.mqtt.port}`, { ca: pki.server.caCert, ...cert, clientId: 'thermostat-17' });
    await device.client.publishAsync('iotanalytics/channels/x509/messages/put', put('c1'), { qos: 1 });
    expect(await device.waitFor(1)).toEqual(['{"response":{"status":"success"},"id":"c1"}']);
    await device.client.endAsync();
    await m.stop();
  });

  it('a certificate whose CN is not the client id is refused with CONNACK 5 (one device cannot pose as another)', async () => {
    const m = await startModule({ ...base, ...tlsFiles(), MQTT_TLS_CA_FILE: pki.deviceCaFile }, { iotAnalytics: endpoint.client() });
    const url = `mqtts://localhost:${m.mqtt.port}`;
    const cert = await pki.device('thermostat-17');
    expect(await attempt(url, { ca: pki.server.caCert, ...cert, clientId: 'thermostat-18' })).toBe(5);
    expect(await attempt(url, { ca: pki.server.caCert, ...cert, clientId: '' , clean: true })).toBe(5);
    expect(await metric(m.metricsUrl, 'iot_ingest_edge_mqtt_refused_total', { rule: 'client_id' })).toBe(2);
    await m.stop();
  });

  it('without a certificate, or with one from another CA, the TLS handshake fails', async () => {
    const m = await startModule({ ...base, ...tlsFiles(), MQTT_TLS_CA_FILE: pki.deviceCaFile }, { iotAnalytics: endpoint.client() });
    const url = `mqtts://localhost:${m.mqtt.port}`;
    expect(await attempt(url, { ca: pki.server.caCert, clientId: 'thermostat-17' })).toBe('closed');
    expect(await attempt(url, { ca: pki.server.caCert, ...(await pki.stranger('thermostat-17')), clientId: 'thermostat-17' })).toBe('closed');
    expect(await attempt(`mqtt://127.0.0.1:${m.mqtt.port}`, { clientId: 'thermostat-17' })).toBe('closed');
    await new Promise((r) => setTimeout(r, 100));
    expect(await metric(m.metricsUrl, 'iot_ingest_edge_mqtt_refused_total', { rule: 'tls' })).toBeGreaterThanOrEqual(2);
    await m.stop();
  });
});

describe('per-device credentials (MQTT_CREDENTIALS_FILE): the username is the client id', () => {
  it("each device's own password works; another device's, a wrong one, a missing one, or a username that is not the client id is refused", async () => {
    const file = path.join(pki.dir, 'passwords');
    await writeFile(file, `# devices of line 1\n${credentialLine('pump-1', 'first-secret')}\n${credentialLine('pump-2', 'second-secret')}\n`);
    const m = await startModule({ ...base, ...tlsFiles(), MQTT_CREDENTIALS_FILE: file }, { iotAnalytics: endpoint.client() });
    const url = `mqtts://localhost:${m.mqtt.port}`;
    const tls = { ca: pki.server.caCert };
    const device = await connectDevice(url, { ...tls, clientId: 'pump-1', username: 'pump-1', password: 'first-secret' });
    await device.client.publishAsync('iotanalytics/channels/pw/messages/put', put('p1'), { qos: 1 });
    expect(await device.waitFor(1)).toEqual(['{"response":{"status":"success"},"id":"p1"}']);
    await device.client.endAsync();
    expect(await attempt(url, { ...tls, clientId: 'pump-1', username: 'pump-1', password: 'second-secret' })).toBe(4);
    expect(await attempt(url, { ...tls, clientId: 'pump-1', username: 'pump-1', password: 'wrong' })).toBe(4);
    expect(await attempt(url, { ...tls, clientId: 'pump-1' })).toBe(4);
    expect(await attempt(url, { ...tls, clientId: 'pump-2', username: 'pump-1', password: 'first-secret' })).toBe(5);
    expect(await attempt(url, { ...tls, clientId: 'pump-9', username: 'pump-9', password: 'any' })).toBe(4);
    expect(await metric(m.metricsUrl, 'iot_ingest_edge_mqtt_refused_total', { rule: 'auth' })).toBe(4);
    await m.stop();
  });

  it('a device added to the file connects without a restart; a revoked one no longer does', async () => {
    const file = path.join(pki.dir, 'passwords-live');
    await writeFile(file, `${credentialLine('valve-1', 'one')}\n`);
    const m = await startModule({ ...base, ...tlsFiles(), MQTT_CREDENTIALS_FILE: file }, { iotAnalytics: endpoint.client() });
    const url = `mqtts://localhost:${m.mqtt.port}`;
    const tls = { ca: pki.server.caCert };
    expect(await attempt(url, { ...tls, clientId: 'valve-2', username: 'valve-2', password: 'two' })).toBe(4);
    await new Promise((r) => setTimeout(r, 20)); // a new modification time
    await writeFile(file, `${credentialLine('valve-2', 'two')}\n`);
    expect(await attempt(url, { ...tls, clientId: 'valve-2', username: 'valve-2', password: 'two' })).toBe('connect');
    expect(await attempt(url, { ...tls, clientId: 'valve-1', username: 'valve-1', password: 'one' })).toBe(4);
    await m.stop();
  });

  it('the file is mosquitto_passwd\'s format: a line written by mosquitto_passwd 2.0 verifies; plain or $6$ lines are refused naming the line', async () => {
    // Written by `mosquitto_passwd -c -b file device-1 pa55word` (mosquitto 2.0.11, Debian 12).
    const line = 'device-1:$7$101$eSCMVrYkmti7BRsM$YJaisS4JaUB+lR2YHDeUXGzvjpWCnMT073NvMqn4S4ljzkZ3cA57FC/WxRjWHmYK4TF3RvylXFsDh7CkU78/+g==';
    const file = path.join(pki.dir, 'passwords-mosquitto');
    await writeFile(file, `${line}\n`);
    const m = await startModule({ ...base, ...tlsFiles(), MQTT_CREDENTIALS_FILE: file }, { iotAnalytics: endpoint.client() });
    expect(await attempt(`mqtts://localhost:${m.mqtt.port}`, { ca: pki.server.caCert, clientId: 'device-1', username: 'device-1', password: 'pa55word' })).toBe('connect');
    await m.stop();
    expect(() => parseCredentials('/f', 'device-1:plaintext')).toThrow(/MQTT_CREDENTIALS_FILE '\/f': line 1 \(device-1\) is not a PBKDF2-SHA512 hash/);
    expect(() => parseCredentials('/f', '\nd2:$6$IzpGSt6N2josdo1f$cLDJYlURZV0bHj1Ze1xYlGu94+ZBz5XpqyNN7sDWvBdetT5nf1KXEEzI3sWh6WZpVmaygxQ7Ua4FQJeYnjVL4Q==')).toThrow(/line 2 \(d2\)/);
  });

  it('a plain-MQTT connection to the TLS port is refused (TLS is not optional)', async () => {
    const file = path.join(pki.dir, 'passwords-plain');
    await writeFile(file, `${credentialLine('pump-1', 'first-secret')}\n`);
    const m = await startModule({ ...base, ...tlsFiles(), MQTT_CREDENTIALS_FILE: file }, { iotAnalytics: endpoint.client() });
    const raw = await RawClient.connect(`mqtt://127.0.0.1:${m.mqtt.port}`);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'pump-1', username: 'pump-1', password: Buffer.from('first-secret') });
    expect(await raw.closesWithin(3000)).toBe(true);
    expect(raw.count('connack')).toBe(0);
    await m.stop();
  });
});
