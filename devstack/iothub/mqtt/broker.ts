/**
 * The IoT Hub MQTT endpoint: an aedes broker behind node:tls on loopback (PROTOCOLS.md §1).
 *
 * Invariants:
 * - every CONNECT is authenticated against the live registry; a refusal is CONNACK 5 (not authorized);
 *   a new CONNECT for a connected clientId replaces the old connection (aedes takeover);
 * - sessions are kept per clientId (cleanSession=false), so token-renewal reconnects, which never
 *   re-subscribe, keep their module-input and twin subscriptions;
 * - a telemetry PUBLISH is appended to the log and its QoS 1 PUBACK is sent only after the append
 *   resolved (durable); it is never forwarded to MQTT subscribers;
 * - a client may publish only to its own telemetry topics and `$iothub/twin/…`; anything else, QoS 2,
 *   or a message over 256 KB closes the connection without PUBACK, as IoT Hub does;
 * - hub-to-client messages reach only the identity they are for.
 */
import { Aedes } from 'aedes';
import type { AedesPublishPacket, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import { createServer } from 'node:tls';
import type { Server, TLSSocket } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { HubEventInput, HubSystemProperties, PartitionedLog } from '../log-types.js';
import type { LiveRegistry } from '../registry.js';
import { findIdentity } from '@iot-ingest/contracts';
import type { TwinDocument, TwinProperties, TwinStore } from '../twins.js';
import { twinDocument, twinKey } from '../twins.js';
import type { AuthRefusal } from './auth.js';
import { authenticateConnect } from './auth.js';
import { encodePropertyBag } from './property-bag.js';
import { connectionAnnotations, telemetryEvent } from './telemetry.js';
import type { TelemetryRefusal } from './telemetry.js';
import type { HubIdentity } from './topics.js';
import {
  allowedSubscriptions,
  classifyInboundTopic,
  desiredPatchTopic,
  isOwnTelemetry,
  isTopicSafeName,
  moduleInputPrefix,
  moduleInputTopic,
} from './topics.js';
import { twinGetReply, twinReportedReply } from './twin-requests.js';
import type { TwinReply } from './twin-requests.js';

export type PublishRefusal =
  TelemetryRefusal | 'foreign-topic' | 'unknown-topic' | 'qos2' | 'not-authenticated' | 'log-append-failed';

export interface MqttMetrics {
  /** Connections currently open (authenticated). */
  readonly connections: number;
  readonly connectsAccepted: number;
  readonly connectsRefused: Readonly<Partial<Record<AuthRefusal | 'registry-unreadable', number>>>;
  /** Telemetry messages appended to the log (and acknowledged). */
  readonly messagesAccepted: number;
  readonly messagesRefused: Readonly<Partial<Record<PublishRefusal, number>>>;
  readonly oversizeMessages: number;
  readonly subscriptionsRefused: number;
  /** Connections closed because their identity left the registry. */
  readonly connectionsRevoked: number;
  /** Connections closed because their SAS token expired. */
  readonly connectionsExpired: number;
}

export interface MqttEndpointOptions {
  readonly host: string;
  /** 0 = a free port. */
  readonly port: number;
  readonly serverKey: string;
  readonly serverCert: string;
  readonly registry: LiveRegistry;
  readonly twins: TwinStore;
  readonly log: PartitionedLog;
  readonly logger: Logger;
  readonly nowMs?: () => number;
}

export interface MqttEndpoint {
  readonly port: number;
  /** Publishes at QoS 1 on `devices/{d}/modules/{m}/inputs/{input}/{bag}`; resolves once routed. */
  sendToModuleInput(
    deviceId: string,
    moduleId: string,
    inputName: string,
    body: Buffer | string,
    properties?: Readonly<Record<string, string>>,
    systemProperties?: HubSystemProperties,
  ): Promise<void>;
  /** Merges a desired patch, bumps `$version`, and notifies the identity if it listens for desired updates. */
  updateDesired(deviceId: string, moduleId: string | undefined, patch: TwinProperties): Promise<TwinDocument>;
  getTwin(deviceId: string, moduleId?: string): TwinDocument;
  /** Closes connections whose identity was removed or re-created; returns how many. */
  revokeStaleConnections(): number;
  metrics(): MqttMetrics;
  stop(): Promise<void>;
}

interface Session {
  /** Telemetry appends not yet resolved (acknowledged). */
  inflight: number;
  readonly expiresAtMs: number;
  expiryTimer?: NodeJS.Timeout;
  readonly identity: HubIdentity;
  readonly generationId: string;
  readonly twinKey: string;
  /** The log partition of the connection's device (telemetry may only be its own). */
  readonly partition: number;
  readonly annotations: Readonly<Record<string, unknown>>;
}

const DESIRED_FILTER = '$iothub/twin/PATCH/properties/desired/#';
/** Pending appends per connection before its socket stops being read (back-pressure). */
const MAX_INFLIGHT_APPENDS = 1000;

/**
 * One group commit resolves hundreds of appends in one tick: cork the socket for that tick so their
 * PUBACKs leave as one TLS record and one syscall instead of one each.
 */
function writeCoalesced(conn: Client['conn'], bytes: Buffer): void {
  const socket = conn as Client['conn'] & { writableCorked?: number };
  if (!socket.writableCorked) {
    socket.cork();
    process.nextTick(() => socket.uncork());
  }
  socket.write(bytes);
}

/** MQTT 3.1.1 PUBACK (§3.4): fixed header 0x40, remaining length 2, packet identifier. */
function pubackBytes(messageId: number): Buffer {
  return Buffer.from([0x40, 0x02, messageId >> 8, messageId & 0xff]);
}

function refusal(returnCode: 3 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

function increment<K extends string>(counts: Partial<Record<K, number>>, key: K): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

export async function startMqttEndpoint(options: MqttEndpointOptions): Promise<MqttEndpoint> {
  const { registry, twins, log, logger } = options;
  const nowMs = options.nowMs ?? Date.now;
  const sessions = new WeakMap<Client, Session>();
  const live = new Map<string, Client>();
  const counters = {
    connectsAccepted: 0,
    connectsRefused: {} as Partial<Record<AuthRefusal | 'registry-unreadable', number>>,
    messagesAccepted: 0,
    messagesRefused: {} as Partial<Record<PublishRefusal, number>>,
    subscriptionsRefused: 0,
    connectionsRevoked: 0,
    connectionsExpired: 0,
  };

  function refusePublish(client: Client, reason: PublishRefusal, topic: string, detail?: string): Error {
    increment(counters.messagesRefused, reason);
    logger.warn({ clientId: client.id, topic, reason, detail }, 'publish refused; closing the connection');
    return new Error(`publish refused (${reason})${detail ? `: ${detail}` : ''}`);
  }

  function reply(client: Client, answer: TwinReply): void {
    const packet: PublishPacket = {
      cmd: 'publish',
      topic: answer.topic,
      payload: answer.payload,
      qos: 0,
      retain: false,
      dup: false,
    };
    client.publish(packet, (err) => {
      if (err) logger.debug({ clientId: client.id, err: err.message }, 'twin reply not delivered');
    });
  }

  /**
   * Appends a telemetry event and acknowledges it only once the append resolved (durable).
   *
   * aedes would send the PUBACK itself after `done`, but it also stops reading the client's socket until
   * `done`, so one client could only have one socket read's worth of messages per fsync batch in flight.
   * Instead the publish is downgraded to QoS 0 inside the broker (it is never forwarded anyway) and
   * released at once, and the PUBACK is written here when the append resolves. Appends are issued in
   * arrival order and a device's events share one partition, so the log resolves them, and PUBACKs go
   * out, in PUBLISH order [MQTT-4.6.0-2]. A client with more than MAX_INFLIGHT_APPENDS pending appends
   * is held back (its socket is not read) until this one resolves.
   */
  function appendTelemetry(
    client: Client,
    session: Session,
    packet: PublishPacket,
    event: HubEventInput,
    done: (error?: Error | null) => void,
  ): void {
    const messageId = packet.messageId;
    const needsAck = packet.qos === 1 && messageId !== undefined;
    const holdReading = session.inflight >= MAX_INFLIGHT_APPENDS;
    session.inflight++;
    if (needsAck) packet.qos = 0;
    log.append(event, session.partition).then(
      () => {
        session.inflight--;
        counters.messagesAccepted++;
        if (needsAck && !client.closed && !client.conn.destroyed) writeCoalesced(client.conn, pubackBytes(messageId));
        if (holdReading) done(null);
      },
      (err: Error) => {
        session.inflight--;
        const error = refusePublish(client, 'log-append-failed', packet.topic, err.message);
        if (holdReading) done(error);
        else client.close();
      },
    );
    if (!holdReading) done(null);
  }

  const broker = await Aedes.createBroker({
    // Client ids are `deviceId/moduleId`, up to 257 characters; the 23 of MQTT 3.1 does not apply.
    maxClientsIdLength: 257,

    authenticate(client, username, password, done) {
      let verdict;
      try {
        verdict = authenticateConnect({
          clientId: client.id,
          username,
          password,
          keyFor: (deviceId, moduleId) => registry.keyFor(deviceId, moduleId),
          nowMs: nowMs(),
        });
      } catch (err) {
        increment(counters.connectsRefused, 'registry-unreadable');
        logger.error({ clientId: client.id, err: (err as Error).message }, 'registry unreadable; CONNACK 3');
        done(refusal(3, 'registry unreadable'), null);
        return;
      }
      if (!verdict.ok) {
        increment(counters.connectsRefused, verdict.reason);
        logger.info({ clientId: client.id, reason: verdict.reason }, 'connect refused (CONNACK 5)');
        done(refusal(5, `not authorized: ${verdict.reason}`), null);
        return;
      }
      const { deviceId, moduleId } = verdict.identity;
      const identity = findIdentity(registry.current(), deviceId, moduleId);
      const generationId = identity?.generationId ?? '';
      sessions.set(client, {
        inflight: 0,
        expiresAtMs: verdict.expiresAtMs,
        identity: verdict.identity,
        generationId,
        twinKey: twinKey(deviceId, moduleId),
        partition: log.partitionFor(deviceId),
        annotations: connectionAnnotations(moduleId, generationId),
      });
      counters.connectsAccepted++;
      done(null, true);
    },

    authorizePublish(client, packet, done) {
      // Publishes made by the emulator itself (module inputs) have no client.
      if (!client) return done(null);
      const session = sessions.get(client);
      if (!session) return done(refusePublish(client, 'not-authenticated', packet.topic));
      if (packet.qos === 2) return done(refusePublish(client, 'qos2', packet.topic));
      const topic = classifyInboundTopic(packet.topic);
      switch (topic.kind) {
        case 'telemetry': {
          if (!isOwnTelemetry(topic, session.identity)) {
            return done(refusePublish(client, 'foreign-topic', packet.topic));
          }
          const verdict = telemetryEvent({
            deviceId: topic.deviceId,
            ...(topic.moduleId === undefined ? {} : { moduleId: topic.moduleId }),
            bag: topic.bag,
            body: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
            retain: packet.retain,
            annotations: session.annotations,
          });
          if (!verdict.ok) return done(refusePublish(client, verdict.reason, packet.topic, verdict.detail));
          // The hub keeps RETAIN as a property (done above) and never retains: keep aedes from storing it.
          packet.retain = false;
          appendTelemetry(client, session, packet, verdict.event, done);
          return;
        }
        case 'twin-get':
          done(null);
          reply(client, twinGetReply(twins, session.twinKey, session.generationId, topic.requestId));
          return;
        case 'twin-reported': {
          const body = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
          done(null);
          twinReportedReply(twins, session.twinKey, session.generationId, topic.requestId, body).then(
            (answer) => reply(client, answer),
            (err: Error) => logger.error({ clientId: client.id, err: err.message }, 'reported patch not stored'),
          );
          return;
        }
        case 'method-response':
          // Direct methods are not emulated; a response can only be stray, and is ignored.
          return done(null);
        default:
          return done(refusePublish(client, 'unknown-topic', packet.topic));
      }
    },

    authorizeSubscribe(client, subscription: Subscription, done) {
      const session = sessions.get(client);
      if (session && allowedSubscriptions(session.identity).includes(subscription.topic)) {
        // The hub never grants QoS 2.
        return done(null, { ...subscription, qos: subscription.qos > 1 ? 1 : subscription.qos });
      }
      counters.subscriptionsRefused++;
      logger.warn({ clientId: client.id, topic: subscription.topic }, 'subscription refused');
      done(null, null);
    },

    authorizeForward(client, packet: AedesPublishPacket) {
      const session = sessions.get(client);
      if (!session) return null;
      const { deviceId, moduleId } = session.identity;
      if (moduleId !== undefined && packet.topic.startsWith(moduleInputPrefix(deviceId, moduleId))) return packet;
      if (moduleId === undefined && packet.topic.startsWith(`devices/${deviceId}/messages/devicebound/`)) {
        return packet;
      }
      // `$iothub/…` is only ever written to one client directly (twin replies and patches).
      if (packet.topic.startsWith('$iothub/')) return packet;
      return null;
    },
  });

  broker.on('clientReady', (client) => {
    live.set(client.id, client);
    logger.info({ clientId: client.id }, 'client connected');
    const session = sessions.get(client);
    if (session) {
      // As the hub does, a connection ends when its SAS token expires (the SDK reconnects with a new one
      // before that). setTimeout takes at most 2^31-1 ms; longer tokens are re-armed when they fire.
      const arm = (): void => {
        if (client.closed) return;
        const remainingMs = session.expiresAtMs - nowMs();
        if (remainingMs <= 0) {
          counters.connectionsExpired++;
          logger.info({ clientId: client.id }, 'SAS token expired; closing the connection');
          client.close();
          return;
        }
        session.expiryTimer = setTimeout(arm, Math.min(remainingMs, 2 ** 31 - 1));
        session.expiryTimer.unref();
      };
      arm();
    }
  });
  broker.on('clientDisconnect', (client) => {
    const session = sessions.get(client);
    if (session?.expiryTimer) clearTimeout(session.expiryTimer);
    if (live.get(client.id) === client) live.delete(client.id);
    logger.info({ clientId: client.id }, 'client disconnected');
  });
  broker.on('clientError', (client, err) => logger.debug({ clientId: client.id, err: err.message }, 'client error'));

  const server: Server = createServer({ key: options.serverKey, cert: options.serverCert }, (socket: TLSSocket) =>
    broker.handle(socket),
  );
  server.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'TLS handshake failed'));
  // Every TCP connection, handshaken or not, so stop() never waits for one that aedes does not know.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  function identityOrThrow(deviceId: string, moduleId: string | undefined) {
    const identity = findIdentity(registry.current(), deviceId, moduleId);
    if (!identity) {
      throw new Error(
        moduleId === undefined
          ? `device '${deviceId}' is not in the registry`
          : `module '${moduleId}' of device '${deviceId}' is not in the registry`,
      );
    }
    return identity;
  }

  return {
    port,

    async sendToModuleInput(deviceId, moduleId, inputName, body, properties = {}, systemProperties = {}) {
      identityOrThrow(deviceId, moduleId);
      if (!isTopicSafeName(inputName)) {
        throw new Error(`input name '${inputName}' must be non-empty without '/', '#', '+'`);
      }
      const topic = moduleInputTopic(deviceId, moduleId, inputName, encodePropertyBag(systemProperties, properties));
      const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      await new Promise<void>((resolve, reject) => {
        broker.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, (err) =>
          err ? reject(err) : resolve(),
        );
      });
    },

    async updateDesired(deviceId, moduleId, patch) {
      const identity = identityOrThrow(deviceId, moduleId);
      const key = twinKey(deviceId, moduleId);
      const record = await twins.patchDesired(key, identity.generationId, patch);
      const client = live.get(key);
      if (client && !client.closed && Object.hasOwn(clientSubscriptions(client), DESIRED_FILTER)) {
        reply(client, {
          topic: desiredPatchTopic(record.desiredVersion),
          payload: Buffer.from(JSON.stringify({ ...patch, $version: record.desiredVersion })),
        });
      }
      return twinDocument(record);
    },

    getTwin(deviceId, moduleId) {
      const identity = identityOrThrow(deviceId, moduleId);
      return twinDocument(twins.get(twinKey(deviceId, moduleId), identity.generationId));
    },

    revokeStaleConnections() {
      const data = registry.current();
      let revoked = 0;
      for (const client of live.values()) {
        const session = sessions.get(client);
        if (!session) continue;
        const identity = findIdentity(data, session.identity.deviceId, session.identity.moduleId);
        if (identity?.generationId !== session.generationId) {
          revoked++;
          logger.info({ clientId: client.id }, 'identity removed from the registry; closing its connection');
          client.close();
        }
      }
      counters.connectionsRevoked += revoked;
      return revoked;
    },

    metrics() {
      return {
        connections: broker.connectedClients,
        connectsAccepted: counters.connectsAccepted,
        connectsRefused: { ...counters.connectsRefused },
        messagesAccepted: counters.messagesAccepted,
        messagesRefused: { ...counters.messagesRefused },
        oversizeMessages: counters.messagesRefused.oversize ?? 0,
        subscriptionsRefused: counters.subscriptionsRefused,
        connectionsRevoked: counters.connectionsRevoked,
        connectionsExpired: counters.connectionsExpired,
      };
    },

    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        broker.close(() => {
          for (const socket of sockets) socket.destroy();
        });
      });
    },
  };
}

/** aedes keeps a client's subscriptions (restored ones included) on the client object; not in its types. */
function clientSubscriptions(client: Client): Record<string, unknown> {
  return (client as unknown as { subscriptions: Record<string, unknown> }).subscriptions;
}
