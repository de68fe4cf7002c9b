/**
 * The IoT Hub emulator's Event Hubs-compatible endpoint: AMQP 1.0 over plain TCP (the client's
 * `UseDevelopmentEmulator=true` mode) with rhea, serving the real `@azure/event-hubs` clients
 * (PROTOCOLS.md §2).
 *
 * Invariants:
 * - SASL ANONYMOUS/PLAIN/EXTERNAL/MSSBCBS and no SASL are all accepted: authentication is the `$cbs`
 *   put-token, whose SAS token is verified; an entity link (consumer, producer, `$management`) attaches
 *   only if a valid, unexpired token covering its path was put on the same connection;
 * - a consumer gets events only while its link has credit, from its filter's position onward, then
 *   tails new commits; owner-level (epoch) rules hold per consumer group and partition;
 * - a producer transfer is accepted only after every event in it is durable in the log;
 * - bad input closes a link or answers a request with an error condition, never the process.
 */
import type { AddressInfo, Server, Socket } from 'node:net';
import rhea from 'rhea';
import { pino, type Logger } from 'pino';
import type { PartitionedLog } from '../log-types.js';
import { audienceCovers, audiencePath, parseLinkAddress, type LinkAddress } from './addresses.js';
import { AmqpConditionError, Condition, entityNotFound } from './errors.js';
import { eventsFromTransfer } from './messages.js';
import { OwnerLevels, type OwnedReader } from './owner-levels.js';
import { parseSelectorFilter, resolveStartSequenceNumber } from './position.js';
import { verifySasToken } from './sas.js';
import { PartitionStream } from './stream.js';

export interface EventHubsEndpointOptions {
  log: PartitionedLog;
  /** Listen address, e.g. `127.0.0.1`. */
  host: string;
  /** 0 picks a free port. */
  port: number;
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
  /** `Endpoint=sb://localhost:<port>;SharedAccessKeyName=…;SharedAccessKey=…;EntityPath=<hub>;UseDevelopmentEmulator=true` */
  readonly connectionString: string;
  stop(): Promise<void>;
}

const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 300;
const DEFAULT_TOKEN_CHECK_INTERVAL_MS = 5000;
const RUNTIME_METRIC = 'com.microsoft:enable-receiver-runtime-metric';
const SELECTOR_FILTER = 'apache.org:selector-filter:string';
const EPOCH_PROPERTY = 'com.microsoft:epoch';

interface ConnectionState {
  readonly id: number;
  /** Lower-case entity path → token expiry (epoch ms). */
  readonly grants: Map<string, number>;
}

interface Reader {
  readonly entityPath: string;
  readonly stream: PartitionStream;
  readonly ownerKey: string;
  readonly owned: OwnedReader;
  readonly connection: rhea.Connection;
}

type Status = { code: number; description: string; condition?: string };

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function filterString(source: unknown): string | undefined {
  const filter = (source as { filter?: Record<string, unknown> } | undefined)?.filter;
  const value: unknown = filter?.[SELECTOR_FILTER];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  const inner = (value as { value?: unknown }).value;
  return typeof inner === 'string' ? inner : String(inner);
}

function epochOf(properties: unknown): number | undefined {
  const raw: unknown = (properties as Record<string, unknown> | undefined)?.[EPOCH_PROPERTY];
  if (raw === undefined || raw === null) return undefined;
  const value: unknown = typeof raw === 'object' && 'value' in raw ? (raw as { value: unknown }).value : raw;
  const epoch = typeof value === 'bigint' ? Number(value) : typeof value === 'number' ? value : Number.NaN;
  if (!Number.isFinite(epoch)) {
    throw new AmqpConditionError(Condition.argument, `The owner level (epoch) '${String(value)}' is not a number.`);
  }
  return epoch;
}

function capabilities(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/**
 * rhea writes every AMQP frame with its own `socket.write`, one syscall each; corking the socket for
 * the rest of the tick turns a burst of deliveries into one writev.
 */
function coalesceWrites(socket: Socket): void {
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  let corked = false;
  socket.write = ((...args: unknown[]): boolean => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    return write(...args);
  }) as typeof socket.write;
}

