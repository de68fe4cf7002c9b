/**
 * The client's sender links — producers (PROTOCOLS.md §2.5). The server's end is a receiver on `<hub>`
 * or `<hub>/Partitions/<p>`.
 *
 * Invariants: a producer attaches only under a CBS grant for its target and is detached when that grant
 * expires; a transfer over `maxMessageBytes` is rejected with `amqp:link:message-size-exceeded` and
 * nothing is stored; a transfer goes to one partition (the target's, else its partition key's hash,
 * else round robin) and is accepted only after every event in it is durable.
 */
import rhea from 'rhea';
import type { Logger } from 'pino';
import type { PartitionedLog } from '../log-types.js';
import { parsePartitionId } from './addresses.js';
import type { LinkAddress } from './addresses.js';
import type { Cbs } from './cbs.js';
import { Condition, errorMessage, statusFor } from './errors.js';
import { eventsFromTransfer } from './messages.js';

export interface SenderLinksOptions {
  readonly log: PartitionedLog;
  readonly eventHubName: string;
  readonly maxMessageBytes: number;
  readonly cbs: Cbs;
  readonly logger: Logger;
}

type SendAddress = Extract<LinkAddress, { kind: 'send' }>;

interface Producer {
  readonly connection: rhea.Connection;
  readonly entityPath: string;
}

export class SenderLinks {
  private readonly producers = new Map<rhea.Receiver, Producer>();
  private readonly hubPath: string;
  private roundRobin = 0;

  constructor(private readonly options: SenderLinksOptions) {
    this.hubPath = options.eventHubName.toLowerCase();
  }

  /** Attaches a producer, or throws the refusal (the caller closes the link with it). */
  open(connection: rhea.Connection, receiver: rhea.Receiver, address: SendAddress): void {
    if (address.partitionId !== undefined) parsePartitionId(address.partitionId, this.options.log.partitionCount);
    const entityPath =
      address.partitionId === undefined ? this.hubPath : `${this.hubPath}/partitions/${address.partitionId}`;
    this.options.cbs.requireGrant(connection, entityPath);
    this.producers.set(receiver, { connection, entityPath });
  }

  onTransfer(context: rhea.EventContext, address: SendAddress): void {
    const { log, maxMessageBytes, logger } = this.options;
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
          ? parsePartitionId(address.partitionId, log.partitionCount)
          : key !== undefined
            ? log.partitionFor(key)
            : this.roundRobin++ % log.partitionCount;
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

  release(receiver: rhea.Receiver): void {
    this.producers.delete(receiver);
  }

  releaseConnection(connection: rhea.Connection): void {
    for (const [receiver, producer] of [...this.producers])
      if (producer.connection === connection) this.producers.delete(receiver);
  }

  /** Detaches producers whose grant expired, as the service does. */
  detachExpired(nowMs: number, description: (entityPath: string) => string): void {
    for (const [receiver, producer] of [...this.producers]) {
      if (this.options.cbs.covers(producer.connection, producer.entityPath, nowMs)) continue;
      this.producers.delete(receiver);
      receiver.close({ condition: Condition.unauthorized, description: description(producer.entityPath) });
    }
  }
}
