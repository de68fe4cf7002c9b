/**
 * The emulator's MQTT device side with the REAL azure-iot-device clients (and raw mqtt.js where the SDK
 * cannot misbehave on purpose), on a random loopback port, over an in-memory log.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import mqtt from 'mqtt';
import { Message } from 'azure-iot-device';
import type { Client, ModuleClient, Twin } from 'azure-iot-device';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevstackCertificates } from '../../devstack/certs.js';
import { startMqttEndpoint } from '../../devstack/iothub/mqtt/broker.js';
import type { MqttEndpoint } from '../../devstack/iothub/mqtt/broker.js';
import { LiveRegistry } from '../../devstack/iothub/registry.js';
import { identityConnectionString, updateRegistry, withoutDevice } from '../../contracts/registry.js';
import { createSasToken } from '../../devstack/iothub/sas.js';
import { TwinStore } from '../../devstack/iothub/twins.js';
import { MemoryLog, addDevice, addModule, eventually, openDeviceClient, openModuleClient } from './iothub-helpers.js';

let dir: string;
let registryFile: string;
let ca: string;
let log: MemoryLog;
let endpoint: MqttEndpoint;
const opened: { close(): Promise<unknown> }[] = [];

function hostName(): string {
  return `localhost:${endpoint.port}`;
}

async function connectionString(deviceId: string, primaryKey: string, moduleId?: string): Promise<string> {
  return identityConnectionString({
    hostName: 'localhost',
    mqttPort: endpoint.port,
    deviceId,
    primaryKey,
    ...(moduleId === undefined ? {} : { moduleId }),
  });
}

async function device(deviceId: string, tuning = {}): Promise<Client> {
  const identity = await addDevice(registryFile, deviceId);
  const client = await openDeviceClient(await connectionString(deviceId, identity.primaryKey), ca, tuning);
  opened.push(client);
  return client;
}

async function module(deviceId: string, moduleId: string, tuning = {}): Promise<ModuleClient> {
  await addDevice(registryFile, deviceId, true);
  const identity = await addModule(registryFile, deviceId, moduleId);
  const client = await openModuleClient(await connectionString(deviceId, identity.primaryKey, moduleId), ca, tuning);
  opened.push(client);
  return client;
}

/** A raw MQTT 3.1.1 client presenting whatever clientId/username/token a test wants. */
async function rawClient(clientId: string, username: string, password: string): Promise<mqtt.MqttClient> {
  const client = await mqtt.connectAsync(`mqtts://localhost:${endpoint.port}`, {
    clientId,
    username,
    password,
    ca,
    protocolVersion: 4,
    clean: false,
    reconnectPeriod: 0,
  });
  opened.push({ close: () => client.endAsync(true) });
  return client;
}

function closed(client: mqtt.MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'iothub-mqtt-'));
  const certs = await ensureDevstackCertificates(dir);
  ca = certs.caCert;
  registryFile = path.join(dir, 'iothub', 'registry.json');
  log = new MemoryLog(4);
  endpoint = await startMqttEndpoint({
    host: '127.0.0.1',
    port: 0,
    serverKey: certs.serverKey,
    serverCert: certs.serverCert,
    registry: new LiveRegistry(registryFile),
    twins: TwinStore.open(path.join(dir, 'iothub', 'twins.json')),
    log,
    logger: pino({ level: 'silent' }),
  });
});

