/**
 * The IoT Hub emulator's Event Hubs-compatible endpoint: AMQP 1.0 with rhea over plain TCP (the client's
 * `UseDevelopmentEmulator=true` mode) and, when given a certificate, over TLS (AMQPS, what clients
 * without an emulator mode speak), serving the real Event Hubs clients (PROTOCOLS.md §2). Both
 * listeners share one container, so one behaviour. This file composes the concerns, one file each:
 *
 * - transport.ts: the rhea container, SASL, the listening sockets (no behaviour);
 * - dispatch.ts: each rhea event to the concern that owns it, by link address;
 * - cbs.ts: `$cbs` put-token → grants per connection (authentication);
 * - management.ts: `$management` READ of the hub and its partitions;
 * - receiver-links.ts: consumers (the client's receivers), streamed from the log;
 * - sender-links.ts: producers (the client's senders), appended to the log.
 *
 * Bad input closes a link or answers a request with an error condition, never the process.
 */
import { pino, type Logger } from 'pino';
import type { PartitionedLog } from '../log-types.js';
import { Cbs } from './cbs.js';
import { dispatchAmqpEvents } from './dispatch.js';
import { Management } from './management.js';
import { ReceiverLinks } from './receiver-links.js';
import { SenderLinks } from './sender-links.js';
import { createAmqpContainer, listenAmqp } from './transport.js';
import type { AmqpListener } from './transport.js';

export interface EventHubsEndpointOptions {
  log: PartitionedLog;
  /** Listen address, e.g. `127.0.0.1`. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** AMQPS beside the plain port: TLS with this PEM key and certificate; `port` 0 picks a free one. */
  tls?: { port: number; key: string; cert: string };
  eventHubName: string;
  /** Compared case-insensitively (`$Default` = `$default`). */
  consumerGroups: readonly string[];
  sasKeyName: string;
  /** Used as UTF-8 bytes for the HMAC, like the service (not base64-decoded). */
  sasKey: string;
  /** Largest producer transfer accepted (and announced as `max_message_size`). Default 1 MiB (Event Hubs Standard). */
  maxMessageBytes?: number;
  /** Announced AMQP idle timeout; the client heartbeats at half of it. Default 120 s. */
  idleTimeoutMs?: number;
  /** How often attached links are checked for an expired token (then detached, as the service does). Default 5 s. */
  tokenCheckIntervalMs?: number;
  /** Reported as the hub's `created_at`. Default: now. */
  createdAt?: Date;
  logger?: Logger;
}

export interface EventHubsEndpoint {
  readonly port: number;
  /** The AMQPS port, when `tls` was given. */
  readonly tlsPort: number | undefined;
  /** `Endpoint=sb://localhost:<port>;SharedAccessKeyName=…;SharedAccessKey=…;EntityPath=<hub>;UseDevelopmentEmulator=true` */
  readonly connectionString: string;
  stop(): Promise<void>;
}

const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 300;
const DEFAULT_TOKEN_CHECK_INTERVAL_MS = 5000;

function validate(options: EventHubsEndpointOptions): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(options.eventHubName)) {
    throw new Error(
      `startEventHubsEndpoint: eventHubName '${options.eventHubName}' must be letters, digits, '.', '_' or '-'`,
    );
  }
  if (options.consumerGroups.length === 0) throw new Error('startEventHubsEndpoint: consumerGroups must not be empty');
  if (!options.sasKeyName || !options.sasKey)
    throw new Error('startEventHubsEndpoint: sasKeyName and sasKey are required');
}

export async function startEventHubsEndpoint(options: EventHubsEndpointOptions): Promise<EventHubsEndpoint> {
  validate(options);
  const { log, eventHubName } = options;
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const logger = (
    options.logger ?? pino({ name: 'iot-ingest:iothub-amqp', level: process.env.LOG_LEVEL ?? 'info' })
  ).child({
    component: 'iothub-amqp',
  });
  const hubPath = eventHubName.toLowerCase();
  const policy = { name: options.sasKeyName, key: options.sasKey };
  const cbs = new Cbs(hubPath, policy, logger);
  const management = new Management({ eventHubName, policy, log, createdAt: options.createdAt ?? new Date(), logger });
  const receivers = new ReceiverLinks({ log, eventHubName, consumerGroups: options.consumerGroups, cbs, logger });
  const senders = new SenderLinks({ log, eventHubName, maxMessageBytes, cbs, logger });

  const container = createAmqpContainer(`iot-ingest-hub-${eventHubName}`, maxMessageBytes);
  const connections = dispatchAmqpEvents(container, {
    hubPath,
    eventHubName,
    cbs,
    management,
    receivers,
    senders,
    logger,
  });

  // The service detaches a link once the token it was attached with expires (clients renew well before).
  const expired = (entityPath: string): string =>
    `The token for '${entityPath}' has expired; put a new one on $cbs before it expires.`;
  const tokenCheck = setInterval(() => {
    const now = Date.now();
    receivers.detachExpired(now, expired);
    senders.detachExpired(now, expired);
  }, options.tokenCheckIntervalMs ?? DEFAULT_TOKEN_CHECK_INTERVAL_MS);
  tokenCheck.unref();

  const listen = (port: number, tls?: { key: string; cert: string }) =>
    listenAmqp(
      container,
      {
        host: options.host,
        port,
        ...(tls ? { tls } : {}),
        containerId: `iot-ingest-hub-${eventHubName}`,
        idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
        maxMessageBytes,
      },
      (error) => logger.error({ err: error }, 'listener error'),
      (error) => logger.debug({ err: error.message }, 'TLS handshake failed'),
    );
  const listeners: AmqpListener[] = [];
  try {
    listeners.push(await listen(options.port));
    if (options.tls) listeners.push(await listen(options.tls.port, options.tls));
  } catch (error) {
    clearInterval(tokenCheck);
    await Promise.all(listeners.map((listener) => listener.close(0)));
    throw error;
  }
  const [listener, tlsListener] = listeners as [AmqpListener, AmqpListener | undefined];
  const { port } = listener;
  const connectionString = `Endpoint=sb://localhost:${port};SharedAccessKeyName=${policy.name};SharedAccessKey=${policy.key};EntityPath=${eventHubName};UseDevelopmentEmulator=true`;
  const tlsPort = tlsListener?.port;
  logger.info(
    { host: options.host, port, tlsPort, eventHubName, partitions: log.partitionCount },
    'Event Hubs endpoint listening',
  );

  let stopping = false;
  return {
    port,
    tlsPort,
    connectionString,
    async stop(): Promise<void> {
      if (stopping) return;
      stopping = true;
      clearInterval(tokenCheck);
      receivers.stopAll();
      for (const connection of connections()) {
        try {
          connection.close({ condition: 'amqp:connection:forced', description: 'The emulator is shutting down.' });
        } catch {
          // already gone
        }
      }
      await Promise.all(listeners.map((each) => each.close(STOP_GRACE_MS)));
      container.removeAllListeners();
      logger.info({ port }, 'Event Hubs endpoint stopped');
    },
  };
}
