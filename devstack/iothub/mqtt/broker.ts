/**
 * The IoT Hub MQTT endpoint: an aedes broker behind node:tls on loopback (PROTOCOLS.md §1), composed of
 * the handlers per packet kind (handlers/), the service-side operations (hub-operations.ts) and the
 * shared state (context.ts).
 *
 * Invariants (each kept by the file named):
 * - every CONNECT is authenticated against the live registry; a refusal is CONNACK 5 (handlers/connect.ts);
 * - sessions are kept per clientId (cleanSession=false, aedes), so token-renewal reconnects, which never
 *   re-subscribe, keep their module-input and twin subscriptions;
 * - a telemetry PUBLISH is appended to the log and its QoS 1 PUBACK is sent only after the append
 *   resolved (durable); it is never forwarded to MQTT subscribers (handlers/telemetry.ts);
 * - a client may publish only to its own telemetry topics and `$iothub/twin/…`; anything else, QoS 2,
 *   or a message over 256 KB closes the connection without PUBACK, as IoT Hub does (handlers/publish.ts);
 * - hub-to-client messages reach only the identity they are for (handlers/subscribe.ts).
 */
import { Aedes } from 'aedes';
import { createServer } from 'node:tls';
import type { Server, TLSSocket } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { PartitionedLog } from '../log-types.js';
import type { LiveRegistry } from '../registry.js';
import type { TwinStore } from '../twins.js';
import type { BrokerContext, MqttMetrics } from './context.js';
import { emptyCounters } from './context.js';
import { brokerHandlers, onBrokerEvents } from './handlers/index.js';
import { hubOperations } from './hub-operations.js';
import type { HubOperations } from './hub-operations.js';

export type { MqttMetrics, PublishRefusal } from './context.js';

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

export interface MqttEndpoint extends HubOperations {
  readonly port: number;
  metrics(): MqttMetrics;
  stop(): Promise<void>;
}

export async function startMqttEndpoint(options: MqttEndpointOptions): Promise<MqttEndpoint> {
  const { registry, twins, log, logger } = options;
  const context: BrokerContext = {
    registry,
    twins,
    log,
    logger,
    nowMs: options.nowMs ?? Date.now,
    sessions: new WeakMap(),
    live: new Map(),
    counters: emptyCounters(),
  };
  const broker = await Aedes.createBroker({
    // Client ids are `deviceId/moduleId`, up to 257 characters; the 23 of MQTT 3.1 does not apply.
    maxClientsIdLength: 257,
    ...brokerHandlers(context),
  });
  onBrokerEvents(broker, context);

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

  const { counters } = context;
  return {
    port: (server.address() as AddressInfo).port,
    ...hubOperations(broker, context),

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