afterAll(async () => {
  await Promise.allSettled(opened.map((c) => c.close()));
  await endpoint?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('IoT Hub MQTT: telemetry', () => {
  it('appends device telemetry with decoded system and user properties, in order, on the device’s partition', async () => {
    const client = await device('tele-dev');
    for (let i = 0; i < 20; i++) {
      const message = new Message(JSON.stringify({ i }));
      message.messageId = `m ${i}/ä`;
      message.correlationId = 'c1';
      message.contentType = 'application/json';
      message.contentEncoding = 'utf-8';
      message.properties.add('chan nel', 'a&b=c');
      await client.sendEvent(message);
    }
    const partition = log.partitionFor('tele-dev');
    const events = log.partitions[partition]?.filter((e) => e.deviceId === 'tele-dev') ?? [];
    expect(events.map((e) => JSON.parse(e.body.toString()).i)).toEqual([...Array(20).keys()]);
    const first = events[0];
    expect(first?.moduleId).toBeUndefined();
    expect(first?.messageSource).toBe('Telemetry');
    expect(first?.partitionKey).toBe('tele-dev');
    expect(first?.systemProperties).toEqual({
      messageId: 'm 0/ä',
      correlationId: 'c1',
      contentType: 'application/json',
      contentEncoding: 'utf-8',
    });
    expect({ ...first?.applicationProperties }).toEqual({ 'chan nel': 'a&b=c' });
    expect(first?.annotations?.['iothub-connection-auth-method']).toContain('"scope":"device"');
  });

  it('appends module telemetry and output events with the module id and output name', async () => {
    const client = await module('tele-edge', 'mod1');
    await client.sendEvent(new Message('plain'));
    const out = new Message('{"batch":1}');
    out.properties.add('channel', 'ch1');
    await client.sendOutputEvent('upstream', out);
    const events = log.all().filter((e) => e.deviceId === 'tele-edge');
    expect(events.map((e) => [e.moduleId, e.body.toString(), e.systemProperties.outputName])).toEqual([
      ['mod1', 'plain', undefined],
      ['mod1', '{"batch":1}', 'upstream'],
    ]);
    expect(events[1]?.applicationProperties.channel).toBe('ch1');
    expect(events.every((e) => e.partition === log.partitionFor('tele-edge'))).toBe(true);
  });

  it('acknowledges a QoS 1 publish only after the log append resolved', async () => {
    const identity = await addDevice(registryFile, 'raw-ack');
    const before = log.all().length;
    const client = await rawClient(
      'raw-ack',
      `${hostName()}/raw-ack/?api-version=2021-04-12`,
      createSasToken(`${hostName()}/devices/raw-ack`, identity.primaryKey, Math.floor(Date.now() / 1000) + 60),
    );
    await client.publishAsync('devices/raw-ack/messages/events/k=v', 'x', { qos: 1, retain: true });
    // By the time PUBACK arrived the event was already in the log.
    expect(log.all().length).toBe(before + 1);
    // RETAIN becomes a property, as on the hub.
    expect({ ...log.all().at(-1)?.applicationProperties }).toEqual({ k: 'v', 'mqtt-retain': 'true' });
  });
});

describe('IoT Hub MQTT: bursts', () => {
  it('acknowledges a burst of 500 concurrent QoS 1 publishes, each after its append, in publish order', async () => {
    const identity = await addDevice(registryFile, 'burst');
    const client = await rawClient(
      'burst',
      `${hostName()}/burst/?api-version=2021-04-12`,
      createSasToken(`${hostName()}/devices/burst`, identity.primaryKey, Math.floor(Date.now() / 1000) + 60),
    );
    const acked: number[] = [];
    await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        client.publishAsync('devices/burst/messages/events/', String(i), { qos: 1 }).then(() => {
          // Every acknowledged message is already in the log.
          expect(log.all().some((e) => e.deviceId === 'burst' && e.body.toString() === String(i))).toBe(true);
          acked.push(i);
        }),
      ),
    );
    // [MQTT-4.6.0-2] PUBACKs go out in the order the PUBLISHes arrived.
    expect(acked).toEqual([...Array(500).keys()]);
    const bodies = log
      .all()
      .filter((e) => e.deviceId === 'burst')
      .map((e) => Number(e.body.toString()));
    expect(bodies).toEqual([...Array(500).keys()]);
  });
});

