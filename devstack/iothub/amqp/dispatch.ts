/**
 * Routes the rhea container's events to the concern that owns them, by link address: `$cbs` and
 * `$management` requests to their nodes, consumer attaches to the receiver links, producer attaches and
 * transfers to the sender links, and a connection's end to every concern holding state for it. A
 * refused attach closes that link with its condition; nothing here stores state but connection ids.
 */
import type rhea from 'rhea';
import type { Logger } from 'pino';
import { parseLinkAddress } from './addresses.js';
import type { Cbs } from './cbs.js';
import { AmqpConditionError, Condition, entityNotFound, statusFor } from './errors.js';
import type { Management } from './management.js';
import type { ReceiverLinks } from './receiver-links.js';
import type { SenderLinks } from './sender-links.js';

export interface Concerns {
  /** Lower-case hub name (entity paths are compared in lower case). */
  readonly hubPath: string;
  readonly eventHubName: string;
  readonly cbs: Cbs;
  readonly management: Management;
  readonly receivers: ReceiverLinks;
  readonly senders: SenderLinks;
  readonly logger: Logger;
}

function mirrorTermini(link: rhea.Sender | rhea.Receiver): void {
  // Echo the client's source and target: an attach with a null terminus would mean "refused".
  link.set_source(link.source);
  link.set_target(link.target);
}

function terminusAddress(terminus: unknown): unknown {
  return (terminus as { address?: unknown } | undefined)?.address;
}

/** Wires the handlers; returns the open connections (for stop). */
export function dispatchAmqpEvents(container: rhea.Container, concerns: Concerns): () => Iterable<rhea.Connection> {
  const { hubPath, eventHubName, cbs, management, receivers, senders, logger } = concerns;
  // Connection ids only name connections in log lines; 0 = one no longer (or not yet) tracked.
  const connections = new Map<rhea.Connection, number>();
  let nextConnectionId = 1;
  const idOf = (connection: rhea.Connection): number => connections.get(connection) ?? 0;

  const refuse = (link: rhea.Sender | rhea.Receiver, connection: rhea.Connection, error: unknown): void => {
    const status = statusFor(error);
    logger.info(
      { connection: idOf(connection), link: link.name, condition: status.condition, reason: status.description },
      'link refused',
    );
    link.close({ condition: status.condition ?? Condition.internal, description: status.description });
  };

  // A client receiver attached: the server sends on it.
  container.on('sender_open', (context: rhea.EventContext) => {
    const sender = context.sender as rhea.Sender;
    const connection = context.connection;
    try {
      mirrorTermini(sender);
      const address = parseLinkAddress(terminusAddress(sender.source), eventHubName);
      if (address.kind === 'cbs') return;
      if (address.kind === 'management') return cbs.requireGrant(connection, `${hubPath}/$management`);
      if (address.kind === 'receive') return receivers.open(connection, sender, address, idOf(connection));
      if (address.kind === 'unknown') throw entityNotFound(address.entity);
      throw new AmqpConditionError(
        Condition.notFound,
        `Cannot receive from '${String(sender.source?.address)}': receive from <hub>/ConsumerGroups/<group>/Partitions/<id>.`,
      );
    } catch (error) {
      refuse(sender, connection, error);
    }
  });

  // A client sender attached: the server receives on it.
  container.on('receiver_open', (context: rhea.EventContext) => {
    const receiver = context.receiver as rhea.Receiver;
    const connection = context.connection;
    try {
      mirrorTermini(receiver);
      const address = parseLinkAddress(terminusAddress(receiver.target), eventHubName);
      if (address.kind === 'cbs') return;
      if (address.kind === 'management') return cbs.requireGrant(connection, `${hubPath}/$management`);
      if (address.kind === 'send') return senders.open(connection, receiver, address);
      if (address.kind === 'unknown') throw entityNotFound(address.entity);
      throw new AmqpConditionError(
        Condition.notFound,
        `Cannot send to '${String(receiver.target?.address)}': send to <hub> or <hub>/Partitions/<id>.`,
      );
    } catch (error) {
      refuse(receiver, connection, error);
    }
  });

  container.on('message', (context: rhea.EventContext) => {
    const connection = context.connection;
    try {
      const address = parseLinkAddress(terminusAddress(context.receiver?.target), eventHubName);
      if (address.kind === 'send') return senders.onTransfer(context, address);
      const message = context.message as rhea.Message;
      context.delivery?.accept();
      if (Buffer.isBuffer(message) || !context.receiver) return; // a batch on a request/response node: nothing to answer
      const request = { connection, link: context.receiver, message };
      if (address.kind === 'cbs') cbs.onRequest(request, idOf(connection));
      else if (address.kind === 'management') management.onRequest(request, idOf(connection));
    } catch (error) {
      logger.error({ connection: idOf(connection), err: error }, 'failed to handle a message');
    }
  });

  container.on('sendable', (context: rhea.EventContext) => {
    if (context.sender) receivers.pump(context.sender);
  });
  container.on('sender_close', (context: rhea.EventContext) => {
    if (context.sender) receivers.stop(context.sender);
  });
  container.on('receiver_close', (context: rhea.EventContext) => {
    if (context.receiver) senders.release(context.receiver);
  });
  container.on('session_close', (context: rhea.EventContext) => {
    if (context.session) receivers.releaseSession(context.session);
  });

  const onConnectionGone = (context: rhea.EventContext): void => {
    const connection = context.connection;
    receivers.releaseConnection(connection);
    senders.releaseConnection(connection);
    cbs.forget(connection);
    if (connections.has(connection)) logger.debug({ connection: idOf(connection) }, 'connection closed');
    connections.delete(connection);
  };
  container.on('connection_open', (context: rhea.EventContext) => {
    const id = nextConnectionId++;
    connections.set(context.connection, id);
    const remote = (
      context.connection as unknown as { remote?: { open?: { container_id?: string; hostname?: string } } }
    ).remote;
    logger.debug(
      { connection: id, container: remote?.open?.container_id, hostname: remote?.open?.hostname },
      'connection opened',
    );
  });
  container.on('connection_close', onConnectionGone);
  container.on('disconnected', onConnectionGone);
  container.on('connection_error', (context: rhea.EventContext) => {
    logger.info({ connection: idOf(context.connection), error: context.connection.error }, 'connection error');
  });
  container.on('protocol_error', (error: unknown) => logger.warn({ err: error }, 'AMQP protocol error from a client'));
  container.on('error', (error: unknown) => logger.warn({ err: error }, 'AMQP error'));

  return () => [...connections.keys()];
}
