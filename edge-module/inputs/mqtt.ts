/**
 * The embedded MQTT listener (aedes) with the connector's topics. Inputs are handled in aedes'
 * `authorizePublish` hook because aedes sends the QoS 1 PUBACK only after that hook calls back: with
 * persistence on, the callback waits until the message is on disk, so an acknowledged message survives
 * `kill -9`. A bad input is answered with a `fail` status, never by dropping the connection.
 */
import { Aedes } from 'aedes';
import type { Client, PublishPacket } from 'aedes';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { timingSafeEqual } from 'node:crypto';
import { isValidChannelName } from '@iot-ingest/batching';
import type { MqttConfig } from '../config.js';
import type { Ingest, MessageMeta } from '../ingest.js';
import type { Logger } from '../log.js';
import { checkRawPayload, parsePutRequest, routeTopic, STATUS_TOPIC } from './parse.js';

export interface MqttListener {
  readonly port: number;
  readonly url: string;
  /** The status of one input, to the client that published it. */
  publishStatus(json: string, meta: MessageMeta): void;
  /** Stop taking new connections and inputs; existing clients still receive statuses. */
  stopAccepting(): Promise<void>;
  close(): Promise<void>;
}

export interface MqttListenerOptions {
  readonly config: MqttConfig;
  readonly ingest: Ingest;
  /** The default channel in force now (it can change with the twin). */
  readonly defaultChannel: () => string | undefined;
  readonly log: Logger;
}

function sameSecret(given: Buffer | undefined, expected: string): boolean {
  if (!given) return false;
  const want = Buffer.from(expected, 'utf8');
  return given.length === want.length && timingSafeEqual(given, want);
}

/** Copy a payload that is a small view of a large socket buffer, so the queue never pins the big one. */
function own(payload: Buffer): Buffer {
  return payload.buffer.byteLength > payload.byteLength * 2 + 1024 ? Buffer.from(payload) : payload;
}

export async function startMqttListener(options: MqttListenerOptions): Promise<MqttListener> {
  const { config, ingest, log } = options;
  let accepting = true;

  const handle = (client: Client, packet: PublishPacket): Promise<void> | undefined => {
    const deviceId = client.id;
    const qos: 0 | 1 = packet.qos >= 1 ? 1 : 0;
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const route = routeTopic(packet.topic);
    // [never echo our own status topic back into the engine]
    if (route.kind === 'status') return undefined;
    if (route.kind === 'put') {
      const parsed = parsePutRequest(payload);
      const base = { source: 'mqtt' as const, qos, channel: route.channel, correlate: true, deviceId };
      if (!parsed.ok) {
        ingest.refuse({ ...base, id: parsed.id }, parsed.code, parsed.message, parsed.code === 'MessageTooLargeException' ? 'too_large' : 'invalid');
        return undefined;
      }
      if (!isValidChannelName(route.channel)) {
        ingest.refuse({ ...base, id: parsed.id }, 'InvalidRequestException', `channel name '${route.channel.slice(0, 64)}' in the topic is invalid: use 1-128 of [a-zA-Z0-9_], not starting with __`);
        return undefined;
      }
      return ingest.submit({ ...base, id: parsed.id, payload: parsed.payload });
    }
    const channel = route.kind === 'binary' ? route.channel : options.defaultChannel();
    const base = { source: 'mqtt' as const, qos, channel: channel ?? '', correlate: false, id: undefined, deviceId };
    if (channel === undefined) {
      ingest.refuse(base, 'InvalidRequestException', `no default channel is configured (IotAnalyticsDefaultChannelName) for messages on topic '${packet.topic.slice(0, 128)}'`, 'invalid', packet.topic);
      return undefined;
    }
    if (!isValidChannelName(channel)) {
      ingest.refuse(base, 'InvalidRequestException', `channel name '${channel.slice(0, 64)}' in the topic is invalid: use 1-128 of [a-zA-Z0-9_], not starting with __`);
      return undefined;
    }
    const raw = checkRawPayload(payload);
    if (!raw.ok) {
      ingest.refuse(base, raw.code, raw.message, raw.code === 'MessageTooLargeException' ? 'too_large' : 'invalid');
      return undefined;
    }
    return ingest.submit({ ...base, payload: own(payload) });
  };

  /** After shutdown began: every input still gets an answer. */
  const refuseStopping = (packet: PublishPacket): void => {
    const route = routeTopic(packet.topic);
    if (route.kind === 'status') return;
    const qos: 0 | 1 = packet.qos >= 1 ? 1 : 0;
    const put = route.kind === 'put' ? parsePutRequest(Buffer.from(packet.payload)) : undefined;
    const channel = route.kind === 'default' ? (options.defaultChannel() ?? '') : route.channel;
    ingest.refuse(
      { source: 'mqtt', qos, channel, id: put?.id, correlate: route.kind === 'put' },
      'ShutdownException',
      'the module is shutting down and takes no new messages',
      'rejected',
    );
  };

  const broker = await Aedes.createBroker({
    authenticate: (_client: Client, username: string | undefined, password: Buffer | undefined, done) => {
      if (config.username === undefined || config.password === undefined) return done(null, true);
      const ok = username === config.username && sameSecret(password, config.password);
      if (ok) return done(null, true);
      const err = Object.assign(new Error('bad username or password'), { returnCode: 4 });
      return done(err as Parameters<typeof done>[0], false);
    },
    authorizePublish: (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) => {
      if (client === null) return callback(null);
      if (!accepting) {
        refuseStopping(packet);
        return callback(null);
      }
      let waiting: Promise<void> | undefined;
      try {
        waiting = handle(client, packet);
      } catch (err) {
        // A bug must not take the listener down: log it and let the publish through unqueued.
        log.error({ error: (err as Error).message, topic: packet.topic.slice(0, 128) }, 'input handler failed');
      }
      // QoS 1: the PUBACK goes out when this callback runs, i.e. after the message is on disk.
      if (waiting && packet.qos >= 1) waiting.then(() => callback(null), () => callback(null));
      else callback(null);
    },
  });
  broker.on('clientError', (client: Client, err: Error) => log.debug({ clientId: client?.id, error: err.message }, 'mqtt client error'));

  const server = config.tls
    ? tls.createServer(
        {
          cert: readFileSync(config.tls.certFile),
          key: readFileSync(config.tls.keyFile),
          ...(config.tls.caFile ? { ca: readFileSync(config.tls.caFile), requestCert: true, rejectUnauthorized: true } : {}),
        },
        broker.handle,
      )
    : net.createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `${config.tls ? 'mqtts' : 'mqtt'}://${host}:${port}`;
  log.info({ url, tls: Boolean(config.tls), auth: config.username !== undefined ? 'password' : config.tls?.caFile ? 'client-certificate' : 'none' }, 'mqtt listener up');

  let closed = false;
  return {
    port,
    url,
    publishStatus(json, meta) {
      if (closed) return;
      broker.publish({ cmd: 'publish', topic: STATUS_TOPIC, payload: Buffer.from(json, 'utf8'), qos: meta.qos, retain: false, dup: false }, () => undefined);
    },
    async stopAccepting() {
      accepting = false;
      // Stop listening; connected clients stay so they still get their statuses.
      server.close();
    },
    async close() {
      if (closed) return;
      closed = true;
      accepting = false;
      server.close();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}