describe('IoT Hub MQTT: refusals', () => {
  async function expectRefused(connectionStringText: string): Promise<void> {
    const { Client: DeviceClient } = await import('azure-iot-device');
    const { Mqtt } = await import('azure-iot-device-mqtt');
    const client = DeviceClient.fromConnectionString(connectionStringText, Mqtt);
    await client.setOptions({ ca });
    await expect(client.open()).rejects.toMatchObject({ name: 'UnauthorizedError' });
    await client.close().catch(() => undefined);
  }

  it('refuses a wrong key, an expired token and an unknown device with CONNACK 5, and keeps serving others', async () => {
    const good = await device('still-served');
    const identity = await addDevice(registryFile, 'victim');
    const before = endpoint.metrics().connectsRefused;

    await expectRefused(await connectionString('victim', Buffer.alloc(32, 9).toString('base64')));
    await expectRefused(await connectionString('nobody', identity.primaryKey));
    const expired = createSasToken(
      `${hostName()}/devices/victim`,
      identity.primaryKey,
      Math.floor(Date.now() / 1000) - 10,
    );
    await expectRefused(`HostName=${hostName()};DeviceId=victim;SharedAccessSignature=${expired}`);

    const after = endpoint.metrics().connectsRefused;
    expect((after['bad-signature'] ?? 0) - (before['bad-signature'] ?? 0)).toBe(1);
    expect((after['unknown-identity'] ?? 0) - (before['unknown-identity'] ?? 0)).toBe(1);
    expect((after['expired-token'] ?? 0) - (before['expired-token'] ?? 0)).toBe(1);
    await good.sendEvent(new Message('still here'));
    expect(log.all().at(-1)?.body.toString()).toBe('still here');
  });

  it('refuses a username for another device than the clientId with CONNACK 5', async () => {
    const identity = await addDevice(registryFile, 'impostor-target');
    const token = createSasToken(
      `${hostName()}/devices/impostor-target`,
      identity.primaryKey,
      Math.floor(Date.now() / 1000) + 60,
    );
    await expect(
      rawClient('someone-else', `${hostName()}/impostor-target/?api-version=2021-04-12`, token),
    ).rejects.toMatchObject({ code: 5 });
    expect(endpoint.metrics().connectsRefused['username-mismatch']).toBe(1);
  });

  it('closes a client that publishes to another device’s topic, without PUBACK or append', async () => {
    const identity = await addDevice(registryFile, 'spoofer');
    await addDevice(registryFile, 'spoofed');
    const client = await rawClient(
      'spoofer',
      `${hostName()}/spoofer/?api-version=2021-04-12`,
      createSasToken(`${hostName()}/devices/spoofer`, identity.primaryKey, Math.floor(Date.now() / 1000) + 60),
    );
    const gone = closed(client);
    let acked = false;
    client.publish('devices/spoofed/messages/events/', 'evil', { qos: 1 }, (err) => {
      if (!err) acked = true;
    });
    await gone;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(acked).toBe(false);
    expect(log.all().some((e) => e.deviceId === 'spoofed')).toBe(false);
    expect(endpoint.metrics().messagesRefused['foreign-topic']).toBe(1);
  });

  it('disconnects on a message over 256 KB (body + properties), counts it, and keeps serving others', async () => {
    const big = await device('oversize-dev');
    const other = await device('oversize-neighbour');
    // The SDK checks the body alone; the hub also counts property names and values.
    const message = new Message(Buffer.alloc(256 * 1024, 1));
    message.properties.add('tip', 'over');
    void big.sendEvent(message).catch(() => undefined);
    await eventually(() => (endpoint.metrics().oversizeMessages ?? 0) >= 1, 10_000, 'oversize counted');
    expect(log.all().some((e) => e.deviceId === 'oversize-dev')).toBe(false);
    await other.sendEvent(new Message('neighbour ok'));
    expect(log.all().at(-1)?.deviceId).toBe('oversize-neighbour');
    await big.close().catch(() => undefined);
  });

  it('closes a connection when its SAS token expires, as the hub does', async () => {
    const identity = await addDevice(registryFile, 'short-token');
    const expiresAtS = Math.floor(Date.now() / 1000) + 2;
    const client = await rawClient(
      'short-token',
      `${hostName()}/short-token/?api-version=2021-04-12`,
      createSasToken(`${hostName()}/devices/short-token`, identity.primaryKey, expiresAtS),
    );
    await closed(client);
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAtS * 1000 - 50);
    expect(endpoint.metrics().connectionsExpired).toBe(1);
  });

  it('lets a new connection for a connected clientId replace the old one', async () => {
    const identity = await addDevice(registryFile, 'twice');
    const password = createSasToken(
      `${hostName()}/devices/twice`,
      identity.primaryKey,
      Math.floor(Date.now() / 1000) + 60,
    );
    const first = await rawClient('twice', `${hostName()}/twice/?api-version=2021-04-12`, password);
    const firstClosed = closed(first);
    const second = await rawClient('twice', `${hostName()}/twice/?api-version=2021-04-12`, password);
    await firstClosed;
    await second.publishAsync('devices/twice/messages/events/', 'second', { qos: 1 });
    expect(log.all().at(-1)?.body.toString()).toBe('second');
  });
});

