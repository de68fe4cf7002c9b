/**
 * The embedded MQTT listener (aedes) with the connector's topics, secure by default: off loopback it
 * needs TLS and client authentication (config.ts refuses to start otherwise), each client publishes only
 * to the connector's topics, subscribes only to the status topic and receives only its own statuses, and
 * every resource a client can take has a bound. The parts: mqtt/auth.ts (who a client is),
 * mqtt/authorize.ts (what it may do), mqtt/limits.ts and mqtt/shares.ts (how much), mqtt/status-router.ts
 * (whose status goes where), mqtt/events.ts (log lines and metrics).
 *
 * Inputs are handled in aedes' `authorizePublish` hook because aedes sends the QoS 1 PUBACK only after
 * that hook calls back: with persistence on, the callback waits until the message is on disk, so an
 * acknowledged message survives `kill -9`. A bad input is answered with a `fail` status, never by
 * dropping the connection; only what could harm another client closes the publisher's connection.
 */
import { Aedes } from 'aedes';
import type { Client, PublishPacket } from 'aedes';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import type { Registry } from 'prom-client';
import { isValidChannelName } from '@iot-ingest/batching';
import type { ConnectorConfig, DropReason } from '@iot-ingest/batching';
import type { MqttConfig } from '../config.js';
import type { Ingest, IngestItem, MessageMeta } from '../ingest.js';
import type { Logger } from '../log.js';
import { Authenticator, NOT_AUTHORIZED, tlsServerOptions } from './mqtt/auth.js';
import type { Identity } from './mqtt/auth.js';
import { decidePublish, grantSubscription, willProblem } from './mqtt/authorize.js';
import type { InputRoute } from './mqtt/authorize.js';
import { ListenerEvents } from './mqtt/events.js';
import { boundedKeepalive, limitPacketSize } from './mqtt/limits.js';
import { ClientShares, recordBytes, ShareTicket } from './mqtt/shares.js';
import { StatusRouter } from './mqtt/status-router.js';
import { TopicFilterSet } from './mqtt/topics.js';
import { checkRawPayload, parsePutRequest, STATUS_TOPIC } from './parse.js';

export interface MqttListener {
  readonly port: number;
  readonly url: string;
  /** The status of one input, to the client that published it (and the observers). */
  publishStatus(json: string, meta: MessageMeta): void;
  /** Stop taking new connections and inputs; existing clients still receive statuses. */
  stopAccepting(): Promise<void>;
  close(): Promise<void>;
}

export interface MqttListenerOptions {
  readonly config: MqttConfig;
  readonly ingest: Ingest;
  /** The connector configuration in force now (it can change with the twin): default channel, MemorySize. */
  readonly connector: () => ConnectorConfig;
  /** PERSISTENCE_MAX_BYTES when persistence is on: the base of each client's disk share. */
  readonly persistenceMaxBytes: number | undefined;
  readonly log: Logger;
  /** The module's metrics registry: the listener's own metrics join it. */
  readonly registry: Registry;
}

/** Copy a payload that is a small view of a large socket buffer, so the queue never pins the big one. */
function own(payload: Buffer): Buffer {
  return payload.buffer.byteLength > payload.byteLength * 2 + 1024 ? Buffer.from(payload) : payload;
}

/** The engine's drop reason (metric label) for each share refusal. */
const SHARE_DROP_REASON = { client_channels: 'too_many_channels', client_memory: 'memory_full', client_disk: 'rejected' } as const;

type ItemBase = Pick<IngestItem, 'source' | 'qos' | 'channel' | 'id' | 'correlate' | 'deviceId' | 'form'>;

function authError(returnCode: number, message: string): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode });
}