/** The SASL mechanisms .NET (MSSBCBS) and EXTERNAL clients offer: no credentials, auth happens over CBS. */
function acceptAnything(): { outcome: boolean | undefined; username: string | undefined; start(): void } {
  return {
    outcome: undefined,
    username: undefined,
    start() {
      this.outcome = true;
    },
  };
}

export async function startEventHubsEndpoint(options: EventHubsEndpointOptions): Promise<EventHubsEndpoint> {
  const { log, eventHubName, sasKeyName, sasKey } = options;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(eventHubName)) {
    throw new Error(`startEventHubsEndpoint: eventHubName '${eventHubName}' must be letters, digits, '.', '_' or '-'`);
  }
  if (options.consumerGroups.length === 0) throw new Error('startEventHubsEndpoint: consumerGroups must not be empty');
  if (!sasKeyName || !sasKey) throw new Error('startEventHubsEndpoint: sasKeyName and sasKey are required');
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const createdAt = options.createdAt ?? new Date();
  const logger = (options.logger ?? pino({ name: 'iot-ingest:iothub-amqp', level: process.env.LOG_LEVEL ?? 'info' })).child({
    component: 'iothub-amqp',
  });
  const hubPath = eventHubName.toLowerCase();
  const consumerGroups = new Set(options.consumerGroups.map((group) => group.toLowerCase()));
  const partitionIds = Array.from({ length: log.partitionCount }, (_, p) => String(p));

  const container = rhea.create_container({ id: `iot-ingest-hub-${eventHubName}` });
  const mechanisms = container.sasl_server_mechanisms as Record<string, unknown> & {
    enable_anonymous(): void;
    enable_plain(callback: () => boolean): void;
  };
  mechanisms.enable_anonymous();
  mechanisms.enable_plain(() => true);
  mechanisms.EXTERNAL = acceptAnything;
  mechanisms.MSSBCBS = acceptAnything;

  const states = new Map<rhea.Connection, ConnectionState>();
  const readers = new Map<rhea.Sender, Reader>();
  const producers = new Map<rhea.Receiver, { readonly connection: rhea.Connection; readonly entityPath: string }>();
  const ownerLevels = new OwnerLevels();
  const sockets = new Set<Socket>();
  let nextConnectionId = 1;
  let roundRobin = 0;
  let stopping = false;

  function stateOf(connection: rhea.Connection): ConnectionState {
    // Tracked from connection_open to close; a straggling event after cleanup gets an empty, untracked
    // state (no grants), so nothing leaks and nothing is authorised.
    return states.get(connection) ?? { id: 0, grants: new Map() };
  }

  function hasGrant(connection: rhea.Connection, entityPath: string, nowMs: number): boolean {
    for (const [path, expiresAtMs] of stateOf(connection).grants) {
      if (expiresAtMs > nowMs && audienceCovers(path, entityPath)) return true;
    }
    return false;
  }

  function requireGrant(connection: rhea.Connection, entityPath: string): void {
    if (hasGrant(connection, entityPath, Date.now())) return;
    throw new AmqpConditionError(
      Condition.unauthorized,
      `Unauthorized access to '${entityPath}': put a valid SAS token for it on $cbs first.`,
    );
  }

  function partitionNumber(partitionId: string | undefined): number {
    const p = partitionId !== undefined && /^\d+$/.test(partitionId) ? Number(partitionId) : Number.NaN;
    if (!(p >= 0 && p < log.partitionCount)) {
      throw new AmqpConditionError(
        Condition.argumentOutOfRange,
        `The specified partition '${String(partitionId)}' is invalid for an EventHub partition sender or receiver. It should be between 0 and ${log.partitionCount - 1}.`,
      );
    }
    return p;
  }

  // ---- request/response nodes ($cbs, $management) ----

  function reply(connection: rhea.Connection, request: rhea.Message, status: Status, body?: unknown): void {
    const replyTo = request.reply_to;
    const link = connection.find_sender(
      (sender: rhea.Sender) => sender.name === replyTo || (sender.target as { address?: string } | undefined)?.address === replyTo,
    );
    if (!link) {
      logger.warn({ connection: stateOf(connection).id, replyTo }, 'no reply link for a request; dropped the response');
      return;
    }
    const properties: Record<string, unknown> = {
      'status-code': rhea.types.wrap_int(status.code),
      'status-description': status.description,
    };
    if (status.condition) properties['error-condition'] = status.condition;
    link.send({
      correlation_id: request.message_id,
      to: replyTo,
      application_properties: properties,
      body,
    } as rhea.Message);
  }

  function statusFor(error: unknown): Status {
    if (error instanceof AmqpConditionError) {
      const code =
        error.condition === Condition.unauthorized
          ? 401
          : error.condition === Condition.notFound
            ? 404
            : error.condition === Condition.notImplemented
              ? 501
              : error.condition === Condition.internal
                ? 500
                : 400;
      return { code, description: error.message, condition: error.condition };
    }
    return { code: 500, description: errorMessage(error), condition: Condition.internal };
  }

  function onCbsRequest(connection: rhea.Connection, request: rhea.Message): void {
    const properties = (request.application_properties ?? {}) as Record<string, unknown>;
    const state = stateOf(connection);
    try {
      if (properties.operation !== 'put-token') {
        throw new AmqpConditionError(Condition.notImplemented, `The $cbs operation '${String(properties.operation)}' is not supported.`);
      }
      if (properties.type !== 'servicebus.windows.net:sastoken') {
        throw new AmqpConditionError(Condition.unauthorized, `Only SAS tokens are accepted, not '${String(properties.type)}'.`);
      }
      const name = typeof properties.name === 'string' ? properties.name : '';
      const namePath = audiencePath(name);
      const verdict = verifySasToken(request.body, sasKeyName, sasKey, Date.now());
      if (!verdict.ok) throw new AmqpConditionError(Condition.unauthorized, `InvalidSignature: ${verdict.reason}.`);
      if (!audienceCovers(audiencePath(verdict.audience), namePath)) {
        throw new AmqpConditionError(Condition.unauthorized, `InvalidAudience: the token does not grant access to '${name}'.`);
      }
      if (namePath.split('/')[0] !== hubPath) throw entityNotFound(name);
      state.grants.set(namePath, verdict.expiresAtMs);
      logger.debug({ connection: state.id, entity: namePath }, 'token accepted');
      reply(connection, request, { code: 202, description: 'Accepted' });
    } catch (error) {
      const status = statusFor(error);
      logger.info({ connection: state.id, status: status.code, reason: status.description }, 'token refused');
      reply(connection, request, status);
    }
  }

  function onManagementRequest(connection: rhea.Connection, request: rhea.Message): void {
    const properties = (request.application_properties ?? {}) as Record<string, unknown>;
    try {
      const verdict = verifySasToken(properties.security_token, sasKeyName, sasKey, Date.now());
      if (!verdict.ok) throw new AmqpConditionError(Condition.unauthorized, `InvalidSignature: ${verdict.reason}.`);
      if (!audienceCovers(audiencePath(verdict.audience), hubPath)) {
        throw new AmqpConditionError(Condition.unauthorized, `InvalidAudience: the security_token does not grant access to '${eventHubName}'.`);
      }
      if (properties.operation !== 'READ') {
        throw new AmqpConditionError(Condition.notImplemented, `The $management operation '${String(properties.operation)}' is not supported.`);
      }
      if (typeof properties.name !== 'string' || properties.name.toLowerCase() !== hubPath) {
        throw entityNotFound(String(properties.name));
      }
      if (properties.type === 'com.microsoft:eventhub') {
        reply(connection, request, { code: 200, description: 'OK' }, {
          name: eventHubName,
          type: 'com.microsoft:eventhub',
          created_at: createdAt,
          partition_count: rhea.types.wrap_int(log.partitionCount),
          // An AMQP array of str8 (not a list): the .NET client unboxes it as string[].
          partition_ids: rhea.types.wrap_array(partitionIds, 0xa1, undefined),
        });
        return;
      }
      if (properties.type === 'com.microsoft:partition') {
        const p = partitionNumber(typeof properties.partition === 'string' ? properties.partition : String(properties.partition));
        const info = log.info(p);
        reply(connection, request, { code: 200, description: 'OK' }, {
          name: eventHubName,
          type: 'com.microsoft:partition',
          partition: String(p),
          begin_sequence_number: rhea.types.wrap_long(info.beginSequenceNumber),
          last_enqueued_sequence_number: rhea.types.wrap_long(info.lastSequenceNumber),
          last_enqueued_offset: info.lastOffset,
          last_enqueued_time_utc: new Date(info.lastEnqueuedTimeUtc),
          is_partition_empty: info.isEmpty,
        });
        return;
      }
      throw new AmqpConditionError(Condition.argument, `The $management type '${String(properties.type)}' is not supported.`);
    } catch (error) {
      const status = statusFor(error);
      logger.info({ connection: stateOf(connection).id, status: status.code, reason: status.description }, 'management request refused');
      reply(connection, request, status);
    }
  }

  // ---- producers (client senders → server receivers) ----

  function onProducerTransfer(context: rhea.EventContext, address: Extract<LinkAddress, { kind: 'send' }>): void {
    const delivery = context.delivery;
    if (!delivery) return;
    const reject = (condition: string, description: string): void => {
      try {
        delivery.reject({ condition, description });
      } catch (error) {
        logger.debug({ err: error }, 'could not reject a delivery (link gone)');
      }
    };
    try {
      const payload = context.message as unknown as Buffer | rhea.Message;
      const format = (context as { format?: number }).format ?? (delivery as unknown as { format?: number }).format;
      const sizeBytes = Buffer.isBuffer(payload) ? payload.length : rhea.message.encode(payload).length;
      if (sizeBytes > maxMessageBytes) {
        reject(
          Condition.messageSizeExceeded,
          `The received message (size: ${sizeBytes} bytes) exceeds the limit (${maxMessageBytes} bytes) currently allowed on the link.`,
        );
        return;
      }
      const { events, envelopePartitionKey } = eventsFromTransfer(payload, format);
      const key = envelopePartitionKey ?? events[0]?.partitionKey;
      const partition =
        address.partitionId !== undefined
          ? partitionNumber(address.partitionId)
          : key !== undefined
            ? log.partitionFor(key)
            : roundRobin++ % log.partitionCount;
      Promise.all(events.map((event) => log.append(event, partition))).then(
        () => {
          try {
            delivery.accept();
          } catch (error) {
            logger.debug({ err: error }, 'could not accept a delivery (link gone)');
          }
        },
        (error: unknown) => {
          logger.error({ partition, err: error }, 'append failed; rejected the transfer');
          reject(Condition.internal, `The events could not be stored: ${errorMessage(error)}`);
        },
      );
    } catch (error) {
      const status = statusFor(error);
      reject(status.condition ?? Condition.internal, status.description);
    }
  }

  // ---- consumers (client receivers → server senders) ----

  function stopReader(sender: rhea.Sender): void {
    const reader = readers.get(sender);
    if (!reader) return;
    readers.delete(sender);
    reader.stream.stop();
    ownerLevels.release(reader.ownerKey, reader.owned);
  }

  function openReader(connection: rhea.Connection, sender: rhea.Sender, address: Extract<LinkAddress, { kind: 'receive' }>): void {
    const group = address.consumerGroup.toLowerCase();
    if (!consumerGroups.has(group)) throw entityNotFound(`${eventHubName}/ConsumerGroups/${address.consumerGroup}`);
    const partition = partitionNumber(address.partitionId);
    const entityPath = `${hubPath}/consumergroups/${group}/partitions/${partition}`;
    requireGrant(connection, entityPath);
    const position = parseSelectorFilter(filterString(sender.source));
    const start = resolveStartSequenceNumber(log, partition, position);
    const epoch = epochOf(sender.properties);
    const runtimeMetric = capabilities(sender.desired_capabilities).includes(RUNTIME_METRIC);
    const ownerKey = `${group}/${partition}`;
    const owned: OwnedReader = {
      epoch,
      steal(description: string): void {
        stopReader(sender);
        logger.info({ connection: stateOf(connection).id, consumerGroup: group, partition }, 'receiver disconnected by a newer owner');
        sender.close({ condition: Condition.linkStolen, description });
      },
    };
    ownerLevels.admit(ownerKey, owned);
    if (runtimeMetric) {
      (sender as unknown as { local: { attach: { offered_capabilities?: string[] } } }).local.attach.offered_capabilities = [RUNTIME_METRIC];
    }
    const stream = new PartitionStream(log, partition, sender, start, runtimeMetric, (error) => {
      logger.error({ partition, err: error }, 'reading the log failed; closing the receiver');
      stopReader(sender);
      sender.close({ condition: Condition.internal, description: `Reading partition ${partition} failed: ${error.message}` });
    });
    readers.set(sender, { entityPath, stream, ownerKey, owned, connection });
    logger.debug(
      { connection: stateOf(connection).id, consumerGroup: group, partition, start, epoch },
      'receiver attached',
    );
    stream.start();
  }

  // ---- link and connection events ----

  function mirrorTermini(link: rhea.Sender | rhea.Receiver): void {
    // Echo the client's source and target: an attach with a null terminus would mean "refused".
    link.set_source(link.source);
    link.set_target(link.target);
  }

  function refuse(link: rhea.Sender | rhea.Receiver, connection: rhea.Connection, error: unknown): void {
    const status = statusFor(error);
    logger.info(
      { connection: stateOf(connection).id, link: link.name, condition: status.condition, reason: status.description },
      'link refused',
    );
    link.close({ condition: status.condition ?? Condition.internal, description: status.description });
  }

  container.on('sender_open', (context: rhea.EventContext) => {
    const sender = context.sender as rhea.Sender;
    const connection = context.connection;
    try {
      mirrorTermini(sender);
      const address = parseLinkAddress((sender.source as { address?: unknown } | undefined)?.address, eventHubName);
      switch (address.kind) {
        case 'cbs':
          return;
        case 'management':
          requireGrant(connection, `${hubPath}/$management`);
          return;
        case 'receive':
          openReader(connection, sender, address);
          return;
        case 'send':
          throw new AmqpConditionError(Condition.notFound, `Cannot receive from '${String(sender.source?.address)}': receive from <hub>/ConsumerGroups/<group>/Partitions/<id>.`);
        case 'unknown':
          throw entityNotFound(address.entity);
      }
    } catch (error) {
      refuse(sender, connection, error);
    }
  });

  container.on('receiver_open', (context: rhea.EventContext) => {
    const receiver = context.receiver as rhea.Receiver;
    const connection = context.connection;
    try {
      mirrorTermini(receiver);
      const address = parseLinkAddress((receiver.target as { address?: unknown } | undefined)?.address, eventHubName);
      switch (address.kind) {
        case 'cbs':
          return;
        case 'management':
          requireGrant(connection, `${hubPath}/$management`);
          return;
        case 'send': {
          if (address.partitionId !== undefined) partitionNumber(address.partitionId);
          const entityPath = address.partitionId === undefined ? hubPath : `${hubPath}/partitions/${address.partitionId}`;
          requireGrant(connection, entityPath);
          producers.set(receiver, { connection, entityPath });
          return;
        }
        case 'receive':
          throw new AmqpConditionError(Condition.notFound, `Cannot send to '${String(receiver.target?.address)}': send to <hub> or <hub>/Partitions/<id>.`);
        case 'unknown':
          throw entityNotFound(address.entity);
      }
    } catch (error) {
      refuse(receiver, connection, error);
    }
  });

  container.on('message', (context: rhea.EventContext) => {
    const receiver = context.receiver as rhea.Receiver;
    const connection = context.connection;
    try {
      const address = parseLinkAddress((receiver.target as { address?: unknown } | undefined)?.address, eventHubName);
      if (address.kind === 'send') {
        onProducerTransfer(context, address);
        return;
      }
      const request = context.message as rhea.Message;
      context.delivery?.accept();
      if (Buffer.isBuffer(request)) return; // a batch on a request/response node: nothing to answer
      if (address.kind === 'cbs') onCbsRequest(connection, request);
      else if (address.kind === 'management') onManagementRequest(connection, request);
    } catch (error) {
      logger.error({ connection: stateOf(connection).id, err: error }, 'failed to handle a message');
    }
  });

  container.on('sendable', (context: rhea.EventContext) => {
    const sender = context.sender as rhea.Sender | undefined;
    if (sender) readers.get(sender)?.stream.pump();
  });

  container.on('sender_close', (context: rhea.EventContext) => {
    if (context.sender) stopReader(context.sender);
  });

  container.on('receiver_close', (context: rhea.EventContext) => {
    if (context.receiver) producers.delete(context.receiver);
  });

  // The service detaches a link once the token it was attached with expires (clients renew well before).
  const tokenCheck = setInterval(() => {
    const now = Date.now();
    const expired = (entityPath: string): string =>
      `The token for '${entityPath}' has expired; put a new one on $cbs before it expires.`;
    for (const [sender, reader] of [...readers]) {
      if (hasGrant(reader.connection, reader.entityPath, now)) continue;
      stopReader(sender);
      sender.close({ condition: Condition.unauthorized, description: expired(reader.entityPath) });
    }
    for (const [receiver, producer] of [...producers]) {
      if (hasGrant(producer.connection, producer.entityPath, now)) continue;
      producers.delete(receiver);
      receiver.close({ condition: Condition.unauthorized, description: expired(producer.entityPath) });
    }
  }, options.tokenCheckIntervalMs ?? DEFAULT_TOKEN_CHECK_INTERVAL_MS);
  tokenCheck.unref();

  function cleanupConnection(connection: rhea.Connection): void {
    for (const [sender, reader] of [...readers]) if (reader.connection === connection) stopReader(sender);
    for (const [receiver, producer] of [...producers]) if (producer.connection === connection) producers.delete(receiver);
    const state = states.get(connection);
    if (state) logger.debug({ connection: state.id }, 'connection closed');
    states.delete(connection);
  }

  container.on('connection_open', (context: rhea.EventContext) => {
    const state: ConnectionState = { id: nextConnectionId++, grants: new Map() };
    states.set(context.connection, state);
    const remote = (context.connection as unknown as { remote?: { open?: { container_id?: string; hostname?: string } } }).remote;
    logger.debug({ connection: state.id, container: remote?.open?.container_id, hostname: remote?.open?.hostname }, 'connection opened');
  });
  container.on('connection_close', (context: rhea.EventContext) => cleanupConnection(context.connection));
  container.on('disconnected', (context: rhea.EventContext) => cleanupConnection(context.connection));
  container.on('session_close', (context: rhea.EventContext) => {
    for (const [sender] of [...readers]) if (sender.session === context.session) stopReader(sender);
  });
  container.on('connection_error', (context: rhea.EventContext) => {
    logger.info({ connection: stateOf(context.connection).id, error: context.connection.error }, 'connection error');
  });
  container.on('protocol_error', (error: unknown) => {
    logger.warn({ err: error }, 'AMQP protocol error from a client');
  });
  container.on('error', (error: unknown) => {
    logger.warn({ err: error }, 'AMQP error');
  });

  const server: Server = container.listen({
    host: options.host,
    port: options.port,
    idle_time_out: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    tcp_no_delay: true,
    container_id: `iot-ingest-hub-${eventHubName}`,
    // Events go out pre-settled, as Event Hubs sends them (no per-event settlement exists): the client's
    // auto-accept then sends no disposition back, which halves the frames per event.
    sender_options: { autosettle: true, snd_settle_mode: 1 },
    receiver_options: { autoaccept: false, credit_window: 500, max_message_size: maxMessageBytes },
  } as unknown as Parameters<typeof container.listen>[0]) as Server;
  server.on('connection', (socket: Socket) => {
    coalesceWrites(socket);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      clearInterval(tokenCheck);
      reject(new Error(`Event Hubs endpoint could not listen on ${options.host}:${options.port}: ${error.message}`));
    };
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      server.on('error', (error) => logger.error({ err: error }, 'listener error'));
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const connectionString = `Endpoint=sb://localhost:${port};SharedAccessKeyName=${sasKeyName};SharedAccessKey=${sasKey};EntityPath=${eventHubName};UseDevelopmentEmulator=true`;
  logger.info({ host: options.host, port, eventHubName, partitions: log.partitionCount }, 'Event Hubs endpoint listening');

  return {
    port,
    connectionString,
    async stop(): Promise<void> {
      if (stopping) return;
      stopping = true;
      clearInterval(tokenCheck);
      for (const sender of [...readers.keys()]) stopReader(sender);
      for (const connection of states.keys()) {
        try {
          connection.close({ condition: 'amqp:connection:forced', description: 'The emulator is shutting down.' });
        } catch {
          // already gone
        }
      }
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const grace = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, STOP_GRACE_MS);
      await closed;
      clearTimeout(grace);
      container.removeAllListeners();
      logger.info({ port }, 'Event Hubs endpoint stopped');
    },
  };
}