describe('IoT Hub MQTT: module inputs and twins with the real ModuleClient', () => {
  it('delivers module input messages with their properties', async () => {
    const client = await module('in-edge', 'in-mod');
    const received: { input: string; body: string; props: Record<string, string>; mid: unknown }[] = [];
    client.on('inputMessage', (input, msg) => {
      const props: Record<string, string> = {};
      for (let i = 0; i < msg.properties.count(); i++) {
        const item = msg.properties.getItem(i);
        if (item) props[item.key] = item.value;
      }
      received.push({ input, body: msg.getBytes().toString(), props, mid: msg.messageId });
      void client.complete(msg).catch(() => undefined);
    });
    // The SDK subscribes when the first listener is attached; wait for it before sending.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await endpoint.sendToModuleInput('in-edge', 'in-mod', 'put', '{"request":{"message":"hi"},"id":"r1"}', {
      channel: 'a/b=c&d',
      '$.mid': 'mid-1',
    });
    await eventually(() => received.length === 1, 5000, 'input message');
    expect(received[0]).toEqual({
      input: 'put',
      body: '{"request":{"message":"hi"},"id":"r1"}',
      props: { channel: 'a/b=c&d' },
      mid: 'mid-1',
    });
  });

  it('answers twin GET and reported PATCH, and pushes desired patches', async () => {
    const client = await module('twin-edge', 'twin-mod');
    await endpoint.updateDesired('twin-edge', 'twin-mod', { PublishInterval: '3' });
    const twin: Twin = await client.getTwin();
    expect(twin.properties.desired).toMatchObject({ PublishInterval: '3', $version: 2 });
    const patches: Record<string, unknown>[] = [];
    // The Twin hands out its live desired object (later merged into), so keep copies.
    twin.on('properties.desired', (patch: Record<string, unknown>) => patches.push({ ...patch }));
    await new Promise<void>((resolve, reject) =>
      twin.properties.reported.update({ status: 'running', nested: { a: 1 } }, (err?: Error) =>
        err ? reject(err) : resolve(),
      ),
    );
    expect(endpoint.getTwin('twin-edge', 'twin-mod').reported).toEqual({
      status: 'running',
      nested: { a: 1 },
      $version: 2,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const document = await endpoint.updateDesired('twin-edge', 'twin-mod', { MemorySize: '2048' });
    expect(document.desired).toEqual({ PublishInterval: '3', MemorySize: '2048', $version: 3 });
    await eventually(() => patches.some((p) => p.MemorySize === '2048'), 5000, 'desired patch');
    expect(patches.find((p) => p.MemorySize === '2048')).toEqual({ MemorySize: '2048', $version: 3 });
  });

  it('keeps input and desired subscriptions across token-renewal reconnects', async () => {
    const client = await module('renew-edge', 'renew-mod', {
      tokenValidTimeInSeconds: 4,
      tokenRenewalMarginInSeconds: 2,
    });
    const inputs: string[] = [];
    client.on('inputMessage', (_input, msg) => {
      inputs.push(msg.getBytes().toString());
      void client.complete(msg).catch(() => undefined);
    });
    const twin = await client.getTwin();
    const patches: unknown[] = [];
    twin.on('properties.desired', (patch: { n?: number }) => {
      if (patch.n !== undefined) patches.push(patch.n);
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const acceptedBefore = endpoint.metrics().connectsAccepted;
    // Two renewals (every 2 s), each a DISCONNECT + new CONNECT without SUBSCRIBE.
    await eventually(() => endpoint.metrics().connectsAccepted >= acceptedBefore + 2, 10_000, 'two renewals');
    await eventually(() => endpoint.metrics().connections > 0, 5000, 'reconnected');
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The input is QoS 1 on a kept session: it is delivered even if the next renewal is under way.
    await endpoint.sendToModuleInput('renew-edge', 'renew-mod', 'in', 'after renewal');
    // A desired patch, as on IoT Hub, reaches only a connected client, and renewals keep coming every 2 s: a
    // patch that falls into a renewal's gap (wider on a loaded machine) is followed by another one a second
    // later. Any patch arriving after the two renewals shows the subscription was kept.
    let n = 7;
    await endpoint.updateDesired('renew-edge', 'renew-mod', { n });
    const resend = setInterval(() => void endpoint.updateDesired('renew-edge', 'renew-mod', { n: ++n }).catch(() => undefined), 1000);
    try {
      await eventually(() => inputs.includes('after renewal') && patches.some((p) => (p as number) >= 7), 15_000, 'delivery after renewal');
    } finally {
      clearInterval(resend);
    }
  }, 45_000);
});

describe('IoT Hub MQTT: stopping', () => {
  it('stops promptly even with a TCP connection that never finished its TLS handshake', async () => {
    const { connect } = await import('node:net');
    const certs = await ensureDevstackCertificates(dir);
    const other = await startMqttEndpoint({
      host: '127.0.0.1',
      port: 0,
      serverKey: certs.serverKey,
      serverCert: certs.serverCert,
      registry: new LiveRegistry(registryFile),
      twins: TwinStore.open(path.join(dir, 'iothub', 'twins-stop.json')),
      log: new MemoryLog(1),
      logger: pino({ level: 'silent' }),
    });
    const socket = connect(other.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const started = Date.now();
    await other.stop();
    expect(Date.now() - started).toBeLessThan(2000);
    socket.destroy();
  }, 10_000);
});

describe('IoT Hub MQTT: live registry', () => {
  it('accepts a device added while running and drops one removed while connected', async () => {
    const client = await device('late-comer');
    await client.sendEvent(new Message('hello'));
    await updateRegistry(registryFile, (data) => ({ data: withoutDevice(data, 'late-comer'), result: undefined }));
    expect(endpoint.revokeStaleConnections()).toBe(1);
    expect(endpoint.metrics().connectionsRevoked).toBe(1);
    await expect(client.sendEvent(new Message('after removal'))).rejects.toBeDefined();
    expect(log.all().some((e) => e.body.toString() === 'after removal')).toBe(false);
  }, 60_000);
});