export async function startMqttListener(options: MqttListenerOptions): Promise<MqttListener> {
  const { config, ingest, log } = options;
  const { limits } = config;
  const defaultChannelTopics = new TopicFilterSet(config.defaultChannelTopics);
  const identities = new WeakMap<Client, Identity>();
  let accepting = true;
  let openConnections = 0;
  const events = new ListenerEvents(log, options.registry, () => openConnections);
  const authenticator = await Authenticator.create(config, (err) => log.error({ error: err.message }, 'MQTT_CREDENTIALS_FILE could not be read again; the previous credentials stay in force'));
  const shares = new ClientShares(() => ({
    maxChannels: limits.clientMaxChannels,
    memoryBytes: Math.floor((options.connector().memorySizeBytes * limits.clientMemoryPercent) / 100),
    diskBytes: options.persistenceMaxBytes === undefined ? undefined : Math.floor((options.persistenceMaxBytes * limits.clientDiskPercent) / 100),
  }));

  const refuse = (base: ItemBase, code: string, message: string, reason: DropReason = 'invalid', where?: string) =>
    ingest.refuse(base, code, message, reason, where);

  // Inputs accepted and still on their way to disk: the engine's limits apply only once they are queued.
  let pendingWrites = 0;
  const written = () => {
    pendingWrites -= 1;
  };

  /** Reserve the client's share, then offer. Resolves when the input may be acknowledged. */
  const submit = (base: ItemBase & { deviceId: string }, payload: Uint8Array): Promise<void> | undefined => {
    if (pendingWrites >= limits.maxPendingWrites) {
      const message = `${pendingWrites} inputs are waiting to be written to disk (MQTT_MAX_PENDING_WRITES); the disk is behind`;
      events.refused('pending_writes', base.deviceId, {}, message);
      refuse(base, 'MemoryLimitExceededException', message, 'memory_full');
      return undefined;
    }
    const ticket = shares.reserve(base.deviceId, base.channel, payload.byteLength, recordBytes(payload.byteLength, base.channel, base.id, base.deviceId));
    if (!(ticket instanceof ShareTicket)) {
      events.refused(ticket.rule, base.deviceId, { channel: base.channel.slice(0, 128) }, ticket.message);
      refuse(base, ticket.code, ticket.message, SHARE_DROP_REASON[ticket.rule]);
      return undefined;
    }
    const offered = ingest.submit({ ...base, payload, origin: ticket });
    if (offered) {
      pendingWrites += 1;
      offered.then(written, written);
    }
    return offered;
  };

  const handleInput = (deviceId: string, route: InputRoute, packet: PublishPacket): Promise<void> | undefined => {
    const qos: 0 | 1 = packet.qos >= 1 ? 1 : 0;
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    if (route.kind === 'put') {
      const parsed = parsePutRequest(payload);
      const base = { source: 'mqtt' as const, qos, channel: route.channel, correlate: true, deviceId, id: parsed.id };
      if (!parsed.ok) {
        refuse(base, parsed.code, parsed.message, parsed.code === 'MessageTooLargeException' ? 'too_large' : 'invalid');
        return undefined;
      }
      if (!isValidChannelName(route.channel)) {
        refuse(base, 'InvalidRequestException', `channel name '${route.channel.slice(0, 64)}' in the topic is invalid: use 1-128 of [a-zA-Z0-9_], not starting with __`);
        return undefined;
      }
      return submit({ ...base, form: parsed.form }, parsed.payload);
    }
    const channel = route.kind === 'binary' ? route.channel : options.connector().defaultChannelName;
    const base = { source: 'mqtt' as const, qos, channel: channel ?? '', correlate: false, id: undefined, deviceId };
    if (channel === undefined) {
      refuse(base, 'InvalidRequestException', `no default channel is configured (IotAnalyticsDefaultChannelName) for messages on topic '${packet.topic.slice(0, 128)}'`, 'invalid', packet.topic);
      return undefined;
    }
    if (!isValidChannelName(channel)) {
      refuse(base, 'InvalidRequestException', `channel name '${channel.slice(0, 64)}' in the topic is invalid: use 1-128 of [a-zA-Z0-9_], not starting with __`);
      return undefined;
    }
    const raw = checkRawPayload(payload);
    if (!raw.ok) {
      refuse(base, raw.code, raw.message, raw.code === 'MessageTooLargeException' ? 'too_large' : 'invalid');
      return undefined;
    }
    return submit(base, own(payload));
  };

  /** An input that is acknowledged but not taken: one fail status (with the put's id when it has one). */
  const refuseInput = (deviceId: string, route: InputRoute, packet: PublishPacket, code: string, message: string, reason: 'invalid' | 'rejected'): void => {
    const qos: 0 | 1 = packet.qos >= 1 ? 1 : 0;
    const put = route.kind === 'put' ? parsePutRequest(Buffer.from(packet.payload)) : undefined;
    const channel = route.kind === 'default' ? (options.connector().defaultChannelName ?? '') : route.channel;
    refuse({ source: 'mqtt', qos, channel, id: put?.id, correlate: route.kind === 'put', deviceId }, code, message, reason, packet.topic.slice(0, 128));
  };

  const broker = await Aedes.createBroker({
    connectTimeout: limits.connectTimeoutMs,
    maxInflightInbound: limits.maxInflightQos2,
    maxClientsIdLength: limits.maxClientIdLength,
    preConnect: (client, packet, callback) => {
      // [keepalive bounds] the timer aedes arms from this value is the one enforced.
      packet.keepalive = boundedKeepalive(packet.keepalive ?? 0, limits.keepaliveMinSeconds, limits.keepaliveMaxSeconds);
      callback(null, true);
    },
    authenticate: (client, username, password, done) => {
      const will = (client as unknown as { _will?: { topic: string; retain?: boolean } })._will;
      const badWill = willProblem(will, defaultChannelTopics);
      if (badWill) {
        events.refused('will', client.id, {}, badWill);
        return done(authError(NOT_AUTHORIZED, badWill) as Parameters<typeof done>[0], false);
      }
      authenticator.authenticate(client.id, client.conn, username, password).then(
        (result) => {
          if (result.ok) {
            identities.set(client, result.identity);
            return done(null, true);
          }
          events.refused(result.rule, client.id.slice(0, 128), { remote: (client.conn as net.Socket).remoteAddress }, result.reason);
          return done(authError(result.returnCode, result.reason) as Parameters<typeof done>[0], false);
        },
        (err: unknown) => {
          log.error({ error: (err as Error).message }, 'mqtt authentication failed');
          done(authError(NOT_AUTHORIZED, 'authentication failed') as Parameters<typeof done>[0], false);
        },
      );
    },
    authorizeSubscribe: (client, sub, callback) => {
      const qos = grantSubscription(sub.topic, sub.qos);
      if (qos === undefined) {
        events.refused('subscribe', client.id, { topic: sub.topic.slice(0, 128) }, `only ${STATUS_TOPIC} may be subscribed to (no wildcards)`);
        return callback(null, null);
      }
      callback(null, { ...sub, qos });
    },
    authorizePublish: (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) => {
      // [aedes' $SYS guard, moscajs/aedes#597] and the other rules, for client publishes and wills alike.
      const identity = client ? identities.get(client) : undefined;
      if (!client || !identity) return callback(new Error('publish from an unauthenticated or departed client'));
      const decision = decidePublish(packet.topic, packet.retain, defaultChannelTopics);
      if (decision.action === 'disconnect') {
        events.refused(decision.rule, identity.deviceId, { topic: packet.topic.slice(0, 128) }, decision.message);
        return callback(new Error(decision.message));
      }
      // Never stored: the module keeps no retained messages.
      packet.retain = false;
      if (!accepting) {
        refuseInput(identity.deviceId, decision.route, packet, 'ShutdownException', 'the module is shutting down and takes no new messages', 'rejected');
        return callback(null);
      }
      if (decision.action === 'refuse') {
        events.refused(decision.rule, identity.deviceId, { topic: packet.topic.slice(0, 128) }, decision.message);
        refuseInput(identity.deviceId, decision.route, packet, 'InvalidRequestException', decision.message, 'invalid');
        return callback(null);
      }
      let waiting: Promise<void> | undefined;
      try {
        waiting = handleInput(identity.deviceId, decision.route, packet);
      } catch (err) {
        // A bug must not take the listener down: log it and acknowledge the publish unqueued.
        log.error({ error: (err as Error).message, topic: packet.topic.slice(0, 128) }, 'input handler failed');
      }
      // QoS 1: the PUBACK goes out when this callback runs, i.e. after the message is on disk.
      if (waiting && packet.qos >= 1) waiting.then(() => callback(null), () => callback(null));
      else callback(null);
    },
  });
  // A client's publish (or will) has been consumed by authorizePublish, and no client may subscribe to an
  // input topic: forwarding it would only cost a packet copy, the retained and offline-queue steps and a
  // topic match per message. The broker's own publishes ($SYS, client === undefined) still go through.
  const forward = broker.publish.bind(broker) as (packet: PublishPacket, client: unknown, done?: (err?: Error) => void) => void;
  (broker as unknown as { publish: typeof forward }).publish = (packet, client, done) => {
    if (client !== null && typeof client === 'object') return done?.();
    forward(packet, client, done);
  };
  const router = new StatusRouter(broker, limits, config.statusObservers, events);

  broker.on('keepaliveTimeout', (client) => events.refused('keepalive_timeout', client.id, {}, 'no packet within 1.5 × keepalive'));
  broker.on('clientError', (client: Client, err: Error) => {
    if (err.message.startsWith('maxInflightInbound exceeded')) events.refused('qos2_backlog', client.id, {}, `${err.message} (MQTT_MAX_INFLIGHT_QOS2)`);
    else log.debug({ clientId: client?.id, error: err.message }, 'mqtt client error');
  });
  broker.on('connectionError', (client: Client, err: Error) => {
    if (err.message === 'connect did not arrive in time') events.refused('connect_timeout', undefined, { remote: (client.conn as net.Socket).remoteAddress }, `no CONNECT within MQTT_CONNECT_TIMEOUT_SECONDS=${limits.connectTimeoutMs / 1000}`);
    else log.debug({ error: err.message }, 'mqtt connection error');
  });

  const onConnection = (socket: net.Socket) => {
    openConnections += 1;
    socket.once('close', () => (openConnections -= 1));
    // Guarded before the first byte is parsed (aedes reads on the next 'readable'), CONNECT included.
    const client = broker.handle(socket);
    limitPacketSize(client, limits.maxPacketBytes, (bytes) => events.refused('packet_size', client.id ?? undefined, { bytes }, `packet of ${bytes} bytes is over MQTT_MAX_PACKET_BYTES=${limits.maxPacketBytes}`));
  };
  const tlsOptions = tlsServerOptions(config);
  const server = tlsOptions ? tls.createServer(tlsOptions, onConnection) : net.createServer(onConnection);
  server.maxConnections = limits.maxConnections;
  server.on('drop', (data?: { remoteAddress?: string }) =>
    events.refused('connections', undefined, { remote: data?.remoteAddress }, `MQTT_MAX_CONNECTIONS=${limits.maxConnections} connections are open`),
  );
  if (tlsOptions) server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => events.refused('tls', undefined, { remote: socket.remoteAddress }, err.message));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // [the server keeps an error listener] EMFILE and other accept errors are logged and survived.
  server.on('error', (err: NodeJS.ErrnoException) => events.serverError(err));
  const port = (server.address() as AddressInfo).port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `${config.tls ? 'mqtts' : 'mqtt'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info({ url, tls: Boolean(config.tls), auth: authenticator.method, defaultChannelTopics: config.defaultChannelTopics }, 'mqtt listener up');

  let closed = false;
  return {
    port,
    url,
    publishStatus(json, meta) {
      if (meta.origin instanceof ShareTicket) shares.release(meta.origin);
      if (closed) return;
      router.publish(meta.deviceId, json, meta.qos);
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
      router.close();
      server.close();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}
